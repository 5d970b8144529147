"""The logged means of the per-step stats are what a plain per-step mean gives: NaN steps,
fp16's skipped steps, odd shapes and dtypes, a group added on the logging step."""

from __future__ import annotations

import math

import pytest
import torch

from ganhub.engine.stats import StatsAccumulator

NAN = float("nan")
# four steps of a D phase (its loss, then its stats) and a G phase; step 2's D loss and D_fake
# are NaN (an fp16 overflow), and the logging step (the last) adds a grad norm group
D_STEPS = [
    {"loss/D": 1.0, "D_real": 0.5, "D_fake": -0.25, "D_win": 0.75},
    {"loss/D": 2.0, "D_real": 1.5, "D_fake": -1.0, "D_win": 1.0},
    {"loss/D": NAN, "D_real": 2.5, "D_fake": NAN, "D_win": 0.5},
    {"loss/D": 4.0, "D_real": -0.5, "D_fake": 0.5, "D_win": 0.25},
]
G_STEPS = [{"loss/G": 3.0, "G_fake_logit": g} for g in (0.125, -0.5, 1.0, 2.0)]


def per_step_means(steps: list[dict[str, float]], skip_nonfinite: bool) -> dict[str, float]:
    """The straightforward mean of each key over the steps (without NaN/Inf if skipped)."""
    out = {}
    for key in steps[0]:
        values = [s[key] for s in steps if not skip_nonfinite or math.isfinite(s[key])]
        out[key] = sum(values) / len(values) if values else NAN
    return out


def as_values(step: dict[str, float], shapes: bool) -> dict[str, torch.Tensor]:
    """Device scalars; with `shapes`, one is a one-element (1,) tensor and one bfloat16."""
    values = {k: torch.tensor(v) for k, v in step.items()}
    if shapes:
        first, *_, last = values
        values[first] = values[first].reshape(1)
        values[last] = values[last].to(torch.bfloat16)
    return values


@pytest.mark.parametrize("skip_nonfinite", [True, False])
@pytest.mark.parametrize("shapes", [False, True])
def test_accumulated_means_equal_per_step_means(skip_nonfinite: bool, shapes: bool) -> None:
    acc = StatsAccumulator(skip_nonfinite=skip_nonfinite)
    loss = torch.ones((), requires_grad=True)
    for interval in range(2):  # a flush starts the next interval afresh
        for step, (d, g) in enumerate(zip(D_STEPS, G_STEPS)):
            d_values = as_values(d, shapes)
            d_values["loss/D"] = d_values["loss/D"] * loss  # a loss with its graph, as logged
            acc.add(d_values, watch="D")
            acc.add(as_values(g, shapes), watch="G")
            if step == len(D_STEPS) - 1:
                acc.add({"grad_norm/D": torch.tensor(8.0 + interval)})
        assert torch.is_grad_enabled()
        assert acc.nonfinite_keys() == ["D"]
        means = acc.flush()
        expected = per_step_means(D_STEPS, skip_nonfinite) | per_step_means(G_STEPS, True)
        expected["grad_norm/D"] = 8.0 + interval
        assert means.keys() == expected.keys()
        for key, value in expected.items():
            assert means[key] == pytest.approx(value, nan_ok=True), key
        acc.clear_nonfinite()
    assert acc.nonfinite_keys() == []


def test_refused_stat_restores_grad_mode() -> None:
    acc = StatsAccumulator(skip_nonfinite=False)
    with pytest.raises(Exception, match="stat 'D_real' is a tensor of shape \\(2,\\)"):
        acc.add({"loss/D": torch.tensor(1.0), "D_real": torch.zeros(2)}, watch="D")
    assert torch.is_grad_enabled()
    acc.add({"loss/D": torch.tensor(1.0), "D_real": torch.tensor(3.0)}, watch="D")
    assert acc.flush() == {"loss/D": 1.0, "D_real": 3.0}
