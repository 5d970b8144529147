"""A cyclegan run given in epochs resumes on the number of processes it started on.

`epochs` + `epochs_decay` set trainer.steps in the steps of the processes that share each pass
(`steps_per_epoch`). A resume on another number kept those steps, so it trained other passes
than asked (2 processes stopped halfway through 2 + 2 epochs and resumed on 1 trained 3 passes,
not 4) and ended the learning-rate decay elsewhere: it is refused in one line naming both
numbers, before any step."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .test_cyclegan_audit5 import FOLDER_NO_STEPS
from .test_cyclegan_audit6 import _unpaired

pytestmark = pytest.mark.usefixtures("one_thread")

# 9 images a side at batch 2: 4 steps an epoch in one process, 2 in each of two
EPOCHS = ["epochs=2", "epochs_decay=2", "trainer.checkpoint_every=2", "trainer.keep_checkpoints=9",
          "eval.metrics=[]"]  # fmt: skip


def _steps(run: Path) -> list[int]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["step"] for line in lines if "loss/G" in json.loads(line)]


def _back_to(run: Path, step: int = 4) -> None:
    """Keep the checkpoints up to `step`, as if the run had stopped there."""
    for folder in (run / "checkpoints").glob("step_*"):
        if int(folder.name.removeprefix("step_")) > step:
            shutil.rmtree(folder)


def _epochs_run_at_step_4(workdir: Path, cli) -> Path:  # type: ignore[no-untyped-def]
    """A one-process run given in epochs on 9 unpaired images, rolled back to its step 4."""
    root = _unpaired(workdir / "data")
    code, _, err = cli("run", *FOLDER_NO_STEPS, f"data.path={root}", *EPOCHS, "name=e")
    assert code == 0, err
    run = workdir / "runs" / "e"
    _back_to(run)
    return run


def _state(run: Path, step: int = 4) -> tuple[Path, dict]:  # type: ignore[type-arg]
    path = run / "checkpoints" / f"step_{step:07d}" / "state.json"
    return path, json.loads(path.read_text())


def test_a_run_in_epochs_resumed_on_another_number_of_processes_is_refused(
    workdir: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    """A one-process run whose checkpoint says 2 processes wrote it (as torchrun's rank 0
    writes it: world 2, the system's processes 2) resumed here, on one: refused, unchanged."""
    run = _epochs_run_at_step_4(workdir, cli)
    path, saved = _state(run)
    assert saved["state"]["system"] == {"processes": 1, "batch_size": 2}
    saved["state"]["system"]["processes"], saved["state"]["world"] = 2, 2
    path.write_text(json.dumps(saved))
    before = (run / "metrics.jsonl").read_text()
    code, _, err = cli("run", "resume=runs/e")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "for 2 process(es) at trainer.batch_size=2; with 1 process(es)" in err
    assert "--nproc_per_node=2" in err
    assert (run / "metrics.jsonl").read_text() == before
    assert not (run / "checkpoints" / "step_0000006").exists()


def test_a_run_in_epochs_resumes_on_the_same_number_and_an_older_checkpoint_too(
    workdir: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    run = _epochs_run_at_step_4(workdir, cli)
    code, _, err = cli("run", "resume=runs/e")
    assert code == 0, err
    assert _steps(run)[-4:] == [13, 14, 15, 16]  # 4 steps an epoch in one process
    # a checkpoint from before the system kept its processes resumes as it did
    path, saved = _state(run, 6)
    del saved["state"]["system"]
    path.write_text(json.dumps(saved))
    _back_to(run, 6)
    code, _, err = cli("run", "resume=runs/e")
    assert code == 0, err


def test_a_run_in_epochs_resumed_with_another_batch_size_is_refused(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """Batch 4 where the run counted its 4 steps an epoch at batch 2 trained 2 passes in the
    remaining 4 steps where 1 was left (9 images: 2 steps an epoch at batch 4)."""
    run = _epochs_run_at_step_4(workdir, cli)
    code, _, err = cli("run", "resume=runs/e", "trainer.batch_size=4")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "with 1 process(es) at trainer.batch_size=4" in err
    assert "resume it with trainer.batch_size=2" in err
    assert sorted(p.name for p in (run / "checkpoints").glob("step_*"))[-1] == "step_0000004"


def test_a_damaged_number_of_processes_is_one_line(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    run = _epochs_run_at_step_4(workdir, cli)
    path, saved = _state(run)
    saved["state"]["system"] = {"processes": "x" * 500}
    path.write_text(json.dumps(saved))
    code, _, err = cli("run", "resume=runs/e")
    assert code != 0 and len(err.strip().splitlines()) == 1 and "damaged" in err
    assert len(err) < 600


def _torchrun(n: int, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    launcher = [shutil.which("torchrun") or "torchrun", f"--nproc_per_node={n}", "--standalone"]
    return subprocess.run(
        [*launcher, "-m", "ganhub", "run", *args],
        env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=cwd, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


@pytest.mark.slow
def test_a_torchrun_run_in_epochs_resumes_on_its_processes_only(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """The real thing: 2 processes stop after 2 of 4 passes (step 4 of 8); one process is
    refused (it trained steps 5 to 8 on, one pass where two were left), two finish the run."""
    root = _unpaired(workdir / "data")
    args = [*FOLDER_NO_STEPS, f"data.path={root}", *EPOCHS, "name=dd"]
    proc = _torchrun(2, *args, cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = workdir / "runs" / "dd"
    assert yaml.safe_load((run / "config.yaml").read_text())["trainer"]["steps"] == 8
    _back_to(run)
    assert _state(run)[1]["state"]["system"] == {"processes": 2, "batch_size": 2}
    code, _, err = cli("run", "resume=runs/dd")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "for 2 process(es) at trainer.batch_size=2; with 1 process(es)" in err
    assert not (run / "checkpoints" / "step_0000006").exists()
    proc = _torchrun(2, "resume=runs/dd", cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _steps(run)[-4:] == [5, 6, 7, 8]
