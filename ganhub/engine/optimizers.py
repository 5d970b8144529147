"""Optimizers from their configs, with the update kernels the device runs fastest.

`impl=foreach` updates every tensor of a group in a few multi-tensor launches; `impl=fused`
(adam, adamw, sgd) does the whole update in one kernel per dtype and device, which matters on
a GPU where a small model's step is bound by launches. `auto` picks fused on CUDA and foreach
elsewhere. A step replayed as a CUDA graph needs `capturable` optimizers: their step counters
live on the device, so the captured update reads them instead of a host number baked in.
"""

from __future__ import annotations

import math
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


# A resumed run's param groups take every setting from its config (kernels: a checkpoint
# written with foreach kernels resumes fused on CUDA, capturable under CUDA graphs; betas, eps,
# weight_decay, momentum as the tricks' on_optimizers made them, so a changed value applies),
# and from the checkpoint SAVED_LR_KEYS, checked, and keys the optimizer does not have (the
# file is untrusted: what it holds never changes how the update runs).

# Each param group's learning rate as the run's config and tricks set it when the optimizers
# were made (before any schedule or annealing moved it): a resume that changes optim.*.lr
# (or ttur's rates) scales the saved, possibly scheduled rate by the change.
CONFIGURED_LR = "configured_lr"
# what a checkpoint's param groups carry over: where a schedule left the learning rate
SAVED_LR_KEYS = ("lr", "initial_lr", CONFIGURED_LR)


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
    groups = []
    for index, (kept, current) in enumerate(zip(saved["param_groups"], optimizer.param_groups)):
        # the file is untrusted: every setting of the update comes from this optimizer (the
        # config; a `maximize` there is ignored), the learning rates a schedule reached from
        # the file, checked, and so do keys torch does not know (a domain's own mark, such
        # as textgan's `adversarial_lr`: its G rate was switched once already)
        group = {key: value for key, value in kept.items() if key not in current}
        group.update((key, value) for key, value in current.items() if key != "params")
        group["params"] = kept["params"]
        for key in SAVED_LR_KEYS:
            if key in kept:
                group[key] = _learning_rate(kept[key], f"param group {index} '{key}'")
        groups.append(group)
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


def _learning_rate(value: Any, what: str) -> float:
    """A saved learning rate as a float; ValueError unless a finite number >= 0."""
    if isinstance(value, Tensor) and value.numel() == 1:  # saved by a run with CUDA graphs
        value = float(value)
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < 0:
        raise ValueError(f"its {what} is {str(value)[:40]!r}, not a learning rate (>= 0)")
    return float(value)


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
