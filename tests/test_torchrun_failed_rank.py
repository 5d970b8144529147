"""A torchrun job one of whose ranks fails with its own error: rank 0 saw only a collective
failing, and failed.json, `ganhub report` and rank 0's line said `PeerStopped` (another process
stopped); now they name the rank that failed and its error, which it left in the run directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ganhub.engine import distributed
from ganhub.engine.distributed import DistInfo, PeerFailed, PeerStopped, _peers
from ganhub.engine.rundir import (
    FAILED_FILE,
    RANK_FAILED,
    RunDirectory,
    leave_rank_failure,
    rank_failures,
)
from ganhub.errors import TrainingError

from .test_distributed import _torchrun

GLOO = "[/gloo/transport/tcp/pair.cc:561] Connection closed by peer [127.0.0.1]:58528. This..."


@pytest.mark.slow
def test_rank_0_records_the_error_of_the_rank_that_failed(workdir: Path) -> None:
    check = workdir / "check.py"
    check.write_text(
        "import sys\n"
        "import torch.distributed as dist\n"
        "from ganhub.cli import main\n"
        "from ganhub.engine import loop\n"
        "from ganhub.errors import TrainingError\n"
        "step = loop.train_step\n"
        "def failing(run, batches):\n"
        "    step(run, batches)\n"
        "    if run.step == 5 and dist.get_rank() == 1:  # rank 1 alone, after a checkpoint\n"
        "        raise TrainingError('shard 3 is unreadable: bad header\\nmore of it')\n"
        "loop.train_step = failing\n"
        "main(['run', *sys.argv[1:]])\n"
    )
    args = [
        "plugin=toy2d", "preset=tiny", "device=cpu", "trainer.steps=20", "trainer.log_every=1",
        "trainer.checkpoint_every=2", "trainer.progress=false", "loggers=[jsonl]", "name=f",
    ]  # fmt: skip
    proc = _torchrun(str(check), *args)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    error = "TrainingError: shard 3 is unreadable: bad header"
    # rank 0's line used to be "rank 0: another process of this job stopped (Connection
    # closed by peer ...); its own message says why"
    assert f"ganhub: error: rank 0: rank 1 of this job failed: {error}\n" in out, out
    # rank 1's own line, which names its rank
    assert "ganhub: error: rank 1: shard 3 is unreadable: bad header" in out
    run_dir = workdir / "runs/f"
    record = json.loads((run_dir / FAILED_FILE).read_text())
    assert record == {"step": 5, "rank": 1, "error": f"rank 1: {error}", "steps": 20}, record
    assert not list(run_dir.glob(".failed-rank-*")), "rank 0 removes what it read"

    from ganhub.metrics.report_status import run_status

    kind, sentence = run_status(run_dir, {"trainer": {"steps": 20}}, [], [])
    assert kind == "failed" and sentence.startswith(f"Failed at step 5 of 20: rank 1: {error};")


# -- what the failing rank leaves, and what rank 0 reads of it -----------------------------------


@pytest.fixture
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A run directory every rank of a 4-process job knows (as after `share_run_dir`)."""
    monkeypatch.setattr(distributed, "_shared", (tmp_path, 4))
    return tmp_path


def test_a_collective_that_fails_names_the_rank_that_failed_and_its_error(shared: Path) -> None:
    with pytest.raises(PeerStopped) as caught, _peers():  # no rank left an error: as it was
        raise RuntimeError(GLOO)
    assert str(caught.value).startswith("rank 0: another process of this job stopped (")
    distributed.leave_failure(TrainingError("loss became NaN\nat step 7"), DistInfo(2, 4))
    distributed.leave_failure(OSError(5, "Input/output error"), DistInfo(3, 4))
    with pytest.raises(PeerFailed) as failed, _peers():
        raise RuntimeError(GLOO)
    assert str(failed.value) == (
        "rank 0: rank 2 of this job failed: TrainingError: loss became NaN (1 other rank "
        "failed too)"
    )
    assert (failed.value.peer, failed.value.error) == (2, "TrainingError: loss became NaN")


@pytest.mark.parametrize(
    "error",
    [
        PeerStopped("rank 1: another process of this job stopped (...)"),  # caused by another
        KeyboardInterrupt(),  # Ctrl-C reaches every rank: no rank's own error
        SystemExit(1),
    ],
)
def test_only_a_rank_s_own_error_is_left(shared: Path, error: BaseException) -> None:
    distributed.leave_failure(error, DistInfo(1, 4))
    distributed.leave_failure(TrainingError("x"), DistInfo(0, 4))  # rank 0 writes failed.json
    assert list(shared.iterdir()) == []


def test_nothing_is_left_where_the_run_directory_is_not(tmp_path: Path) -> None:
    """Another node that does not share the run directory's file system."""
    leave_rank_failure(tmp_path / "runs/x", 1, TrainingError("x"))
    assert not (tmp_path / "runs").exists()


def _note(folder: Path, rank: int, data: bytes | str) -> Path:
    path = folder / RANK_FAILED.format(rank)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def test_what_another_rank_left_is_untrusted_input(tmp_path: Path) -> None:
    _note(tmp_path, 1, b"\x80 not utf-8")
    _note(tmp_path, 2, '{"rank": 1, "error": "a file of rank 2 that says rank 1"}')
    _note(tmp_path, 3, '{"rank": true, "error": "x"}')
    _note(tmp_path, 4, json.dumps({"rank": 4, "error": "x" * 5000}))  # larger than 4 KiB
    _note(tmp_path, 5, '["rank", 5]')
    _note(tmp_path, 6, json.dumps({"rank": 6, "error": "A\x1b[31m\nB " + "y" * 400}))
    (tmp_path / "elsewhere").write_text('{"rank": 7, "error": "through a link"}')
    (tmp_path / RANK_FAILED.format(7)).symlink_to(tmp_path / "elsewhere")
    os.mkfifo(tmp_path / RANK_FAILED.format(8))  # a read would block
    found = rank_failures(tmp_path, 9)
    assert [rank for rank, _ in found] == [6]
    shown = found[0][1]
    assert shown.startswith("A\\x1b[31m B yyy") and len(shown) == 300 and shown.endswith("...")


def test_a_resume_clears_what_a_killed_job_left_and_a_failure_records_the_rank(
    tmp_path: Path,
) -> None:
    run_dir = RunDirectory.create(tmp_path, "r")
    run_dir.close()
    leave_rank_failure(run_dir.path, 1, TrainingError("old"))  # rank 0 was killed: never read
    opened = RunDirectory.open(run_dir.path)
    assert rank_failures(opened.path, 2) == []
    leave_rank_failure(opened.path, 1, TrainingError("new"))
    error = PeerFailed(0, 1, "TrainingError: new")
    opened.fail(error, step=3, resumable=True, peer=(error.peer, error.error))
    record = json.loads((opened.path / FAILED_FILE).read_text())
    assert record == {"step": 3, "rank": 1, "error": "rank 1: TrainingError: new"}
    assert not list(opened.path.glob(".failed-rank-*"))
