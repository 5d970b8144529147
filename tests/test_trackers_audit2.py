"""What an offline W&B run prints: lines that hold under ganhub, for every session of a run."""

from __future__ import annotations

import glob
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

import ganhub
from ganhub.loggers.trackers import WANDB_RUN_FILE

from .test_trackers import RUN, _wandb_records, no_network, wandb_home  # noqa: F401


@pytest.mark.slow
def test_an_offline_run_prints_one_true_line_for_all_its_sessions(
    workdir: Path,
    wandb_home: Path,  # noqa: F811
    no_network: list[Any],  # noqa: F811
    capfd: pytest.CaptureFixture[str],
) -> None:
    """With trainer.progress on, W&B printed "Run `wandb online` ... to enable cloud syncing"
    (ganhub's logger.wandb.mode wins over W&B's settings: the next run was offline again) and,
    after a resume, "wandb sync <the resumed session's folder>", which uploads that session
    alone. ganhub's one line names a `wandb sync` that takes every session of the run."""
    steps = [item for item in RUN if not item.startswith("trainer.steps")]
    keys = ["loggers=[jsonl,wandb]", "name=wb", "trainer.progress=true"]
    ganhub.train([*steps, "trainer.steps=20", *keys])
    run_dir = workdir / "runs" / "wb"
    ganhub.train(["resume=runs/wb", "trainer.steps=40", "trainer.progress=true"])
    out, err = capfd.readouterr()
    assert "wandb:" not in out + err and "wandb online" not in out + err
    run_id = json.loads((run_dir / WANDB_RUN_FILE).read_text())["id"]
    lines = [line for line in out.splitlines() if line.startswith("ganhub: W&B")]
    expected = (
        f"ganhub: W&B offline run {run_id} in runs/wb/wandb; to upload it: "
        f"wandb sync runs/wb/wandb/offline-run-*-{run_id}*"
    )
    assert lines == [expected, expected]  # one per session
    folders = sorted(glob.glob(expected.rsplit(" ", 1)[1]))
    assert len(folders) == 2  # the glob the line gives takes both sessions
    rows = [r["history"]["item"] for f in folders for r in _wandb_records(Path(f))
            if r.get("type") == "history"]  # fmt: skip
    assert [row["step"] for row in rows if "loss/D" in row] == [10, 20, 30, 40]
    sync = subprocess.run(
        ["wandb", "sync", "--dry-run", *folders], capture_output=True, text=True, timeout=120
    )
    assert sync.returncode == 0 and "Would sync 2 run(s)" in sync.stdout + sync.stderr
    assert no_network == []
