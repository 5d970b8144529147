"""Tricks, a sixth audit: the remaining trick option bounds (balance, ttur, lr_schedule,
label_smoothing, instance_noise, diffaug, ada, acgan, rotation_head, ewc, arch_cost) say why
in one line, not pydantic's "Input should be greater than 0"; an lr_schedule that would hold
every rate as it starts is refused."""

from __future__ import annotations

from typing import Any

import pytest

from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError
from ganhub.tricks.anchor import EWCConfig

from .conftest import TINY_DCGAN, TINY_TOY

pytestmark = pytest.mark.usefixtures("one_thread")

REFUSED = [
    ("balance", "check_every=0"), ("balance", "upper=0.5"), ("balance", "upper=1.1"),
    ("balance", "lower=0.49"), ("balance", "lower=1"),
    ("ttur", "g_lr=0"), ("ttur", "d_lr=-1"),
    ("lr_schedule", "start=-0.1"), ("lr_schedule", "final=-0.1"), ("lr_schedule", "final=1.5"),
    ("lr_schedule", "warmup_steps=-1"), ("lr_schedule", "final=1"),
    ("label_smoothing", "real=0"), ("label_smoothing", "real=1.5"),
    ("label_smoothing", "fake=1"), ("label_smoothing", "fake=-0.1"),
    ("instance_noise", "anneal_steps=0"),
    ("diffaug", "translation=1"), ("diffaug", "translation=-0.1"), ("diffaug", "cutout=0"),
    ("diffaug", "cutout=1"),
    ("ada", "target=0"), ("ada", "target=1"), ("ada", "interval=0"), ("ada", "kimg=0"),
    ("ada", "kimg=-5"), ("ada", "p_init=-0.1"), ("ada", "p_init=1.5"),
    ("ada", "translation=1"), ("ada", "cutout=0"),
    ("acgan", "weight_d=-1"), ("acgan", "weight_g=-0.5"),
    ("rotation_head", "weight_d=-1"), ("rotation_head", "weight_g=-0.1"),
    ("rotation_head", "share=0"), ("rotation_head", "share=-1"),
    ("ewc", "weight=0"), ("ewc", "weight=-1"),
    ("arch_cost", "weight=0"), ("arch_cost", "weight=-1"),
]  # fmt: skip


@pytest.mark.parametrize(("trick", "option"), REFUSED)
def test_a_bound_is_refused_in_one_line_saying_why(cli: Any, trick: str, option: str) -> None:
    """`ganhub config plugin=toy2d tricks=[ada] trick.ada.interval=0` said pydantic's
    "Input should be greater than or equal to 1": what, not why. One line naming the key and
    value, the reason and what to give; exit code 2."""
    key = f"trick.{trick}.{option}"
    code, out, err = cli("config", "plugin=toy2d", f"tricks=[{trick}]", key)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith(f"ganhub: error: {key}: "), err
    assert "Input should" not in err and "give " in err, err


# the bound itself, or the value just inside it, still resolves (on a run the trick fits)
IMAGE = TINY_DCGAN
CONDITIONAL = [*TINY_DCGAN, "model.conditional=true"]
ACCEPTED = [
    ("balance", ["check_every=1"], TINY_TOY), ("balance", ["upper=1"], TINY_TOY),
    ("balance", ["lower=0.5", "upper=0.51"], TINY_TOY),
    ("ttur", ["g_lr=1e-8", "d_lr=1e-8"], TINY_TOY),
    ("lr_schedule", ["start=0", "final=0", "warmup_steps=0"], TINY_TOY),
    ("lr_schedule", ["final=1", "warmup_steps=2"], TINY_TOY),
    ("lr_schedule", ["final=0.99"], TINY_TOY),
    ("label_smoothing", ["real=0.01"], TINY_TOY),
    ("label_smoothing", ["mode=two_sided", "real=1", "fake=0.99"], TINY_TOY),
    ("instance_noise", ["anneal_steps=1"], TINY_TOY),
    ("diffaug", ["translation=0.99", "cutout=0.01"], IMAGE),
    ("diffaug", ["translation=0", "policy=[cutout]", "cutout=0.99"], IMAGE),
    ("ada", ["target=0.01", "interval=1", "kimg=0.001", "p_init=0"], IMAGE),
    ("ada", ["target=0.99", "p_init=1", "translation=0.99", "cutout=0.99"], IMAGE),
    ("acgan", ["weight_d=0"], CONDITIONAL), ("acgan", ["weight_g=0"], CONDITIONAL),
    ("rotation_head", ["weight_d=0", "share=0.01"], IMAGE),
    ("rotation_head", ["weight_g=0", "share=4"], IMAGE),
    ("arch_cost", ["weight=1e-6"], [*TINY_TOY, "model.supernet=true"]),
]  # fmt: skip


@pytest.mark.parametrize(("trick", "options", "base"), ACCEPTED)
def test_the_values_at_a_bound_still_resolve(
    trick: str, options: list[str], base: list[str]
) -> None:
    """Each option at (or just inside) its bound resolves to the value given."""
    config = resolve([*base, f"tricks=[{trick}]", *(f"trick.{trick}.{o}" for o in options)])
    resolved = getattr(config.trick, trick)
    for option in options:
        name, value = option.split("=")
        if value[0].isdigit():  # not a mode or a list of ops
            assert getattr(resolved, name) == pytest.approx(float(value)), option


def test_ewc_takes_any_weight_above_0() -> None:
    """ewc needs init_from to resolve, so its smallest weight is checked on its options."""
    assert EWCConfig(weight=1e-6).weight == 1e-6


def test_a_schedule_holding_every_rate_is_refused() -> None:
    """lr_schedule with final=1 and no warm-up was accepted, and the run trained at the rates
    it would have had without the trick: the refusal names the key and the ways out."""
    keys = [*TINY_TOY, "tricks=[lr_schedule]", "trick.lr_schedule.final=1"]
    with pytest.raises(ConfigError) as refused:
        resolve(keys)
    message = str(refused.value)
    assert message.startswith("trick.lr_schedule.final=1: ") and "warmup_steps" in message
    assert "\n" not in message
