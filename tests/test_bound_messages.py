"""A value pydantic refuses is said in ganhub's words, one line naming the key, the value and
what is valid ("optim.D.lr=-1: must be above 0"), not in pydantic's ("Input should be greater
than 0"), for every error type a key, a YAML file or `ganhub.train(**kwargs)` can meet, in the
engine's sections and in a plugin's alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field, ValidationError

from ganhub.config.messages import format_validation_error
from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError


def _refusal(overrides: Any, files: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as exc:
        resolve(overrides, files or [], training=False)
    return str(exc.value)


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("optim.D.lr=-1", "optim.D.lr=-1: must be above 0"),  # greater_than
        ("trainer.grad_accum=0", "trainer.grad_accum=0: must be at least 1"),  # greater_than_equal
        ("optim.D.momentum=1.5", "optim.D.momentum=1.5: must be at least 0 and below 1"),  # lt
        ("model.g_layers=100", "model.g_layers=100: must be at least 1 and at most 64"),  # le
        ("model.g_hidden=0", "model.g_hidden=0: must be above 0 and at most 8192"),  # plugin's
        ("trainer.steps=abc", "trainer.steps='abc': must be a whole number"),  # int_parsing
        ("trainer.steps=1.5", "trainer.steps=1.5: must be a whole number"),  # int_from_float
        ("optim.D.lr=abc", "optim.D.lr='abc': must be a number"),  # float_parsing
        ("optim.D.lr=inf", "optim.D.lr='inf': must be a finite number"),  # finite_number
        ("model.residual=maybe", "model.residual='maybe': must be true or false"),  # bool_parsing
        ("tricks=[ema] trick.ema.decay=x", "trick.ema.decay='x': must be a number"),  # a trick's
        ("data.dataset=circle", "data.dataset='circle': must be one of 'ring', 'grid'"),  # literal
        (
            "optim.D.betas=[0.5,0.9,0.1]",
            "optim.D.betas=[0.5,0.9,0.1]: must have at most 2 items, not 3",
        ),  # too_long
        (
            "trainer.keep_best=" + "k" * 101,
            "trainer.keep_best='" + "k" * 56 + "...: must be at most 100 characters long",
        ),  # string_too_long
        (
            "eval.inception_sha256=abc",
            "eval.inception_sha256='abc': must match the pattern '^[0-9a-f]{64}$'",
        ),  # string_pattern_mismatch
        ("tricks=ema", "tricks='ema': must be a list (write tricks=[ema])"),  # list_type
    ],
)
def test_a_refused_key_is_one_line_in_ganhubs_words(key: str, said: str) -> None:
    message = _refusal(["plugin=toy2d", *key.split(" ")])
    assert message == said and "Input should" not in message


def test_a_file_and_train_keywords_get_the_same_words(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("plugin: toy2d\ntrainer:\n  steps: 0\n")
    said = f"config file '{config}': trainer.steps=0: must be above 0"
    assert _refusal([], [str(config)]) == said
    given = {"plugin": "toy2d", "trainer": {"keep_best": ""}, "model": {"residual": 3}}
    assert _refusal(given) == (
        "trainer.keep_best='': must not be empty; model.residual=3: must be true or false"
    )


class _Options(BaseModel, extra="forbid"):  # types no built-in key has yet: a plugin's may
    classes: list[str] = Field(min_length=2)
    every: int = Field(8, multiple_of=8)
    label: str = Field("a", min_length=2)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({}, "classes: needs a value (it has no default)"),  # missing
        ({"classes": ["a"]}, "classes=[a]: must have at least 2 items, not 1"),  # too_short
        ({"classes": ["a", "b"], "every": 12}, "every=12: must be a multiple of 8"),
        ({"classes": ["a", "b"], "label": "x"}, "label='x': must be at least 2 characters long"),
    ],
)
def test_every_constraint_type_has_ganhubs_words(given: dict[str, Any], said: str) -> None:
    with pytest.raises(ValidationError) as exc:
        _Options.model_validate(given)
    assert format_validation_error(exc.value, _Options) == said
