"""The image history buffer of Shrivastava et al. (2017), as the original CycleGAN uses it.

Each discriminator sees, half of the time, an older generated image instead of the newest one,
which damps the oscillation between G and D. The buffer is a module with registered buffers,
so it is part of the system's state_dict: checkpoints hold it and a resumed run continues with
exactly the images (and, through the saved RNG states, the swap decisions) it had.

Two ways to draw the decisions, with the same rule: `draws="host"` uses Python's `random` in
the original's order (the default: query for query the original pool), `draws="device"` uses
torch's RNG (one draw of the swap decisions and one of the slots per batch) with the fill count
on the device, so no host value changes between steps and a step replayed as a CUDA graph
(`trainer.cuda_graphs`) queries the pool as an eager one does.

Either way a query is a fixed handful of device ops for the whole batch, not a copy per image:
at the batch sizes users train with on GPUs, per-image kernel launches were the pool's cost.
"""

from __future__ import annotations

import random
from typing import Any, Literal

import torch
from torch import Tensor, nn


class ImagePool(nn.Module):
    """Up to `size` past generated images; `query` returns a batch mixing new and old ones.

    Until it is full, every new image is stored and returned. Then, per image, with probability
    0.5 a random stored image is returned and replaced by the new one, otherwise the new image
    is returned (the original `ImagePool.query`, drawing from Python's `random` in the same
    order). Images are taken in batch order, so a later image can draw a slot an earlier one of
    the same batch just filled and get that image back, as in the original.

    A query costs the same few device ops at any batch size and reads nothing back from the
    device: host draws become index vectors (one async copy to the device), device draws are
    resolved with batch-sized tensor ops; then the stored images are gathered, the output
    assembled and each touched slot written once.
    """

    images: Tensor
    count: Tensor

    def __init__(
        self, size: int, shape: tuple[int, ...], draws: Literal["host", "device"] = "host"
    ) -> None:
        super().__init__()
        self.size = size
        self.draws = draws
        self.register_buffer("images", torch.zeros(size, *shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))
        self.filled = 0  # host copy of `count`, so queries never read the device

    def query(self, images: Tensor) -> Tensor:
        """The batch D should see for these new generated images (detached)."""
        images = images.detach()
        if self.size == 0 or len(images) == 0:
            return images
        images = images.to(self.images.dtype)
        if self.draws == "host":
            return self._query_on_host(images)
        return self._query_on_device(images)

    def _query_on_host(self, images: Tensor) -> Tensor:
        """The original's draws, image by image from Python's `random` (host ints only: the
        same values in the same order); then a few device ops for the whole batch."""
        n = len(images)
        src = list(range(n))  # the row of `images` each output starts as
        rows: list[int] = []  # outputs that return an image stored before this batch
        slots: list[int] = []  # ... and its slot
        last: dict[int, int] = {}  # slot -> the latest image of this batch stored there
        for j in range(n):
            if self.filled < self.size:
                last[self.filled] = j
                self.filled += 1
            elif random.uniform(0, 1) > 0.5:
                s = random.randint(0, self.size - 1)
                if s in last:  # swapped in earlier in this batch: that image comes back
                    src[j] = last[s]
                else:
                    rows.append(j)
                    slots.append(s)
                last[s] = j
        index = torch.tensor([*src, *rows, *slots, *last, *last.values()], dtype=torch.long)
        if images.device.type == "cuda":  # an async copy: a pageable one would sync the stream
            index = index.pin_memory().to(images.device, non_blocking=True)
        else:
            index = index.to(images.device)
        sizes = [n, len(rows), len(rows), len(last), len(last)]
        src_i, rows_i, slots_i, kept_i, new_i = index.split(sizes)
        out = images.index_select(0, src_i)
        if rows:  # read the stored images before the new ones replace them
            out.index_copy_(0, rows_i, self.images.index_select(0, slots_i))
        if last:  # one write per slot: the batch's last image for it
            self.images.index_copy_(0, kept_i, images.index_select(0, new_i))
        return out

    def _query_on_device(self, images: Tensor) -> Tensor:
        """The same rule decided on the device, for the whole batch at once: image j fills slot
        count + j while there is one; otherwise with probability 0.5 it swaps with a random
        slot. An image that draws a slot an earlier one of the batch swapped into gets that
        earlier image (`prev`); a slot keeps the last image of the batch stored there.
        Shapes depend on the batch size only (a CUDA graph replays it)."""
        n, device = len(images), images.device
        j = torch.arange(n, device=device)
        swap_draw = torch.rand(n, device=device) > 0.5
        drawn = torch.randint(0, self.size, (n,), device=device)
        free = self.count + j
        filling = free < self.size
        swap = ~filling & swap_draw
        slot = torch.where(filling, free, drawn)
        # stores[j, k]: image k stores into image j's slot
        stores = (slot.unsqueeze(1) == slot.unsqueeze(0)) & (filling | swap).unsqueeze(0)
        k = j.unsqueeze(0).expand(n, n)
        prev = torch.where(stores & (k < j.unsqueeze(1)), k, -1).amax(1)
        final = torch.where(stores, k, -1).amax(1)
        out = torch.where(swap, torch.where(prev >= 0, prev, n + j), j)
        keep = torch.where(final >= 0, final, n + j)
        self.count.add_(filling.sum())
        # rows < n: the new images; row n + j: what slot[j] held. Every image writes its slot
        # (one that stores nothing rewrites the slot's final image), so repeated slots all get
        # the same image and the order of their writes does not matter.
        both = torch.cat([images, self.images.index_select(0, slot)])
        self.images.index_copy_(0, slot, both.index_select(0, keep))
        return both.index_select(0, out)

    def _save_to_state_dict(
        self, destination: dict[str, Any], prefix: str, keep_vars: bool
    ) -> None:
        if self.draws == "host":  # the device count is the truth otherwise
            self.count.fill_(self.filled)
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self.filled = int(self.count)  # one read, at load time only
