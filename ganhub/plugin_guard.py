"""What keeps an installed plugin in its place while ganhub runs: the commands it adds never
replace another's, and a lifecycle hook, a logger or a run part (domain, loss, trick) whose
code raises is named in one line."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ganhub.errors import GanhubError, PluginError, plugin_code

if TYPE_CHECKING:
    import click

# the parts of a run by kind, and the key of `Components.provenance` that lists them
_PROVENANCE_KEYS = {"domain": "domain", "loss": "loss", "trick": "tricks", "logger": "loggers"}


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
        dist, version = str(entry.get("dist") or ""), str(entry.get("version") or "")
        known = dist not in ("", "?") and not dist.startswith("(")  # "(in-process)": none
        source = f" from {dist} {version}".rstrip() if known else ""
        return f"plugin '{entry.get('plugin')}'{source}"

    def fault(self, exc: Exception, kind: str, name: str, method: str) -> None:
        """`blame` for `exc`, raised by part `kind` `name` in its `method` ("observe()")."""
        hint = self.hint(kind, name)
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
                raise PluginError(
                    f"plugin '{_raised_in(exc, caller)}': its {name} hook raised "
                    f"{type(exc).__name__}: {line}"
                ) from exc

        return call


class GuardedLogger:
    """A run logger whose mistakes (a constructor of the wrong signature, a `log` that raises)
    stop the run with one line naming the logger and its plugin (`hint`, from `Owners.hint`),
    not a traceback from the engine; a ganhub error, or an OSError naming the file it could
    not write, raised on purpose passes as it is (the command line shows it in one line)."""

    def __init__(self, name: str, cls: Any, *args: Any, hint: str = "") -> None:
        self._name = name
        self._hint = f"{hint}; " if hint else ""
        self._logger = self._guard("start", lambda: cls(*args))

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


def hook_plugins(hooks: Any, name: str) -> list[str]:
    """The plugins that implement the lifecycle hook `name` (none without a plugin manager)."""
    if not isinstance(hooks, GuardedHooks):
        return []
    return [impl.plugin_name for impl in getattr(hooks._relay, name).get_hookimpls()]


def _raised_in(exc: BaseException, caller: Any) -> str:
    """The plugin whose implementation of a hook is on `exc`'s traceback."""
    owners = {
        getattr(impl.function, "__code__", None): impl.plugin_name
        for impl in caller.get_hookimpls()
    }
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code in owners:
            return owners[tb.tb_frame.f_code]
        tb = tb.tb_next
    return "?"


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
