"""ganhub tune, as a user: a NaN or infinite objective fails its trial (it was printed as a
result and ranked, or failed without a word), sampler=cmaes never unpickles what a study's
storage holds, and the plots are written whole under a fresh name (not through a link)."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ganhub_tune.samplers import make_sampler

from .plugins.test_tune import _tune_args

optuna = pytest.importorskip("optuna")

SHORT = ("trials=1", "pruner=none", "trainer.steps=20", "trainer.eval_every=20")


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_objective_fails_its_trial(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch, bad: float
) -> None:
    """A run whose metric came out NaN was printed `trial 0: reverse_kl=nan` as a result, and
    the study ended `has no complete trial yet`, its folder kept; an infinite one ranked."""
    import ganhub_toy2d.metrics as metrics

    real = metrics.mode_stats

    def non_finite(*args: Any, **kwargs: Any) -> dict[str, float]:
        return {**real(*args, **kwargs), "reverse_kl": bad}  # a metric of non-finite samples

    monkeypatch.setattr(metrics, "mode_stats", non_finite)
    code, out, err = cli(*_tune_args(tmp_path, "nan", *SHORT))
    assert code == 3, out + err
    assert f"trial 0: failed: objective reverse_kl is {bad}: the run's final evaluation" in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "the study's one trial failed, trial 0: objective" in lines[0]
    assert not (tmp_path / "studies" / "nan").exists()  # removed: the rerun starts afresh


class _Planted:
    """What a study database from elsewhere could hold where Optuna keeps CMA-ES's state."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(MARKER[0]),))


MARKER = [""]


def test_cmaes_never_unpickles_the_storage_and_still_learns(tmp_path: Path) -> None:
    """sampler=cmaes used Optuna's CmaEsSampler, which loads its state with pickle.loads from
    the trials' system attributes in study.db: any code a shared study folder held ran."""
    MARKER[0] = str(tmp_path / "ran")
    space = {k: optuna.distributions.FloatDistribution(0.0, 1.0) for k in ("x", "y")}
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sampler = make_sampler(SimpleNamespace(options=SimpleNamespace(sampler="cmaes", trials=4)), 0)
    study = optuna.create_study(sampler=sampler)
    attrs = {"cma:optimizer:0": pickle.dumps(_Planted()).hex(), "cma:generation": 0}
    study.add_trial(optuna.trial.create_trial(params={"x": 0.5, "y": 0.5}, distributions=space,
                                              value=1.0, system_attrs=attrs))  # fmt: skip
    for _ in range(30):
        trial = study.ask(space)
        study.tell(trial, (trial.params["x"] - 0.2) ** 2 + (trial.params["y"] - 0.7) ** 2)
    assert not Path(MARKER[0]).exists()
    # the state is rebuilt from the stored generations: CMA-ES goes on past its first
    generations = [t.system_attrs.get("cma:generation", -1) for t in study.trials]
    assert max(generations) >= 3 and study.best_value < 0.01


def test_plots_are_written_whole_not_through_a_link(tmp_path: Path, cli: Any) -> None:
    """history.html and history.png were written in place by plotly and matplotlib: a study
    killed while it summarised kept half a file, and a link at the name was written through."""
    args = _tune_args(tmp_path, "plots", *SHORT)
    code, _, err = cli(*args)
    assert code == 0, err
    folder = tmp_path / "studies" / "plots"
    outside = {}
    for name in ("history.html", "history.png"):
        outside[name] = tmp_path / f"outside_{name}"
        outside[name].write_text("not the study's")
        (folder / name).unlink()
        (folder / name).symlink_to(outside[name])
    code, _, err = cli(*args)  # the study holds its trial: the summary is written again
    assert code == 0, err
    for name, target in outside.items():
        assert target.read_text() == "not the study's"
        assert not (folder / name).is_symlink() and (folder / name).stat().st_size > 1000
    assert 'src="plotly.min.js"' in (folder / "history.html").read_text()
    assert (folder / "plotly.min.js").stat().st_size > 100_000
    facts = json.loads((folder / "summary.json").read_text())
    assert str(folder / "history.png") in facts["plots"]
