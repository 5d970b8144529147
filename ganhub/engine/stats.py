"""Training statistics kept on the device between logging steps: no per-step host sync.

A phase's loss and stats are stacked into one tensor and added to running sums in a handful of
kernels (the per-key adds this replaces cost a launch each, which shows on a GPU where a small
model's step is launch-bound). Under fp16's grad scaler non-finite values are left out of the
sums and counted, so a step the scaler skipped does not turn an interval's mean into inf;
otherwise values are summed as they come, and a NaN/Inf loss shows in its sum.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from ganhub.errors import PluginError

# what a stat must be, and why (said when one is not)
_SCALAR = (
    "not a 0-dim tensor; put one number as a 0-dim tensor on the device (a Python number: "
    "torch.tensor(x, device=...); never .item(), which waits for the device every step)"
)


class StatsAccumulator:
    """Sums scalar tensors on the device; `flush` moves the means to the host in one sync.

    `skip_nonfinite` (a run with fp16's grad scaler): a NaN/Inf value is left out of its sum
    and counted, since the scaler skips such steps and training goes on. Without it a NaN/Inf
    loss ends the run at the next check anyway, so values are summed as they come, in two ops
    per call, and a watched loss is non-finite when its sum is.
    """

    def __init__(self, skip_nonfinite: bool = True) -> None:
        self.skip_nonfinite = skip_nonfinite
        # one (sums, finite counts or None) pair per distinct key tuple (one per phase)
        self.groups: dict[tuple[str, ...], tuple[Tensor, Tensor | None]] = {}
        self.adds: dict[tuple[str, ...], int] = {}  # otherwise: calls per group since a flush
        self.nonfinite: dict[str, Tensor] = {}  # skip_nonfinite: a device flag per watch
        # otherwise: the groups of each watch (a logging step's extra stats make another)...
        self.watched: dict[str, set[tuple[str, ...]]] = {}
        self.flagged: set[str] = set()  # ...and the watches whose sum a flush found non-finite
        # host (sum, count) per key carried from a checkpoint into the next flush (a resume)
        self.carried: dict[str, tuple[float, float]] = {}

    def add(self, values: dict[str, Tensor], watch: str | None = None) -> None:
        """Accumulate detached scalars; with `watch`, remember if the first one was NaN/Inf."""
        if not values:
            return
        keys = tuple(values)
        # few ops per call, whatever the number of values: this runs twice a step, and on a
        # small model each op's dispatch is a visible share of the step
        with torch.no_grad():
            try:  # free unless it raises: a value that is no device scalar is named
                stacked = torch.stack(
                    [v if v.dim() == 0 else v.reshape(()) for v in values.values()]
                )
            except (AttributeError, TypeError, RuntimeError) as exc:
                _refuse_unfit(values, watch, exc)
                raise
            if stacked.dtype != torch.float32:  # `.float()` costs a dispatch even when it is
                stacked = stacked.float()
            if not self.skip_nonfinite:
                self.adds[keys] = self.adds.get(keys, 0) + 1
                if keys in self.groups:
                    self.groups[keys][0].add_(stacked)
                else:
                    self.groups[keys] = (stacked, None)
                if watch is not None:
                    self.watched.setdefault(watch, set()).add(keys)
                return
            finite = torch.isfinite(stacked)
            clean = torch.nan_to_num(stacked, nan=0.0, posinf=0.0, neginf=0.0)
            if keys in self.groups:
                sums, counts = self.groups[keys]
                sums.add_(clean)
                assert counts is not None
                counts.add_(finite)
            else:
                self.groups[keys] = (clean, finite.float())
            if watch is not None:
                flag = self.nonfinite.get(watch)
                if flag is None:
                    self.nonfinite[watch] = finite[0].logical_not()
                else:
                    flag.logical_or_(finite[0].logical_not())

    def nonfinite_keys(self) -> list[str]:
        """Watched losses that were NaN/Inf at least once (one host sync); clears nothing."""
        if self.skip_nonfinite:
            if not self.nonfinite:
                return []
            keys = list(self.nonfinite)
            flags = torch.stack([self.nonfinite[k] for k in keys]).tolist()
            return [k for k, bad in zip(keys, flags) if bad]
        pending = [(w, g) for w, gs in self.watched.items() for g in gs if g in self.groups]
        firsts = torch.stack([self.groups[g][0][0] for _, g in pending]).tolist() if pending else []
        bad = self.flagged | {w for (w, _), v in zip(pending, firsts) if not math.isfinite(v)}
        return [w for w in self.watched if w in bad]

    def clear_nonfinite(self) -> None:
        """Forget watched NaN/Inf flags (after a grad scaler skipped those steps)."""
        self.nonfinite.clear()
        self.flagged.clear()

    def flush(self) -> dict[str, float]:
        """Means of the finite values since the last flush, on the host (one sync), then reset."""
        totals = self._with_carried(self._host_totals(flag_watched=True))
        self.groups.clear()
        self.adds.clear()
        self.carried = {}
        return {
            key: total / count if count else float("nan") for key, (total, count) in totals.items()
        }

    def pending(self) -> dict[str, list[float]]:
        """The sums and counts since the last flush, on the host (one sync), kept: what a
        checkpoint between logging steps saves, so that a resumed run logs the same means."""
        totals = self._with_carried(self._host_totals())
        # a non-finite sum (a loss that just diverged) is the next check's to report, not the
        # checkpoint's to keep
        return {
            key: [total, count]
            for key, (total, count) in totals.items()
            if math.isfinite(total) and math.isfinite(count)
        }

    def carry_over(self, pending: Any) -> None:
        """Start from a checkpoint's `pending()` sums; raises ValueError on a damaged one."""
        carried: dict[str, tuple[float, float]] = {}
        for key, value in (pending or {}).items():
            if not (isinstance(key, str) and isinstance(value, list) and len(value) == 2
                    and all(type(v) in (int, float) and math.isfinite(v) for v in value)
                    and value[1] >= 0):  # fmt: skip
                raise ValueError(f"logged stats {key!r}")
            carried[key] = (float(value[0]), float(value[1]))
        self.carried = carried

    def _with_carried(
        self, totals: dict[str, tuple[float, float]]
    ) -> dict[str, tuple[float, float]]:
        """`totals` plus the sums carried from a checkpoint (a resumed interval's first steps)."""
        for key, (total, count) in self.carried.items():
            t, c = totals.get(key, (0.0, 0.0))
            totals[key] = (t + total, c + count)
        return totals

    def _host_totals(self, flag_watched: bool = False) -> dict[str, tuple[float, float]]:
        """(sum, count) per key of the groups, on the host (one sync); `flag_watched` marks
        the watches whose sum is non-finite (see nonfinite_keys)."""
        if not self.groups:
            return {}
        keys = [k for group in self.groups for k in group]
        sums = torch.cat([s for s, _ in self.groups.values()])
        if self.skip_nonfinite:
            counts = torch.cat([c for _, c in self.groups.values() if c is not None])
            totals_list, counts_list = torch.stack([sums, counts]).tolist()
        else:
            totals_list = sums.tolist()
            counts_list = [float(self.adds[g]) for g in self.groups for _ in g]
            starts = dict(zip(self.groups, _offsets(list(self.groups))))
            for watch, groups in self.watched.items() if flag_watched else ():
                if any(g in starts and not math.isfinite(totals_list[starts[g]]) for g in groups):
                    self.flagged.add(watch)
        totals: dict[str, tuple[float, float]] = {}
        for key, total, count in zip(keys, totals_list, counts_list):
            t, c = totals.get(key, (0.0, 0.0))
            totals[key] = (t + total, c + count)
        return totals


def not_a_scalar(value: Any) -> str | None:
    """What `value` is when it is not one number on the device ("a float", "a tensor of shape
    (3,)"); None when it is (a tensor of one element). Reads no device value."""
    if isinstance(value, Tensor):
        return None if value.numel() == 1 else f"a tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def check_stats(
    stats: Mapping[str, Any], start: int, phase: Any, observe: Callable[..., Any]
) -> None:
    """The stats a trick's `observe` added to a phase's `out.stats` (those from position
    `start` on) must be device scalars: else one line naming the trick and the key."""
    for key, value in itertools.islice(stats.items(), start, None):
        what = not_a_scalar(value)
        if what is not None:
            trick = getattr(getattr(observe, "__self__", None), "name", "?")
            raise PluginError(
                f"phase '{phase.name}': trick '{trick}': its observe() put {what} in "
                f"out.stats[{key!r}], {_SCALAR}"
            )


def _refuse_unfit(values: Mapping[str, Any], watch: str | None, exc: BaseException) -> None:
    """Raise one line naming the first stat that is no device scalar (a phase's own stats,
    or one a trick replaced); return when all are (`exc` was another error)."""
    for key, value in values.items():
        what = not_a_scalar(value)
        if what is not None:
            where = f"phase '{watch}': " if watch else ""
            raise PluginError(f"{where}stat {key!r} is {what}, {_SCALAR}") from exc


def _offsets(groups: list[tuple[str, ...]]) -> list[int]:
    """Where each group's values start in the flattened list of all groups' values."""
    out, at = [], 0
    for group in groups:
        out.append(at)
        at += len(group)
    return out
