"""The labels a conditional run's unconditional metrics (fid, fd_<net>, kid, ...) sample with:
drawn at the class frequencies of the real images they compare with, as StyleGAN2-ADA's
metrics draw them, not uniformly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganhub.config.resolve import resolve
from ganhub.engine.system import GANSystem
from ganhub.metrics.features import generate, metric_labels
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")

# digits 0-4 nine times as often as 5-9
IMBALANCED = [*TINY_DCGAN, "model.conditional=true", "data.proportions=[0.9,0.1]"]


class _Perfect:
    """A perfect conditional generator: real images of the asked classes; records the labels."""

    def __init__(self, system: GANSystem) -> None:
        images, labels = system.real_labelled(len(system.data()))
        self.by_class = [images[labels == k] for k in range(10)]
        self.asked: list[torch.Tensor] = []

    def __call__(
        self, n: int, *, seed: int, use_ema: bool = True, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        if labels is None:  # as the systems do: uniform over the classes
            labels = torch.randint(10, (n,), generator=g)
        self.asked.append(labels)
        picks = [self.by_class[int(k)] for k in labels]
        return torch.stack([p[torch.randint(len(p), (1,), generator=g)[0]] for p in picks])


def _shares(labels: torch.Tensor) -> torch.Tensor:
    return torch.bincount(labels, minlength=10).double() / len(labels)


def test_metric_samples_of_a_conditional_run_follow_the_data_class_frequencies(
    tmp_path: Path,
) -> None:
    run = make_run(resolve([*IMBALANCED, f"out_dir={tmp_path}"]))
    system = run.system
    _, real = system.real_labelled(len(system.data()))
    assert _shares(real)[:5].sum() > 0.85  # the data is imbalanced
    perfect = _Perfect(system)
    object.__setattr__(system, "sample", perfect)
    generate(system, 1200, seed=3)
    asked = torch.cat(perfect.asked)
    assert len(asked) == 1200 and len(perfect.asked) == 3  # chunks of 500
    # a seeded pick of the data's labels: its shares within sampling noise (uniform: 0.08 off)
    assert (_shares(asked) - _shares(real)).abs().max() < 0.03
    assert abs(_shares(asked)[:5].sum() - _shares(real)[:5].sum()) < 0.02
    # seeded: the same seed draws the same labels, another seed others
    assert torch.equal(metric_labels(system, 1200, 3), asked)
    assert not torch.equal(metric_labels(system, 1200, 4), asked)


def test_a_perfect_conditional_generator_scores_near_zero_on_imbalanced_data(
    tmp_path: Path,
) -> None:
    """Scored with uniform labels, the real digits of each asked class were 300 away from the
    data on the digits network (the class mix, not the images, differed)."""
    from ganhub.metrics.builtin import FID

    run = make_run(resolve([*IMBALANCED, "eval.features=[digits]", f"out_dir={tmp_path}"]))
    object.__setattr__(run.system, "sample", _Perfect(run.system))
    out = FID().compute(run.system, n_samples=2000, seed=0)
    assert out["fd_digits"] < 20, out


def test_more_samples_than_data_repeat_its_labels_and_validation_uses_held_out_labels(
    tmp_path: Path,
) -> None:
    few = [*TINY_DCGAN, "model.conditional=true", "data.classes=[3,5]", "data.n_shots=6"]
    run = make_run(resolve([*few, "trainer.batch_size=4", f"out_dir={tmp_path}"]))
    system = run.system
    n = len(system.data())
    _, real = system.real_labelled(n)
    labels = metric_labels(system, 2 * n + 3, seed=0)  # the data's labels twice, then 3 of them
    assert len(labels) == 2 * n + 3
    assert torch.equal(torch.bincount(labels[: 2 * n]), 2 * torch.bincount(real))
    run = make_run(resolve([*few, "trainer.batch_size=4", "eval.real=validation",
                            f"out_dir={tmp_path}"]))  # fmt: skip
    held_out = run.system.validation_labels()
    assert held_out is not None and len(held_out) > n
    labels = metric_labels(run.system, len(held_out), seed=0)
    assert torch.equal(labels.sort().values, held_out.sort().values)
