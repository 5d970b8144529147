"""Anneals planned over a run's length, kept on course when a resume changes that length.

An anneal (a temperature, a noise level) that runs from `start` to the run's last step would,
recomputed for a longer run, jump back to an earlier point: a finished run's instance noise
comes back, textgan's Gumbel temperature heats up again. An anchor, (resumed step, progress
reached), lets it go on from where it was to 1 at the new end instead.
"""

from __future__ import annotations

Anchor = tuple[int, float]


def anneal_progress(step: int, start: int, end: int, anchor: Anchor | None = None) -> float:
    """How far (0 to 1) an anneal over [start, end) is at `step`; from `anchor` = (step,
    progress) on, it goes from that progress to 1 at `end`."""
    done = 0.0
    if anchor is not None and step >= anchor[0]:
        start, done = anchor
    return done + (1 - done) * min(max((step - start) / max(end - start, 1), 0.0), 1.0)


def resumed_anchor(
    step: int, start: int, saved_end: int, end: int, anchor: Anchor | None
) -> Anchor | None:
    """The anchor that continues an anneal planned to `saved_end` (under `anchor`) at `step`
    of a run that now ends at `end` (unchanged when the length is, or it had not begun)."""
    if saved_end == end or step <= start:
        return anchor
    return step, anneal_progress(step, start, saved_end, anchor)


def saved_anchor(value: object) -> Anchor | None:
    """An anchor as a checkpoint's JSON holds it ([step, progress] or null); ValueError if not."""
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"anneal anchor {str(value)[:40]}: expected [step, progress]")
    step, progress = int(value[0]), float(value[1])
    if step < 0 or not 0 <= progress <= 1:
        raise ValueError(f"anneal anchor {str(value)[:40]}: step >= 0, progress in [0, 1]")
    return step, progress


__all__ = [
    "Anchor",
    "anneal_progress",
    "resumed_anchor",
    "saved_anchor",
]
