"""`optim.*.impl=auto` on the CPU: torch's fused kernel where it has one (adam, adamw, sgd), since
it steps the domains' optimizers about 3x faster than foreach there (docs/performance.md), and
training with it matches foreach to float rounding."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from ganhub.config.resolve import resolve
from ganhub.config.schema import OptimizerConfig
from ganhub.engine.loop import train_step
from ganhub.engine.optimizers import make_optimizer
from ganhub.wiring import make_run

from .conftest import TINY_TOY

CPU = torch.device("cpu")


@pytest.mark.parametrize(("name", "fused"), [("adam", True), ("adamw", True), ("sgd", True),
                                             ("rmsprop", False)])  # fmt: skip
def test_auto_is_fused_on_cpu_where_torch_has_the_kernel(name: str, fused: bool) -> None:
    param = nn.Parameter(torch.ones(3))
    optimizer = make_optimizer([param], OptimizerConfig(name=name, impl="auto"), CPU)
    assert bool(optimizer.defaults.get("fused")) is fused
    assert bool(optimizer.defaults.get("foreach")) is not fused


def _trained(keys: list[str], out_dir: Path) -> tuple[dict[str, torch.Tensor], list[float]]:
    """Weights of G and D after 4 steps of tiny toy2d (fixed seed, same batches), each step's
    losses and stats; the optimizers' kernels, a check that the keys took effect."""
    run = make_run(resolve([*TINY_TOY, "seed=3", "loggers=[]", f"out_dir={out_dir}", *keys]))
    batches = run.batches()
    losses = []
    for _ in range(4):
        train_step(run, batches)
        losses.extend(run.stats.flush().values())  # this step's losses and stats
    weights = {f"{group}.{i}": p.detach().clone() for group, params in run.groups.items()
               for i, p in enumerate(params)}  # fmt: skip
    weights["fused"] = torch.tensor(
        [bool(o.defaults.get("fused")) for o in run.optimizers.values()]
    )
    run.close()
    return weights, losses


@pytest.mark.parametrize("keys", [[], ["optim.G.name=adamw", "optim.G.weight_decay=0.1"]])
def test_auto_on_cpu_trains_like_foreach(keys: list[str], tmp_path: Path) -> None:
    auto, auto_losses = _trained(keys, tmp_path / "auto")
    foreach, foreach_losses = _trained(
        [*keys, "optim.G.impl=foreach", "optim.D.impl=foreach"], tmp_path / "foreach"
    )
    assert auto.pop("fused").all() and not foreach.pop("fused").any()
    assert auto_losses == pytest.approx(foreach_losses, abs=1e-5)
    for key, weight in auto.items():
        diff = (weight - foreach[key]).abs().max().item()
        assert diff <= 1e-5, f"{key}: weights differ by up to {diff:.3g}"
