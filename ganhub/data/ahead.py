"""Batches copied to the training device one step ahead, off the compute stream.

A batch decoded on the host (DataLoader workers, pinned memory) must reach the GPU before the
step that reads it. Copied on the compute stream, the copy waits behind the kernels already
queued there, so it happens between steps instead of under one. Here each copy is issued on a
side stream as soon as the batch is decoded, while the previous step's kernels run; the compute
stream waits only for that copy's event when the batch is handed out, and the batch's memory is
marked as used by the compute stream so the allocator does not reuse it early. On a CPU (or
MPS) the batch is moved as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor


def ahead_on_device(cpu_batches: Iterable[Any], device: torch.device) -> Iterator[Any]:
    """Yield each batch of `cpu_batches` on `device`, its copy started one batch ahead."""
    if device.type != "cuda":
        pending = None
        for cpu_batch in cpu_batches:
            moved = to_device(cpu_batch, device)
            if pending is not None:
                yield pending
            pending = moved
        if pending is not None:
            yield pending
        return
    side = torch.cuda.Stream(device)
    queued: tuple[Any, torch.cuda.Event] | None = None
    for cpu_batch in cpu_batches:
        with torch.cuda.stream(side):
            moved = to_device(cpu_batch, device)
            copied = torch.cuda.Event()
            copied.record(side)
        if queued is not None:
            yield _ready(*queued)
        queued = (moved, copied)
    if queued is not None:
        yield _ready(*queued)


def _ready(batch: Any, copied: torch.cuda.Event) -> Any:
    """The batch, once the compute stream has waited for its copy."""
    stream = torch.cuda.current_stream()
    stream.wait_event(copied)
    for leaf in _tensors(batch):
        leaf.record_stream(stream)  # freed only after the compute stream is done with it
    return batch


def _tensors(batch: Any) -> Iterator[Tensor]:
    if isinstance(batch, Tensor):
        yield batch
    elif isinstance(batch, tuple | list):
        for b in batch:
            yield from _tensors(b)
    elif isinstance(batch, dict):
        for b in batch.values():
            yield from _tensors(b)


def to_device(batch: Any, device: torch.device) -> Any:
    """Move tensors in a batch (tensor, tuple, list or dict) to `device` without blocking."""
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple | list):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch
