"""The image history buffer of Shrivastava et al. (2017), as the original CycleGAN uses it.

Each discriminator sees, half of the time, an older generated image instead of the newest one,
which damps the oscillation between G and D. The buffer is a module with registered buffers,
so it is part of the system's state_dict: checkpoints hold it and a resumed run continues with
exactly the images (and, through the saved RNG states, the swap decisions) it had.

Two ways to draw the decisions, with the same rule: `draws="host"` uses Python's `random` in
the original's order (the default: query for query the original pool), `draws="device"` uses
torch's RNG with the fill count on the device, so no host value changes between steps and a
step replayed as a CUDA graph (`trainer.cuda_graphs`) queries the pool as an eager one does.
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
    order). Decisions are made on the host and the copies are device ops: no host sync.
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
        if self.size == 0:
            return images
        images = images.to(self.images.dtype)
        if self.draws == "device":
            return self._query_on_device(images)
        out = []
        for image in images:
            if self.filled < self.size:
                self.images[self.filled].copy_(image)
                self.filled += 1
                out.append(image)
            elif random.uniform(0, 1) > 0.5:
                slot = random.randint(0, self.size - 1)
                out.append(self.images[slot].clone())
                self.images[slot].copy_(image)
            else:
                out.append(image)
        return torch.stack(out)

    def _query_on_device(self, images: Tensor) -> Tensor:
        """The same rule, decided on the device: while filling, store and return; then with
        probability 0.5 return a random stored image and store the new one in its place."""
        out = []
        for image in images:
            filling = self.count < self.size
            swap = ~filling & (torch.rand((), device=images.device) > 0.5)
            drawn = torch.randint(0, self.size, (), device=images.device)
            slot = torch.where(filling, self.count.clamp(max=self.size - 1), drawn).view(1)
            stored = self.images.index_select(0, slot)[0]
            out.append(torch.where(swap, stored, image))
            kept = torch.where(filling | swap, image, stored)
            self.images.index_copy_(0, slot, kept.unsqueeze(0))
            self.count.add_(filling.long())
        return torch.stack(out)

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
