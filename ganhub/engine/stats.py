"""Training statistics kept on the device between logging steps: no per-step host sync."""

from __future__ import annotations

import torch
from torch import Tensor


class StatsAccumulator:
    """Sums scalar tensors on the device; `flush` moves the means to the host in one sync."""

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, int] = {}
        self.nonfinite: dict[str, Tensor] = {}

    def add(self, key: str, value: Tensor) -> None:
        """Accumulate a detached scalar under `key` (device-side add only)."""
        value = value.detach().float()
        if key in self.sums:
            self.sums[key] += value
            self.counts[key] += 1
        else:
            self.sums[key] = value.clone()
            self.counts[key] = 1

    def watch(self, key: str, loss: Tensor) -> None:
        """Remember, on device, whether a loss was ever NaN/Inf since the last check."""
        bad = ~torch.isfinite(loss.detach())
        self.nonfinite[key] = self.nonfinite[key] | bad if key in self.nonfinite else bad

    def nonfinite_keys(self) -> list[str]:
        """Losses that became NaN/Inf (one host sync); clears nothing."""
        if not self.nonfinite:
            return []
        keys = list(self.nonfinite)
        flags = torch.stack([self.nonfinite[k] for k in keys]).tolist()
        return [k for k, bad in zip(keys, flags) if bad]

    def flush(self) -> dict[str, float]:
        """Means since the last flush, on the host (one sync), then reset."""
        if not self.sums:
            return {}
        keys = list(self.sums)
        values = torch.stack([self.sums[k] for k in keys]).tolist()
        means = {k: v / self.counts[k] for k, v in zip(keys, values)}
        self.sums.clear()
        self.counts.clear()
        return means
