"""`ganhub meta` audit: a meta run that stopped early is not trained on as an ordinary GAN by
`ganhub run resume=`, and a trick that follows the run's step through trainer.steps, which each
task visit starts again at 0, is refused instead of doing nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["plugin=dcgan", "preset=tiny", "trainer.batch_size=8", "meta.classes=[0,1]",
        "meta.inner_steps=1", "loggers=[jsonl]", "trainer.progress=false", "eval.metrics=[]"]  # fmt: skip


def _stopped_meta_run(workdir: Path, cli) -> Path:  # type: ignore[no-untyped-def]
    """A meta run of 3 outer steps that kept the checkpoint of outer step 1 only, as one
    stopped there (Ctrl-C, trainer.max_seconds, a crash) leaves it."""
    code, _, err = cli("meta", *TINY, "meta.outer_steps=3", "trainer.checkpoint_every=1",
                       "trainer.keep_checkpoints=5", "name=m")  # fmt: skip
    assert code == 0, err
    run = workdir / "runs" / "m"
    for later in ("step_0000002", "step_0000003"):
        shutil.rmtree(run / "checkpoints" / later)
    return run


def test_ganhub_run_resume_of_a_stopped_meta_run_is_refused_and_leaves_it(
    workdir: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    """It trained outer steps 2 and 3 as two ordinary GAN steps on all of meta.classes, and
    the run directory then held those weights beside meta.json's meta-training record."""
    run = _stopped_meta_run(workdir, cli)
    metrics = (run / "metrics.jsonl").read_text()
    code, _, err = cli("run", f"resume={run}")
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "ganhub meta run (meta.json)" in err and "outer step 1 of 3" in err
    assert "ganhub adapt" in err
    assert sorted(p.name for p in (run / "checkpoints").glob("step_*")) == ["step_0000001"]
    # the lines of outer step 1 as they were; none of an ordinary step after it
    assert (run / "metrics.jsonl").read_text() == metrics.splitlines(keepends=True)[0]
    assert not (run / "failed.json").exists()


def test_meta_json_marks_the_run_from_its_first_outer_step(
    workdir: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A meta run that fails after its first checkpoint (here: its second outer step raises)
    is refused by `ganhub run resume=` too: meta.json was written only when it ended."""
    import ganhub_meta.outer as outer

    calls = {"n": 0}
    apply = outer.Reptile.apply

    def failing(self, run, theta, kept, step):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("the machine went away")
        apply(self, run, theta, kept, step)

    monkeypatch.setattr(outer.Reptile, "apply", failing)
    with pytest.raises(RuntimeError, match="went away"):
        cli("meta", *TINY, "meta.outer_steps=3", "trainer.checkpoint_every=1", "name=m")
    run = workdir / "runs" / "m"
    assert json.loads((run / "meta.json").read_text())["method"] == "reptile"
    monkeypatch.undo()
    code, _, err = cli("run", f"resume={run}")
    assert code == 2 and "ganhub meta run" in err, err


def test_an_ordinary_run_and_an_adapted_meta_run_still_resume(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    run = _stopped_meta_run(workdir, cli)
    code, _, err = cli("adapt", str(run), "data.classes=[8]", "trainer.steps=2",
                       "trainer.checkpoint_every=1", "eval.metrics=[]", "name=a", "out_dir=runs")  # fmt: skip
    assert code == 0, err
    adapted = workdir / "runs" / "a"
    shutil.rmtree(adapted / "checkpoints" / "step_0000002")
    code, _, err = cli("run", f"resume={adapted}")
    assert code == 0, err


def test_lr_schedule_is_refused_in_a_meta_run(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """Each visit trains meta.inner_steps steps from step 0 of trainer.steps=meta.outer_steps:
    with 10 inner steps of 200 outer ones the rates never fell below 95 % of optim.*.lr."""
    code, _, err = cli("meta", *TINY, "tricks=[lr_schedule]", "name=m")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "trick 'lr_schedule'" in err and "ganhub adapt RUN tricks=[lr_schedule]" in err
    assert not (workdir / "runs").exists()


def test_meta_options_in_a_config_file_are_named_with_the_file(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """It said "meta.classes: Field required" of a file that gave meta.classes."""
    (workdir / "m.yaml").write_text("meta:\n  classes: [0, 1]\n  outer_steps: 2\n")
    for extra in ([], ["meta.classes=[0,1]"]):
        code, _, err = cli("meta", "plugin=dcgan", "preset=tiny", "config=m.yaml", *extra)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "config file 'm.yaml' gives meta.classes, meta.outer_steps" in err
        assert "meta.classes=[0,1] meta.outer_steps=2" in err
    assert not (workdir / "runs").exists()
