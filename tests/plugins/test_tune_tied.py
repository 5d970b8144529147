"""Tied keys in a search space (`also:`): one choice sets several config keys, as the built-in
`space=hparams` does for G's and D's Adam betas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ganhub_tune.cli import parse_options
from ganhub_tune.identity import identity
from ganhub_tune.study import Study, prepare
from ganhub_tune.trial import base_params, trial_raw

from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError

optuna = pytest.importorskip("optuna")


def _prepare(tmp_path: Path, *items: str, search: dict[str, Any] | None = None) -> Study:
    extra = []
    if search is not None:
        spec = tmp_path / "space.yaml"
        spec.write_text(yaml.safe_dump(search, sort_keys=False))
        extra.append(f"search={spec}")
    return prepare(parse_options(["plugin=toy2d", f"out={tmp_path / 'studies'}", *extra, *items]))


def _betas(study: Study, chosen: dict[str, Any]) -> tuple[Any, Any]:
    config = resolve(trial_raw(study, chosen, 0, 0))
    return config.optim.G.betas, config.optim.D.betas


def test_a_betas_choice_of_the_built_in_space_sets_g_and_d(tmp_path: Path) -> None:
    # a trial drawing the StyleGAN-style (0, 0.99) trained D on the default (0.5, 0.999)
    study = _prepare(tmp_path)
    betas = next(p for p in study.space.params if p.key == "optim.G.betas")
    for choice in betas.choices:
        assert _betas(study, {"optim.G.betas": choice}) == (tuple(choice), tuple(choice))
    assert betas.keys == ("optim.G.betas", "optim.D.betas")
    assert base_params(study)[0] is not None  # the defaults tie them: the default trial runs


def test_a_fixed_key_leaves_the_tie(tmp_path: Path) -> None:
    study = _prepare(tmp_path, "optim.D.betas=[0.9,0.999]")
    betas = next(p for p in study.space.params if p.key == "optim.G.betas")
    assert betas.also == ()
    assert _betas(study, {"optim.G.betas": [0.0, 0.99]}) == ((0.0, 0.99), (0.9, 0.999))
    # fixing the searched key fixes the param: D keeps its own value
    study = _prepare(tmp_path, "optim.G.betas=[0.0,0.99]")
    assert all(p.key != "optim.G.betas" for p in study.space.params)
    assert _betas(study, {}) == ((0.0, 0.99), (0.5, 0.999))


def test_a_search_file_param_takes_its_key_out_of_a_built_in_tie(tmp_path: Path) -> None:
    study = _prepare(tmp_path, search={"params": {"optim.D.betas": [[0.5, 0.9], [0.0, 0.9]]}})
    by_key = {p.key: p for p in study.space.params}
    assert by_key["optim.G.betas"].also == () and "optim.D.betas" in by_key
    assert _betas(study, {"optim.G.betas": [0.0, 0.99], "optim.D.betas": [0.5, 0.9]}) == (
        (0.0, 0.99),
        (0.5, 0.9),
    )
    # a file may tie keys the built-in space searches: they leave the built-in space
    tied = {"params": {"optim.G.lr": {"type": "float", "low": 1e-4, "high": 1e-3,
                                      "also": ["optim.D.lr"]}}}  # fmt: skip
    study = _prepare(tmp_path, search=tied)
    assert [p.keys for p in study.space.params if p.key.startswith("optim.")] == [
        ("optim.G.lr", "optim.D.lr"),
        ("optim.G.betas", "optim.D.betas"),
    ]
    config = resolve(trial_raw(study, {"optim.G.lr": 3e-4}, 0, 0))
    assert config.optim.G.lr == config.optim.D.lr == 3e-4


def test_a_tie_in_the_base_config_that_does_not_hold_has_no_default_trial(tmp_path: Path) -> None:
    study = _prepare(tmp_path, search={"base": {"optim.D.betas": [0.9, 0.999]}})
    params, reason = base_params(study)
    assert params is None
    assert reason == "optim.D.betas=[0.9, 0.999], tied to optim.G.betas=[0.5, 0.999]"


def test_the_tie_is_part_of_the_study_identity(tmp_path: Path) -> None:
    tied = identity(_prepare(tmp_path))["space"]
    untied = identity(_prepare(tmp_path, "optim.D.betas=[0.5,0.999]"))["space"]
    assert any("optim.G.betas" in p and "also ['optim.D.betas']" in p for p in tied)
    assert not any("also" in p for p in untied)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"optim.G.lr": {"type": "float", "low": 1e-4, "high": 1e-3, "also": "optim.D.lrr"}},
         "'optim.D.lrr' (also of param 'optim.G.lr') is not a config key of toy2d "
         "(did you mean 'optim.D.lr'?)"),
        ({"optim.G.lr": {"type": "float", "low": 1e-4, "high": 1e-3, "also": [3]}},
         "param 'optim.G.lr': 'also' must be a config key or a list of them"),
        ({"optim.G.lr": {"type": "float", "low": 1e-4, "high": 1e-3,
                         "also": ["optim.D.lr", "optim.D.lr"]}},
         "param 'optim.G.lr': 'also' repeats a key"),
        ({"optim.G.lr": {"type": "float", "low": 1e-4, "high": 1e-3, "also": ["optim.D.lr"]},
          "optim.D.lr": {"type": "float", "low": 1e-4, "high": 1e-3}},
         "'optim.D.lr' is set by param 'optim.G.lr' and by param 'optim.D.lr'"),
        ({"optim.G.betas": {"type": "categorical", "choices": [[0.5, 0.999], [0.0, 0.99]],
                            "also": ["optim.D.lr"]}},
         "param 'optim.G.betas' (for 'optim.D.lr'): choice [0.5, 0.999] is not valid"),
    ],
    ids=["unknown-key", "not-a-key", "repeated", "set-twice", "wrong-type"],
)  # fmt: skip
def test_a_bad_tie_is_refused_before_any_trial(
    tmp_path: Path, spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        _prepare(tmp_path, search={"params": spec})
    assert message in str(err.value), str(err.value)
