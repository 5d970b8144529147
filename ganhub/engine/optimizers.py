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


# Param-group keys the config sets once (optim.*.betas, eps, weight_decay, momentum, with what
# the tricks' on_optimizers made of them): a resumed run takes the config's, so a changed value
# applies (the saved one was silently kept).
CONFIG_KEYS = ("betas", "eps", "weight_decay", "momentum")
# Each param group's learning rate as the run's config and tricks set it when the optimizers
# were made (before any schedule or annealing moved it): a resume that changes optim.*.lr
# (or ttur's rates) scales the saved, possibly scheduled rate by the change.
CONFIGURED_LR = "configured_lr"


def remember_configured_lr(optimizers: Iterable[torch.optim.Optimizer]) -> None:
    """Record each param group's configured learning rate (its schedule base when it has one);
    call once the tricks' on_optimizers hooks have set the rates."""
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group[CONFIGURED_LR] = float(group.get("initial_lr", group["lr"]))


def load_state(optimizer: torch.optim.Optimizer, saved: dict[str, Any]) -> None:
    """Load a saved optimizer state (moments, step counts, the learning rates reached),
    keeping this optimizer's kernel choice and the config's hyperparameters: a learning rate
    the resumed config changed scales the saved one (a schedule's position is kept); step
    counts move to where the kernels keep them."""
    groups = [dict(group) for group in saved["param_groups"]]
    for group, current in zip(groups, optimizer.param_groups):
        for key in (*KERNEL_KEYS, *CONFIG_KEYS):
            if key in current:
                group[key] = current[key]
        if isinstance(group.get("lr"), Tensor):  # saved by a run with CUDA graphs
            group["lr"] = float(group["lr"])
        configured, before = current.get(CONFIGURED_LR), group.get(CONFIGURED_LR)
        if configured is not None and before and before != configured:
            scale = configured / before
            group["lr"] = group["lr"] * scale
            if "initial_lr" in group:
                group["initial_lr"] = group["initial_lr"] * scale
        if configured is not None:
            group[CONFIGURED_LR] = configured
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
