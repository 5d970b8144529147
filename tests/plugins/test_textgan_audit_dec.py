"""textgan user audit (December): SeqGAN's rollout rewards come from D without dropout.

With `model.dropout` above 0 (SeqGAN's own D keeps 0.75 of its units in training), the rollout
estimator scored each completion with D in train mode, so every one of the B x (L-1) x
rollouts rewards drew its own dropout mask: the same sentence got another reward at each call.
LantaoYu/SeqGAN scores rollouts with `dropout_keep_prob: 1.0`; D is now evaluated in eval
mode for the rewards, and keeps its train mode for its own phase.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from ganhub_textgan import system as system_module
from ganhub_textgan.system import TextGenSystem
from torch import Tensor

from ganhub.config.resolve import resolve
from ganhub.plugins import get_hub

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["plugin=textgan", "preset=tiny", "trainer.progress=false", "loggers=[]"]


def _system(*extra: str) -> TextGenSystem:
    config = resolve([*TINY, *extra], hub=get_hub())
    torch.manual_seed(0)
    return TextGenSystem(config)  # type: ignore[arg-type]


@pytest.mark.parametrize("discriminator", ["cnn", "transformer"])
def test_rollout_rewards_score_with_d_in_eval_mode(
    monkeypatch: pytest.MonkeyPatch, discriminator: str
) -> None:
    """The reward a G step hands to the rollouts is one number per sentence at dropout 0.5,
    and D is still in train mode after the step."""
    system = _system(
        "adversarial.estimator=rollout", "model.dropout=0.5", f"model.discriminator={discriminator}"
    )
    system.train()
    seen: list[Any] = []

    def fake_rollouts(lm: Any, seqs: Tensor, vocab: int, n: int, reward: Any, known: Any) -> Tensor:
        seen.append(reward)
        return torch.full(seqs.shape, 0.5)

    monkeypatch.setattr(system_module, "rollout_rewards", fake_rollouts)
    x = system.held_out_ids(8)
    system._rollout_g(x, None)  # type: ignore[arg-type]  # (the context is not read)
    (reward,) = seen
    with torch.no_grad():
        first, second = reward(x), reward(x)
    assert torch.equal(first, second)  # differed at every sentence in train mode
    assert system.D.training  # the D phase keeps its dropout
    torch.manual_seed(1)
    with torch.no_grad():
        trained = torch.sigmoid(system.D(system.one_hot(x)).float())
    assert not torch.equal(trained, first)  # dropout is on in D's own phase
