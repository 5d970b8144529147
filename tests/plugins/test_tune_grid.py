"""`sampler=grid`: each distinct point once (a conditional param only where its `when` holds),
and a resumed study runs the points it has not run."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from ganhub_tune.cli import parse_options
from ganhub_tune.samplers import make_sampler
from ganhub_tune.space import grid_points
from ganhub_tune.storage import open_study
from ganhub_tune.study import Study, prepare
from ganhub_tune.trial import suggest

optuna = pytest.importorskip("optuna")
optuna.logging.set_verbosity(optuna.logging.WARNING)

# toy2d's built-in hparams fixed: the search file's `tricks` and its children are searched
FIXED = ["optim.G.lr=0.001", "optim.D.lr=0.001", "optim.G.betas=[0.5,0.999]",
         "loss=nonsaturating", "trainer.batch_size=128", "model.g_hidden=64",
         "model.d_hidden=64"]  # fmt: skip


def _study(tmp_path: Path, params: dict[str, Any], *extra: str) -> Study:
    spec = tmp_path / "grid.yaml"
    spec.write_text(yaml.safe_dump({"params": params}))
    items = ["plugin=toy2d", "sampler=grid", f"search={spec}", f"out={tmp_path / 'studies'}"]
    return prepare(parse_options([*items, "trials=30", *FIXED, *extra]))


def _objective(study: Study) -> Any:
    """What the runner asks of a trial (only the active params), without training."""

    def objective(trial: Any) -> float:
        chosen: dict[str, Any] = {}
        for param in study.space.params:
            if param.is_active(chosen):
                chosen[param.key] = suggest(trial, param)
        return 0.0

    return objective


def _points(ostudy: Any) -> list[str]:
    return [json.dumps(t.params, sort_keys=True) for t in ostudy.trials]


def test_a_conditional_param_is_gridded_only_where_its_condition_holds(tmp_path: Path) -> None:
    # toy2d's built-in trick.r1.gamma (5 grid values) applies to tricks=[r1, ema] only: the
    # grid is [] once and [r1, ema] with each gamma, 6 points (the full product was 10, with
    # tricks=[] trained 5 times on the same config and seed)
    study = _study(tmp_path, {"tricks": [[], ["r1", "ema"]]})
    assert [p.key for p in study.space.params] == ["tricks", "trick.r1.gamma"]
    ostudy = optuna.create_study(sampler=make_sampler(study, seed=0), direction="maximize")
    ostudy.optimize(_objective(study), n_trials=30)  # the study ends when the grid is done
    points = _points(ostudy)
    assert len(points) == 6 and len(set(points)) == 6, points
    assert [t.params for t in ostudy.trials if t.params["tricks"] == "[]"] == [{"tricks": "[]"}]


def test_the_grid_of_dcgan_architectures_has_residual_only_with_an_extra_block(
    tmp_path: Path,
) -> None:
    opts = parse_options(["plugin=dcgan", "space=arch", "sampler=grid", f"out={tmp_path}",
                          "objective=step_time"])  # fmt: skip
    params = prepare(opts).space.params
    points = grid_points(params)
    assert math.prod(len(p.grid_values()) for p in params) == 3888  # the full product
    assert len(points) == 2916 == len({json.dumps(p, sort_keys=True) for p in points})
    assert all(("model.residual" in p) == (p["model.extra_blocks"] == 1) for p in points)


@pytest.mark.parametrize(
    "params",
    [{"tricks": [[], ["r1", "ema"]]}, {"tricks": [[], ["ema"]], "model.g_layers": [2, 3, 4]}],
    ids=["conditional", "product"],
)
def test_a_resumed_grid_study_runs_each_point_once(tmp_path: Path, params: dict[str, Any]) -> None:
    """The storage opens a resumed study with another sampler seed (the seed plus the trials it
    holds): the grid's order must not change with it, or points run twice and others never."""
    study = _study(tmp_path, params)
    first = open_study(study)
    first.optimize(_objective(study), n_trials=3)
    again = open_study(study)  # as `ganhub tune` does when the same command runs again
    again.optimize(_objective(study), n_trials=30)
    points = _points(again)
    assert len(points) == 6 and len(set(points)) == 6, points


@pytest.mark.slow
def test_a_grid_study_ends_after_its_distinct_points(tmp_path: Path, cli: Any) -> None:
    spec = tmp_path / "grid.yaml"
    spec.write_text(yaml.safe_dump({"params": {"tricks": [[], ["r1", "ema"]]}}))
    code, out, err = cli("tune", "plugin=toy2d", "sampler=grid", f"search={spec}", "trials=30",
                         f"out={tmp_path}", "study=g", "trainer.steps=20", "trainer.eval_every=20",
                         "eval.n_samples=500", *FIXED)  # fmt: skip
    assert code == 0, err
    facts = json.loads((tmp_path / "g" / "summary.json").read_text())
    assert facts["complete"] == 6, facts  # (no evaluation before the last step: none pruned)
    ran = [line.split("  ")[-1] for line in out.splitlines() if line.startswith("trial ")]
    assert len(ran) == 6 and len(set(ran)) == 6 and "tricks=[]" in ran, ran
