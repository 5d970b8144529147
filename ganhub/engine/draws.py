"""Random draws that give a batch split by `trainer.grad_accum` the whole batch's numbers.

torch's generators do not give the same numbers for one draw of n values as for k draws of
n / k (on CPU, `randn` takes another path below 16 values, and any size that is not a multiple
of 16 shifts the stream); and the draws of a split step interleave micro-batch by micro-batch
(noise, then a trick's, then the next micro-batch's noise), where the whole batch makes each
draw once. So every random quantity of a phase that has one value per sample (G's noise, a
gradient penalty's interpolation weights, instance noise) is drawn once for the whole batch, on
the phase's first micro-batch in the order the whole batch draws it, and each micro-batch takes
its rows. A batch that is not split (`grad_accum=1`) draws exactly as it always did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

    from ganhub.engine.context import TrainContext

_CALLS = "draws/calls/"  # ctx.cache: per draw name, the micro-batch drawn for and calls so far


def batch_draw(ctx: TrainContext, name: str, rows: int, draw: Callable[[int], Tensor]) -> Tensor:
    """This micro-batch's `rows` rows of a draw made for the whole batch.

    `draw(n)` draws n rows (its first dimension). The k-th call under `name` within a
    micro-batch is the k-th draw of that name: the first micro-batch of a phase draws it for
    all `ctx.micro_batches` micro-batches, the later ones take their slice (the loop clears
    `ctx.cache` every step). A micro-batch of another size than the first draws its own rows."""
    if ctx.micro_batches == 1:
        return draw(rows)
    calls = ctx.cache.setdefault(_CALLS + name, [None, 0])
    if calls[0] != ctx.micro:  # a new micro-batch (k > 1: a phase's last one was k - 1 > 0)
        calls[0], calls[1] = ctx.micro, 0
    key = f"draws/{name}/{calls[1]}"
    calls[1] += 1
    if ctx.micro == 0:
        ctx.cache[key] = draw(rows * ctx.micro_batches)
    whole = ctx.cache.get(key)
    stop = (ctx.micro + 1) * rows
    if whole is None or len(whole) != rows * ctx.micro_batches:
        return draw(rows)
    return whole[stop - rows : stop]


def noise_like(ctx: TrainContext, name: str, x: Tensor, *, uniform: bool = False) -> Tensor:
    """`torch.randn_like(x)` (`rand_like` when `uniform`) as this micro-batch's rows of one
    draw for the whole batch, in x's memory format (channels_last draws in its own order)."""
    import torch

    if ctx.micro_batches == 1:
        return torch.rand_like(x) if uniform else torch.randn_like(x)
    formats = (torch.contiguous_format, torch.channels_last, torch.channels_last_3d)
    layout = next((f for f in formats if x.is_contiguous(memory_format=f)), None)
    if layout is None:  # a strided view: no whole-batch tensor is laid out like it
        return torch.rand_like(x) if uniform else torch.randn_like(x)

    def draw(n: int) -> Tensor:
        out = torch.empty((n, *x.shape[1:]), dtype=x.dtype, device=x.device, memory_format=layout)
        return out.uniform_() if uniform else out.normal_()

    return batch_draw(ctx, name, len(x), draw)
