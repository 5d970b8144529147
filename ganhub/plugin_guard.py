"""What keeps an installed plugin in its place while ganhub runs: the commands it adds never
replace another's, and a lifecycle hook that raises is named in one line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ganhub.errors import GanhubError, PluginError

if TYPE_CHECKING:
    import click


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
    stop the run with one line naming the logger, not a traceback from the engine; a ganhub
    error or an OSError it raises on purpose (a server it cannot reach, a folder it cannot
    write) passes as it is."""

    def __init__(self, name: str, cls: Any, *args: Any) -> None:
        self._name = name
        self._logger = self._guard("start", lambda: cls(*args))

    def _guard(self, what: str, call: Any) -> Any:
        try:
            return call()
        except (GanhubError, OSError):
            raise
        except Exception as exc:
            line = (str(exc).strip().splitlines() or [""])[0]
            raise PluginError(
                f"logger '{self._name}': {what} raised {type(exc).__name__}: {line} "
                "(loggers=[...] chooses the loggers of a run)"
            ) from exc

    def __getattr__(self, method: str) -> Any:
        bound = getattr(self._logger, method)
        if not callable(bound):
            return bound
        return lambda *args, **kwargs: self._guard(method, lambda: bound(*args, **kwargs))


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
