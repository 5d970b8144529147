"""ADA (Karras et al. 2020): p follows the sign of D's real outputs against the loss's
decision threshold, and moves by the real images each discriminator judged."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from ganhub.config.resolve import resolve
from ganhub.engine.context import TrainContext
from ganhub.engine.loop import fit
from ganhub.engine.system import Pair, PhaseOutput
from ganhub.errors import ConfigError
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN
from .test_tricks import D_PHASE, LinearD, make_trick


def _ada(*overrides: str, discriminators: int = 1):  # type: ignore[no-untyped-def]
    trick, _ = make_trick("ada", *overrides, plugin=TINY_DCGAN)
    trick.setup(SimpleNamespace(discriminators=lambda: iter(range(discriminators))))
    return trick


def _ctx(loss: str = "nonsaturating") -> TrainContext:
    return TrainContext(get_hub().losses.get(loss))


def _judged(logits: torch.Tensor, images: int = 16) -> PhaseOutput:
    x = torch.rand(images, 1, 32, 32)
    return PhaseOutput(torch.zeros(()), {}, [Pair(LinearD([0.0]), x, x, real_logits=logits)])


def test_ada_probability_follows_the_sign_of_real_logits() -> None:
    """p rises by images / (kimg * 1000) per interval while E[sign D(real)] > target, and
    falls when below; at p = 0 D inputs pass unchanged, at p = 1 every image is augmented."""
    trick = _ada("trick.ada.kimg=0.1", "trick.ada.interval=2")
    x = torch.rand(16, 1, 32, 32)
    assert torch.allclose(trick.d_input(x, _ctx()), x, atol=1e-5)  # p starts at 0
    overfit = _judged(torch.ones(16), images=16)
    held = (trick.p, trick.rt, trick.sign_sum, trick.count, trick.images)
    for step in (1, 2):
        trick.observe(D_PHASE, overfit, _ctx())
        trick.after_step(step, None)
    # 32 real images judged in one interval, all positive: p += 32 / (0.1 * 1000)
    assert trick.p.item() == pytest.approx(0.32) and trick.rt.item() == 1.0
    # updated in place: a step captured in a CUDA graph reads these same tensors
    now = (trick.p, trick.rt, trick.sign_sum, trick.count, trick.images)
    assert all(a is b for a, b in zip(held, now))
    assert overfit.stats["ada_p"].item() == 0.0  # logged as it was during the phase
    underfit = _judged(-torch.ones(10), images=10)
    for step in (3, 4):
        trick.observe(D_PHASE, underfit, _ctx())
        trick.after_step(step, None)
    assert trick.p.item() == pytest.approx(0.12)
    trick.load_state_dict({**trick.state_dict(), "p": torch.tensor(1.0)})
    y = trick.d_input(x, _ctx())
    assert (y - x).flatten(1).abs().sum(1).gt(0).all()  # every image changed (x-flip at least)


def test_patch_logits_and_several_discriminators_do_not_speed_p_up() -> None:
    """p moved per logit: a PatchGAN's 30x30 outputs per image made it 900x faster, and each
    further discriminator (cyclegan's two) faster again."""
    patches = _ada("trick.ada.kimg=0.1", "trick.ada.interval=1", discriminators=2)
    for _ in range(2):  # one phase per discriminator, 8 images each, 30x30 patches
        patches.observe(D_PHASE, _judged(torch.ones(8, 1, 30, 30), images=8), _ctx())
    patches.after_step(1, None)
    assert patches.p.item() == pytest.approx(8 / 100) and patches.rt.item() == 1.0


def test_the_sign_is_taken_at_the_loss_threshold() -> None:
    """lsgan's D aims at 0 and 1: a D at chance outputs 0.5 everywhere, all positive, and p
    only rose. Against lsgan's threshold (0.5) 0.4 is a fake verdict and 0.6 a real one."""
    trick = _ada("trick.ada.kimg=0.1", "trick.ada.interval=1", "trick.ada.p_init=0.5")
    lsgan = _ctx("lsgan")
    assert lsgan.threshold == 0.5
    trick.observe(D_PHASE, _judged(torch.full((16,), 0.4)), lsgan)
    trick.after_step(1, None)
    assert trick.rt.item() == -1.0 and trick.p.item() == pytest.approx(0.5 - 0.16)
    trick.observe(D_PHASE, _judged(torch.tensor([0.6] * 12 + [0.4] * 4)), lsgan)
    trick.after_step(2, None)
    assert trick.rt.item() == pytest.approx(0.5) and trick.p.item() == pytest.approx(0.34 - 0.16)


def test_a_checkpoint_from_before_images_were_counted_loads() -> None:
    trick = _ada()
    state = trick.state_dict()
    del state["images"]
    trick.load_state_dict({**state, "count": torch.tensor(7.0)})
    assert trick.images.item() == 7.0  # one logit per image, as those D's had


def test_ada_follows_a_domain_that_uses_the_shared_d_loss(workdir: Path) -> None:
    """dcgan's D phase goes through ctx.d_loss, which hands ADA the real logits: p moves."""
    run = make_run(resolve([*TINY_DCGAN, "tricks=[ada]", "trick.ada.kimg=0.01",
                            "trick.ada.interval=1", "trainer.steps=3"]))  # fmt: skip
    fit(run)
    (ada,) = run.tricks
    assert ada.p.item() > 0 or ada.rt.item() < ada.options.target
    assert ada.count.item() == 0 and ada.rt.item() != 0  # sums were read and reset


def test_cyclegan_moves_p_by_the_images_each_discriminator_saw(workdir: Path) -> None:
    """Two PatchGAN discriminators, batch 2: 144 'images' a step before, 2 now."""
    keys = ["plugin=cyclegan", "preset=tiny", "trainer.steps=1", "tricks=[ada]",
            "loss=nonsaturating", "trick.ada.kimg=1", "trick.ada.interval=1",
            "trick.ada.p_init=0.5", "eval.metrics=[]", "trainer.progress=false", "loggers=[]"]  # fmt: skip
    run = make_run(resolve(keys))
    fit(run)
    (ada,) = run.tricks
    moved = abs(ada.p.item() - 0.5)
    assert moved == pytest.approx(run.config.trainer.batch_size / 1000, rel=1e-5), moved


def test_ada_and_diffaug_are_not_stacked() -> None:
    with pytest.raises(ConfigError, match="cannot be combined with: diffaug"):
        resolve([*TINY_DCGAN, "tricks=[ada,diffaug]"])
