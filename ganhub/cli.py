"""The `ganhub` command line. Commands come from plugins' `register_commands` hooks, the
built-in ones (run, config, plugins, list, sample) included; see `ganhub.commands`."""

from __future__ import annotations

import os
import signal
import sys

import click

from ganhub import __version__
from ganhub.closed_output import (
    OutputGroup,
    OutputGuard,
    OutputLost,
    guarded_output,
    open_standard_descriptors,
)
from ganhub.errors import ConfigError, GanhubError, one_line
from ganhub.interrupts import terminate_unwinds, wait_for_rank_0


def build_cli() -> click.Group:
    """A fresh `ganhub` command group with every plugin's commands added."""
    from ganhub.plugins import get_hub

    @click.group(cls=OutputGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(__version__, prog_name="ganhub")
    def cli() -> None:
        """Train GANs in several domains with one engine.

        \b
        Quick start:
          ganhub run plugin=toy2d                 train on the embedded default data
          ganhub run plugin=dcgan --help          every key of a plugin, with defaults
          ganhub run plugin=dcgan tricks=[ema] trainer.steps=2000
          ganhub sample runs/dcgan-... --n 64     a grid from a trained run
        """

    cli.add_command(_help_command(cli))
    get_hub().add_commands(cli)
    return cli


def _help_command(root: click.Group) -> click.Command:
    """`ganhub help [COMMAND...]`: the help of a command, as `ganhub COMMAND --help` shows it."""

    @click.command(name="help", context_settings={"help_option_names": ["-h", "--help"]})
    @click.argument("names", nargs=-1, metavar="[COMMAND]...")
    def help_command(names: tuple[str, ...]) -> None:
        """Show a command's help: ganhub help data check.

        \b
        ganhub help run               what `ganhub run --help` shows
        ganhub help run plugin=NAME   every key of a plugin (ganhub run plugin=NAME --help)
        """
        command: click.Command = root
        shown = click.Context(root, info_name="ganhub")
        for depth, name in enumerate(names):  # each name checked: `--help` must end the line
            if "=" in name and not isinstance(command, click.Group):
                break  # `help run plugin=dcgan`: the overrides go to the command's own --help
            sub = command.get_command(shown, name) if isinstance(command, click.Group) else None
            if sub is None or sub.hidden:
                from ganhub.errors import UsageError

                where = " ".join(["ganhub", *names[:depth]])
                what = f"no command '{name}'"
                if not isinstance(command, click.Group):
                    what = f"no commands ('{name}' is not one)"
                raise UsageError(f"'{where}' has {what}; see '{where} --help'")
            command = sub
            shown = click.Context(command, info_name=name, parent=shown)
        # the command's own --help, whatever it prints (run's lists the domains too)
        root.main(args=[*names, "--help"], prog_name="ganhub", standalone_mode=False)

    return help_command


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI, turning ganhub errors into one line + exit code."""
    open_standard_descriptors()  # `>&-`: before any file can take descriptor 1 or 2
    args = sys.argv[1:] if argv is None else argv
    # Before torch loads OpenMP: by default its threads spin while they wait for each other, and
    # on a CPU shared with other jobs each op then waits for a time slice (measured on 2 cores
    # under a load of 8: the cyclegan default step 2-12 s instead of 0.4 s). An explicit value wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    before = signal.getsignal(signal.SIGTERM)
    try:
        # what anyone prints while the command runs meets no closed pipe nor full disk
        with guarded_output() as guard:
            _run_and_report(args, guard)
    finally:  # an error's line is said (SIGTERM was held since it unwound): stoppable again
        if before is signal.SIG_DFL and signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _run_and_report(args: list[str], guard: OutputGuard) -> None:
    """Run the command; an error that ends it is said in one line, then the exit status (and
    a write to stdout that failed in silence, as one that failed while the command ran)."""
    try:
        group = build_cli()
        # SIGTERM unwinds as Ctrl-C does: a run stopped while it starts removes its directory;
        # an error holds it off until its line is said (torchrun stops a job's other ranks as
        # soon as one exits: rank 0, stopped before its line, said nothing)
        with terminate_unwinds(_say_terminated, hold_on_error=True):
            group.main(args=args, prog_name="ganhub", standalone_mode=False)
        lost = guard.failure()
        if lost is not None:
            raise lost
    except GanhubError as exc:
        if os.environ.get("GANHUB_DEBUG"):
            raise
        if isinstance(exc, ConfigError) and _other_rank():
            # rank 0 refuses the same config and says why, then torchrun stops this process;
            # exiting first would have torchrun stop rank 0 before its line (one every time)
            # (in a later try, a script's next command: only until rank 0 said it fails too)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # torchrun's stop ends it at once
            wait_for_rank_0(RANK0_GRACE_S)
        click.echo(f"ganhub: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except OutputLost as exc:
        # `ganhub report RUN | head -1`: a reader that left is no error, as for any Unix
        # tool; a write that failed (`> /dev/full`) is one line and status 1
        if exc.reader_left:
            sys.exit(0)
        click.echo(f"ganhub: error: the output cannot be written: {exc.reason}", err=True)
        sys.exit(1)
    except click.exceptions.Abort as exc:
        # a second Ctrl-C: a run that keeps a checkpoint put the way to continue it in the
        # interrupt (`ganhub.engine.failure`); an empty one is a plain Ctrl-C
        cause = exc.__cause__
        kept = str(cause) if isinstance(cause, KeyboardInterrupt) else ""
        click.echo(f"ganhub: aborted; {kept}" if kept else "ganhub: aborted", err=True)
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as exc:  # `ganhub`, `ganhub data`: the help
        exc.show()  # whole, as click shows it (to stderr, status 2: no command was run)
        sys.exit(exc.exit_code)
    except click.UsageError as exc:  # a bad option or argument: one line, like ganhub's own
        # click raises some without their command's context (an option given without its
        # value: `ganhub report RUN --out`): the arguments name the command
        command = exc.ctx.command_path if exc.ctx is not None else _command_path(group, args)
        message = " ".join(exc.format_message().split())
        if isinstance(exc, click.NoSuchOption) and exc.ctx is not None:
            # `--class 3` (NVIDIA's generate.py): the command's own name for it, not click's
            # guess by spelling ("Did you mean '--cols'?")
            from ganhub.clikit import alias_line

            alias = alias_line(exc.option_name, exc.ctx.command, command, args)
            if alias:
                click.echo(f"ganhub: error: {alias}", err=True)
                sys.exit(exc.exit_code)
        # a command group a plugin would have added (`ganhub spiral ...`) vanishes when it
        # fails to load: say which failed, as for an unknown loss or trick
        failed = _failed_plugins() if message.startswith("No such command") else ""
        hint = failed or f" (see '{command} --help')"
        click.echo(f"ganhub: error: {message}{hint}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"ganhub: error: {' '.join(exc.format_message().split())}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:
        # a path the user named that cannot be read or written (a file where a folder
        # should be, no permission, a full disk): one line naming it, not a traceback
        if exc.filename is None or os.environ.get("GANHUB_DEBUG"):
            raise
        reason = exc.strerror or str(exc)
        if isinstance(exc, FileExistsError):  # mkdir met a file where a folder must go
            reason = "a file is there where a folder is needed"
        click.echo(f"ganhub: error: {one_line(os.fsdecode(exc.filename))}: {reason}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("ganhub: interrupted", err=True)
        sys.exit(130)


def _say_terminated() -> None:
    """The line a command stopped by SIGTERM ends with."""
    click.echo("ganhub: terminated", err=True)


def _command_path(group: click.Group, args: list[str]) -> str:
    """The command that `args` name (`ganhub report`), as a usage error's hint names it."""
    ctx = click.Context(group, info_name="ganhub")
    path: list[str] = ["ganhub"]
    command: click.Command = group
    for arg in args:
        if not isinstance(command, click.Group) or arg.startswith("-"):
            break
        sub = command.get_command(ctx, arg)
        if sub is None:
            break
        path.append(arg)
        command = sub
    return " ".join(path)


RANK0_GRACE_S = 30.0  # how long another rank waits for rank 0 to report a refused config


def _other_rank() -> bool:
    """Whether this is a torchrun process other than rank 0: a config refused on the same
    command line is refused on every rank, and rank 0 says it once (not once per process)."""
    return os.environ.get("WORLD_SIZE", "1") not in ("", "0", "1") and os.environ.get(
        "RANK", "0"
    ) not in ("", "0")


def _failed_plugins() -> str:
    """The registry's note ` (plugins that failed to load: a, b; see ganhub plugins)`, or ""."""
    from ganhub.plugins import get_hub
    from ganhub.registry import failed_note

    return failed_note([info.name for info in get_hub().failures()])


if __name__ == "__main__":
    main()
