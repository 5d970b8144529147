"""A command that fails says its line even when SIGTERM arrives as it says it: torchrun stops a
job's other ranks as soon as one exits, and rank 0, stopped between its error unwinding and its
line, ended silently (exit -15). The CLI holds SIGTERM off from the error to the line, then
lets it through again."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

# the error's text is made as the line is said: a SIGTERM sent right then
SCRIPT = """
import os, signal, sys, click
import ganhub.cli as cli
from ganhub.errors import UsageError

class SaidLate(UsageError):
    def __str__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        return "the run failed"

@click.group()
def group():
    pass

@group.command()
def fail():
    raise SaidLate("the run failed")

@group.command()
def wait():
    os.kill(os.getpid(), signal.SIGTERM)

cli.build_cli = lambda: group
try:
    cli.main(sys.argv[1:])
finally:
    print("after:", signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, file=sys.stderr)
"""


def test_an_error_s_line_is_said_though_sigterm_arrives_as_it_is_said(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, "fail"], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stderr.splitlines() == ["ganhub: error: the run failed", "after: True"]
    # SIGTERM while the command runs still ends it as before, by the signal, with its line
    proc = subprocess.run([sys.executable, "-c", SCRIPT, "wait"], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == -signal.SIGTERM, (proc.returncode, proc.stderr)
    assert proc.stderr.splitlines()[0] == "ganhub: terminated"
