"""Optimizers from their configs, with the update kernels the device runs fastest.

`impl=foreach` updates every tensor of a group in a few multi-tensor launches; `impl=fused`
(adam, adamw, sgd) does the whole update in one kernel per dtype and device, which matters on
a GPU where a small model's step is bound by launches, and on a CPU, where torch's fused Adam
steps the domains' optimizers about 3x faster than foreach. `auto` picks fused on CUDA and on
the CPU where this torch has the kernel (CPU since torch 2.4), foreach elsewhere. A step
replayed as a CUDA graph needs `capturable` optimizers: their step counters live on the
device, so the captured update reads them instead of a host number baked in.

For plugins: `set_learning_rate`, which a trick or a system that changes a learning rate during
training calls (a CUDA-graph run keeps the rates in device tensors); the rest is the engine's.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from ganhub.config.schema import FUSED_OPTIMIZERS, OptimizerConfig

# where `impl=auto` picks the fused kernel when torch has it: CUDA (one launch, not dozens) and
# the CPU (one pass over each tensor: Adam's step about 3x faster than foreach's on the domains'
# models, docs/performance.md#optimizer-kernels-on-cpu)
AUTO_FUSED_DEVICES = ("cuda", "cpu")


def fused_for(cfg: OptimizerConfig, device: torch.device) -> bool:
    """Whether this optimizer runs as torch's fused kernel on `device` (auto: on CUDA and the
    CPU, where this torch has the kernel; fused: asked for, `make_optimizer` refusing it where
    it lacks)."""
    if cfg.impl == "auto":
        return device.type in AUTO_FUSED_DEVICES and fused_kernel(cfg.name, device)
    return cfg.impl == "fused"


def fused_kernel(name: str, device: torch.device) -> bool:
    """Whether this torch has a fused `name` optimizer for parameters on `device`: recent
    torch (2.14) checks the device only in the first step() (older ones at construction), so
    a fused choice it lacks (CPU before torch 2.4) stopped the run mid-training."""
    if name not in FUSED_OPTIMIZERS:
        return False
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}.get(name, torch.optim.SGD)
    if "fused" not in inspect.signature(cls).parameters:  # an older torch's sgd has none
        return False
    try:  # the devices torch's own check accepts (a private helper: CUDA where it moved)
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
    except ImportError:
        return device.type == "cuda"
    return device.type in _get_fused_kernels_supported_devices()


def make_optimizer(
    params: list[nn.Parameter],
    cfg: OptimizerConfig,
    device: torch.device,
    *,
    capturable: bool = False,
    key: str = "optim.<group>",
) -> torch.optim.Optimizer:
    """One optimizer from its config, fused or foreach (`cfg.impl`), capturable on request;
    ConfigError naming `key` (`optim.D`) when `impl=fused` asks for a kernel torch lacks."""
    if cfg.impl == "fused" and not fused_kernel(cfg.name, device):
        from ganhub.errors import ConfigError

        raise ConfigError(
            f"{key}.impl=fused: torch {torch.__version__} has no fused {cfg.name} for "
            f"parameters on {device.type}; use {key}.impl=auto or foreach"
        )
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


def load_state(optimizer: torch.optim.Optimizer, saved: dict[str, Any]) -> str | None:
    """Load a saved optimizer state (moments, step counts, the learning rates reached),
    keeping this optimizer's kernel choice and the config's hyperparameters: a learning rate
    the resumed config changed scales the saved one (a schedule's position is kept); step
    counts move to where the kernels keep them; a momentum turned on starts its buffer as
    torch starts one (`_fit_momentum`). A checkpoint that holds another kind of optimizer's
    state (optim.*.name changed: rmsprop's square averages for adam) loads none of it: the
    optimizer starts afresh at the learning rate the run had reached, and the kind the
    checkpoint held is returned (None when its state was loaded). Raises ValueError (or what
    torch raises) on a state that is damaged, before any step reads it."""
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
    other = _other_kind(optimizer, saved.get("state"))
    state = {} if other is not None else saved["state"]
    optimizer.load_state_dict({**saved, "state": state, "param_groups": groups})
    for group in optimizer.param_groups:  # a moment of another shape fails only mid-step
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if isinstance(value, Tensor) and value.dim() and value.shape != param.shape:
                    raise ValueError(
                        f"its '{key}' is {tuple(value.shape)} for a {tuple(param.shape)} parameter"
                    )
    _fit_momentum(optimizer)
    return other


# The state each kind of optimizer keeps per parameter (torch's names): what a checkpoint of
# that kind must hold, torch reading it only in step(); adamw keeps adam's. A momentum
# buffer ("momentum_buffer": rmsprop, sgd) exists only while the momentum is on.
KEPT_STATE = {"adam": ("step", "exp_avg", "exp_avg_sq"), "rmsprop": ("step", "square_avg"),
              "sgd": ()}  # fmt: skip
KIND_NAMES = {"adam": "adam or adamw", "rmsprop": "rmsprop", "sgd": "sgd"}
MOMENTUM_BUFFER = "momentum_buffer"


def kind_of(optimizer: torch.optim.Optimizer) -> str | None:
    """Which of KEPT_STATE's kinds `optimizer` is (None: another class, not checked)."""
    if isinstance(optimizer, torch.optim.Adam | torch.optim.AdamW):
        return "adam"
    if isinstance(optimizer, torch.optim.RMSprop):
        return "rmsprop"
    return "sgd" if isinstance(optimizer, torch.optim.SGD) else None


def _saved_kind(state: dict[str, Any]) -> str | None:
    """The kind of optimizer that kept one parameter's saved state (None: no kind's)."""
    for kind in ("adam", "rmsprop"):
        if set(KEPT_STATE[kind]) <= set(state) <= {*KEPT_STATE[kind], MOMENTUM_BUFFER}:
            return kind
    return "sgd" if set(state) == {MOMENTUM_BUFFER} else None


def _other_kind(optimizer: torch.optim.Optimizer, saved: Any) -> str | None:
    """The kind of optimizer a checkpoint's state is of when it is not this one's (another
    optim.*.name), else None; ValueError on a state no optimizer keeps (damaged)."""
    kind = kind_of(optimizer)
    if kind is None or not isinstance(saved, dict):
        return None  # another class, or a state torch itself refuses (damaged)
    states = [s for s in saved.values() if isinstance(s, dict) and s]
    unknown = [s for s in states if _saved_kind(s) is None]
    if unknown:
        keys = ", ".join(sorted(str(k) for k in unknown[0]))
        raise ValueError(f"a parameter's state holds {keys[:120]}, which no optimizer keeps")
    kinds = {_saved_kind(s) for s in states}
    if len(kinds) > 1:
        raise ValueError(
            f"its parameters hold the states of {' and '.join(sorted(map(str, kinds)))}"
        )
    other = kinds.pop() if kinds else None
    return other if other != kind else None


def _fit_momentum(optimizer: torch.optim.Optimizer) -> None:
    """Check each parameter's state against what this optimizer reads in step(), and fit its
    momentum buffer to the config's momentum: one turned on for rmsprop starts at zero (as
    torch starts a new parameter's); sgd starts its own from the first gradient; one turned
    off is dropped (it would come back stale when turned on again)."""
    kind = kind_of(optimizer)
    if kind is None:
        return
    for group in optimizer.param_groups:
        momentum = group.get("momentum", 0)
        for param in group["params"]:
            state = optimizer.state.get(param)
            if not state:
                continue  # never stepped: torch fills it on the first step
            missing = [key for key in KEPT_STATE[kind] if key not in state]
            if missing:
                raise ValueError(f"a {tuple(param.shape)} parameter's state lacks {missing[0]!r}")
            if not momentum:
                state.pop(MOMENTUM_BUFFER, None)
            elif kind == "rmsprop" and MOMENTUM_BUFFER not in state:
                state[MOMENTUM_BUFFER] = torch.zeros_like(
                    param, memory_format=torch.preserve_format
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


__all__ = [
    "set_learning_rate",
]
