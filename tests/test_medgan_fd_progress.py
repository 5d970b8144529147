"""medgan's fd_rotnet on task=progress: what it compares (predicted vs true follow-ups)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from torch import Tensor

pytest.importorskip("monai")

from ganhub.config.resolve import resolve
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

TINY = ["plugin=medgan", "preset=tiny", "task=progress", "trainer.progress=false",
        "loggers=[jsonl]", "model.image_size=32", "eval.metrics=[]"]  # fmt: skip


def _fd(features_a: Tensor, features_b: Tensor) -> float:
    """The Frechet distance of two feature sets."""
    from ganhub.metrics.formulas import frechet_distance, gaussian_stats

    return frechet_distance(gaussian_stats(features_a), gaussian_stats(features_b))


def test_progress_fd_rotnet_scores_predictions_against_the_true_followups(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fd_rotnet compares G's outputs for the held-out baselines with their true follow-ups,
    on the rotnet trained on the follow-ups: a G that returns the follow-ups scores 0, one that
    returns the baselines (predicting no change) scores baseline vs follow-up, not 0."""
    from ganhub.metrics.features import features_of, rotnet

    system = make_run(resolve(TINY)).system
    metric = get_hub().metrics.get("fd_rotnet")
    batch = system.eval_batch(8)
    assert batch.conditions is not None
    monkeypatch.setattr(system, "translate_batched", lambda conditions: batch.images.clone())
    perfect = metric.compute(system, n_samples=8, seed=0)
    assert perfect["n_samples"] == 8 and math.isclose(perfect["fd_rotnet"], 0.0, abs_tol=1e-6)

    monkeypatch.setattr(system, "translate_batched", lambda conditions: conditions.clone())
    unchanged = metric.compute(system, n_samples=8, seed=0)["fd_rotnet"]
    extractor = rotnet(system)
    expected = _fd(
        features_of(extractor, batch.conditions)["features"],
        features_of(extractor, batch.images)["features"],
    )
    assert unchanged > 0.01 and math.isclose(unchanged, expected, rel_tol=1e-9)
    # the real samples the rotnet is trained on are the follow-ups G must produce
    real = system.real_samples(len(batch.images))
    assert real.shape == batch.images.shape
