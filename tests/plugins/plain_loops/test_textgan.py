"""textgan's step (task=generate) equals benchmarks/plain_loops/textgan.py's hand-written
RelGAN / SeqGAN step, which benchmarks/overhead.py times against it: the same weights after
the same batches, noise and dropout."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plugins.plain_loops.helpers import assert_same_weights, train_both

pytestmark = pytest.mark.usefixtures("one_thread")

# a tiny oracle corpus and models; 2 MLE steps, then the adversarial ones (beta annealed over
# RelGAN's 3,000 adversarial steps)
TINY = [
    "data.vocab_size=20", "data.length=8", "data.n_train=128", "data.n_test=32",
    "model.n_layer=1", "model.n_embd=16", "model.n_head=2", "model.d_embd=16",
    "model.d_filters=8", "trainer.batch_size=8", "trainer.steps=10",
    "adversarial.pretrain_steps=2",
]  # fmt: skip


@pytest.mark.parametrize(
    "keys",
    [
        [],  # the default: 0.01 x RSGAN + 1 x MLE at G's MLE rate
        ["preset=relgan"],  # RelGAN's pure RSGAN at its adversarial rate
    ],
    ids=["default", "relgan"],
)
def test_gumbel_steps_equal_the_plain_relgan_loop(workdir: Path, keys: list[str]) -> None:
    """Two MLE steps, then three D + Gumbel-softmax G steps, dropout on in G and D."""
    run, plain = train_both("textgan", [*TINY, "model.dropout=0.1", *keys], steps=5)
    s = run.system
    assert plain.step_count == 5 and plain.beta() > 1
    assert (plain.mle_weight, plain.adv_weight) == ((0.0, 1.0) if keys else (1.0, 0.01))
    assert_same_weights([("G", s.G, plain.G), ("D", s.D, plain.D)])


def test_rollout_steps_equal_the_plain_seqgan_loop(workdir: Path) -> None:
    """REINFORCE with Monte-Carlo rollouts and the MLE term kept in the adversarial G loss,
    after one step of D's pretraining (then two G steps)."""
    keys = [*TINY, "adversarial.estimator=rollout", "adversarial.rollouts=2",
            "objective.mle_weight=0.5", "adversarial.d_pretrain_steps=1"]  # fmt: skip
    run, plain = train_both("textgan", keys, steps=5)
    assert plain.g_start == 3 and plain.step_count == 5
    s = run.system
    assert_same_weights([("G", s.G, plain.G), ("D", s.D, plain.D)])
