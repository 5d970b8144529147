"""class_kl counts every class: one the generator ignores, and one it draws that was never asked."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from ganhub.config.resolve import resolve
from ganhub.metrics.conditional import ClassAccuracy, class_kl
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN


def test_class_kl_counts_every_class_on_known_values() -> None:
    asked = torch.tensor([50, 50, 0, 0])
    # each class at its share: 0
    assert class_kl(torch.tensor([50, 50, 0, 0]), asked) == pytest.approx(0, abs=1e-12)
    # class 1 ignored, its samples drawn as class 0: 1 * ln(1 / 0.5)
    assert class_kl(torch.tensor([100, 0, 0, 0]), asked) == pytest.approx(math.log(2))
    # 60/40 between the asked classes: 0.6 ln(0.6 / 0.5) + 0.4 ln(0.4 / 0.5)
    expected = 0.6 * math.log(1.2) + 0.4 * math.log(0.8)
    assert class_kl(torch.tensor([60, 40, 0, 0]), asked) == pytest.approx(expected)
    # class 1 ignored, its samples drawn as class 2, never asked: not dropped. The asked
    # part is all class 0 (ln 2), and rejecting the half of class 2 costs ln(100 / 50)
    assert class_kl(torch.tensor([50, 0, 50, 0]), asked) == pytest.approx(2 * math.log(2))
    # 1% of another class: the KL of 50/99, 49/99 to 1/2, 1/2, plus ln(100 / 99)
    a, b = 50 / 99, 49 / 99
    expected = a * math.log(a / 0.5) + b * math.log(b / 0.5) + math.log(100 / 99)
    assert class_kl(torch.tensor([50, 49, 1, 0]), asked) == pytest.approx(expected)
    # nothing of an asked class: ln(2 n), as if half a sample were
    assert class_kl(torch.tensor([0, 0, 0, 100]), asked) == pytest.approx(math.log(200))
    # a single class asked (an adapted run's): samples of another class count
    one = torch.tensor([0, 100, 0, 0])
    assert class_kl(one, one) == 0 and class_kl(torch.tensor([0, 50, 50, 0]), one) > 0.69


class _Digits:
    """A 'generator' of real digits: the asked one, or the one `instead` maps it to."""

    def __init__(self, system: Any, instead: dict[int, int]) -> None:
        images, labels = system.real_labelled(3000)
        self.by_class = [images[labels == k] for k in range(10)]
        self.instead = instead

    def __call__(self, n: int, *, labels: torch.Tensor, **_: Any) -> torch.Tensor:
        picks = [self.instead.get(int(k), int(k)) for k in labels]
        return torch.stack([self.by_class[k][i % 50] for i, k in enumerate(picks)])


def _class_kl(system: Any, digits: Any, instead: dict[int, int]) -> float:
    object.__setattr__(system, "sample", _Digits(digits, instead))
    return ClassAccuracy().compute(system, n_samples=200, seed=0)["class_kl"]


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("digits")
    return make_run(resolve([*TINY_DCGAN, "model.conditional=true", f"out_dir={out}"])).system


def test_a_generator_that_ignores_a_class_scores_worse(digits: Any) -> None:
    """All ten digits trained: the sevens drawn as ones cost their share."""
    perfect = _class_kl(digits, digits, {})
    assert perfect < 0.02
    assert _class_kl(digits, digits, {7: 1}) > perfect + 0.05


def test_samples_of_a_class_the_run_does_not_train_on_count(digits: Any, tmp_path: Path) -> None:
    """A run that trains on the eights alone (its data holds no other label, as an adapted
    run's) keeps its ten labels: samples asked for an eight are classified among all ten.
    Those that come out as threes were dropped from the histogram, which then held the eights
    alone: class_kl was 0 for a generator that never drew an eight."""
    eights = make_run(
        resolve([*TINY_DCGAN, "model.conditional=true", f"out_dir={tmp_path}"])
    ).system
    object.__setattr__(eights, "real_labels", lambda n, seed=0: torch.full((n,), 8))
    perfect = _class_kl(eights, digits, {})
    assert perfect < 0.05  # the digit classifier's own mistakes on real eights
    assert _class_kl(eights, digits, {8: 3}) > 5 > perfect  # ln(2 n) = ln 400
