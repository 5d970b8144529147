"""trainer.grad_accum gives the whole batch's update at any batch size it divides.

Each micro-batch drew its own noise: CPU torch gives n values in one draw the same numbers as k
draws of n / k only when each count is a multiple of 16, and a trick's draws (WGAN-GP's
interpolation weights, instance noise) came between one micro-batch's noise and the next. At
batch 30 in 3 micro-batches the D weights were 2e-3 apart after one Adam step (batch 48 in 3
agreed to 1.5e-8). Now every per-sample draw is made once for the whole batch
(`ganhub.engine.draws`), and a batch that is not split draws exactly as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from ganhub.engine.draws import batch_draw, noise_like

from .conftest import TINY_DCGAN, TINY_TOY
from .test_speed_options import Trained, assert_same_training


@pytest.fixture
def train(tmp_path: Path) -> Iterator[Any]:
    """train(overrides) -> Trained (tests/test_speed_options.py), deterministic kernels; the
    process-wide determinism settings are restored after."""
    flags = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
             torch.backends.cudnn.benchmark)  # fmt: skip
    count = iter(range(100))
    yield lambda overrides: Trained(overrides, tmp_path, f"run{next(count)}")
    torch.use_deterministic_algorithms(flags[0])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags[1], flags[2]


AWKWARD = [(30, 3), (40, 2)]  # sizes whose micro-batches are not multiples of 16
TRICKS = {
    "plain": [],
    "instance_noise": ["tricks=[instance_noise]"],
    "gp": ["tricks=[gp]", "loss=wasserstein"],
    "gp_instance_noise": ["tricks=[gp,instance_noise]", "loss=wasserstein"],
}


@pytest.mark.parametrize("tricks", TRICKS)
@pytest.mark.parametrize(("batch", "k"), AWKWARD)
def test_accumulation_at_awkward_batch_sizes_equals_the_whole_batch(
    train: Any, batch: int, k: int, tricks: str
) -> None:
    base = [*TINY_TOY, *TRICKS[tricks], f"trainer.batch_size={batch}"]
    assert_same_training(train(base), train([*base, f"trainer.grad_accum={k}"]))


def test_accumulated_instance_noise_on_channels_last_images_equals_the_whole_batch(
    train: Any,
) -> None:
    """channels_last inputs draw their noise in their own memory order, so the whole-batch
    draw is laid out as they are."""
    base = [*TINY_DCGAN, "model.g_norm=none", "model.d_norm=none", "trainer.channels_last=true",
            "data.source=stacked_digits", "tricks=[gp,instance_noise]", "loss=wasserstein",
            "trainer.batch_size=6"]  # fmt: skip
    assert_same_training(train(base), train([*base, "trainer.grad_accum=3"]))


class _Ctx:
    def __init__(self, micro_batches: int) -> None:
        self.cache: dict[str, Any] = {}
        self.micro, self.micro_batches = 0, micro_batches


def test_a_whole_batch_draw_is_split_in_order_and_an_unsplit_batch_draws_as_before() -> None:
    torch.manual_seed(0)
    whole = torch.randn(30, 2), torch.randn(30, 3, 4, 4)
    torch.manual_seed(0)
    ctx = _Ctx(3)
    parts: list[list[torch.Tensor]] = [[], []]
    for micro in range(3):  # two draws a micro-batch, as noise then a trick's
        ctx.micro = micro
        parts[0].append(batch_draw(ctx, "z", 10, lambda n: torch.randn(n, 2)))
        parts[1].append(noise_like(ctx, "noise", torch.zeros(10, 3, 4, 4)))
    assert all(torch.equal(torch.cat(p), w) for p, w in zip(parts, whole))
    torch.manual_seed(0)
    one = _Ctx(1)
    assert torch.equal(batch_draw(one, "z", 30, lambda n: torch.randn(n, 2)), whole[0])
    assert one.cache == {}  # nothing kept


def test_a_repeated_g_phase_draws_its_new_noise_for_the_whole_batch(tmp_path: Path) -> None:
    """A G phase repeated in a step (balance) has no D phase noise left for its second run:
    it draws new noise, for the whole batch as well."""
    from ganhub.config.resolve import resolve
    from ganhub.engine.loop import train_step
    from ganhub.wiring import make_run

    weights = []
    for k in (1, 3):
        run = make_run(resolve([*TINY_TOY, "trainer.batch_size=30", f"trainer.grad_accum={k}",
                                "loggers=[]", f"out_dir={tmp_path}", f"name=g{k}"]))  # fmt: skip
        next(p for p in run.phases if p.name == "G").repeat = 2
        batches = run.batches()
        for _ in range(2):
            train_step(run, batches)
        weights.append({n: p.detach().clone() for n, p in run.system.named_parameters()})
        run.close()
    for name, value in weights[0].items():
        assert (value - weights[1][name]).abs().max() <= 1e-5, name
