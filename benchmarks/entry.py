"""What every benchmark script shares at its entry point: a user's mistake is one line.

`python benchmarks/X.py` with an option it does not have, a count that is not a positive whole
number, a config key that does not exist, a device that is not here or a name ganhub does not
know prints `X.py: error: <message>` and exits 2 (1 for a training error), as `ganhub run`
does: no usage block, no traceback after minutes of work.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """argparse, with its errors in ganhub's shape: one line and a pointer to --help."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def count(text: str) -> int:
    """An argparse type: a whole number of at least 1 (rounds, steps, batch sizes)."""
    return _whole(text, 1)


def count0(text: str) -> int:
    """An argparse type: a whole number of at least 0 (warm-up steps)."""
    return _whole(text, 0)


def _whole(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if value < least:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least {least}")
    return value


def refuse(message: str) -> None:
    """Stop with `message` as the one error line (exit 2): for a check of the script's own."""
    from ganhub.errors import UsageError

    raise UsageError(message)


def check_ganhub(command: Sequence[str], done: subprocess.CompletedProcess[str]) -> None:
    """Stop in one line when a `ganhub` command the script ran (`done`, its output captured)
    failed: ganhub's own one-line error as the script's, with ganhub's exit code 2 for a usage
    error (a bad key); for any other failure, the command and the last line of its stderr."""
    from ganhub.errors import GanhubError, UsageError, one_line

    if done.returncode == 0:
        return
    lines = [line for line in (done.stderr or "").splitlines() if line.strip()]
    last = lines[-1].strip() if lines else f"exit code {done.returncode}"
    if last.startswith("ganhub: error: "):  # ganhub's own one line: say it as the script's
        message = last.removeprefix("ganhub: error: ")
        raise (UsageError if done.returncode == 2 else GanhubError)(message)
    raise GanhubError(f"{one_line(' '.join(command), 200)} failed: {one_line(last)}")


def run_main(main: Callable[[], object]) -> None:
    """Call `main()`; a ganhub error prints one line naming the script and exits."""
    from ganhub.errors import GanhubError, UsageError, one_line

    prog = Path(sys.argv[0]).name
    try:
        main()
    except UsageError as exc:
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    except GanhubError as exc:
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        raise SystemExit(1) from None
