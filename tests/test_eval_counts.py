"""What an evaluation says it scored: the counts metrics report (`n_samples`, `n_real`)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch

from ganhub.config.resolve import resolve
from ganhub.engine.run import prepare_system
from ganhub.metrics import Directions, Metric, evaluate
from ganhub.plugins import get_hub
from ganhub.wiring import components

from .conftest import TINY_TOY


class Counted(Metric):
    """Scores nothing; reports the counts it is built with (a held-out set's size, say)."""

    better: ClassVar[Directions] = {"score_*": "lower"}  # every reported key is declared

    def __init__(self, name: str, **counts: float) -> None:
        self.name, self.counts = name, counts

    def compute(self, system: Any, *, n_samples: int, seed: int) -> dict[str, float]:
        return {f"score_{self.name}": 1.0, **self.counts}


@pytest.fixture(scope="module")
def system() -> Any:
    config = resolve(TINY_TOY)
    return prepare_system(config, components(config), torch.device("cpu"))[0]


@pytest.mark.parametrize(
    ("metrics", "n_samples", "n_real"),
    [
        ([Counted("a", n_samples=8), Counted("b", n_samples=5)], 5, None),
        ([Counted("b", n_samples=5), Counted("a", n_samples=8)], 5, None),
        ([Counted("a"), Counted("b", n_samples=20)], 10, None),  # a scored the 10 asked for
        ([Counted("a", n_samples=4, n_real=30), Counted("b", n_real=7)], 4, 7),
        ([Counted("a")], 10, None),
    ],
)
def test_each_count_is_the_fewest_any_score_rests_on(
    system: Any, metrics: list[Metric], n_samples: float, n_real: float | None
) -> None:
    """Two metrics reporting n_samples differently: the last one's replaced the other's, so
    a score resting on 5 samples was shown as resting on 8."""
    values = evaluate(system, metrics, n_samples=10, seed=0).values
    assert values["n_samples"] == n_samples
    assert values.get("n_real") == n_real
    assert all(values[f"score_{m.name}"] == 1.0 for m in metrics)


def test_each_metric_keeps_its_own_counts(system: Any) -> None:
    """One evaluation recorded one n_real (and n_samples), the fewest: a metric that compared
    with 30 real samples was recorded beside one that read 7 as resting on 7, with nothing
    saying which scored what. Each metric's own counts are kept by its name; the fewest stay
    the evaluation's counts."""
    coverage = get_hub().metrics.get("mode_coverage_2d")
    metrics = [coverage, Counted("held", n_samples=4, n_real=30), Counted("refs", n_real=7)]
    result = evaluate(system, metrics, n_samples=10, seed=0)
    assert (result.values["n_samples"], result.values["n_real"]) == (4, 7)
    assert result.counts == {
        "mode_coverage_2d": {"n_samples": 10},  # the 10 points it was asked for
        "held": {"n_samples": 4, "n_real": 30},
        "refs": {"n_samples": 10, "n_real": 7},
    }


def test_eval_json_records_each_metrics_counts(cli: Any, workdir: Any) -> None:
    """eval.json recorded only the fewest counts; `counts` keeps each metric's, by name."""
    import json

    code, _, err = cli("run", *TINY_TOY, "name=c")
    assert code == 0, err
    code, _, err = cli("eval", "runs/c", "--n", "20", "--seeds", "2",
                       "eval.metrics=[mode_coverage_2d]")  # fmt: skip
    assert code == 0, err
    saved = json.loads((workdir / "runs/c/eval.json").read_text())
    assert saved["counts"] == {"mode_coverage_2d": {"n_samples": 20}}
    assert saved["results"]["n_samples"]["values"] == [20, 20]
