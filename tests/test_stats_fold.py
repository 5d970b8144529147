"""The running stats of a run without fp16's grad scaler: a call only stacks its values, and
they are summed when read (or every FOLD calls), so the logged means are the same."""

from __future__ import annotations

import math

import pytest
import torch

from ganhub.engine.stats import FOLD, StatsAccumulator


def _values(n: int) -> list[tuple[float, float]]:
    g = torch.Generator().manual_seed(0)
    return [tuple(torch.rand(2, generator=g).tolist()) for _ in range(n)]  # type: ignore[misc]


@pytest.mark.parametrize("n", [1, FOLD - 1, FOLD, 3 * FOLD + 5])
def test_the_means_are_those_of_every_value_added(n: int) -> None:
    stats = StatsAccumulator(skip_nonfinite=False)
    values = _values(n)
    for loss, d in values:
        stats.add({"loss/D": torch.tensor(loss), "D_real": torch.tensor(d)}, watch="D")
    assert len(stats.waiting.get(("loss/D", "D_real"), [])) < FOLD  # memory stays bounded
    means = stats.flush()
    assert means["loss/D"] == pytest.approx(sum(v[0] for v in values) / n, rel=1e-6)
    assert means["D_real"] == pytest.approx(sum(v[1] for v in values) / n, rel=1e-6)
    assert stats.flush() == {} and not stats.waiting  # reset


def test_pending_mid_interval_keeps_counting_and_a_nan_loss_is_found() -> None:
    stats = StatsAccumulator(skip_nonfinite=False)
    for i in range(FOLD + 3):
        stats.add({"loss/G": torch.tensor(float(i))}, watch="G")
    saved = stats.pending()  # a checkpoint between logging steps
    assert saved == {"loss/G": [sum(range(FOLD + 3)), FOLD + 3]}
    assert stats.nonfinite_keys() == []
    stats.add({"loss/G": torch.tensor(math.nan)}, watch="G")  # waiting, not yet summed
    assert stats.nonfinite_keys() == ["G"]
    assert math.isnan(stats.flush()["loss/G"])
