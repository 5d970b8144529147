"""docs/reliability.md's promises checked with real faults: a full disk (a small tmpfs mounted in
a user and mount namespace of its own, where Linux lets a test make one).

A full disk met by a write that names no file (Python flushing a file's last bytes as it
closes it: config.yaml as a resume starts, a checkpoint's state.json) was a traceback; it is one
line naming where the run writes, the checkpoint the run keeps and the command that continues.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit
from ganhub.wiring import make_run

from .conftest import TINY_TOY

pytestmark = pytest.mark.slow  # a ganhub process (Python, torch) per test


def _can_mount() -> bool:
    """Whether this machine lets an unprivileged process mount a tmpfs of its own."""
    if shutil.which("unshare") is None or not sys.platform.startswith("linux"):
        return False
    probe = ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /tmp"]
    return subprocess.run(probe, capture_output=True).returncode == 0


needs_tmpfs = pytest.mark.skipif(not _can_mount(), reason="no user namespaces to mount a tmpfs")

# In the namespace: mount a 4 MiB tmpfs on $2, copy the run $1 there, leave $3 bytes free
# (a filler file takes the rest), resume it with the arguments that follow; then report the
# exit status, the output and the newest checkpoint that loads, as JSON (the tmpfs goes with
# the namespace).
INSIDE = """
import json, os, subprocess, sys
from pathlib import Path
run, disk, free, args = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
import shutil
shutil.copytree(run, disk / "r")
fs = os.statvfs(disk)
fd = os.open(disk / "filler", os.O_CREAT | os.O_WRONLY)
os.posix_fallocate(fd, 0, fs.f_bavail * fs.f_frsize - free)
os.close(fd)
done = subprocess.run([sys.executable, "-m", "ganhub", "run", f"resume={disk / 'r'}", *args],
                      capture_output=True, text=True)
from ganhub.engine.checkpoint import load_newest
newest = load_newest(disk / "r/checkpoints")
print(json.dumps({"rc": done.returncode, "err": done.stderr, "out": done.stdout,
                  "newest": newest and newest[1],
                  "left": sorted(os.listdir(disk / "r/checkpoints"))}))
"""


def _resume_on_full_disk(workdir: Path, free: int, *args: str) -> dict[str, Any]:
    """Resume runs/r from a tmpfs with `free` bytes left: what `INSIDE` reports."""
    disk = workdir / "disk"
    disk.mkdir()
    script = 'mount -t tmpfs -o size=4m tmpfs "$2" && exec "$0" -c "$INSIDE" "$@"'
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, sys.executable, str(workdir / "runs/r"),
         str(disk), str(free), *args],
        capture_output=True, text=True, env={**_env(), "INSIDE": INSIDE}, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _one_line(report: dict[str, Any]) -> str:
    """The run's error output, which must be one ganhub line (no traceback)."""
    err = str(report["err"])
    lines = [line for line in err.splitlines() if line.startswith("ganhub: error:")]
    assert "Traceback" not in err and len(lines) == 1, err
    assert report["rc"] == 2, err
    return lines[0]


@needs_tmpfs
def test_a_full_disk_as_a_resume_starts_is_one_line(workdir: Path) -> None:
    """No byte free: config.yaml, rewritten as the resume starts, cannot be flushed."""
    fit(make_run(resolve([*TINY_TOY, "name=r", "trainer.checkpoint_every=2"])))
    report = _resume_on_full_disk(workdir, 0, "trainer.steps=6")
    line = _one_line(report)
    assert "No space left on device" in line and "resume=" in line, line
    assert "checkpoints/step_0000004" in line, line  # the checkpoint the run keeps
    assert report["newest"] == 4


@needs_tmpfs
def test_a_full_disk_while_state_json_is_written_is_one_line(workdir: Path) -> None:
    """Room for a checkpoint's two safetensors files but not for its state.json."""
    fit(make_run(resolve([*TINY_TOY, "name=r", "trainer.checkpoint_every=2"])))
    saved = workdir / "runs/r/checkpoints/step_0000004"
    page = 4096  # tmpfs allocates whole pages
    pages = sum(
        -(-(saved / f).stat().st_size // page) for f in ("model.safetensors", "state.safetensors")
    )
    assert (saved / "state.json").stat().st_size > page  # it cannot fit in the page left
    report = _resume_on_full_disk(workdir, (pages + 1) * page, "trainer.steps=6")
    line = _one_line(report)
    assert "No space left on device" in line and "resume=" in line, line
    assert "the run keeps checkpoints/step_0000004" in line, line
    assert report["newest"] == 4  # the checkpoint it could not write left nothing behind
    assert not [n for n in report["left"] if n.startswith(".")], report["left"]
