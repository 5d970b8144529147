"""The fairness metric when no sample is read as any value of the attribute (all "other")."""

from __future__ import annotations

import math

import pytest
import torch

from ganhub import metrics as metrics_module
from ganhub.config.resolve import resolve
from ganhub.metrics.fairness import discrepancies

from ..test_fairness import BIASED_DIGITS, HUB, LOW_DIGITS, Sevens


class Zeros(Sevens):
    """A "generator" of 0s judged on digits 0-3: every sample is the value "01"."""


def test_samples_of_no_value_score_worse_than_any_generator_of_the_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every discrepancy was NaN: ganhub eval showed nan, a study could not rank the run
    (Optuna fails a trial whose value is NaN) and trainer.keep_best never kept it nor passed it.
    Now they are defined, worse than a generator of one value, with one warning saying why."""
    monkeypatch.setattr(metrics_module, "_WARNED", set())
    fairness = HUB.metrics.get("fairness")
    blobs = fairness.compute(Sevens(resolve(BIASED_DIGITS), {7: 1.0}), n_samples=100, seed=0)
    capsys.readouterr()  # the warning is shown once per process: checked below
    one_value = fairness.compute(Zeros(resolve(BIASED_DIGITS), {0: 1.0}), n_samples=100, seed=0)
    capsys.readouterr()  # its warning of few samples kept by rejection (fairness_kept)
    keys = ["fairness_l2", "fairness_l1", "fairness_kl", "fairness_l2_corrected",
            "fairness_l2_rejection"]  # fmt: skip
    assert blobs["fairness_other"] == 1.0 and one_value["fairness_other"] < 0.1
    assert all(math.isfinite(blobs[k]) for k in keys), blobs
    assert all(blobs[k] > one_value[k] for k in keys), (blobs, one_value)
    assert math.isclose(blobs["fairness_l2"], math.sqrt(1.5))  # √(1 + ‖(½, ½)‖²)
    monkeypatch.setattr(metrics_module, "_WARNED", set())
    fairness.compute(Sevens(resolve(BIASED_DIGITS), {7: 1.0}), n_samples=100, seed=0)
    (line,) = [x for x in capsys.readouterr().err.splitlines() if "fairness" in x]
    assert line.startswith("ganhub: warning: metric 'fairness': no sample was read as any value")
    assert f"'{LOW_DIGITS.name}'" in line


def test_the_worst_value_is_above_every_distribution_over_the_values() -> None:
    target = torch.tensor([0.9, 0.1], dtype=torch.float64)
    worst = discrepancies(torch.zeros(2, dtype=torch.float64), target)
    for share in torch.linspace(0, 1, 11, dtype=torch.float64):
        found = discrepancies(torch.stack([share, 1 - share]), target)
        assert all(worst[k] > found[k] for k in found), (share, found, worst)
