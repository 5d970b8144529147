"""A script calling `ganhub.train` whose output is gone: `python train.py 2>&1 | head -c 1`,
`python train.py > /dev/full 2>&1`.

The `ganhub` command guarded every write while it ran; a script did not, so a note printed
during the run (a skipped image, a plugin's or a hook's line) met the broken pipe or the full
disk and failed the run: `domain 'dcgan': its data() raised OSError: [Errno 28] No space left
on device`. The notes that also print outside `ganhub.train` (`ganhub.load`, an export, a
DataLoader worker) go through `say`, which drops its line the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import TINY_TOY

# argv: the summary's file, then the run's key=value items. One byte out first, and into a
# pipe the reader gone (`head -c 1`) before the run starts: the run's first line meets none.
SCRIPT = """
import json, os, stat, sys, time
from ganhub.closed_output import reader_left
from ganhub.hookspecs import hookimpl
from ganhub.plugins import get_hub

class Prints:  # a user's hook: a line per step on each stream, as code outside ganhub prints
    @hookimpl
    def after_step(self, run, step, metrics):
        print(f"step {step}", flush=True)
        print(f"step {step}", file=sys.stderr, flush=True)

import ganhub
if os.environ.get("PRINTS"):
    get_hub().pm.register(Prints())
if stat.S_ISFIFO(os.fstat(1).st_mode):
    os.write(1, b"x")
    deadline = time.monotonic() + 30
    while not reader_left(sys.stdout):
        assert time.monotonic() < deadline, "the pipe's reader stayed"
        time.sleep(0.01)
summary = ganhub.train(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    json.dump({"steps": summary["steps"], "run_dir": str(summary["run_dir"])}, f)
print("done", flush=True)  # after the run: the output is still gone, and no error
"""
# the script's status, not head's (pipefail: a pipeline fails when one of its commands does)
OUTPUTS = {"head -c 1": "2>&1 | head -c 1 >/dev/null", "/dev/full": ">/dev/full 2>&1"}


def _images(folder: Path) -> Path:
    """Eight 32x32 images and a file that is no image (`data.skip_bad` warns of it)."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"not an image")
    return folder


def _train(
    tmp_path: Path, items: list[str], redirect: str, prints: bool = False
) -> tuple[int, dict[str, object]]:
    """Run SCRIPT (with its printing hook: `prints`) with `items`, its output redirected
    (`OUTPUTS`); its status and summary."""
    (tmp_path / "train.py").write_text(SCRIPT)
    line = f"set -o pipefail; {sys.executable} train.py summary.json {' '.join(items)} {redirect}"
    env = {**os.environ, "PRINTS": "1" if prints else ""}
    done = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, timeout=300)
    summary = tmp_path / "summary.json"
    return done.returncode, json.loads(summary.read_text()) if summary.is_file() else {}


@pytest.mark.slow
@pytest.mark.parametrize("output", list(OUTPUTS))
def test_a_script_whose_output_is_gone_trains_past_a_skipped_image(
    tmp_path: Path, output: str
) -> None:
    """The skipped image's warning (`data.skip_bad`) is the run's first line: it failed dcgan's
    data() with EPIPE or ENOSPC, and the run with it."""
    _images(tmp_path / "imgs")
    items = ["plugin=dcgan", "data=folder", "data.path=imgs", "data.skip_bad=true"]
    items += ["trainer.steps=2", "trainer.batch_size=4", "trainer.num_workers=0"]
    status, summary = _train(tmp_path, items, OUTPUTS[output])
    assert status == 0
    assert summary["steps"] == 2


@pytest.mark.parametrize("output", list(OUTPUTS))
def test_a_script_whose_output_is_gone_trains_past_its_hooks_lines(
    tmp_path: Path, output: str
) -> None:
    """A hook's lines (code of the user's or a plugin's, printing on its own) failed the run
    as the hook's error."""
    status, summary = _train(
        tmp_path, [*TINY_TOY, "trainer.progress=false"], OUTPUTS[output], prints=True
    )
    assert status == 0
    assert summary["steps"] == 4
    run = Path(str(summary["run_dir"]))
    assert (run / "checkpoints" / "step_0000004").is_dir()


# notes said outside `ganhub.train` too (an evaluation, a DataLoader worker started by spawn,
# a monitor used on its own): each its own `say`
NOTES = """
from pathlib import Path
from ganhub.data.images import warn_skipped
from ganhub.engine.diagnostics import CollapseMonitor
from ganhub.engine.health import HealthMonitor
from ganhub.metrics import warn_once

warn_once("a metric's note")
warn_skipped(Path("broken.png"), OSError("not an image"))
HealthMonitor().warn("a health note")
CollapseMonitor().warn("a collapse note")
print("all said", flush=True)
"""


@pytest.mark.parametrize("stderr", ["full", "reader left"])
def test_notes_outside_a_run_drop_their_line_when_stderr_is_gone(stderr: str) -> None:
    """Each printed on its own and failed its caller with ENOSPC or EPIPE."""
    read, write = os.pipe()
    if stderr == "full":
        os.close(write)
        write = os.open("/dev/full", os.O_WRONLY)
    os.close(read)  # the pipe's reader leaves before the first note
    try:
        done = subprocess.run(
            [sys.executable, "-c", NOTES], stdout=subprocess.PIPE, stderr=write, timeout=120
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stdout) == (0, b"all said\n")
