"""ganhub tune repeats=N: each trial scored by the mean over several run seeds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from .test_tune import _load, _tune_args

optuna = pytest.importorskip("optuna")


@pytest.mark.slow
def test_repeats_score_each_trial_by_the_mean_over_run_seeds(tmp_path: Path, cli: Any) -> None:
    """repeats=2: every complete trial trains at run seeds 3 and 4 and scores their mean; the
    pruner judges the first seed's run, and a pruned trial trains no second seed."""
    args = _tune_args(tmp_path, "seeds", "trials=6", "sampler=random", "repeats=2", "seed=3")
    code, out, err = cli(*args)
    assert code == 0, err
    study = _load(f"sqlite:///{tmp_path / 'studies/seeds/study.db'}", "seeds")
    trials_dir = tmp_path / "studies/seeds/trials"

    def final(run: Path) -> tuple[int, float]:
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        seed = yaml.safe_load((run / "config.yaml").read_text())["seed"]
        return seed, [r["eval/reverse_kl"] for r in rows if "eval/reverse_kl" in r][-1]

    states = {t.state.name for t in study.trials}
    assert states == {"COMPLETE", "PRUNED"}, out
    for t in study.trials:
        runs = sorted(trials_dir.glob(f"trial_{t.number:04d}_seed*"))
        if t.state.name == "PRUNED":
            assert [r.name for r in runs] == [f"trial_{t.number:04d}_seed3"]
            continue
        seeds, values = zip(*map(final, runs), strict=True)
        assert seeds == (3, 4) and values[0] != values[1]
        assert t.value == pytest.approx(sum(values) / 2)
        assert t.user_attrs["seed_values"] == {"reverse_kl": pytest.approx(list(values))}
    best = (tmp_path / "studies/seeds/best.yaml").read_text().splitlines()[0]
    assert "mean of the runs at seeds 3, 4; this config is the run at seed 3" in best
