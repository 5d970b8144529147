"""Tricks that did less, or other, than they said: a third audit (n_critic at 1, schedules
longer than the run, He init's gain, SSGAN's rotation share)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from ganhub.config.resolve import resolve
from ganhub.engine.run import prepare_system
from ganhub.errors import ConfigError, PluginError
from ganhub.plugins import get_hub
from ganhub.tricks import Trick
from ganhub.wiring import components, make_run

from .conftest import TINY_TOY

pytestmark = pytest.mark.usefixtures("one_thread")


def test_n_critic_of_one_is_refused_in_one_line(cli: Any, workdir: Path) -> None:
    """n=1 is the schedule of every run without the trick: it was accepted and changed
    nothing. Refused before anything is written; n=2 still runs D twice."""
    code, _, err = cli("run", *TINY_TOY, "tricks=[n_critic]", "trick.n_critic.n=1")
    assert code == 2
    assert err.strip().count("\n") == 0 and "trick.n_critic.n=1" in err
    assert "Traceback" not in err
    assert not (workdir / "runs").exists()
    cfg = resolve([*TINY_TOY, "tricks=[n_critic]", "trick.n_critic.n=2"])
    assert cfg.trick.n_critic.n == 2  # type: ignore[attr-defined]


def _warnings(*keys: str) -> list[str]:
    run = make_run(resolve([*TINY_TOY, *keys]))
    try:
        return [w for w in run.preflight() if w.startswith("ganhub: warning: trick.")]
    finally:
        run.close()


@pytest.mark.parametrize(
    ("keys", "key"),
    [
        (["tricks=[instance_noise]", "trick.instance_noise.anneal_steps=100"],
         "trick.instance_noise.anneal_steps=100"),
        (["tricks=[lr_schedule]", "trick.lr_schedule.warmup_steps=100"],
         "trick.lr_schedule.warmup_steps=100"),
        (["tricks=[ema]", "trick.ema.start_step=4"], "trick.ema.start_step=4"),
        (["tricks=[balance]", "trick.balance.check_every=50"], "trick.balance.check_every=50"),
    ],
)  # fmt: skip
def test_a_schedule_longer_than_the_run_is_warned_of(
    workdir: Path, keys: list[str], key: str
) -> None:
    """An anneal, warm-up, EMA start or decision interval past trainer.steps (4) never reached
    its end without a word; a warning in one line naming the key (not a refusal: a short
    test run is legitimate), and none for one that fits."""
    said = _warnings(*keys)
    assert len(said) == 1 and key in said[0] and "trainer.steps=4" in said[0]
    assert "\n" not in said[0]
    fitting = [k.replace("100", "4").replace("50", "4") for k in keys]
    fitting = [k.replace("start_step=4", "start_step=3") for k in fitting]
    # a warm-up over all 4 steps never reaches toy2d's decay to final=0.1 (warned of too)
    fitting = [k.replace("warmup_steps=4", "warmup_steps=2") for k in fitting]
    assert _warnings(*fitting) == []


def test_a_warning_reaches_the_user_and_the_run_goes_on(cli: Any, workdir: Path) -> None:
    """Printed on stderr at the start; the run trains to its end as asked."""
    code, _, err = cli(
        "run", *TINY_TOY, "tricks=[lr_schedule]", "trick.lr_schedule.warmup_steps=100"
    )
    assert code == 0
    lines = [line for line in err.splitlines() if "warmup_steps=100" in line]
    assert len(lines) == 1 and lines[0].startswith("ganhub: warning: ")
    assert list((workdir / "runs").glob("*/checkpoints"))


class _Wordy(Trick):
    name = "wordy"

    def warnings(self) -> list[str]:  # type: ignore[override]
        return "one string, not a list"  # type: ignore[return-value]


def test_a_tricks_warnings_of_the_wrong_type_name_the_trick() -> None:
    """A plugin's warnings() that returns a str is named in one line, not printed by letter."""
    from ganhub.tricks import trick_warnings

    cfg = resolve(TINY_TOY)
    with pytest.raises(PluginError, match="trick 'wordy': warnings\\(\\) returned str"):
        trick_warnings(get_hub().losses.get(cfg.loss), [_Wordy(Trick.Config(), cfg)])


def _hidden_std(side: str, *keys: str) -> tuple[float, int]:
    torch.manual_seed(0)
    cfg = resolve(
        [*TINY_TOY, "tricks=[init]", "trick.init.scheme=kaiming", "model.d_hidden=512",
         "model.g_hidden=512", *keys]
    )  # fmt: skip
    system, _ = prepare_system(cfg, components(cfg), torch.device("cpu"))
    w = getattr(system, side)[2].weight.detach()  # 512 x 512 hidden layer
    return w.std().item(), w.shape[1]


@pytest.mark.parametrize(
    ("side", "keys", "slope"),
    [
        ("G", [], 0.0),  # toy2d's G: ReLU
        ("D", [], 0.2),  # its D: LeakyReLU(0.2)
        ("G", ["model.g_act=leaky_relu"], 0.2),
        ("D", ["model.d_act=relu"], 0.0),
    ],
)
def test_kaiming_init_uses_the_gain_of_the_rectifier_after_each_layer(
    side: str, keys: list[str], slope: float
) -> None:
    """He et al.'s std is sqrt(2 / ((1 + a^2) fan_in)) for the rectifier of slope a that
    follows the layer: G's ReLU layers were given the leaky ReLU(0.2) gain (2 % low per
    layer, the activations' variance 4 % lower at each)."""
    std, fan_in = _hidden_std(side, *keys)
    assert std == pytest.approx(math.sqrt(2 / ((1 + slope**2) * fan_in)), rel=0.006)


def test_kaiming_init_of_a_transposed_conv_counts_the_taps_that_reach_a_pixel() -> None:
    """A stride-2, 4x4 transposed conv sums over in_channels x (4/2)^2 inputs per output
    pixel; torch's fan-in for it is out_channels x 16: a DCGAN G's output layer (64 -> 1
    channels, before Tanh) was drawn with std 0.35 instead of sqrt(2 / 256) = 0.088."""
    from .conftest import TINY_DCGAN

    torch.manual_seed(0)
    keys = ["tricks=[init]", "trick.init.scheme=kaiming", "model.g_channels=64"]
    cfg = resolve([*TINY_DCGAN, *keys])
    system, _ = prepare_system(cfg, components(cfg), torch.device("cpu"))
    out = [m for m in system.G.modules() if isinstance(m, torch.nn.ConvTranspose2d)][-1]
    assert out.in_channels == 64 and out.stride == (2, 2) and out.kernel_size == (4, 4)
    assert out.weight.std().item() == pytest.approx(math.sqrt(2 / (64 * 4)), rel=0.08)


def test_n_critic_refusal_is_a_config_error() -> None:
    """The library's resolve raises the same refusal the CLI prints."""
    with pytest.raises(ConfigError, match=r"trick\.n_critic\.n=1"):
        resolve([*TINY_TOY, "tricks=[n_critic]", "trick.n_critic.n=1"])
