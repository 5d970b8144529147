"""fairness_l2_rejection reports the samples it rests on (fairness_kept) and warns when they are
too few for the score to mean much."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ganhub.capabilities import Attribute, Capabilities
from ganhub.config.resolve import resolve
from ganhub.engine.system import GANSystem, Phase
from ganhub.metrics import evaluate
from ganhub.metrics.fairness import MIN_KEPT, attribute_target, rejection_sample
from ganhub.plugins import get_hub

from .conftest import TINY_DCGAN

GROUPS = Attribute(
    "digit group", ("01234", "56789"), (0.5, 0.5), "digits", ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9))
)
CONFIG = [*TINY_DCGAN, "data=digits"]


@functools.cache
def pool(digit: int) -> Tensor:
    """Up to 100 embedded digits of one class that the digit classifier reads as that class."""
    from ganhub.data.images import digits
    from ganhub.metrics.featurenet import classify_digits

    images, labels = digits(32)
    some = images[labels == digit][:100]
    return some[classify_digits(some)[0] == digit]


class Digits(GANSystem):
    """A "generator" drawing real digits of the given classes in equal shares."""

    def __init__(self, config: Any, classes: tuple[int, ...]) -> None:
        super().__init__(config)
        self.classes = classes
        self.anchor = nn.Parameter(torch.zeros(1))  # a device to live on

    def capabilities(self) -> Capabilities:
        return Capabilities(modality="image", attribute=GROUPS)

    def phases(self) -> list[Phase]:
        return []

    def data(self) -> Any:
        raise AssertionError("the metric needs no training data")

    def sample(
        self, n: int, *, seed: int | None = None, use_ema: bool = True, labels: Any = None
    ) -> Tensor:
        gen = torch.Generator().manual_seed(seed or 0)
        which = torch.randint(len(self.classes), (n,), generator=gen)
        out = torch.empty(n, 1, 32, 32)
        for k, digit in enumerate(self.classes):
            rows = (which == k).nonzero().squeeze(1)
            images = pool(digit)
            out[rows] = images[torch.randint(len(images), (len(rows),), generator=gen)]
        return out

    def write_samples(
        self, directory: Path, stem: str, *, n: int | None = None, seed: int = 0
    ) -> list[Path]:
        return []


def test_a_one_group_generator_keeps_about_ten_samples_and_says_so() -> None:
    """Only 1s against a uniform target: p̂ = (1, 0), the absent group counts as 1/n, so a 1 is
    kept with probability 1/n; of the 10 n samples drawn about 10 are kept (Poisson(10))."""
    system = Digits(resolve(CONFIG), (1,))
    result = evaluate(system, [get_hub().metrics.get("fairness")], n_samples=100, seed=0)
    kept = result.values["fairness_kept"]
    target = attribute_target(GROUPS, "uniform")
    again, rate = rejection_sample(system, GROUPS, target, 100, 1)  # the metric's seed + 1
    assert kept == len(again) and 1 <= kept <= 30
    assert result.values["fairness_accept"] == rate
    assert result.better["fairness_kept"] is None  # a count, not a score
    [line] = [w for w in result.warnings if "fairness_kept" in w]
    assert f"rests on {int(kept)} kept samples" in line and f"fewer than {MIN_KEPT}" in line
    assert f"standard error up to {0.5 / kept**0.5:.3f}" in line and "eval.n_samples" in line


def test_a_balanced_generator_keeps_all_it_was_asked_for_without_a_warning() -> None:
    system = Digits(resolve(CONFIG), (1, 7))
    result = evaluate(system, [get_hub().metrics.get("fairness")], n_samples=MIN_KEPT, seed=0)
    assert result.values["fairness_kept"] == MIN_KEPT
    assert not [w for w in result.warnings if "fairness_kept" in w]
    assert not [w for w in result.warnings if "fairness_l2," in w]


def test_fairness_l2_on_few_samples_gets_the_same_warning() -> None:
    """`--n 40` gave fairness_l2 (a share from 40 samples: standard error up to 0.079) without
    a word, while fairness_l2_rejection on as few kept samples was warned about."""
    system = Digits(resolve(CONFIG), (1, 7))
    result = evaluate(system, [get_hub().metrics.get("fairness")], n_samples=40, seed=0)
    assert result.values["fairness_other"] == 0.0
    [line] = [w for w in result.warnings if "fairness_l2," in w]
    assert "fairness_l2, fairness_l1, fairness_kl and fairness_l2_corrected rest on 40 " in line
    assert f"fewer than {MIN_KEPT}" in line and "standard error up to 0.079" in line
    assert "eval.n_samples" in line and "\n" not in line
