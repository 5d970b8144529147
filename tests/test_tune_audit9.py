"""ganhub tune, as a user: summary.json and trials.csv hold list choices and attributes as
real values, a search file's unknown objective names the file, workers started together draw
different values, a pruned trial's line shows its params, and an objective that goes NaN
mid-run fails its trial with a line."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from ganhub_tune.cli import parse_options
from ganhub_tune.storage import open_study
from ganhub_tune.study import prepare
from ganhub_tune.trial import suggest

from .plugins.test_tune import TINY, _tune_args

optuna = pytest.importorskip("optuna")

SHORT = ("trials=1", "pruner=none", "trainer.steps=20", "trainer.eval_every=20")


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_workers_started_together_draw_what_one_worker_draws(tmp_path: Path, sampler: str) -> None:
    """Two workers opening the default study.db at the same moment counted the same trials
    and seeded their samplers alike (sampler_seed + that count): their first trials drew the
    same values. Each trial is now drawn with sampler_seed + its own number."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)

    def worker(name: str) -> Callable[[], dict[str, Any]]:
        options = parse_options(["plugin=toy2d", f"out={tmp_path}", f"study={name}",
                                 f"sampler={sampler}", "objective=reverse_kl"])  # fmt: skip
        study = prepare(options)
        ostudy = open_study(study)

        def draw() -> dict[str, Any]:  # what a trial of this worker runs with
            trial, chosen = ostudy.ask(), {}
            for param in study.space.params:
                if param.is_active(chosen):
                    chosen[param.key] = suggest(trial, param)
            return chosen

        return draw

    first, second = worker("pair"), worker("pair")  # both open before either draws
    drawn = [first(), second()]
    assert drawn[0] != drawn[1]
    alone = worker("alone")  # one worker, the same seed: the same two draws
    assert [alone(), alone()] == drawn


def test_list_choices_and_attributes_are_real_values(tmp_path: Path, cli: Any) -> None:
    """summary.json's best_params held `"[r1]"` (the YAML text Optuna stores a list choice
    as) and trials.csv held it and the attributes as Python reprs (`{'sampler': 'tpe'}`)."""
    space = tmp_path / "space.yaml"
    space.write_text("base: {tricks: [r1]}\nparams:\n  tricks: [[], [r1]]\n"
                     "  optim.G.betas: [[0.5, 0.999], [0.0, 0.99]]\n")  # fmt: skip
    tiny = [a for a in TINY if not a.startswith(("tricks=", "optim.G.betas="))]
    code, _, err = cli("tune", "plugin=toy2d", f"out={tmp_path}", "study=lists", f"search={space}",
                       "objective=reverse_kl", *tiny, *SHORT)  # fmt: skip
    assert code == 0, err
    folder = tmp_path / "lists"
    best = json.loads((folder / "summary.json").read_text())["best_params"]
    assert best["tricks"] == ["r1"] and best["optim.G.betas"] == [0.5, 0.999]
    with open(folder / "trials.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert json.loads(row["params_tricks"]) == ["r1"]
    assert json.loads(row["params_optim.G.betas"]) == [0.5, 0.999]
    assert json.loads(row["user_attrs_strategy"])["sampler"] == "tpe"
    assert json.loads(row["system_attrs_fixed_params"])["tricks"] == ["r1"]
    config = yaml.safe_load((folder / "best.yaml").read_text())  # the rerun: as before
    assert config["tricks"] == ["r1"] and config["optim"]["G"]["betas"] == [0.5, 0.999]


def test_a_search_files_unknown_objective_names_the_file(tmp_path: Path, cli: Any) -> None:
    """`objective: modez` in a search file was refused as `objective=modez: ...`, which the
    user never typed."""
    space = tmp_path / "space.yaml"
    space.write_text("objective: modez\n")
    code, out, err = cli("tune", "plugin=toy2d", f"out={tmp_path}", f"search={space}")
    assert code == 2, out + err
    assert err.strip().splitlines() == [
        f"ganhub: error: {space}: objective: modez: direction unknown (did you mean "
        "'modes'?); add 'direction: maximize' or 'direction: minimize' to the file if the run "
        "reports it"
    ]


def test_a_pruned_trials_line_shows_its_params(tmp_path: Path, cli: Any) -> None:
    """`trial 3: pruned at step 10 (reverse_kl=...)` named no values, as the failed and
    complete lines do. Three stored trials that scored 0 at every step make the median
    pruner stop the next one at its first report."""
    args = _tune_args(tmp_path, "pruned", "trials=4", "sampler=random", "trainer.steps=20",
                      "trainer.eval_every=10")  # fmt: skip
    ostudy = open_study(prepare(parse_options(args[1:])))
    for _ in range(3):
        ostudy.add_trial(optuna.trial.create_trial(value=0.0, intermediate_values={10: 0, 20: 0}))
    code, out, err = cli(*args)
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("trial 3: pruned at step 10 ("))
    assert ")  optim.G.lr=" in line and " optim.D.lr=" in line


def test_an_objective_gone_nan_mid_run_fails_the_trial(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A NaN report made Optuna's median pruner prune the trial at once, with no value (or,
    before it had trials to compare, the run trained on and completed): the trial fails now,
    with a line that says at which step, and its run stops there."""
    import ganhub_toy2d.metrics as metrics

    real, calls = metrics.mode_stats, [0]

    def nan_once(*args: Any, **kwargs: Any) -> dict[str, float]:
        calls[0] += 1  # the first evaluation (step 10) only: the final one is finite
        return {**real(*args, **kwargs), **({"reverse_kl": math.nan} if calls[0] == 1 else {})}

    monkeypatch.setattr(metrics, "mode_stats", nan_once)
    code, out, err = cli(*_tune_args(tmp_path, "nan", "trials=1", "trainer.steps=40",
                                     "trainer.eval_every=10"))  # fmt: skip
    assert code == 3, out + err
    assert "trial 0: failed: objective reverse_kl went nan at step 10; the run stopped" in out
    assert "optim.G.lr=" in out.split("went nan", 1)[1].splitlines()[0]
    assert calls[0] == 1  # the run stopped at step 10: no evaluation at 20, 30 or 40
