"""textgan's SeqGAN G step with model.dropout > 0: REINFORCE takes the log-probabilities of the
pass that sampled the tokens (its dropout masks), not of a second pass with other masks."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
from ganhub_textgan.networks import unwritable
from ganhub_textgan.system import TextGenSystem
from torch import Tensor, nn

from ganhub.config.resolve import resolve
from ganhub.plugins import get_hub

pytestmark = pytest.mark.usefixtures("one_thread")

ROLLOUT = [
    "plugin=textgan", "preset=tiny", "trainer.progress=false", "loggers=[]",
    "adversarial.estimator=rollout", "model.dropout=0.5",
]  # fmt: skip


def _sampling_steps(lm: nn.Module, n: int) -> list[tuple[Tensor, Tensor]]:
    """A forward hook on G that keeps (input ids, logits) of each one-token call of batch `n`
    (the pass that samples the G step's sentences; rollouts run with a larger batch)."""
    seen: list[tuple[Tensor, Tensor]] = []

    def hook(module: nn.Module, args: Any, kwargs: dict[str, Any], out: Any) -> None:
        ids = kwargs.get("input_ids")
        if ids is not None and ids.shape == (n, 1):
            if out.logits.requires_grad:
                out.logits.retain_grad()
            seen.append((ids, out.logits))

    lm.register_forward_hook(hook, with_kwargs=True)
    return seen


def test_rollout_g_gradient_is_the_sampling_pass_score_function() -> None:
    """The G loss's gradient reaches the logits that drew each token, as REINFORCE's
    advantage x (one-hot(token) - softmax) per position; earlier releases sampled under
    no_grad and scored the tokens in a second pass that drew other dropout masks."""
    torch.manual_seed(0)
    system = TextGenSystem(resolve(ROLLOUT, hub=get_hub()))  # type: ignore[arg-type]
    system.G.train()
    x = system.token_ids[0][:6]
    steps = _sampling_steps(system.G, len(x))
    out = system._rollout_g(x, None)  # type: ignore[arg-type]  # the rollout G uses no ctx
    out.loss.backward()
    assert len(steps) == system.length
    assert all(logits.requires_grad for _, logits in steps), "the sampling pass had no gradient"
    blocked = unwritable(system.known, system.vocab, x.device)
    scaled = 0
    for (_, logits), (next_ids, _) in itertools.pairwise(steps):  # the token drawn is fed next
        tok = next_ids[:, 0]
        row = logits[:, -1, : system.vocab]
        grad = logits.grad[:, -1, : system.vocab]
        p = row.masked_fill(blocked, float("-inf")).softmax(-1).detach()  # what G samples
        picked = p.gather(1, tok[:, None])
        c = grad.gather(1, tok[:, None]) / (1 - picked)  # -advantage / batch, per sentence
        expected = c * (torch.nn.functional.one_hot(tok, system.vocab) - p)
        torch.testing.assert_close(grad, expected, atol=1e-6, rtol=1e-4)
        scaled += int((c.abs() > 1e-6).sum())
    assert scaled > 0, "no position carried an advantage: the check above proved nothing"
