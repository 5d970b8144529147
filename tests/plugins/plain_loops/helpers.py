"""Train a ganhub run and its domain's plain loop (benchmarks/plain_loops/) side by side."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from ganhub.config.resolve import resolve
from ganhub.engine.loop import train_step
from ganhub.engine.run import Run
from ganhub.wiring import make_run

OVERHEAD = Path(__file__).resolve().parents[3] / "benchmarks" / "overhead.py"


def overhead() -> ModuleType:
    """benchmarks/overhead.py as a module (it puts benchmarks/ and the examples on the path)."""
    if "bench_overhead" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_overhead", OVERHEAD)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules["bench_overhead"] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules["bench_overhead"]


def train_both(plugin: str, keys: list[str], steps: int, seed: int = 1) -> tuple[Run, Any]:
    """A run and its plain loop built from the same weights, each trained `steps` steps on the
    same batches with the global RNG reset to `seed` before each side."""
    bench = overhead()
    torch.manual_seed(0)
    run = make_run(resolve([f"plugin={plugin}", "loggers=[]", "trainer.progress=false",
                            "trainer.log_every=1000", *keys]))  # fmt: skip
    plain = bench.plain_module(plugin).plain_loop(run)
    batches = bench.fixed_batches(run, steps)
    torch.manual_seed(seed)
    stream = iter(batches)
    for _ in batches:
        train_step(run, stream)
    torch.manual_seed(seed)
    for batch in batches:
        plain.step(batch)
    return run, plain


def assert_same_weights(
    pairs: Iterable[tuple[str, nn.Module, nn.Module]], atol: float = 1e-5
) -> None:
    """Each pair's parameters and buffers are equal, in order, within atol."""
    for name, ours, theirs in pairs:
        a, b = ours.state_dict(), theirs.state_dict()
        assert len(a) == len(b), f"{name}: {len(a)} vs {len(b)} tensors"
        for (key, x), y in zip(a.items(), b.values()):
            assert x.shape == y.shape, f"{name}.{key}: {tuple(x.shape)} vs {tuple(y.shape)}"
            assert torch.allclose(x.float(), y.float(), atol=atol), (
                f"{name}.{key}: max difference {(x.float() - y.float()).abs().max().item():.3g}"
            )
