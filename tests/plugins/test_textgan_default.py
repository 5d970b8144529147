"""textgan's default (task=generate): MLE, then Gumbel adversarial steps that keep MLE as G's
anchor (objective.mle_weight 1, objective.adv_weight 0.01, G at its MLE rate), while the presets
that name a published method keep that method's adversarial phase (RelGAN: pure RSGAN at
gen_adv_lr 1e-4; SeqGAN: pure REINFORCE at G's one rate)."""

from __future__ import annotations

import pytest
import torch
from ganhub_textgan.system import TextGenSystem, lm_logits, mle_loss

from ganhub.config.resolve import resolve
from ganhub.engine.loop import train_steps
from ganhub.engine.system import PhaseOutput
from ganhub.wiring import make_run

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["plugin=textgan", "preset=tiny", "trainer.progress=false", "loggers=[]",
        "trainer.batch_size=8", "eval.metrics=[]"]  # fmt: skip


def _weights(*keys: str) -> tuple[float, float, float | None, str]:
    c = resolve(["plugin=textgan", *keys])
    return c.objective.mle_weight, c.objective.adv_weight, c.adversarial.g_lr, c.loss  # type: ignore[attr-defined]


def test_default_keeps_mle_as_the_anchor_and_presets_keep_their_methods() -> None:
    assert _weights() == (1.0, 0.01, None, "relativistic")
    assert _weights("preset=relgan") == (0.0, 1.0, 1e-4, "relativistic")
    assert _weights("objective.mle_weight=0") == (0.0, 1.0, 1e-4, "relativistic")
    assert _weights("preset=seqgan") == (0.0, 1.0, None, "nonsaturating")
    # a weight of the user's own stays; the other keeps its derived value
    assert _weights("objective.mle_weight=0.5") == (0.5, 0.01, None, "relativistic")
    assert _weights("objective.adv_weight=0.3") == (1.0, 0.3, None, "relativistic")
    assert _weights("preset=relgan", "objective.mle_weight=2") == (2.0, 0.01, None, "relativistic")


def test_g_objective_is_adv_weight_times_gan_plus_mle_weight_times_mle() -> None:
    config = resolve([*TINY, "objective.adv_weight=0.25", "objective.mle_weight=3"])
    system = TextGenSystem(config)  # type: ignore[arg-type]
    x = system.token_ids[0][:8]
    out = system._with_mle(PhaseOutput(torch.tensor(2.0), {}), x)
    mle = mle_loss(lm_logits(system.G, x, system.vocab, system.known), x)
    assert out.loss.item() == pytest.approx(0.25 * 2.0 + 3 * mle.item(), rel=1e-6)
    assert out.stats["mle_nll"].item() == pytest.approx(mle.item(), rel=1e-6)


def test_default_adversarial_steps_keep_g_at_its_mle_rate() -> None:
    """The switch to a pure adversarial objective at a tenth of G's rate gave up the MLE
    progress that MLE alone keeps; the default's G goes on at optim.G.lr."""
    run = make_run(resolve([*TINY, "trainer.steps=6", "adversarial.pretrain_steps=3"]))
    try:
        batches, rates = run.batches(), []
        for _ in range(6):
            train_steps(run, batches, 1)
            rates.append(float(run.optimizers["G"].param_groups[0]["lr"]))
    finally:
        run.close()
    assert rates == pytest.approx([1e-3] * 6)
