"""A library leaves its caller's process as it found it: `ganhub.train` and the loaded model's
`sample` change no global state a notebook or a training script of its own relies on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import TINY_TOY


def test_training_and_its_report_leave_the_matplotlib_backend_alone(workdir: Path) -> None:
    """toy2d's scatter plots and `ganhub report` switched the process to Agg: a notebook lost
    its inline plots after `ganhub.train(plugin="toy2d")`."""
    code = (
        "import sys, matplotlib\n"
        "matplotlib.use('svg')\n"
        "import ganhub\n"
        f"ganhub.train({[*TINY_TOY, 'name=p']!r})\n"
        "from ganhub.cli import main\n"
        "main(['report', 'runs/p'])\n"
        "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "svg False"
    assert list((workdir / "runs/p/samples").glob("*.png"))  # the scatter plot was drawn
    assert list((workdir / "runs/p/report").glob("*.png"))
