"""Training diagnostics measured on logging steps only, on the device, without host syncs.

* gradient norms per phase (before clipping): ``grad_norm/D``, ``grad_norm/G``;
* the share of real (fake) samples D classifies correctly at the loss's decision threshold:
  ``D_real_acc``, ``D_fake_acc`` (skipped for losses without one, e.g. wasserstein);
* sample diversity within the batch: the mean distance between neighbouring fakes over the
  same for reals (``diversity``; 1 is as diverse as the data, near 0 is collapse);
* each optimizer's learning rate as the step used it (``lr/D``, ``lr/G``; its first parameter
  group, the network's weights), so a schedule can be read off the logs;
* a collapse warning when diversity falls while D wins (``collapse`` = 1 in metrics.jsonl and
  a line on stderr).

The per-step work is an ``if`` on ``TrainContext.diagnose``, which the loop sets on the steps
whose stats it is about to flush; the values are read back with the flush's one sync.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ganhub.closed_output import say

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from torch import nn


# what a collapse warning suggests: the two remedies that brought the modes back on toy2d
# (docs/training.md#mode-collapse-warnings has the figures behind it)
COLLAPSE_REMEDY = "try a lower optim.G.lr, or the r1 trick (a gradient penalty on D)"


def grad_norm(params: Sequence[nn.Parameter], scaler: torch.amp.GradScaler | None) -> Tensor | None:
    """Global L2 norm of the parameters' gradients, as a device tensor (fused per-tensor norms)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return None
    return unscaled(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))), scaler)


def unscaled(norm: Tensor, scaler: torch.amp.GradScaler | None) -> Tensor:
    """A gradient norm taken before `scaler` unscaled the gradients, without its scale."""
    scale = scaler._get_scale_async() if scaler is not None and scaler.is_enabled() else None
    return norm if scale is None else norm / scale  # fp16 gradients still scaled; no sync


def learning_rates(optimizers: Mapping[str, torch.optim.Optimizer]) -> dict[str, float]:
    """`lr/<name>` of each optimizer's first parameter group (a tensor lr is read: logging
    steps already sync)."""
    return {f"lr/{name}": float(opt.param_groups[0]["lr"]) for name, opt in optimizers.items()}


def spread(x: Tensor) -> Tensor:
    """Mean distance between each sample and the next one in the batch (O(batch), not O(batch^2))."""
    flat = x.detach().float().flatten(1)
    return (flat - flat.roll(1, 0)).norm(dim=1).mean()


def d_stats(
    real_logits: Tensor,
    fake_logits: Tensor,
    real: Tensor,
    fake: Tensor,
    threshold: float | None,
    tag: str = "",
) -> dict[str, Tensor]:
    """D's accuracy on each side at `threshold` (if the loss has one) and the fakes' diversity."""
    stats: dict[str, Tensor] = {}
    if threshold is not None:
        stats[f"D{tag}_real_acc"] = (real_logits.detach() > threshold).float().mean()
        stats[f"D{tag}_fake_acc"] = (fake_logits.detach() < threshold).float().mean()
    if len(real) > 1 and len(fake) > 1:
        stats[f"diversity{tag}"] = spread(fake) / spread(real).clamp_min(1e-12)
    return stats


class CollapseMonitor:
    """Flags possible mode collapse from the logged stats (host side, at logging time).

    Collapse is suspected when a diversity stat drops below `drop` times its highest value so
    far (once that peak reached `min_peak`), or stays below `floor` from step `floor_after` on
    (a generator that collapsed early, or never spread out, has no peak to fall from; an
    untrained toy2d generator is one blob, and a smoke run of a few steps is not a collapse),
    while D wins: its pairwise win rate ``D_win`` (or, without it, its mean accuracy) is at
    least `win`. Adds ``collapse<tag>`` (0 or 1) to the metrics and prints one warning, naming
    what to try, when a collapse starts; the flag stays on until diversity recovers (D's win
    rate may dip below `win` meanwhile). Peaks count only from step `warmup_steps` (and
    `first_step`): an
    untrained generator's noise is more diverse than any data, so a peak taken then makes every
    later (healthy) drop look like collapse; and a fall never counts while the samples are at
    least as diverse as the data (a ratio of 1 or more). `state_dict` is what a checkpoint
    keeps of it.
    """

    def __init__(
        self,
        drop: float = 0.5,
        win: float = 0.8,
        min_peak: float = 0.2,
        floor: float = 0.1,
        floor_after: int = 100,
        warn: Callable[[str], None] | None = None,
        warmup_steps: int = 0,
        warned_elsewhere: Callable[[str], bool] = lambda tag: False,
        first_step: int = 0,
    ) -> None:
        self.drop, self.win, self.min_peak, self.floor = drop, win, min_peak, floor
        # a run's monitor counts nothing before step 100 (`HealthMonitor`): early on the
        # samples swing as G first moves (CycleGAN's default at 200 steps: diversity 0.53,
        # 0.22 at step 50, then 0.50 at step 100 and 1.02 at 200, D winning 95 %)
        self.first_step = first_step
        # a collapse another monitor already named (it began while D lost): flagged, not named
        self.warned_elsewhere = warned_elsewhere
        self.floor_after = floor_after
        self.warmup_steps = warmup_steps
        self.peak: dict[str, float] = {}
        self.active: set[str] = set()
        self.warn = warn or say

    def check(self, step: int, metrics: dict[str, float]) -> list[str]:
        """Update peaks, add the collapse flags to `metrics`, return the warnings issued."""
        messages: list[str] = []
        for key in [k for k in metrics if k.startswith("diversity")]:
            tag = key.removeprefix("diversity")
            value = metrics[key]
            # a NaN mean (fp16: the logging step's fakes overflowed) would stick as the peak
            if step < max(self.warmup_steps, self.first_step) or not math.isfinite(value):
                metrics[f"collapse{tag}"] = 0.0
                continue
            peak = self.peak[tag] = max(self.peak.get(tag, value), value)
            wins = self._wins(metrics, tag)
            # a sample set as spread as the data's (ratio >= 1) is no collapse, however far
            # it fell from an untrained generator's noise peak (StyleGAN's: 2.6, then 1.24)
            fell = peak >= self.min_peak and value < min(self.drop * peak, 1.0)
            stuck = step >= self.floor_after and value < self.floor
            # once flagged, it stays so until diversity recovers: D's win rate hovering at
            # `win` (toy2d, G lr 5e-2: 83, 73, 83, 80 %) would else warn again and again
            winning = wins is not None and wins >= self.win
            collapsed = (fell or stuck) and (winning or tag in self.active)
            metrics[f"collapse{tag}"] = float(collapsed)
            if collapsed and tag not in self.active and not self.warned_elsewhere(tag):
                where = f" ({tag.lstrip('_')})" if tag else ""
                seen = f"peak {peak:.2f}" if fell else f"never above {peak:.2f}"
                line = (
                    f"ganhub: warning: possible mode collapse{where} at step {step}: sample "
                    f"diversity {value:.2f} of the data's ({seen}) while D wins "
                    f"{wins:.0%}; {COLLAPSE_REMEDY}"
                )
                self.warn(line)
                messages.append(line)
            if collapsed:
                self.active.add(tag)
            else:
                self.active.discard(tag)
        return messages

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps, so that a resumed run goes on with the same peaks and does
        not warn again of a collapse it already warned of."""
        peaks = {tag: value for tag, value in self.peak.items() if math.isfinite(value)}
        return {"peak": peaks, "active": sorted(self.active)}

    def load_state_dict(self, state: Any) -> None:
        """Continue from a checkpoint's `state_dict()`. The state is untrusted (state.json): an
        entry that is not what `state_dict` writes is left out (that peak starts afresh)."""
        state = state if isinstance(state, dict) else {}
        peaks, active = state.get("peak"), state.get("active")
        self.peak = {
            tag: float(value)
            for tag, value in (peaks.items() if isinstance(peaks, dict) else ())
            if isinstance(tag, str) and type(value) in (int, float) and math.isfinite(value)
        }
        listed = active if isinstance(active, list) else []
        self.active = {tag for tag in listed if isinstance(tag, str)}

    @staticmethod
    def _wins(metrics: dict[str, float], tag: str) -> float | None:
        if f"D{tag}_win" in metrics:
            return metrics[f"D{tag}_win"]
        accs = [metrics[k] for k in (f"D{tag}_real_acc", f"D{tag}_fake_acc") if k in metrics]
        return sum(accs) / len(accs) if accs else None


__all__ = [
    "COLLAPSE_REMEDY",
    "CollapseMonitor",
    "d_stats",
    "grad_norm",
    "learning_rates",
    "spread",
    "unscaled",
]
