"""The optimizer options as docs/config.md describes them: each reaches the torch optimizer
built, weight_decay is decoupled for adamw and L2 otherwise, and `impl=fused` where torch has
no fused kernel for the device is refused in one line naming the key (torch 2.14 checks the device
only in the first step(), so such a run stopped mid-training with torch's traceback)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganhub.config.schema import FUSED_OPTIMIZERS, OPTIMIZER_OPTIONS, OptimizerConfig
from ganhub.engine.optimizers import make_optimizer
from ganhub.errors import ConfigError

CLASSES = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
           "rmsprop": torch.optim.RMSprop, "sgd": torch.optim.SGD}  # fmt: skip
# a value away from the default for every option an optimizer may take
SET = {"betas": (0.0, 0.9), "eps": 1e-6, "momentum": 0.5}
CPU = torch.device("cpu")


def _param(value: float = 2.0, device: str = "cpu") -> nn.Parameter:
    return nn.Parameter(torch.full((3,), value, device=device))


@pytest.mark.parametrize("name", sorted(OPTIMIZER_OPTIONS))
def test_every_option_reaches_the_optimizer_torch_builds(name: str) -> None:
    options = {key: SET[key] for key in OPTIMIZER_OPTIONS[name]}
    cfg = OptimizerConfig.model_validate(
        {"name": name, "lr": 3e-3, "weight_decay": 0.25, **options}
    )
    optimizer = make_optimizer([_param()], cfg, CPU)
    assert type(optimizer) is CLASSES[name]
    group = optimizer.param_groups[0]
    assert {key: group[key] for key in ("lr", "weight_decay", *options)} == {
        "lr": 3e-3, "weight_decay": 0.25, **options
    }  # fmt: skip
    # auto on CPU: torch's fused kernel where it has one, else foreach
    assert group["fused" if name in FUSED_OPTIMIZERS else "foreach"] is True


@pytest.mark.parametrize(("name", "after"), [("adamw", 1.98), ("adam", 1.9), ("sgd", 1.98)])
def test_weight_decay_is_decoupled_for_adamw_and_l2_otherwise(name: str, after: float) -> None:
    # one step with a zero gradient from 2.0, lr 0.1, weight_decay 0.1: adamw scales the weight
    # by 1 - lr * wd; adam normalises the L2 gradient 0.2 to a step of lr; sgd steps lr * 0.2
    param = _param()
    param.grad = torch.zeros_like(param)
    make_optimizer([param], OptimizerConfig(name=name, lr=0.1, weight_decay=0.1), CPU).step()
    assert param.detach() == pytest.approx(torch.full((3,), after), abs=1e-6)


def test_fused_where_torch_has_no_kernel_is_one_line_naming_the_key() -> None:
    meta = torch.device("meta")  # a device torch has no fused kernels for
    with pytest.raises(ConfigError) as caught:
        make_optimizer([_param(device="meta")], OptimizerConfig(impl="fused"), meta, key="optim.D")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("optim.D.impl=fused: ")
    assert "no fused adam for parameters on meta" in message and "impl=auto or foreach" in message
    auto = make_optimizer([_param(device="meta")], OptimizerConfig(name="sgd"), meta)
    assert auto.defaults["foreach"] is True and not auto.defaults["fused"]
    fused = make_optimizer([_param()], OptimizerConfig(name="sgd", impl="fused"), CPU)
    assert fused.defaults["fused"] is True  # this torch has fused kernels on CPU
