"""Plugin discovery: the engine's own modules and every `ganhub` entry point, one at a time.

A plugin that fails to import, lacks an optional dependency, or raises while registering is
recorded with its error and the `pip install` line that fixes it; the others load regardless.
Set ``GANHUB_STRICT_PLUGINS=1`` to turn such failures into exceptions (for plugin authors), and
``GANHUB_DISABLE_PLUGINS=name1,name2`` to leave installed plugins unloaded (`plugin_switch`).
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import traceback
from dataclasses import dataclass, field
from functools import lru_cache
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from ganhub import hookspecs
from ganhub.errors import PluginError
from ganhub.plugin_checks import entry_problem, hook_problem
from ganhub.plugin_fixes import (
    NameClash,
    empty_plugin,
    fix_for_missing,
    in_another_group,
    name_clash,
    one_line_error,
    report_fix,
)
from ganhub.plugin_guard import added_commands, command_tree, replaced_command, restore_commands
from ganhub.plugin_loading import as_error as _as_error
from ganhub.plugin_loading import entry_name_warning, import_failure
from ganhub.plugin_loading import importable as _importable
from ganhub.plugin_switch import disabled_plugins, switch_off, warn_unknown
from ganhub.registry import KINDS, Registry

_SINGULAR = dict(zip(KINDS, ("domain", "loss", "trick", "metric", "logger", "conditioner")))
_STATES = {"unavailable": "is unavailable", "disabled": "is switched off"}  # else: failed

if TYPE_CHECKING:
    import click

    from ganhub.conditioning import Conditioner
    from ganhub.domain import Domain
    from ganhub.loggers import Logger
    from ganhub.losses import AdversarialLoss
    from ganhub.metrics import Metric
    from ganhub.tricks import Trick

ENTRY_POINT_GROUP = "ganhub"

# The engine's own features, registered through the same hooks as everything else.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "ganhub.losses.adversarial",
    "ganhub.tricks.builtin",
    "ganhub.loggers.builtin",
    "ganhub.metrics.builtin",
    "ganhub.metrics.commands",
    "ganhub.conditioning.builtin",
    "ganhub.commands",
)

STRICT_ENV = "GANHUB_STRICT_PLUGINS"


@dataclass
class PluginInfo:
    """What `ganhub plugins` shows for one plugin."""

    name: str
    module: str
    dist: str
    version: str
    status: str = "ok"  # ok | unavailable | error | disabled (GANHUB_DISABLE_PLUGINS)
    error: str = ""
    fix: str = ""
    registered: dict[str, list[str]] = field(default_factory=dict)
    trace: str = ""  # the whole traceback, with GANHUB_DEBUG=1
    warning: str = ""  # loaded, but against the naming rule (an entry point not its domain's)


class Hub:
    """The plugin manager plus the registries its discovery hooks filled.

    Loading a plugin (importing it, registering it with pluggy) and running its discovery
    hooks are two stages: `ganhub --help` needs only the first (commands), so registries are
    filled the first time one is used. A plugin registers all of its entries or none: when one
    of them fails (a name clash, an error in its hook), every entry of that plugin is refused
    and `ganhub plugins` says why. Plugins load in order, built-ins first, so a clash never
    takes a name from a built-in.
    """

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("ganhub")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._registries: dict[str, Registry[Any]] = {
            kind: Registry(kind, singular, failed=self._failed_records)
            for kind, singular in _SINGULAR.items()
        }
        self._pending: list[tuple[str, object]] = []  # loaded, discovery hooks not yet run
        self._entry_points: set[str] = set()  # the plugins an installed entry point names

    # -- registries (filled on first use) --------------------------------------------------

    @property
    def domains(self) -> Registry[Domain]:
        """Registered domains."""
        return self.registry("domains")

    @property
    def losses(self) -> Registry[AdversarialLoss]:
        """Registered adversarial losses."""
        return self.registry("losses")

    @property
    def tricks(self) -> Registry[type[Trick]]:
        """Registered trick classes."""
        return self.registry("tricks")

    @property
    def metrics(self) -> Registry[Metric]:
        """Registered metrics."""
        return self.registry("metrics")

    @property
    def loggers(self) -> Registry[type[Logger]]:
        """Registered logger classes."""
        return self.registry("loggers")

    @property
    def conditioners(self) -> Registry[Conditioner]:
        """Registered conditioning mechanisms (class-conditional generation)."""
        return self.registry("conditioners")

    def registry(self, kind: str) -> Registry[Any]:
        """The registry of one kind, after every loaded plugin's discovery hooks have run."""
        while self._pending:
            name, plugin = self._pending.pop(0)
            self._register(name, plugin, self.plugins[name])
        return self._registries[kind]

    # -- loading --------------------------------------------------------------------------

    @classmethod
    def discover(cls, extra: tuple[tuple[str, object], ...] = ()) -> Hub:
        """Load the default plugins, every entry point, then `extra` (name, module) pairs."""
        hub = cls()
        for module_name in DEFAULT_PLUGINS:
            hub._load(module_name, module_name, dist="ganhub", version=_version("ganhub"))
        # entry-point name -> the distribution that has it; a built-in module's name is
        # ganhub's (an entry point named 'ganhub.losses.adversarial' replaced the built-in)
        seen: dict[str, str] = dict.fromkeys(DEFAULT_PLUGINS, "ganhub")
        # ganhub's own entry points first (a third-party one never takes a built-in's name),
        # then by distribution name: of two packages using one name, the same one is refused
        ours_first = sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=_load_order)
        for ep in ours_first:
            dist = ep.dist.name if ep.dist is not None else "?"
            version = ep.dist.version if ep.dist is not None else "?"
            if ep.name in seen:
                if seen[ep.name] != dist:  # (the same distribution twice: editable + site)
                    hub._refuse_name(ep.name, dist, version, taken_by=seen[ep.name])
                continue
            seen[ep.name] = dist
            hub._load(ep.name, ep.value, dist=dist, version=version, entry_point=ep)
        for name, module in extra:
            hub.add(name, module)
        warn_unknown(  # a name no plugin has may be a domain's: its registry says whose
            disabled_plugins(), hub.plugins, lambda: {e.name: e.plugin for e in hub.domains}
        )
        return hub

    def add(self, name: str, plugin: object, dist: str = "(in-process)", version: str = "") -> None:
        """Register a plugin object or module in-process (tests, notebooks) and run its hooks."""
        if self.pm.get_name(plugin) == name:  # installed: its entry point loaded it already
            return
        info = PluginInfo(name, getattr(plugin, "__name__", repr(plugin)), dist, version)
        self.plugins[name] = info
        if not switch_off(info):  # GANHUB_DISABLE_PLUGINS: listed, never registered
            self._accept(name, plugin, info)
            self.registry("domains")  # run its discovery hooks now: errors surface at once

    def _load(
        self,
        name: str,
        target: str,
        *,
        dist: str,
        version: str,
        entry_point: md.EntryPoint | None = None,
    ) -> None:
        info = PluginInfo(name, target, dist, version)
        self.plugins[name] = info
        if entry_point is not None and switch_off(info):  # ganhub's own modules: always
            return
        if entry_point is not None:
            self._entry_points.add(name)
        try:
            plugin: Any = entry_point.load() if entry_point else importlib.import_module(target)
        except (Exception, SystemExit) as exc:  # a plugin cannot end the process at import
            self._fail(info, *import_failure(exc, target, dist, entry_point is not None))
            return
        missing = [m for m in getattr(plugin, "__ganhub_requires__", ()) if not _importable(m)]
        if missing:
            err = ModuleNotFoundError(f"missing {', '.join(missing)}", name=missing[0])
            self._fail(info, "unavailable", err, fix_for_missing(err, dist))
            return
        if not _has_hookimpls(plugin) and not hook_problem(plugin):  # else _accept says what
            empty, fix = empty_plugin(plugin, target, dist, entry_point)
            self._fail(info, "error", PluginError(empty), fix)
            return
        self._accept(name, plugin, info)

    def _refuse_name(self, name: str, dist: str, version: str, *, taken_by: str) -> None:
        """Record an entry point whose name another distribution (a built-in first) has."""
        key = f"{name} ({dist})"
        info = PluginInfo(key, name, dist, version)
        self.plugins[key] = info
        owner = "ganhub's built-in plugin" if taken_by == "ganhub" else f"'{taken_by}'"
        err = PluginError(f"entry point name '{name}' is taken by {owner}")
        self._fail(info, "error", err, f"ask the authors of '{dist}' to rename their entry point")

    def _accept(self, name: str, plugin: object, info: PluginInfo) -> None:
        problem = hook_problem(plugin)
        if problem:  # a hook that would never be called: refused, not loaded half-working
            self._fail(info, "error", PluginError(problem), "see docs/hooks.md for every hook")
            return
        other = self.pm.get_name(plugin) if self.pm.is_registered(plugin) else None
        if other is not None:  # pluggy's own message prints the module's repr
            err = PluginError(f"its module is already loaded as plugin '{other}'")
            self._fail(info, "error", err, "give each module one entry point")
            return
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:
            if isinstance(exc, pluggy.PluginValidationError):  # its reason is on its last line
                lines = str(exc).strip().splitlines()
                exc = PluginError(f"{lines[0]}: {lines[-1]}" if len(lines) > 1 else str(exc))
            self._fail(info, "error", exc, report_fix(info.dist))
            return
        self._pending.append((name, plugin))

    def _register(self, name: str, plugin: object, info: PluginInfo) -> None:
        """Run one plugin's discovery hooks; commit its entries only if all of them are valid."""
        staged: dict[str, list[tuple[str, Any, str | None]]] = {k: [] for k in KINDS}
        try:
            for kind in KINDS:

                def register(
                    n: str, obj: Any, description: str | None = None, k: str = kind
                ) -> None:
                    staged[k].append((n, obj, description))

                self._call_discovery(f"register_{kind}", name, register)
            for kind in KINDS:
                self._registries[kind].check_new(staged[kind], plugin=name, taken=False)
                for n, obj, _ in staged[kind]:
                    wrong = entry_problem(kind, n, obj)
                    if wrong:
                        singular = _SINGULAR[kind]
                        raise PluginError(f"plugin '{name}' registers {singular} '{n}' {wrong}")
            refused = self._settle_clashes(info, staged)  # raises when this plugin is refused
        except (Exception, SystemExit) as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            fix = exc.fix if isinstance(exc, NameClash) else report_fix(info.dist)
            self._fail(info, "error", _as_error(exc), fix)
            return
        for other, clash in refused.items():  # it took this plugin's name: refused instead
            self._withdraw(self.plugins[other])
            self._fail(self.plugins[other], "error", clash, clash.fix)
        for kind in KINDS:
            for n, obj, description in staged[kind]:
                self._registries[kind].register(n, obj, plugin=name, description=description)
            info.registered[kind] = [n for n, _, _ in staged[kind]]
        if name in self._entry_points:  # its entry point's name, said by `ganhub plugins`
            info.warning = entry_name_warning(
                name, info.module, info.dist, info.registered["domains"]
            )

    def _settle_clashes(
        self, info: PluginInfo, staged: dict[str, list[tuple[str, Any, str | None]]]
    ) -> dict[str, NameClash]:
        """The plugins to refuse for having registered one of `info`'s names first, by the
        naming rule (`name_clash`); raise the clash when `info` is the one to refuse."""
        refused: dict[str, NameClash] = {}
        for kind in KINDS:
            for n in (n for n, _, _ in staged[kind] if n in self._registries[kind]):
                by = self._registries[kind].entry(n).plugin  # (not in plugins: ganhub's own)
                owner = self.plugins.get(by) or PluginInfo(by, by, "ganhub", "")
                clash = name_clash(_SINGULAR[kind], n, owner, info)
                if clash.refused == info.name:
                    raise clash
                refused.setdefault(owner.name, clash)
        return refused

    def _call_discovery(self, hook_name: str, plugin_name: str, register: Any) -> None:
        # Call this plugin's implementation alone, so every entry knows which plugin added it.
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            if impl.plugin_name == plugin_name and impl.function(register) is not None:
                # returning the objects registers nothing: say so instead of loading empty
                raise PluginError(
                    f"its {hook_name} hook returned a value; call register(name, obj) for each "
                    "entry instead"
                )

    def _fail(self, info: PluginInfo, status: str, exc: BaseException, fix: str) -> None:
        if os.environ.get(STRICT_ENV, "") not in ("", "0"):
            raise PluginError(
                f"plugin '{info.name}' failed to load: {one_line_error(exc)}"
            ) from exc
        info.status, info.error, info.fix = status, one_line_error(exc), fix
        if os.environ.get("GANHUB_DEBUG"):  # `ganhub plugins` shows it whole
            info.trace = "".join(traceback.format_exception(exc))
        info.registered, info.warning = {}, ""

    # -- use ------------------------------------------------------------------------------

    def add_commands(self, cli: click.Group) -> None:
        """Let every loaded plugin add its CLI commands, in load order (built-ins first); record
        which plugin added which. A plugin that replaces a command it did not add (`run`, or
        another plugin's) or raises is refused whole: its commands and entries are withdrawn."""
        # every plugin's discovery hooks first: one that fails is refused before its commands
        # are asked for, and in strict mode its error is raised here, naming it (not re-raised
        # below as a failure of whichever plugin's commands were being added)
        self.registry("domains")
        order = {name: i for i, name in enumerate(self.plugins)}
        impls = sorted(
            self.pm.hook.register_commands.get_hookimpls(),
            key=lambda impl: order.get(impl.plugin_name, len(order)),
        )
        owners = dict.fromkeys(cli.commands, "ganhub")  # the commands the group was made with
        for impl in impls:
            info = self.plugins.get(impl.plugin_name)
            before = command_tree(cli)
            try:
                impl.function(cli)
                clash = replaced_command(before, cli)
                if clash:
                    owner = owners.get(clash.split()[0], "ganhub")
                    raise PluginError(
                        f"it replaces the command 'ganhub {clash}' of {self._owner_text(owner)}"
                    )
                self._refuse_foreign_group(added_commands(before, cli), impl.plugin_name)
            except (Exception, SystemExit) as exc:  # a broken plugin must not break the CLI
                restore_commands(cli, before)
                if info:
                    self._withdraw(info)
                    err = _as_error(exc)
                    self._fail(info, "error", err, report_fix(info.dist))
                continue
            added = added_commands(before, cli)
            for name in added:
                owners.setdefault(name.split()[0], impl.plugin_name)
            if info:
                info.registered["commands"] = added

    def _refuse_foreign_group(self, added: list[str], plugin: str) -> None:
        """`ganhub NAME ...` of a registered domain NAME belongs to the plugin that registers
        the domain: another plugin that made the group first took it over, and the domain's
        own commands were refused as replacing it (whichever loaded first won)."""
        for name in added:
            top = name.split()[0]
            if top in self.domains and self.domains.entry(top).plugin != plugin:
                owner = self._owner_text(self.domains.entry(top).plugin)
                raise PluginError(
                    f"it adds 'ganhub {name}' to the commands of the '{top}' domain of {owner}; "
                    "a domain's command group is its own plugin's"
                )

    def _owner_text(self, plugin: str) -> str:
        info = self.plugins.get(plugin)
        if plugin == "ganhub" or (info is not None and info.dist == "ganhub"):
            return "ganhub itself"
        return f"plugin '{plugin}'" + (f" ({info.dist})" if info is not None else "")

    def _withdraw(self, info: PluginInfo) -> None:
        """Take back everything one plugin registered (it is being refused)."""
        self._pending = [(n, p) for n, p in self._pending if n != info.name]
        for registry in self._registries.values():
            registry.withdraw(info.name)
        if self.pm.has_plugin(info.name):
            self.pm.unregister(name=info.name)

    def failures(self) -> list[PluginInfo]:
        """Plugins that did not load or register, for warnings."""
        self.registry("domains")
        return [p for p in self.plugins.values() if p.status not in ("ok", "disabled")]

    def _failed_records(self) -> list[PluginInfo]:  # a plugin switched off did not fail
        return [p for p in self.plugins.values() if p.status not in ("ok", "disabled")]

    def require_domain(self, name: str) -> Domain:
        """The domain `name`, or an error that says how to install it when its plugin failed."""
        if name not in self.domains:
            # the plugin of that name, or an entry point of that name refused for a clash
            failed = [
                info
                for key, info in self.plugins.items()
                if info.status != "ok" and (key == name or info.module == name)
            ]
            for info in failed:
                state = _STATES.get(info.status, "failed to load")
                raise PluginError(f"plugin '{info.name}' {state}: {info.error}. Fix: {info.fix}")
            misplaced = in_another_group(name)
            if misplaced:
                raise PluginError(misplaced)
        return self.domains.get(name)

    def provider(self, kind: str, name: str) -> dict[str, str]:
        """Which plugin and distribution registered `name` in `kind` (for requires.json)."""
        entry = self.registry(kind).entry(name)
        info = self.plugins.get(entry.plugin)
        dist, version = (info.dist, info.version) if info else ("?", "?")
        return {"name": name, "plugin": entry.plugin, "dist": dist, "version": version}


@lru_cache(maxsize=1)
def get_hub() -> Hub:
    """The process-wide hub, discovered once."""
    return Hub.discover()


def reset_hub() -> None:
    """Forget the cached hub (tests that install plugins call this)."""
    get_hub.cache_clear()


def _load_order(ep: md.EntryPoint) -> tuple[bool, str, str]:
    """ganhub's entry points first, then by distribution name and entry-point name."""
    dist = ep.dist.name if ep.dist is not None else ""
    return (dist != "ganhub", dist.lower(), ep.name)


def _has_hookimpls(plugin: object) -> bool:
    return any(hasattr(getattr(plugin, n, None), "ganhub_impl") for n in dir(plugin))


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "?"


def load_module(module: ModuleType | str) -> ModuleType:
    """Import a module given by name (helper for tests registering plugins in-process)."""
    return importlib.import_module(module) if isinstance(module, str) else module
