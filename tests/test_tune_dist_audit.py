"""A user audit of `ganhub tune` and EWC under torchrun: EWC's Fisher is one for the job (a
torchrun resume is exact), a study refuses torchrun, an interrupted trial is not a failed one,
docs/tune.md's failed-study example is real, and sampler=oneshot needs space=arch."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml

from ganhub.hookspecs import hookimpl

from .conftest import TINY_TOY
from .test_distributed import _torchrun

optuna = pytest.importorskip("optuna")

DOCS = Path(__file__).parents[1] / "docs/tune.md"
# a few hundred tiny steps: every trial takes about a second on one CPU core
TINY_TUNE = [
    "data.dataset=ring", "trainer.steps=200", "trainer.eval_every=50", "trainer.batch_size=64",
    "data.n_samples=2000", "model.g_hidden=32", "model.d_hidden=32", "eval.n_samples=500",
    "loss=nonsaturating", "tricks=[]", "optim.G.betas=[0.5,0.999]",
]  # fmt: skip
LR_SPACE = {
    "params": {
        "optim.G.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "optim.D.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
    }
}


# -- 1. EWC under torchrun ----------------------------------------------------------------------


@pytest.mark.slow
def test_ewc_under_torchrun_resumes_exactly(workdir: Path) -> None:
    """Each rank estimated the Fisher from its own samples and only rank 0's was checkpointed:
    a resumed run's rank 1 held another F, and its weights ended ~1e-3 from the uninterrupted
    run's (tricks=[] was exact)."""
    from safetensors.torch import load_file

    import ganhub

    ganhub.train([*TINY_TOY, "trainer.steps=10", "name=src", "device=cpu"])
    args = [
        *TINY_TOY, "init_from=runs/src", "tricks=[ewc]", "trainer.steps=6",
        "trainer.batch_size=16", "trainer.checkpoint_every=3", "trainer.keep_checkpoints=5",
        "trainer.eval_every=0", "eval.metrics=[]", "name=dewc", "device=cpu",
    ]  # fmt: skip
    proc = _torchrun("-m", "ganhub", "run", *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shutil.copytree(workdir / "runs/dewc", workdir / "runs/copy")
    shutil.rmtree(workdir / "runs/copy/checkpoints/step_0000006")
    proc = _torchrun("-m", "ganhub", "run", "resume=runs/copy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    whole, resumed = (load_file(workdir / f"runs/{name}/checkpoints/step_0000006/model.safetensors")
                      for name in ("dewc", "copy"))  # fmt: skip
    assert whole.keys() == resumed.keys()
    differ = [key for key in whole if not (whole[key] == resumed[key]).all()]
    assert not differ, differ


# -- 2. ganhub tune under torchrun --------------------------------------------------------------


def test_tune_refuses_a_torchrun_environment_before_anything_is_written(
    cli: Any, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each rank started its own trial in one process group: gloo aborted on a collective
    mismatch and the study kept RUNNING and FAIL trials."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    code, out, err = cli("tune", "plugin=toy2d", "trials=2", "trainer.steps=10", "study=dtune")
    assert code == 2, out + err
    assert err.count("\n") == 1, err
    assert err.startswith("ganhub: error: ganhub tune runs in one process, and WORLD_SIZE=2 ")
    assert "run ganhub tune without torchrun, or start several ganhub tune processes" in err
    assert list(workdir.iterdir()) == []
    monkeypatch.setenv("WORLD_SIZE", "1")  # torchrun --nproc_per_node=1: one process, accepted
    from ganhub_tune.cli import parse_options
    from ganhub_tune.study import prepare

    prepare(parse_options(["plugin=toy2d", f"out={workdir / 'one'}"]))


@pytest.mark.slow
def test_tune_under_torchrun_is_one_line_per_rank(workdir: Path) -> None:
    proc = _torchrun("-m", "ganhub", "tune", "plugin=toy2d", "trials=2", "trainer.steps=100",
                     "trainer.eval_every=50", "study=dtune")  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    said = [line for line in out.splitlines() if line.startswith("ganhub: error: ")]
    assert len(said) == 2 and all("WORLD_SIZE=2" in line for line in said), out
    # torchrun's own report of its failed children follows; no frame of ganhub's code
    assert not re.search(r'File "[^"]*(ganhub|plugins)/', out), out
    assert not (workdir / "runs").exists()


# -- 3. an interrupted trial --------------------------------------------------------------------


class _CtrlC:
    """Sends this process SIGINT after `step` of one trial's run, as Ctrl-C would."""

    def __init__(self, run: str, step: int) -> None:
        self.run, self.step, self.sent = run, step, False

    @hookimpl
    def after_step(self, run: Any, step: int, metrics: dict[str, float] | None) -> None:
        if not self.sent and run.run_dir.name == self.run and step == self.step:
            self.sent = True
            os.kill(os.getpid(), signal.SIGINT)


def test_an_interrupted_trial_is_not_a_failed_one_and_continues(cli: Any, tmp_path: Path) -> None:
    """Ctrl-C's trial was listed `fail` with its last intermediate value as if it were its
    result, and counted as '1 failed'."""
    from ganhub.plugins import get_hub

    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(LR_SPACE))
    args = ["tune", "plugin=toy2d", f"out={tmp_path / 'studies'}", "study=ctrlc",
            f"search={space}", "objective=reverse_kl", "trials=2", "pruner=none",
            "trainer.checkpoint_every=50", "trainer.keep_checkpoints=10", *TINY_TUNE]  # fmt: skip
    stopper = _CtrlC("trial_0001", 120)
    hub = get_hub()
    hub.pm.register(stopper, name="test.ctrlc")
    try:
        code, out, err = cli(*args)
    finally:
        hub.pm.unregister(stopper)
    assert stopper.sent and code == 130, out + err
    assert "trial 1: stopped by signal 2" in out
    code, out, err = cli(*args)  # the same command continues the study
    assert code == 0, out + err
    directory = tmp_path / "studies/ctrlc"
    facts = json.loads((directory / "summary.json").read_text())
    assert (facts["complete"], facts["failed"], facts["interrupted"]) == (2, 0, 1), facts
    summary = (directory / "summary.md").read_text()
    assert "3 trials: 2 complete, 0 pruned, 0 failed, 1 interrupted." in summary, summary
    (row,) = [line for line in summary.splitlines() if line.startswith("| 1 |")]
    cells = [cell.strip() for cell in row.split("|")[1:-1]]
    assert cells[1] == "interrupted, continued as trial 2", row
    assert cells[2].startswith("(") and cells[2].endswith(" at step 100)"), row  # not final
    assert cells[-1] == "trial_0001", row
    with open(directory / "trials.csv") as f:
        states = {row["number"]: row["state"] for row in csv.DictReader(f)}
    assert states == {"0": "COMPLETE", "1": "INTERRUPTED", "2": "COMPLETE"}, states
    # trial 2 ran trial 1's run on from its checkpoint, in its folder
    storage = f"sqlite:///{directory / 'study.db'}"
    study = optuna.load_study(study_name="ctrlc", storage=storage)
    last = study.trials[2]
    assert last.user_attrs["continues"] == 1
    assert last.user_attrs["run_dir"] == str(directory / "trials/trial_0001")
    assert sorted(p.name for p in (directory / "trials").iterdir()) == [
        "trial_0000", "trial_0001"
    ]  # fmt: skip
    saved = sorted(p.name for p in (directory / "trials/trial_0001/checkpoints").glob("step_*"))
    assert saved == ["step_0000050", "step_0000100", "step_0000120",  # the signal's
                     "step_0000150", "step_0000200"]  # fmt: skip


# -- 4. docs/tune.md's failed-study example -----------------------------------------------------


def test_the_docs_example_of_a_study_whose_trials_all_fail_is_real(cli: Any, workdir: Path) -> None:
    """Its `loss=hinge tricks=[label_smoothing]` is refused before any trial now."""
    section = DOCS.read_text().split("## Failed trials", 1)[1].split("\n## ", 1)[0]
    spec = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    shell = section.split("```text\n$ ", 1)[1].split("```", 1)[0].strip().splitlines()
    command, said = shell[0], shell[-1]
    name = next(w.split("=", 1)[1] for w in shlex.split(command) if w.startswith("search="))
    (workdir / name).write_text(spec)
    words = shlex.split(command)
    assert words[:2] == ["ganhub", "tune"], command
    code, out, err = cli(*words[1:])
    assert code == 2, out + err
    assert err.strip() == said
    assert out.rstrip("\n").splitlines() == shell[1:-1]


# -- 5. sampler=oneshot needs space=arch --------------------------------------------------------


def test_oneshot_needs_space_arch_and_its_values(tmp_path: Path) -> None:
    """toy2d's space=hparams study ran with sampler=oneshot: its supernet searched
    model.g_hidden over 64..512, the study's choices were 64..256."""
    from ganhub_tune.cli import parse_options
    from ganhub_tune.study import prepare

    from ganhub.errors import ConfigError

    out = tmp_path / "studies"
    with pytest.raises(ConfigError) as refused:
        prepare(parse_options(["plugin=toy2d", f"out={out}", "sampler=oneshot"]))
    assert str(refused.value).startswith(
        "sampler=oneshot needs space=arch, and this study has space=hparams: toy2d's supernet "
    )
    narrow = tmp_path / "narrow.yaml"
    narrow.write_text(yaml.safe_dump({"params": {"model.g_hidden": [64, 128]}}))
    with pytest.raises(ConfigError) as refused:
        prepare(parse_options(["plugin=toy2d", f"out={out}", "sampler=oneshot", "space=arch",
                               f"search={narrow}"]))  # fmt: skip
    assert str(refused.value) == (
        f"sampler=oneshot: {narrow}: param 'model.g_hidden' searches [64, 128], and toy2d's "
        "supernet spans [64, 128, 256, 512] (its arch_space); leave the key to space=arch, or "
        "use another sampler"
    )
    assert not out.exists()
    # keys the supernet does not span may be added (drawn at random), and others narrowed
    lr = tmp_path / "lr.yaml"
    lr.write_text(yaml.safe_dump(LR_SPACE))
    study = prepare(parse_options(["plugin=toy2d", f"out={out}", "sampler=oneshot",
                                   "space=arch", f"search={lr}"]))  # fmt: skip
    assert {"model.g_hidden", "optim.G.lr"} <= {p.key for p in study.space.params}
    prepare(parse_options(["plugin=toy2d", f"out={out}", "space=arch", f"search={narrow}",
                           "study=tpe"]))  # fmt: skip
