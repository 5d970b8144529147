"""What every plain loop does the same way: one optimizer update, scaled for fp16."""

from __future__ import annotations

import torch
from torch import Tensor


def update(
    loss: Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None
) -> None:
    """Backward and one step of `optimizer` (through the fp16 grad scaler when there is one);
    its gradients are dropped afterwards, as `zero_grad(set_to_none=True)` before the next."""
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
    optimizer.zero_grad(set_to_none=True)
