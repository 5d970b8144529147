"""textgan against its reference implementations (RelGAN, Nie et al. 2019; TextGAN-PyTorch's
relgan_instructor.py): the Gumbel estimator's soft tokens come from the pass that samples the
tokens (also with dropout), and the Gumbel estimator trains with RelGAN's relativistic
standard loss (RSGAN) unless the user picks another."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from ganhub_textgan.networks import gumbel, gumbel_tokens, lm_logits
from ganhub_textgan.system import TextGenSystem

import ganhub
from ganhub.config.resolve import resolve
from ganhub.plugins import get_hub

TINY = ["plugin=textgan", "preset=tiny", "trainer.progress=false", "loggers=[]"]


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models: a second intra-op thread only adds barriers (slow on a busy CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _system(*extra: str) -> TextGenSystem:
    config = resolve([*TINY, *extra], hub=get_hub())
    torch.manual_seed(0)
    return TextGenSystem(config)  # type: ignore[arg-type]


def _fed_tokens(system: TextGenSystem, n: int, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft tokens (n, L, V) of one gumbel_tokens call and the tokens G was fed one at a time
    while it sampled them (n, L - 1): the sampled tokens but the last, after <bos>."""
    fed: list[torch.Tensor] = []

    def record(module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids")
        if ids is not None and ids.shape[1] == 1:
            fed.append(ids)

    handle = system.G.register_forward_pre_hook(record, with_kwargs=True)
    try:
        soft = gumbel_tokens(system.G, n, system.length, system.vocab, beta)
    finally:
        handle.remove()
    return soft, torch.cat(fed, 1)[:, 1:]


@pytest.mark.parametrize("beta", [1.0, 100.0])
def test_gumbel_soft_argmax_is_the_sampled_token_with_dropout(beta: float) -> None:
    """At model.dropout=0.1 the sampling pass and a second, teacher-forced pass drew other
    dropout masks: about 4% of the soft tokens' argmaxes were not the tokens sampled."""
    system = _system("model.dropout=0.1")
    system.G.train()
    torch.manual_seed(1)
    soft, fed = _fed_tokens(system, 256, beta)
    assert soft.requires_grad
    assert fed.shape == (256, system.length - 1)
    mismatches = int((soft.argmax(-1)[:, :-1] != fed).sum())
    assert mismatches == 0


def test_gumbel_soft_tokens_without_dropout_are_the_teacher_forced_relaxation() -> None:
    """With dropout 0 the one pass gives what sampling and then a teacher-forced pass with the
    same noise gave: softmax(beta * (logits + g)), and its gradient reaches G."""
    system = _system()
    n, beta = 16, 3.0
    torch.manual_seed(5)
    soft, fed = _fed_tokens(system, n, beta)
    torch.manual_seed(5)  # gumbel_tokens draws all its noise first
    noise = gumbel((n, system.length, system.vocab), torch.device("cpu"), None)
    hard = soft.argmax(-1)
    assert torch.equal(hard[:, :-1], fed)
    expected = F.softmax(beta * (lm_logits(system.G, hard, system.vocab).float() + noise), -1)
    torch.testing.assert_close(soft, expected, atol=1e-5, rtol=1e-4)
    soft[..., 0].sum().backward()
    assert all(p.grad is not None for p in system.G.parameters())


def test_gumbel_estimator_defaults_to_relgans_relativistic_loss() -> None:
    hub = get_hub()
    assert resolve(["plugin=textgan"], hub=hub).loss == "relativistic"
    assert resolve(["plugin=textgan", "preset=relgan"], hub=hub).loss == "relativistic"
    # SeqGAN's D is a classifier (its reward is sigmoid(D)); the transfer's is the reference's
    for keys in (["preset=seqgan"], ["adversarial.estimator=rollout"], ["task=transfer"]):
        assert resolve(["plugin=textgan", *keys], hub=hub).loss == "nonsaturating", keys
    for loss in ("nonsaturating", "hinge"):  # the user's loss wins
        assert resolve(["plugin=textgan", f"loss={loss}"], hub=hub).loss == loss
        assert resolve(["plugin=textgan", "preset=relgan", f"loss={loss}"], hub=hub).loss == loss


def test_a_run_saved_with_the_old_default_keeps_its_loss_when_resumed(workdir: Path) -> None:
    """A Gumbel run of an earlier release trained with nonsaturating (the default then) and
    its config.yaml says so: a resume goes on with it, also when it changes other keys."""
    run_dir = ganhub.train([*TINY, "eval.metrics=[]"])["run_dir"]
    config_file = Path(run_dir) / "config.yaml"
    text = config_file.read_text()
    assert "loss: relativistic" in text
    config_file.write_text(text.replace("loss: relativistic", "loss: nonsaturating"))
    assert resolve([f"resume={run_dir}", "trainer.steps=6"]).loss == "nonsaturating"
