"""Device, precision, seeds and RNG state: the process-wide settings a run owns.

For plugins: `forked_stream`, for random draws (samples a command makes for a seed) that
leave the run's own random streams where they were; the rest is the engine's.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from ganhub.errors import ConfigError
from ganhub.plural import counted

CUBLAS_ENV = "CUBLAS_WORKSPACE_CONFIG"  # cuBLAS reads it for deterministic workspaces


def select_device(spec: str, local_rank: int = 0) -> torch.device:
    """Resolve `auto|cpu|mps|cuda|cuda:N`; auto picks this rank's GPU, else MPS, else CPU."""
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError):
        raise ConfigError(f"'{spec}' is not a device; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device={spec}: CUDA is not available here; use device=cpu or auto")
        index = device.index if device.index is not None else local_rank
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"device={spec}: only {counted(torch.cuda.device_count(), 'CUDA devices')} visible"
            )
        return torch.device("cuda", index)
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device={spec}: MPS is not available here; use device=cpu or auto")
    return device


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity: taskset, a container's cpuset)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def set_threads(threads: int | str) -> None:
    """Apply `trainer.threads`: torch's intra-op CPU threads (`auto` leaves the process's count:
    torch's default of one per core, or OMP_NUM_THREADS). `Run.close` puts the count before
    back for a caller that goes on (a notebook, a test). Tiny models train faster with one
    thread: a second one adds a barrier to every small kernel."""
    if threads == "auto":
        return
    cores = usable_cores()
    if not isinstance(threads, int) or not 1 <= threads <= cores:
        raise ConfigError(
            f"trainer.threads={threads}: this machine gives the run {counted(cores, 'CPU cores')}; "
            f"use 1 to {cores}, or auto"
        )
    torch.set_num_threads(threads)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_deterministic(enabled: bool) -> None:
    """Deterministic kernels (and no cuDNN autotuning) when `enabled`; autotuning otherwise."""
    if enabled:
        os.environ.setdefault(CUBLAS_ENV, ":4096:8")
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = not enabled


@contextlib.contextmanager
def caller_state_kept() -> Iterator[None]:
    """A run inside a process that is not only ganhub's (a notebook, a script calling
    `ganhub.train`): the run seeds every RNG and sets its deterministic flags and cuDNN
    autotuning, and gradients are on even under the caller's `torch.no_grad()` or
    `inference_mode()`; afterwards the caller's RNG states, flags and CUBLAS_WORKSPACE_CONFIG
    are back as they were. Costs a copy of the RNG states (a few KB) per call."""
    rng = rng_state()
    flags = (torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled())  # fmt: skip
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    cublas = os.environ.get(CUBLAS_ENV)

    def restore() -> None:
        set_rng_state(rng)
        now = (torch.are_deterministic_algorithms_enabled(),
               torch.is_deterministic_algorithms_warn_only_enabled())  # fmt: skip
        if now != flags:  # the call imports torch's compiler the first time: seconds
            torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn
        if cublas is None:
            os.environ.pop(CUBLAS_ENV, None)
        else:
            os.environ[CUBLAS_ENV] = cublas

    try:
        with torch.inference_mode(False), torch.enable_grad():
            yield
    except BaseException:
        # the run's own exception is the one to see: a Ctrl-C that cut short torch's lazy
        # import of its compiler (use_deterministic_algorithms imports it) left modules half
        # made, and the restore's import of them failed in their place (AttributeError)
        with contextlib.suppress(Exception):
            restore()
        raise
    restore()


def autocast_factory(precision: str, device: torch.device, cache: bool = True) -> Callable[[], Any]:
    """A zero-argument context factory: autocast for bf16/16, a no-op for 32 (no overhead).

    `cache=False` for steps captured in CUDA graphs: autocast's cache of cast weights is not
    allowed there."""
    if precision == "32":
        return contextlib.nullcontext
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    if precision == "16" and device.type == "cpu":
        raise ConfigError("precision=16 needs a GPU; on CPU use precision=bf16 or 32")
    return lambda: torch.autocast(device_type=device.type, dtype=dtype, cache_enabled=cache)


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """A gradient scaler for fp16 (bf16 and fp32 need none)."""
    return torch.amp.GradScaler(device.type) if precision == "16" else None


def rng_state() -> dict[str, Any]:
    """Every RNG state this process uses, in checkpointable form."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` returned."""
    random.setstate(_tuples(state["python"]))
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


@contextlib.contextmanager
def forked_stream(device: torch.device) -> Iterator[Callable[[int], None]]:
    """A random stream of its own for the CPU and `device`: random ops inside draw from it and
    the run's stream is where it was afterwards. Yields `reseed(seed)`, which seeds it (for
    samples and translations that must repeat for a seed without moving training's stream)."""
    accelerated = device.type != "cpu"
    fork = torch.random.fork_rng(
        devices=[device] if accelerated else [],
        device_type=device.type if accelerated else "cuda",
    )

    def reseed(seed: int) -> None:
        torch.default_generator.manual_seed(seed)
        if device.type == "cuda":
            index = device.index if device.index is not None else torch.cuda.current_device()
            torch.cuda.default_generators[index].manual_seed(seed)
        elif accelerated:
            torch.get_device_module(device.type).manual_seed(seed)

    with fork:
        yield reseed


def _tuples(obj: Any) -> Any:
    if isinstance(obj, list | tuple):
        return tuple(_tuples(o) for o in obj)
    return obj


def use_channels_last(model: nn.Module, device: torch.device) -> None:
    """Hold the 2D convolutions' weights channels_last, so their activations follow (not on
    MPS); on the CPU, 1x1 strided convolutions stay NCHW and take NCHW inputs (below)."""
    if device.type == "mps":
        return
    for module in model.modules():
        if not isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
            continue
        if device.type == "cpu" and _strided_pointwise(module):
            # torch 2.14's oneDNN weight gradient of a 1x1 strided convolution on channels_last
            # input corrupts memory on some shapes with 2+ threads (e.g. 8 -> 16 channels,
            # stride 2, 16x16: a segfault or "free(): invalid next size"); one NCHW copy of
            # this layer's input costs less than the process
            module.register_forward_pre_hook(_nchw_input)
            continue
        module.to(memory_format=torch.channels_last)


def _strided_pointwise(conv: nn.Conv2d | nn.ConvTranspose2d) -> bool:
    return isinstance(conv, nn.Conv2d) and conv.kernel_size == (1, 1) and conv.stride != (1, 1)


def _nchw_input(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(a.contiguous() if isinstance(a, torch.Tensor) else a for a in args)


__all__ = [
    "forked_stream",
]
