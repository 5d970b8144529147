"""trainer.keep_best: every metric declares which way it improves; the best checkpoint is kept
apart from pruning, recorded in checkpoints/best.json, survives resume and opens with load."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

import ganhub
from ganhub.config.resolve import resolve
from ganhub.engine import checkpoint
from ganhub.engine.loop import fit
from ganhub.errors import ConfigError, UsageError
from ganhub.hookspecs import hookimpl
from ganhub.metrics import Directions, Metric, undeclared
from ganhub.plugins import Hub, get_hub
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN, TINY_TOY

METRICS = list(get_hub().metrics)


@pytest.mark.parametrize("entry", METRICS, ids=lambda e: e.name)
def test_every_registered_metric_declares_which_way_it_improves(entry: Any) -> None:
    metric = entry.obj
    assert metric.better, f"metric {entry.name} declares no `better`"
    assert set(metric.better.values()) <= {"lower", "higher", None}
    # None is for what is no score (a count, a baseline, a ratio best at 1): keep_best refuses it
    assert all(metric.direction(key) in ("lower", "higher") for key in metric.scores())


def test_a_run_reports_only_declared_results(workdir: Path) -> None:
    run = make_run(resolve([*TINY_TOY, "name=d"]))
    summary = fit(run)
    assert summary["metrics"] and undeclared(summary["metrics"], run.metrics()) == []


def test_feature_dependent_names_resolve_through_patterns() -> None:
    hub = get_hub()
    fid, kid = hub.metrics.get("fid"), hub.metrics.get("kid")
    assert fid.direction("fd_digits") == fid.direction("fid_fidhelper") == "lower"
    assert kid.direction("kd_digits_std") is None and kid.direction("kd_digits") == "lower"
    assert hub.metrics.get("ssim_diversity").direction("ssim_real") is None
    with pytest.raises(KeyError):
        fid.direction("modes")


class Scripted(Metric):
    """Reports the next of a scripted list of values as `score` (lower is better)."""

    name = "scripted"
    better: ClassVar[Directions] = {"score": "lower"}

    def __init__(self, values: list[float]) -> None:
        self.values = values

    def compute(self, system: Any, *, n_samples: int, seed: int) -> dict[str, float]:
        """The next value."""
        return {"score": self.values.pop(0)}


def scripted_hub(metric: Metric) -> Hub:
    plugin = SimpleNamespace(
        register_metrics=hookimpl(lambda register: register(metric.name, metric))
    )
    return Hub.discover(extra=(("scripted-plugin", plugin),))


def _steps(run_dir: Path) -> list[int]:
    return sorted(checkpoint.step_of(p) for p in checkpoint.step_dirs(run_dir / "checkpoints"))


def _best(run_dir: Path) -> dict[str, Any]:
    return dict(json.loads((run_dir / "checkpoints" / checkpoint.BEST).read_text()))


def test_the_best_checkpoint_outlives_pruning_and_resume(workdir: Path) -> None:
    scripted = Scripted([5.0, 2.0, 3.0, 4.0])  # evaluations at steps 5, 10, 15 and 20 (the end)
    hub = scripted_hub(scripted)
    args = [*TINY_TOY, "name=k", "trainer.steps=20", "trainer.eval_every=5",
            "trainer.checkpoint_every=5", "trainer.keep_checkpoints=1",
            "eval.metrics=[scripted]", "trainer.keep_best=score"]  # fmt: skip
    summary = fit(make_run(resolve(args, hub=hub), hub))
    run_dir = workdir / "runs/k"
    assert _steps(run_dir) == [10, 20]  # the best (step 10) and the last one; 5 and 15 pruned
    assert _best(run_dir) == {"metric": "score", "step": 10, "value": 2.0, "better": "lower"}
    assert summary["best"]["step"] == 10 and summary["best"]["checkpoint"].endswith("step_0000010")
    assert ganhub.load(run_dir, hub=hub, best=True).step == 10
    assert ganhub.load(run_dir, hub=hub).step == 20

    scripted.values += [6.0, 7.0]  # worse: the record and its checkpoint stay
    fit(make_run(resolve(["resume=runs/k", "trainer.steps=30"], hub=hub), hub))
    assert _steps(run_dir) == [10, 30] and _best(run_dir)["step"] == 10

    scripted.values += [1.5]  # better at the end: it becomes the best, step 10 goes
    summary = fit(make_run(resolve(["resume=runs/k", "trainer.steps=35"], hub=hub), hub))
    assert _steps(run_dir) == [35] and _best(run_dir)["step"] == 35
    assert summary["best"]["value"] == 1.5


@pytest.mark.parametrize(
    ("key", "expect"),
    [
        ("fd_digits", "valid: modes, hq_percent, reverse_kl"),  # not among this run's metrics
        ("mode", "(did you mean 'modes'?)"),
        ("n_samples", "no metric reports that score"),  # a count, no score: when resolved
    ],
)
def test_keep_best_must_be_a_score_of_the_runs_metrics(
    workdir: Path, key: str, expect: str
) -> None:
    with pytest.raises(ConfigError) as err:
        make_run(resolve([*TINY_TOY, "name=v", f"trainer.keep_best={key}"]))
    message = str(err.value)
    assert message.startswith(f"trainer.keep_best={key}: ") and "\n" not in message
    assert expect in message
    assert not (workdir / "runs/v").exists()  # refused before the run directory is made


@pytest.mark.parametrize(
    ("key", "refused"),
    [("fd_digitz", True), ("fid", True), ("precision", True), ("fd_digits", False),
     ("precision_digits", False)],
)  # fmt: skip
def test_a_feature_key_must_name_a_feature_network_of_the_run(
    workdir: Path, key: str, refused: bool
) -> None:
    """`fd_digitz` matched fid's `fd_*` and `fid` is declared, but a run scoring on `digits`
    reports `fd_digits` only: no best was ever kept and patience never ran out."""
    keys = [*TINY_DCGAN, "eval.metrics=[fid,precision_recall]", f"trainer.keep_best={key}"]
    if refused:
        with pytest.raises(ConfigError, match=rf"keep_best={key}: names no feature network .*"
                           r"\(eval.features: digits\)"):  # fmt: skip
            make_run(resolve(keys))
    else:
        make_run(resolve(keys)).close()


def test_keep_best_needs_a_metric_to_judge_by(workdir: Path) -> None:
    with pytest.raises(ConfigError, match=r"evaluates no metric .* eval\.metrics=\[\.\.\.\]"):
        make_run(resolve([*TINY_TOY, "eval.metrics=[]", "trainer.keep_best=modes"]))


@pytest.mark.parametrize(
    "record",
    [
        "not json",
        '{"metric": "score", "step": "../../elsewhere", "value": 1.0, "better": "lower"}',
        '{"metric": "score", "step": 10, "value": NaN, "better": "lower"}',
        '{"metric": "score", "step": true, "value": 1.0, "better": "lower"}',
        '{"metric": "score", "step": 10, "value": 1.0, "better": "sideways"}',
        "[1, 2]",
    ],
)
def test_a_damaged_best_record_is_refused_in_one_line(tmp_path: Path, record: str) -> None:
    (tmp_path / checkpoint.BEST).write_text(record)
    with pytest.raises(UsageError) as err:
        checkpoint.read_best(tmp_path)
    assert "\n" not in str(err.value)


def test_load_best_of_a_run_without_one_says_how_to_get_one(workdir: Path) -> None:
    fit(make_run(resolve([*TINY_TOY, "name=n"])))
    with pytest.raises(UsageError, match=r"trainer\.keep_best=METRIC"):
        ganhub.load(workdir / "runs/n", best=True)


def test_resume_sets_a_damaged_record_aside_with_a_warning(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fit(make_run(resolve([*TINY_TOY, "name=r", "trainer.keep_best=modes"])))
    (workdir / "runs/r/checkpoints" / checkpoint.BEST).write_text('{"step": 3}')
    fit(make_run(resolve(["resume=runs/r", "trainer.steps=6"])))
    assert "is not a best-checkpoint record" in capsys.readouterr().err
    # a new record: the evaluation logged at the resumed step 4 (its checkpoint is there), or
    # the next one at step 6, whichever scored more modes
    lines = (workdir / "runs/r/metrics.jsonl").read_text().splitlines()
    logged = {r["step"]: r["eval/modes"] for r in map(json.loads, lines) if "eval/modes" in r}
    best = _best(workdir / "runs/r")
    assert best["step"] in (4, 6) and best["value"] == logged[best["step"]] == max(logged.values())
