"""Training statistics kept on the device between logging steps: no per-step host sync.

A phase's loss and stats are stacked into one tensor and added to running sums in a handful of
kernels (the per-key adds this replaces cost a launch each, which shows on a GPU where a small
model's step is launch-bound). Non-finite values are left out of the sums and counted, so an
fp16 step the grad scaler skipped does not turn an interval's mean into inf.
"""

from __future__ import annotations

import torch
from torch import Tensor


class StatsAccumulator:
    """Sums scalar tensors on the device; `flush` moves the means to the host in one sync."""

    def __init__(self) -> None:
        # one (sums, finite counts) pair per distinct key tuple (one per phase in practice)
        self.groups: dict[tuple[str, ...], tuple[Tensor, Tensor]] = {}
        self.nonfinite: dict[str, Tensor] = {}

    def add(self, values: dict[str, Tensor], watch: str | None = None) -> None:
        """Accumulate detached scalars; with `watch`, remember if the first one was NaN/Inf."""
        if not values:
            return
        keys = tuple(values)
        stacked = torch.stack([v.detach().reshape(()).float() for v in values.values()])
        finite = torch.isfinite(stacked)
        clean = torch.where(finite, stacked, torch.zeros_like(stacked))
        if keys in self.groups:
            sums, counts = self.groups[keys]
            sums.add_(clean)
            counts.add_(finite)
        else:
            self.groups[keys] = (clean, finite.float())
        if watch is not None:
            bad = ~finite[0]
            self.nonfinite[watch] = self.nonfinite[watch] | bad if watch in self.nonfinite else bad

    def nonfinite_keys(self) -> list[str]:
        """Watched losses that were NaN/Inf at least once (one host sync); clears nothing."""
        if not self.nonfinite:
            return []
        keys = list(self.nonfinite)
        flags = torch.stack([self.nonfinite[k] for k in keys]).tolist()
        return [k for k, bad in zip(keys, flags) if bad]

    def clear_nonfinite(self) -> None:
        """Forget watched NaN/Inf flags (after a grad scaler skipped those steps)."""
        self.nonfinite.clear()

    def flush(self) -> dict[str, float]:
        """Means of the finite values since the last flush, on the host (one sync), then reset."""
        if not self.groups:
            return {}
        keys = [k for group in self.groups for k in group]
        sums = torch.cat([s for s, _ in self.groups.values()])
        counts = torch.cat([c for _, c in self.groups.values()])
        pairs = torch.stack([sums, counts]).tolist()
        self.groups.clear()
        means: dict[str, float] = {}
        totals: dict[str, tuple[float, float]] = {}
        for key, total, count in zip(keys, pairs[0], pairs[1]):
            t, c = totals.get(key, (0.0, 0.0))
            totals[key] = (t + total, c + count)
        for key, (total, count) in totals.items():
            means[key] = total / count if count else float("nan")
        return means
