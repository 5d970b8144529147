"""`ganhub tune`'s search strategies: the REINFORCE controller and the genetic algorithm."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from ganhub_tune.cli import parse_options
from ganhub_tune.samplers import advantages, make_reinforce_sampler, make_sampler
from ganhub_tune.study import prepare

from ganhub.errors import ConfigError

optuna = pytest.importorskip("optuna")
optuna.logging.set_verbosity(optuna.logging.WARNING)

SCORES = {"relu": 0.0, "elu": 0.2, "silu": 1.0, "tanh": 0.1}


def _activation_score(trial: Any) -> float:
    return SCORES[trial.suggest_categorical("act", list(SCORES))]


def _study(sampler: Any, direction: str = "maximize") -> Any:
    return optuna.create_study(direction=direction, sampler=sampler)


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_reinforce_learns_the_best_choice(direction: str) -> None:
    sign = 1.0 if direction == "maximize" else -1.0
    study = _study(make_reinforce_sampler(seed=0), direction)
    study.optimize(lambda t: sign * _activation_score(t), n_trials=40)
    late = Counter(t.params["act"] for t in study.trials[-15:])
    assert late["silu"] >= 12, late  # random sampling would give about 4 of 15


def test_reinforce_moves_a_numeric_policy_toward_the_best_values() -> None:
    def objective(trial: Any) -> float:
        lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        width = trial.suggest_int("width", 16, 1024, log=True)
        return -((math.log10(lr) + 2.0) ** 2) - (math.log2(width) - 8) ** 2 / 10

    study = _study(make_reinforce_sampler(seed=0))
    study.optimize(objective, n_trials=60)
    first = [abs(math.log10(t.params["lr"]) + 2.0) for t in study.trials[:15]]
    last = [abs(math.log10(t.params["lr"]) + 2.0) for t in study.trials[-15:]]
    assert sum(last) < 0.5 * sum(first), (first, last)
    widths = [t.params["width"] for t in study.trials]
    assert all(isinstance(w, int) and 16 <= w <= 1024 for w in widths)
    last_widths = sorted(widths[-15:])
    assert 64 <= last_widths[7] <= 1024, last_widths  # the median near 256, the best


def test_a_fresh_controller_continues_from_the_stored_trials() -> None:
    """The policy is replayed from the history, so a resumed study or another worker starts
    where the study is, not from a uniform policy."""
    study = _study(optuna.samplers.RandomSampler(seed=1))
    study.optimize(_activation_score, n_trials=30)
    study.sampler = make_reinforce_sampler(seed=7)
    study.optimize(_activation_score, n_trials=10)
    late = Counter(t.params["act"] for t in study.trials[-10:])
    assert late["silu"] >= 8, late


def test_a_pruned_trial_counts_against_its_values() -> None:
    study = _study(make_reinforce_sampler(seed=0))
    dist = {"act": optuna.distributions.CategoricalDistribution(list(SCORES))}
    for act in ["elu", "relu", "tanh"]:  # completed: a baseline with some spread
        study.add_trial(optuna.trial.create_trial(params={"act": act}, distributions=dist,
                                                  value=SCORES[act]))  # fmt: skip
    for _ in range(12):  # silu keeps being stopped early: it should fall out of favour
        study.add_trial(optuna.trial.create_trial(params={"act": "silu"}, distributions=dist,
                                                  state=optuna.trial.TrialState.PRUNED))  # fmt: skip
    drawn = Counter()
    for _ in range(40):
        trial = study.ask()
        drawn[trial.suggest_categorical("act", list(SCORES))] += 1
        study.tell(trial, state=optuna.trial.TrialState.FAIL)  # failures teach nothing
    assert drawn["silu"] <= 4, drawn


def test_advantages_are_scale_free_and_constant_rewards_teach_nothing() -> None:
    assert advantages([("a", 5.0), ("b", 5.0), ("c", 5.0)], decay=0.8) == []
    small = advantages([(i, r) for i, r in enumerate([1.0, 2.0, 0.5, 3.0])], decay=0.8)
    large = advantages([(i, 1000 * r) for i, r in enumerate([1.0, 2.0, 0.5, 3.0])], decay=0.8)
    assert [i for i, _ in small] == [1, 2, 3]  # the first reward only sets the baseline
    assert [a for _, a in small] == pytest.approx([a for _, a in large])
    assert [a > 0 for _, a in small] == [True, False, True]


def test_evolution_improves_on_its_first_generation() -> None:
    options = parse_options(["plugin=toy2d", "sampler=evolution", "trials=48"])
    sampler = make_sampler(prepare(options), seed=0)
    assert isinstance(sampler, optuna.samplers.NSGAIISampler)
    study = _study(sampler)

    def objective(trial: Any) -> float:
        return _activation_score(trial) + 0.1 * trial.suggest_int("layers", 2, 5)

    study.optimize(objective, n_trials=48)  # population 12: four generations
    first = sum(t.value for t in study.trials[:12])
    last = sum(t.value for t in study.trials[-12:])
    assert last > first


def test_single_objective_samplers_refuse_several_objectives(tmp_path: Path) -> None:
    for sampler in ("reinforce", "cmaes"):
        options = parse_options(["plugin=toy2d", f"out={tmp_path}", f"sampler={sampler}",
                                 "objective=[modes,step_time]"])  # fmt: skip
        with pytest.raises(ConfigError, match=f"sampler={sampler} is single-objective"):
            prepare(options)
    options = parse_options(["plugin=toy2d", f"out={tmp_path}", "sampler=evolution",
                             "objective=[modes,step_time]"])  # fmt: skip
    assert prepare(options).objectives == ["modes", "step_time"]


TINY = ["data.dataset=ring", "trainer.steps=100", "trainer.eval_every=50",
        "trainer.batch_size=64", "data.n_samples=2000", "eval.n_samples=500",
        "loss=nonsaturating", "tricks=[]"]  # fmt: skip


@pytest.mark.parametrize("sampler", ["reinforce", "evolution"])
def test_an_architecture_study_runs_with_each_strategy(
    tmp_path: Path, cli: Any, sampler: str
) -> None:
    code, out, err = cli("tune", "plugin=toy2d", "space=arch", "trials=3", f"sampler={sampler}",
                         f"out={tmp_path}", "objective=reverse_kl", *TINY)  # fmt: skip
    assert code == 0, err
    facts = json.loads((tmp_path / "toy2d-arch/summary.json").read_text())
    assert facts["complete"] + facts["pruned"] == 3
    assert out.count("trial ") >= 3, out
    assert f"sampler={sampler}" in (tmp_path / "toy2d-arch/summary.md").read_text()


# -- sampler=oneshot: the weight-sharing supernet ---------------------------------------------


def test_the_oneshot_sampler_draws_with_the_supernets_probabilities() -> None:
    from ganhub_tune.samplers import make_oneshot_sampler

    arch = {"act": {"relu": 0.8, "elu": 0.2, "silu": 0.0}, "layers": {2: 0.1, 3: 0.9}}
    study = _study(make_oneshot_sampler(arch, seed=0))
    study.optimize(lambda t: _activation_score(t) + t.suggest_int("layers", 2, 3)
                   + t.suggest_float("lr", 0.1, 1.0), n_trials=200)  # fmt: skip
    acts = Counter(t.params["act"] for t in study.trials)
    layers = Counter(t.params["layers"] for t in study.trials)
    assert acts["silu"] == 0 and acts["tanh"] == 0 and 140 <= acts["relu"] <= 180, acts
    assert 165 <= layers[3] <= 195, layers
    assert all(0.1 <= t.params["lr"] <= 1.0 for t in study.trials)  # not spanned: random


def test_oneshot_needs_a_domain_with_a_supernet(tmp_path: Path) -> None:
    options = parse_options(["plugin=stylegan", f"out={tmp_path}", "sampler=oneshot", "space=arch"])
    with pytest.raises(ConfigError, match="domain 'stylegan' builds no weight-sharing supernet"):
        prepare(options)
    with pytest.raises(ConfigError, match=r"supernet\.\* keys set the supernet run of sampler=oneshot, and this study uses sampler=tpe"):  # fmt: skip
        parse_options(["plugin=toy2d", "supernet.trainer.steps=10"])
    options = parse_options(["plugin=toy2d", f"out={tmp_path}", "sampler=oneshot", "space=arch",
                             "supernet.tricks=[arch_cot]"])  # fmt: skip
    with pytest.raises(ConfigError, match=r"^the supernet run \(sampler=oneshot\): unknown trick 'arch_cot' \(did you mean 'arch_cost'\?\)"):  # fmt: skip
        prepare(options)


def test_a_oneshot_study_trains_the_supernet_once_and_tries_its_choice_first(
    tmp_path: Path, cli: Any
) -> None:
    from ganhub.nas import preferred

    args = ["tune", "plugin=toy2d", "space=arch", "sampler=oneshot", f"out={tmp_path}",
            "objective=reverse_kl", *TINY]  # fmt: skip
    # supernet.KEY=VALUE: the supernet run's own keys, not the trials'
    priced = ["supernet.tricks=[arch_cost]", "supernet.trick.arch_cost.weight=0.5"]
    code, out, err = cli(*args, *priced, "trials=2")
    assert code == 0, err
    directory = tmp_path / "toy2d-arch"
    supernet = yaml.safe_load((directory / "supernet/config.yaml").read_text())
    assert supernet["tricks"] == ["arch_cost"] and supernet["trick"]["arch_cost"]["weight"] == 0.5
    trial = yaml.safe_load((directory / "trials/trial_0001/config.yaml").read_text())
    assert trial["tricks"] == [] and not trial["model"]["supernet"]
    assert "training the toy2d supernet" in out and "the supernet prefers" in out
    stored = json.loads((directory / "architecture.json").read_text())
    arch = {key: {v: p for v, p in pairs} for key, pairs in stored.items()}
    study = optuna.load_study(study_name="toy2d-arch",
                              storage=f"sqlite:///{directory / 'study.db'}")  # fmt: skip
    assert study.trials[1].params == preferred(arch)
    assert study.trials[1].user_attrs["supernet"] is True
    assert (
        "Trial 1 is the architecture the weight-sharing supernet"
        in (directory / "summary.md").read_text()
    )
    args += priced  # the study's supernet keys (other ones are refused while it is kept)
    code, out, err = cli(*args, "trials=3")  # resumed: the supernet is not trained again
    assert code == 0, err
    assert "training the toy2d supernet" not in out and "the supernet's architecture from" in out
    assert [p.name for p in directory.iterdir() if p.name.startswith("supernet")] == ["supernet"]
    (directory / "architecture.json").write_text(json.dumps({"model.g_act": [["gelu", 1.0]]}))
    code, out, err = cli(*args, "trials=4")
    assert code == 2 and "architecture.json': model.g_act: ['gelu', 1.0] is not a" in err, err
    assert len(err.strip().splitlines()) == 1
    (directory / "architecture.json").write_text(json.dumps({"model.g_act": {"relu": 1.0}}))
    code, out, err = cli(*args, "trials=4")  # was "is not a searched key"
    assert code == 2 and "model.g_act: {'relu': 1.0} is not a list of [choice, probability]" in err
