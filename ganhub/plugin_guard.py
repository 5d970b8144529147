"""What keeps an installed plugin in its place while ganhub runs: the commands it adds never
replace another's, and a lifecycle hook, a logger or a run part (domain, loss, trick) whose
code raises is named in one line."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from ganhub.errors import GanhubError, PluginError, plugin_code

if TYPE_CHECKING:
    from types import CodeType

    import click

# the parts of a run by kind, and the key of `Components.provenance` that lists them
_PROVENANCE_KEYS = {"domain": "domain", "loss": "loss", "trick": "tricks", "logger": "loggers",
                    "metric": "metrics", "conditioner": "conditioners"}  # fmt: skip


def blame(exc: Exception, what: str, hint: str) -> None:
    """Raise, for `exc` caught around a call into plugin code (`what`: "trick 'ada': its
    observe()"), `plugin_code`'s one PluginError line (chained: GANHUB_DEBUG=1 shows the
    traceback); return, for the caller to re-raise as it is, on ganhub's own errors (raised on
    purpose) and a lack of memory (a size, not a bug of the plugin)."""
    if isinstance(exc, GanhubError | MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return
    with plugin_code(what, hint):
        raise exc


class Owners:
    """Which plugin (and distribution) registered each part of a run, read from its provenance
    (`Components.provenance`), so that an exception raised in a part's code names the part and
    its plugin, built-in parts alike; a run built without a hub knows no plugins."""

    def __init__(self, provenance: Mapping[str, Any]) -> None:
        self._entries: dict[tuple[str, str], Mapping[str, Any]] = {}
        for kind, key in _PROVENANCE_KEYS.items():
            found = provenance.get(key)
            for entry in found if isinstance(found, list) else [found]:
                if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
                    self._entries[(kind, entry["name"])] = entry

    def hint(self, kind: str, name: str) -> str:
        """Where the code of the part `kind` `name` comes from: `plugin 'x' from dist 1.0`."""
        entry = self._entries.get((kind, name))
        if entry is None:
            return "see `ganhub plugins` for its plugin"
        return _plugin_text(entry.get("plugin"), entry.get("dist"), entry.get("version"))

    def fault(self, exc: Exception, kind: str, name: str, method: str) -> None:
        """`blame` for `exc`, raised by part `kind` `name` in its `method` ("observe()")."""
        hint = self.hint(kind, name) + _where(exc, self._entries.get((kind, name)))
        if (kind, method) == ("loss", "g_loss()") and "NoneType" in str(exc):
            # `real.mean()` in a g_loss: its real logits are None unless it asks for them
            hint += "; g_loss gets real=None unless the loss sets needs_real_for_g = True"
        blame(exc, f"{kind} '{name}': its {method}", hint)

    def trick_fault(self, exc: Exception, hook: Callable[..., Any], point: str) -> None:
        """`fault` for `exc`, raised by `hook`, a trick's bound method for the fixed point
        `point` ("observe")."""
        name = getattr(getattr(hook, "__self__", None), "name", "?")
        self.fault(exc, "trick", name, f"{point}()")


class GuardedHooks:
    """The lifecycle hooks (`hooks.before_train(run=...)`) as pluggy calls them, except that an
    implementation that raises stops the run with one line naming its plugin and the hook
    (the original chained; a ganhub error it raises on purpose passes as it is): an installed
    plugin's lifecycle hook runs in every run, whatever its domain."""

    def __init__(self, relay: Any) -> None:
        self._relay = relay

    def __getattr__(self, name: str) -> Any:
        caller = getattr(self._relay, name)

        def call(**kwargs: Any) -> Any:
            try:
                return caller(**kwargs)
            except GanhubError:
                raise
            except Exception as exc:
                line = (str(exc).strip().splitlines() or [""])[0]
                plugin, module = _raised_in(exc, caller)
                # where in the plugin's code, and (it runs in every run, whatever the domain)
                # how to run without it
                at = where_in_plugin(exc, module).strip(" ()") if module else ""
                off = (
                    ""
                    if plugin == "?" or "." in plugin
                    else (f" (GANHUB_DISABLE_PLUGINS={plugin} runs without it)")
                )
                raise PluginError(
                    f"plugin '{plugin}': its {name} hook raised {type(exc).__name__}: {line}"
                    f"{f', at {at}' if at else ''}{off}"
                ) from exc

        return call


class GuardedLogger:
    """A run logger whose mistakes (a constructor of the wrong signature, a `log` that raises)
    stop the run with one line naming the logger and its plugin (`hint`, from `Owners.hint`),
    not a traceback from the engine; a ganhub error, or an OSError naming the file it could
    not write, raised on purpose passes as it is (the command line shows it in one line)."""

    def __init__(self, name: str, cls: Any, *args: Any, hint: str = "") -> None:
        from ganhub.loggers import registered_as

        self._name = name
        self._hint = f"{hint}; " if hint else ""

        def start() -> Any:
            with registered_as(name):  # its options are logger.<name>'s, whatever its `name`
                return cls(*args)

        self._logger = self._guard("start", start)

    def _guard(self, what: str, call: Any) -> Any:
        try:
            return call()
        except GanhubError:
            raise
        except Exception as exc:
            if isinstance(exc, OSError) and exc.filename is not None:
                raise
            # an OSError without a file (a server it cannot reach) is one line too
            line = (str(exc).strip().splitlines() or [""])[0]
            raise PluginError(
                f"logger '{self._name}': {what} raised {type(exc).__name__}: {line} "
                f"({self._hint}loggers=[...] chooses the loggers of a run; GANHUB_DEBUG=1 "
                "shows the traceback)"
            ) from exc

    def __getattr__(self, method: str) -> Any:
        bound = getattr(self._logger, method)
        if not callable(bound):
            return bound
        return lambda *args, **kwargs: self._guard(method, lambda: bound(*args, **kwargs))


def _plugin_text(plugin: object, dist: object, version: object) -> str:
    """`plugin 'x' from dist 1.0`, without the distribution where none is known."""
    dist, version = str(dist or ""), str(version or "")
    known = dist not in ("", "?") and not dist.startswith("(")  # "(in-process)": none
    source = f" from {dist} {version}".rstrip() if known else ""
    return f"plugin '{plugin}'{source}"


def where_in_plugin(exc: BaseException, target: str) -> str:
    """' (file.py:3)': the innermost frame of `exc` inside the package the entry point
    `target` names (the plugin's line that failed, not its dependency's), '' when none."""
    top = target.split(":")[0].strip().split(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return ""
    roots = [*(spec.submodule_search_locations or []), *([spec.origin] if spec.origin else [])]
    roots = [os.path.realpath(r) for r in roots if os.path.isabs(r)]
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    for frame in reversed(frames):
        path = os.path.realpath(frame.filename)
        if any(path == root or path.startswith(root + os.sep) for root in roots):
            return f" ({frame.filename}:{frame.lineno})"
    return ""


def _where(exc: BaseException, entry: Mapping[str, Any] | None) -> str:
    """', at /src/ganhub_x/trick.py:58': the line of a third-party plugin's own code that
    raised `exc` (ganhub's own plugins and in-process ones: '')."""
    plugin = str((entry or {}).get("plugin") or "")
    if not plugin or "." in plugin or (entry or {}).get("dist") in (None, "", "?", "ganhub"):
        return ""
    module = _entry_module(plugin)
    line = where_in_plugin(exc, module).strip(" ()") if module else ""
    return f", at {line}" if line else ""


@functools.lru_cache(maxsize=64)
def _entry_module(plugin: str) -> str:
    """The module the installed `ganhub` entry point `plugin` names ('' when none does)."""
    import importlib.metadata as md

    try:
        return next((ep.module for ep in md.entry_points(group="ganhub", name=plugin)), "")
    except Exception:  # broken metadata only loses the line from a message
        return ""


def registered_hint(obj: object) -> str:
    """`Owners.hint` for an object a registry holds, from the registry's record of the plugin
    that registered it (a run's provenance lists no metrics); '' when none did."""
    from ganhub.registry import registered_by

    plugin = registered_by(obj)
    return "" if plugin is None else _plugin_text(plugin, *_distribution(plugin))


@functools.lru_cache(maxsize=64)
def _distribution(plugin: str) -> tuple[str, str]:
    """The distribution (and version) whose `ganhub` entry point is named `plugin`; ganhub's
    for its own modules; ('', '') for a plugin added in-process."""
    import importlib.metadata as md

    try:
        if plugin.startswith("ganhub."):  # a built-in module, loaded without an entry point
            return "ganhub", md.version("ganhub")
        for ep in md.entry_points(group="ganhub", name=plugin):
            if ep.dist is not None:
                return ep.dist.name, ep.dist.version
    except Exception:  # broken metadata only loses the distribution from a message
        pass
    return "", ""


def hub_hint(hub: Any, kind: str, name: str) -> str:
    """`Owners.hint` for the part `kind` `name` of a hub (its registry's plugin)."""
    try:
        entry = hub.provider(f"{kind}es" if kind == "loss" else f"{kind}s", name)
    except GanhubError:
        return "see `ganhub plugins` for its plugin"
    return _plugin_text(entry["plugin"], entry["dist"], entry["version"])


def listed_text(found: object, what: str, hint: str) -> list[str]:
    """A plugin method's list of reasons (`problems()`, `check()`) as a list of str, or one
    PluginError line saying what it returned (a str was joined letter by letter)."""
    wrong = isinstance(found, str | bytes | Mapping) or not isinstance(found, Iterable)
    items: list[Any] = [] if wrong else list(cast("Iterable[Any]", found))
    odd = next((item for item in items if not isinstance(item, str)), None)
    if wrong or odd is not None:
        got = type(found).__name__ if wrong else f"a list holding {type(odd).__name__}"
        raise PluginError(f"{what} returned {got}, not a list of str ({hint})")
    return items


# where a plugin's own classes stop: ganhub's bases and the libraries' (their code is not the
# plugin's; a built-in part's own code is that built-in plugin's)
_CORE_MODULES = ("ganhub.domain", "ganhub.tricks", "ganhub.loggers", "ganhub.metrics",
                 "ganhub.losses", "ganhub.conditioning", "abc", "builtins", "typing")  # fmt: skip


def _own_classes(part: object, kind: str) -> list[type]:
    """The classes whose code is a part's: its class and its bases up to ganhub's, and its
    config classes (a trick's or logger's `Config`, a domain's `config_class` and its
    sections), whose validators run while a config resolves."""
    main = part if isinstance(part, type) else type(part)
    configs: list[Any] = [getattr(part, "Config", None)] if kind in ("trick", "logger") else []
    if kind == "domain":
        with contextlib.suppress(Exception):  # its property raised: maybe the error named
            configs.append(getattr(part, "config_class", None))
    found: list[type] = []
    todo = [main, *(c for c in configs if isinstance(c, type))]
    while todo:
        cls = todo.pop(0)
        for klass in cls.__mro__:
            module = klass.__module__
            core = module in _CORE_MODULES or module.startswith(("ganhub.config", "pydantic"))
            if core or klass in found:
                continue
            found.append(klass)
            for field in getattr(klass, "model_fields", {}).values():
                todo += _models(field.annotation)
    return found


def _models(annotation: Any) -> list[type]:
    """The pydantic model classes an annotation names (`Sub`, `Sub | None`, `list[Sub]`)."""
    import typing

    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _functions(value: Any) -> list[Any]:
    """The functions behind a class attribute: a method, a class or static method, a
    property's accessors, and what a decorator wrapped."""
    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    found = [value.fget, value.fset] if isinstance(value, property) else [value]
    out = []
    for func in found:
        while func is not None and hasattr(func, "__code__"):
            out.append(func)
            func = getattr(func, "__wrapped__", None)
    return out


def raised_by(
    exc: BaseException, parts: Iterable[tuple[str, str, object]]
) -> tuple[str, str, str] | None:
    """(kind, name, method) of the part (kind, name, object) whose code raised `exc`: the
    innermost frame of its traceback in a method of one of its classes (`_own_classes`; a
    config class's method is named with its class: `Config._level`), else in one of their
    modules; None when none did (ganhub's own code raised it)."""
    codes: dict[CodeType, tuple[str, str, str]] = {}
    modules: dict[str, tuple[str, str]] = {}
    for kind, name, part in parts:
        classes = _own_classes(part, kind)
        for klass in classes:
            own = klass in getattr(classes[0], "__mro__", ())
            for attr, value in vars(klass).items():
                label = attr if own else f"{klass.__name__}.{attr}"
                for func in _functions(value):
                    codes.setdefault(func.__code__, (kind, name, label))
            modules.setdefault(klass.__module__, (kind, name))
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        if frame.f_code in codes:
            return codes[frame.f_code]
    for frame in reversed(frames):
        owner = modules.get(frame.f_globals.get("__name__", ""))
        if owner is not None:
            return (*owner, frame.f_code.co_name)
    return None


def hub_fault(exc: Exception, hub: Any, domain: object) -> None:
    """Raise `blame`'s one line for `exc` when the code of one of a hub's parts raised it
    while a config resolved (a validator, defaults_for, problems()...; the run's domain
    `domain` is looked at first); return, for the caller to re-raise, when ganhub's own code
    did."""
    if isinstance(exc, GanhubError):
        return
    parts: list[tuple[str, str, object]] = []
    for kind in ("domain", "trick", "logger", "loss", "metric", "conditioner"):
        registry = hub.registry(f"{kind}es" if kind == "loss" else f"{kind}s")
        entries = sorted(registry, key=lambda e: e.name != domain)  # the run's domain first
        parts += [(kind, e.name, e.obj) for e in entries]
    try:
        found = raised_by(exc, parts)
    except Exception:  # a part whose attributes raise: the error as it is, not a new one
        found = None
    if found is not None:
        kind, name, method = found
        blame(exc, f"{kind} '{name}': its {method}()", hub_hint(hub, kind, name))


def hook_plugins(hooks: Any, name: str) -> list[str]:
    """The plugins that implement the lifecycle hook `name` (none without a plugin manager)."""
    if not isinstance(hooks, GuardedHooks):
        return []
    return [impl.plugin_name for impl in getattr(hooks._relay, name).get_hookimpls()]


def _raised_in(exc: BaseException, caller: Any) -> tuple[str, str]:
    """The plugin whose implementation of a hook is on `exc`'s traceback, and the module that
    implementation is defined in ('?' and '' when none is)."""
    owners = {
        getattr(impl.function, "__code__", None): (
            impl.plugin_name,
            str(getattr(impl.function, "__module__", None) or ""),
        )
        for impl in caller.get_hookimpls()
    }
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code in owners:
            return owners[tb.tb_frame.f_code]
        tb = tb.tb_next
    return "?", ""


CommandTree = dict[str, tuple[Any, dict[str, Any] | None]]


def command_tree(cli: click.Group) -> CommandTree:
    """The CLI's commands, and each group's subcommands, as they are now."""
    import click

    return {
        name: (cmd, dict(cmd.commands) if isinstance(cmd, click.Group) else None)
        for name, cmd in cli.commands.items()
    }


def replaced_command(before: CommandTree, cli: click.Group) -> str | None:
    """The first command (or `group sub`) that is no longer the one it was, if any."""
    for name, (cmd, subs) in before.items():
        if cli.commands.get(name) is not cmd:
            return name
        group: Any = cmd  # a click.Group when `subs` is not None
        for sub, sub_cmd in (subs or {}).items():
            if group.commands.get(sub) is not sub_cmd:
                return f"{name} {sub}"
    return None


def added_commands(before: CommandTree, cli: click.Group) -> list[str]:
    """New commands, and new subcommands of groups that were there (`data clean_text`)."""
    new = [name for name in cli.commands if name not in before]
    for name, (cmd, subs) in before.items():
        if subs is not None:
            new += [f"{name} {sub}" for sub in cmd.commands if sub not in subs]
    return sorted(new)


def restore_commands(cli: click.Group, before: CommandTree) -> None:
    """Put the CLI back as it was before a refused plugin's hook ran."""
    cli.commands = {name: cmd for name, (cmd, _) in before.items()}
    for cmd, subs in before.values():
        if subs is not None:
            cmd.commands = dict(subs)


# -- D-input tricks, looked at again only once a phase has failed ----------------------------


def trace_d_inputs(ctx: Any, rerun: Callable[[], Any]) -> list[tuple[str, Any, Any]]:
    """(trick, its input, what it returned) for each `d_input` call of the D-input tricks
    (`ctx.d_transforms`) while `rerun()` runs the failed phase once more; whatever that raises
    is dropped (the first failure is the one reported). Only on an error path: it costs a phase."""
    calls: list[tuple[str, Any, Any]] = []

    def traced(transform: Callable[..., Any]) -> Callable[..., Any]:
        name = str(getattr(getattr(transform, "__self__", transform), "name", "?"))

        def call(x: Any, context: Any) -> Any:
            out = transform(x, context)
            calls.append((name, x, out))
            return out

        return call

    kept = ctx.d_transforms
    ctx.d_transforms = [traced(t) for t in kept]
    try:
        rerun()
    except Exception:
        pass
    finally:
        ctx.d_transforms = kept
    return calls


def d_input_names(ctx: Any) -> list[str]:
    """The names of the tricks whose `d_input` D's inputs go through, in their order."""
    transforms = getattr(ctx, "d_transforms", None) or []
    return [str(getattr(getattr(t, "__self__", t), "name", "?")) for t in transforms]


def cut_graph(calls: list[tuple[str, Any, Any]]) -> str | None:
    """The first trick whose `d_input` took a tensor that requires grad and returned one that
    does not (a `.detach()`, `torch.no_grad()`): G's loss then reaches none of G's weights."""
    for name, x, out in calls:
        if getattr(x, "requires_grad", False) and not getattr(out, "requires_grad", True):
            return name
    return None


def reshaped(
    calls: list[tuple[str, Any, Any]], packers: Sequence[str] = ()
) -> tuple[str, str] | None:
    """(trick, what it did: "of shape (8, 2) into (8, 1)") of the first `d_input` that changed
    its input's shape or dtype; the shape of `packers` (tricks that declare `packs_inputs`,
    such as pacgan, whose D is built for the packed shape) is theirs to change."""
    for name, x, out in calls:
        for what in ("shape", "dtype"):
            if what == "shape" and name in packers:
                continue
            before, after = getattr(x, what, None), getattr(out, what, None)
            if before is not None and after is not None and before != after:
                if what == "shape":
                    before, after = tuple(before), tuple(after)
                return name, f"of {what} {before} into {after}"
    return None
