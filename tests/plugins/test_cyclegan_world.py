"""A cyclegan run given in epochs resumed on another number of processes trains its passes left.

`epochs` + `epochs_decay` set trainer.steps in the steps of the processes that share each pass
(`steps_per_epoch`). A resume on another number kept those steps, so it trained other passes
than asked (2 processes stopped halfway through 2 + 2 epochs and resumed on 1 trained 3 passes,
not 4) and ended the learning-rate decay elsewhere; then it was refused. Now the images seen
say where the run is, and its steps and decay start are recounted in the new steps (one note);
a length changed on a resume (no longer its epochs') is still refused in one line."""

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


def _lr(run: Path) -> dict[int, float]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {d["step"]: d["lr/G"] for d in lines if "lr/G" in d}


def test_a_run_in_epochs_resumed_on_another_number_of_processes_trains_the_passes_left(
    workdir: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    """A checkpoint as 2 processes write it at step 4 of 8 (2 steps an epoch each: 2 of the
    4 passes done, the decay about to start) resumed on one process (4 steps an epoch):
    trainer.steps 8 -> 12, the 2 passes left in 8 steps, the decay from step 4 to the end."""
    run = _epochs_run_at_step_4(workdir, cli)
    path, saved = _state(run)
    assert saved["state"]["system"] == {"processes": 1, "batch_size": 2, "shift": 0}
    saved["state"]["system"]["processes"], saved["state"]["world"] = 2, 2
    saved["state"]["data"] = {"epoch": 1, "index": 2, "batch": 2, "start": 0}  # rank 0's
    path.write_text(json.dumps(saved))
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["trainer"]["steps"] = 8  # as the 2 processes counted it
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    code, _, err = cli("run", "resume=runs/e")
    assert code == 0, err
    assert (
        "ganhub: note: resume=runs/e: epochs=2 epochs_decay=2 made 2 steps an epoch on 2 "
        "processes at trainer.batch_size=2 and make 4 on 1 process at trainer.batch_size=2: "
        "the remaining passes are recounted, trainer.steps 8 -> 12, its learning-rate decay "
        "from step 4"
    ) in err
    assert _steps(run)[-8:] == list(range(5, 13))
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["trainer"]["steps"] == 12
    lr = _lr(run)
    # the rate each step trains at: full through step 5, then 1/8 less a step (4 to 12)
    assert [lr[s] / 2e-4 for s in (5, 6, 8, 12)] == pytest.approx([1, 7 / 8, 5 / 8, 1 / 8])
    # the recount is kept: resumed again on one process, the run ends where it would
    assert _state(run, 12)[1]["state"]["system"]["shift"] == -4
    _back_to(run, 10)
    code, _, err = cli("run", "resume=runs/e")
    assert code == 0 and "recounted" not in err, err
    assert _lr(run)[12] == pytest.approx(2e-4 / 8)


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


def test_a_run_in_epochs_resumed_with_another_batch_size_is_recounted(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """Batch 4 where the run counted its 4 steps an epoch at batch 2: one pass done of 4
    (step 4 of 16), the 3 left in 2 steps each, the decay from step 2 passes later. A run
    whose length was changed on a resume is not its epochs' any more: refused."""
    run = _epochs_run_at_step_4(workdir, cli)
    code, _, err = cli("run", "resume=runs/e", "trainer.steps=20", "trainer.batch_size=4")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "trainer.steps=20 is not the 16 steps its epochs=2 epochs_decay=2 make" in err
    assert "resume it on 1 process at trainer.batch_size=2, or start a new run" in err
    assert sorted(p.name for p in (run / "checkpoints").glob("step_*"))[-1] == "step_0000004"
    code, _, err = cli("run", "resume=runs/e", "trainer.batch_size=4")
    assert code == 0, err
    assert "trainer.steps 16 -> 10, its learning-rate decay from step 6" in err
    assert _steps(run)[-6:] == list(range(5, 11))
    lr = _lr(run)
    assert [lr[s] / 2e-4 for s in (5, 7, 8, 10)] == pytest.approx([1, 1, 3 / 4, 1 / 4])


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
def test_a_torchrun_run_in_epochs_resumed_on_one_process_trains_the_passes_left(
    workdir: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    """The real thing: 2 processes stop after 2 of 4 passes (step 4 of 8, 2 steps an epoch
    each); one process (4 steps an epoch) trains the 2 passes left in steps 5 to 12."""
    root = _unpaired(workdir / "data")
    args = [*FOLDER_NO_STEPS, f"data.path={root}", *EPOCHS, "name=dd"]
    proc = _torchrun(2, *args, cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = workdir / "runs" / "dd"
    assert yaml.safe_load((run / "config.yaml").read_text())["trainer"]["steps"] == 8
    _back_to(run)
    assert _state(run)[1]["state"]["system"] == {"processes": 2, "batch_size": 2, "shift": 0}
    code, _, err = cli("run", "resume=runs/dd")
    assert code == 0, err
    assert (
        "make 4 on 1 process at trainer.batch_size=2: the remaining passes are recounted, "
        "trainer.steps 8 -> 12, its learning-rate decay from step 4"
    ) in err
    assert _steps(run)[-8:] == list(range(5, 13))
    assert _lr(run)[12] == pytest.approx(2e-4 / 8)
