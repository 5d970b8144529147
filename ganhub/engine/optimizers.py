"""Optimizers from their configs, with the update kernels the device runs fastest.

`impl=foreach` updates every tensor of a group in a few multi-tensor launches; `impl=fused`
(adam, adamw, sgd) does the whole update in one kernel per dtype and device, which matters on
a GPU where a small model's step is bound by launches. `auto` picks fused on CUDA and foreach
elsewhere. A step replayed as a CUDA graph needs `capturable` optimizers: their step counters
live on the device, so the captured update reads them instead of a host number baked in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from ganhub.config.schema import FUSED_OPTIMIZERS, OptimizerConfig


def fused_for(cfg: OptimizerConfig, device: torch.device) -> bool:
    """Whether this optimizer runs as torch's fused kernel on `device`."""
    if cfg.impl == "auto":
        return device.type == "cuda" and cfg.name in FUSED_OPTIMIZERS
    return cfg.impl == "fused"


def make_optimizer(
    params: list[nn.Parameter],
    cfg: OptimizerConfig,
    device: torch.device,
    *,
    capturable: bool = False,
) -> torch.optim.Optimizer:
    """One optimizer from its config, fused or foreach (`cfg.impl`), capturable on request."""
    kernels = {"fused": True} if fused_for(cfg, device) else {"foreach": True}
    common: dict[str, Any] = {"lr": cfg.lr, "weight_decay": cfg.weight_decay, **kernels}
    if cfg.name in ("adam", "adamw"):
        cls = torch.optim.Adam if cfg.name == "adam" else torch.optim.AdamW
        return cls(params, betas=cfg.betas, eps=cfg.eps, capturable=capturable, **common)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(
            params, eps=cfg.eps, momentum=cfg.momentum, capturable=capturable, **common
        )
    # SGD keeps no step counter: nothing of its update lives on the host
    return torch.optim.SGD(params, momentum=cfg.momentum, **common)


# Param-group keys that say how an update runs, not what it computes: the resumed run's config
# decides them (a checkpoint written with foreach kernels resumes fused on CUDA, and capturable
# when its steps are replayed as CUDA graphs).
KERNEL_KEYS = ("fused", "foreach", "capturable")


def load_state(optimizer: torch.optim.Optimizer, saved: dict[str, Any]) -> None:
    """Load a saved optimizer state (hyperparameters, moments, step counts), keeping this
    optimizer's kernel choice; step counts move to where those kernels keep them."""
    groups = [dict(group) for group in saved["param_groups"]]
    for group, current in zip(groups, optimizer.param_groups):
        for key in KERNEL_KEYS:
            if key in current:
                group[key] = current[key]
        if isinstance(group.get("lr"), Tensor):  # saved by a run with CUDA graphs
            group["lr"] = float(group["lr"])
    optimizer.load_state_dict({**saved, "param_groups": groups})
    for group in optimizer.param_groups:  # a moment of another shape fails only mid-step
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if isinstance(value, Tensor) and value.dim() and value.shape != param.shape:
                    raise ValueError(
                        f"its '{key}' is {tuple(value.shape)} for a {tuple(param.shape)} parameter"
                    )


def learning_rates_on_device(optimizers: Iterable[torch.optim.Optimizer]) -> None:
    """Make every param group's learning rate a tensor on its parameters' device, for steps
    replayed as CUDA graphs: a captured update reads that tensor, so a schedule that fills it
    in place (`set_learning_rate`) reaches the replays, where a new float would not."""
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            device = group["params"][0].device
            group["lr"] = torch.tensor(float(group["lr"]), dtype=torch.float32, device=device)


def set_learning_rate(group: dict[str, Any], value: float) -> None:
    """Set one param group's learning rate: in place when it is a tensor (a run with CUDA
    graphs, `learning_rates_on_device`), else as a number."""
    if isinstance(group["lr"], Tensor):
        group["lr"].fill_(value)
    else:
        group["lr"] = value
