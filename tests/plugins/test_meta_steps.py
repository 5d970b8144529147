"""`ganhub meta` and trainer.steps: refused (the run trains meta.outer_steps), and the meta
run's config.yaml records the outer steps its checkpoints count; its error examples resolve."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from ganhub_meta.cli import parse_options
from ganhub_meta.reptile import meta_config

import ganhub
from ganhub.errors import ConfigError
from ganhub.metrics.rundata import read_metrics
from ganhub.plugins import get_hub

pytestmark = pytest.mark.usefixtures("one_thread")


def test_trainer_steps_is_refused_in_one_line_pointing_at_outer_steps(cli) -> None:  # type: ignore[no-untyped-def]
    """It was ignored: trainer.steps=1 trained meta.outer_steps=4 outer steps, rc 0."""
    code, _, err = cli("meta", "plugin=dcgan", "preset=tiny", "meta.classes=[0,1]",
                       "meta.outer_steps=4", "trainer.steps=1")  # fmt: skip
    assert code == 2 and err.count("\n") == 1
    assert "trainer.steps=1 has no use in ganhub meta" in err
    assert "give meta.outer_steps=1 instead" in err
    # the same number as meta.outer_steps (a saved meta config.yaml given back) is no conflict
    options, items = parse_options(["plugin=dcgan", "meta.classes=[0,1]", "meta.outer_steps=3",
                                    "trainer.steps=3"])  # fmt: skip
    assert meta_config(items, options, get_hub()).trainer.steps == 3


def test_a_config_file_with_trainer_steps_is_named(tmp_path: Path) -> None:
    saved = tmp_path / "old.yaml"
    saved.write_text("trainer:\n  steps: 7\n")
    options, items = parse_options(["plugin=dcgan", "meta.classes=[0,1]", f"config={saved}"])
    with pytest.raises(ConfigError, match=r"^trainer\.steps=7 \(from config file .*old\.yaml'\)"):
        meta_config(items, options, get_hub())


def test_the_config_records_the_outer_steps_and_a_resume_agrees(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """config.yaml said the domain's steps (dcgan 2500, the tiny preset 20) or the ignored
    trainer.steps while the checkpoints counted outer steps."""
    options, items = parse_options(["plugin=dcgan", "meta.classes=[0,1]"])
    assert meta_config(items, options, get_hub()).trainer.steps == options.outer_steps == 200
    code, _, err = cli("meta", "plugin=dcgan", "preset=tiny", "trainer.batch_size=8",
                       "meta.classes=[0,1]", "meta.outer_steps=3", "meta.inner_steps=1",
                       "loggers=[]", "trainer.progress=false", "name=m")  # fmt: skip
    assert code == 0, err
    run = workdir / "runs" / "m"
    assert yaml.safe_load((run / "config.yaml").read_text())["trainer"]["steps"] == 3
    assert (run / "checkpoints" / "step_0000003").is_dir()
    # a resume that asks for fewer steps than the run trained is refused at its real step
    code, _, err = cli("run", f"resume={run}", "trainer.steps=2")
    assert code == 2 and "the run is at step 3 and trainer.steps=2 asks for no more" in err


def test_a_class_outside_the_data_gets_an_example_that_resolves() -> None:
    """The data's example (data.classes=[8]) became meta.classes=[8], itself refused."""
    options, items = parse_options(["plugin=dcgan", "meta.classes=[0,10]"])
    with pytest.raises(ConfigError) as err:
        meta_config(items, options, get_hub())
    message = str(err.value)
    assert message.startswith("meta.classes=[0, 10]: give distinct digits 0-9")
    example = re.search(r"e\.g\. (meta\.classes=\[[0-9,]*\])", message)
    assert example is not None, message
    options, items = parse_options(["plugin=dcgan", example.group(1)])
    assert meta_config(items, options, get_hub()).data.classes == options.classes  # type: ignore[attr-defined]


def test_the_trainer_cadences_count_outer_steps(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """trainer.sample_every, checkpoint_every, eval_every, keep_best and patience were ignored:
    a meta run wrote its samples, checkpoint and evaluation only at the end."""
    code, out, err = cli("meta", "plugin=dcgan", "preset=tiny", "trainer.batch_size=8",
                         "meta.classes=[0,1]", "meta.outer_steps=5", "meta.inner_steps=1",
                         "trainer.sample_every=2", "trainer.checkpoint_every=2",
                         "trainer.keep_checkpoints=5", "loggers=[jsonl]", "name=c")  # fmt: skip
    assert code == 0, err
    run = workdir / "runs" / "c"
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == [
        "step_0000002.png", "step_0000004.png", "step_0000005.png"]  # fmt: skip
    assert sorted(p.name for p in (run / "checkpoints").glob("step_*")) == [
        "step_0000002", "step_0000004", "step_0000005"]  # fmt: skip
    # patience: the evaluations every 2 outer steps are kept and counted; with patience 1 the
    # run stops at the first evaluation that is no better (an equal value is none better)
    code, out, err = cli("meta", "plugin=dcgan", "preset=tiny", "trainer.batch_size=8",
                         "meta.classes=[0,1]", "meta.outer_steps=40", "meta.inner_steps=1",
                         "meta.outer_lr=1e-9", "trainer.eval_every=2", "trainer.keep_best=fd_digits",
                         "trainer.patience=1", "eval.metrics=[fid]", "eval.n_samples=32",
                         "loggers=[jsonl]", "name=p")  # fmt: skip
    assert code == 0, err
    run = workdir / "runs" / "p"
    evaluated = [r["step"] for r in read_metrics(run) if "eval/fd_digits" in r]
    assert evaluated[:2] == [2, 4] and ganhub.load(run).step < 40, evaluated
    assert "stopped early by trainer.patience=1" in out
    assert json.loads((run / "checkpoints" / "best.json").read_text())["metric"] == "fd_digits"


def test_max_seconds_stops_a_meta_run_with_its_outputs_and_no_resume_hint(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """trainer.max_seconds was ignored; a quiet stopped meta run said `continue with: ganhub
    run resume=RUN`, which trains on as an ordinary run, not a meta one."""
    code, out, err = cli("meta", "plugin=dcgan", "preset=tiny", "trainer.batch_size=8",
                         "meta.classes=[0,1]", "meta.outer_steps=50", "meta.inner_steps=1",
                         "trainer.max_seconds=0.001", "trainer.progress=false", "name=t")  # fmt: skip
    assert code == 0, err
    assert out.startswith("ganhub: stopped at outer step 1 ") and "continue with" not in out, out
    run = workdir / "runs" / "t"
    assert (run / "checkpoints" / "step_0000001").is_dir()
    assert (run / "samples" / "step_0000001.png").is_file()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    stop = [r for r in records if "stop/max_seconds" in r]  # what `ganhub report` says
    assert [(r["step"], r["stop/max_seconds"]) for r in stop] == [(1, 0.001)]
