"""textgan never writes <pad> (task=generate): padding is what follows a sentence's <eos>.

MLE ignores padded positions, so nothing taught G not to write <pad>, and a G whose <pad>
logit was high wrote it mid-sentence: in `sample` (generation, sample files, the metrics),
in the Gumbel relaxation of the adversarial phase and in rollouts. Each test gives G a fixed
output bias of +30 at <pad> (it dominates every other logit), which the old sampler followed
nearly everywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from ganhub_textgan.metrics import TextNLL
from ganhub_textgan.networks import gumbel_tokens, lm_logits, rollout_rewards, sample_lm
from ganhub_textgan.phases import mle_loss
from ganhub_textgan.system import TextGenSystem
from ganhub_textgan.vocab import BOS, EOS, PAD
from torch import nn

from ganhub.config.resolve import resolve
from ganhub.engine.loop import train_steps
from ganhub.plugins import get_hub
from ganhub.wiring import make_run
from tests.test_host_syncs import NO_CADENCE, recording

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["plugin=textgan", "preset=tiny", "trainer.progress=false", "loggers=[]",
        "trainer.batch_size=8", "eval.metrics=[]", "adversarial.pretrain_steps=2"]  # fmt: skip
PAD_BIAS = 30.0


def _lines(tmp_path: Path) -> Path:
    """A small text file: its word tokenizer holds fewer ids than the model's vocabulary."""
    path = tmp_path / "lines.txt"
    words = ["the", "cat", "dog", "sat", "ran", "on", "a", "mat", "far", "away", "today"]
    lines = [" ".join(words[(i + k) % len(words)] for k in range(2 + i % 5)) for i in range(80)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _favour_pad(lm: nn.Module) -> None:
    """A fixed output bias of PAD_BIAS at <pad> on G's LM head (not trained)."""
    head = lm.get_output_embeddings()
    assert isinstance(head, nn.Linear) and head.bias is None  # GPT-2's tied head
    bias = torch.zeros(head.out_features, device=head.weight.device)
    bias[PAD] = PAD_BIAS
    head.bias = nn.Parameter(bias, requires_grad=False)


def _system(tmp_path: Path, *extra: str) -> TextGenSystem:
    config = resolve([*TINY, f"data.path={_lines(tmp_path)}", *extra], hub=get_hub())
    torch.manual_seed(0)
    system = TextGenSystem(config)  # type: ignore[arg-type]
    _favour_pad(system.G)
    return system


def _pad_before_eos(ids: torch.Tensor) -> int:
    """How many <pad> tokens stand before their row's first <eos> (or in a row without one)."""
    eos = (ids == EOS).long()
    before = eos.cumsum(1) - eos == 0
    return int(((ids == PAD) & before).sum())


def test_the_pad_bias_dominates_g_logits(tmp_path: Path) -> None:
    """The fixture works: unmasked, <pad> is G's most likely token almost everywhere."""
    system = _system(tmp_path)
    x = system.held_out_ids(8)
    inp = torch.cat([torch.full_like(x[:, :1], BOS), x[:, :-1]], 1)
    raw = system.G(input_ids=inp).logits[..., : system.vocab]
    assert float((raw.argmax(-1) == PAD).float().mean()) > 0.9


def test_generation_writes_no_pad_before_eos(tmp_path: Path) -> None:
    """`sample` (`generate`, `ganhub textgan generate`, sample files, the metrics): <pad> only
    after a sentence's first <eos>, as the corpus has it."""
    system = _system(tmp_path)
    for temperature in (1.0, 0.5, 5.0):
        ids = system.sample(64, seed=1, temperature=temperature)
        assert _pad_before_eos(ids) == 0
    raw = sample_lm(system.G, 64, system.length, system.vocab, known=None)  # no `known` either
    assert int((raw == PAD).sum()) == 0


def test_adversarial_samples_hold_no_pad(tmp_path: Path) -> None:
    """RelGAN's soft tokens give <pad> no weight and never sample it (the D phase's fakes,
    without a graph, and the G phase's, with one); SeqGAN's sampled fakes and rollout
    completions never hold it."""
    system = _system(tmp_path)
    for grad in (False, True):
        with torch.set_grad_enabled(grad):
            soft = gumbel_tokens(system.G, 32, system.length, system.vocab, 3.0, system.known)
        assert int((soft.detach().argmax(-1) == PAD).sum()) == 0
        assert float(soft[..., PAD].abs().sum()) == 0.0
        fake = system._fake(32, step=3)  # zero rows after <eos>, as the reals'
        assert float(fake.detach()[..., PAD].abs().sum()) == 0.0
    (soft * torch.randn_like(soft)).sum().backward()  # through the masked logits: finite
    grads = [p.grad for p in system.G.parameters() if p.grad is not None]
    assert grads and all(bool(torch.isfinite(g).all()) for g in grads)
    seqs = sample_lm(system.G, 16, system.length, system.vocab, known=system.known)
    assert int((seqs == PAD).sum()) == 0
    completions: list[torch.Tensor] = []

    def reward(s: torch.Tensor) -> torch.Tensor:
        completions.append(s)
        return torch.ones(len(s))

    rollout_rewards(system.G, seqs, system.vocab, 2, reward, system.known)
    assert int((torch.cat(completions) == PAD).sum()) == 0


def test_mle_ignores_padding_and_likelihoods_stay_finite(tmp_path: Path) -> None:
    """<pad>'s logit is -inf in MLE's logits too (G is scored on the distribution it samples
    from): MLE, which ignores padded targets, is the cross-entropy over the other ids, and the
    likelihood metrics of padded sentences (held-out data, samples) stay finite."""
    system = _system(tmp_path)
    x = system.held_out_ids(8)
    assert int((x == PAD).sum()) > 0  # padded sentences
    logits = lm_logits(system.G, x, system.vocab, system.known)
    loss = mle_loss(logits, x)
    kept = x != PAD
    other = logits[..., PAD + 1 :].float()[kept]  # ids 1.. : <pad> is id 0
    expected = torch.nn.functional.cross_entropy(other, x[kept] - 1)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    grads = [p.grad for p in system.G.parameters() if p.grad is not None]
    assert grads and all(bool(torch.isfinite(g).all()) for g in grads)
    scores = TextNLL().compute(system, n_samples=16, seed=0)
    assert all(torch.isfinite(torch.tensor(v)) for k, v in scores.items() if k.startswith("nll"))


@pytest.mark.parametrize(
    "keys",
    [
        ["adversarial.estimator=gumbel"],
        ["adversarial.estimator=gumbel", "precision=bf16"],
        ["adversarial.estimator=rollout", "adversarial.rollouts=2"],
    ],
    ids=["gumbel", "gumbel-bf16", "rollout"],
)
def test_training_on_a_file_never_feeds_g_pad(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: list[str]
) -> None:
    """Two MLE steps, then D and G steps: every token G sampled and fed itself (sampling passes
    read one token at a time) is not <pad>, losses stay finite, and the adversarial steps read
    nothing back from the device (the <pad> mask is built there, once per pass)."""
    where = [f"data.path={_lines(tmp_path)}", f"out_dir={tmp_path / 'runs'}", "name=r"]
    run = make_run(resolve([*TINY, *keys, *NO_CADENCE, *where]))
    fed: list[torch.Tensor] = []

    def record(module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids")
        if ids is not None and ids.shape[1] == 1:  # a sampling step's input: the last token
            fed.append(ids.detach().clone())

    try:
        _favour_pad(run.system.G)
        handle = run.system.G.register_forward_pre_hook(record, with_kwargs=True)
        batches = run.batches()
        train_steps(run, batches, 4)  # MLE, MLE, then D and G
        with recording(list(run.optimizers.values()), monkeypatch) as reads:
            train_steps(run, batches, 1)
        handle.remove()
        assert not reads, [r.where() for r in reads]
        assert all(bool(torch.isfinite(p).all()) for p in run.system.G.parameters())
    finally:
        run.close()
    tokens = torch.cat([f.flatten() for f in fed])
    assert len(tokens) > 0 and int((tokens == PAD).sum()) == 0


def test_a_style_transfer_rewrite_never_writes_pad(tmp_path: Path) -> None:
    """task=transfer's greedy rewrite (the transfer D sees, samples and scores) followed a high
    <pad> logit mid-sentence; its soft rows spread weight on it. Neither does now, and the
    reconstruction loss (which ignores padded targets) stays finite."""
    from ganhub_textgan.style_transfer import TransferSystem

    config = resolve(
        ["plugin=textgan", "preset=tiny", "task=transfer", "loggers=[]"], hub=get_hub()
    )
    torch.manual_seed(0)
    system = TransferSystem(config)  # type: ignore[arg-type]
    bias = system.G.final_logits_bias  # BART's output bias, (1, vocab)
    bias[0, PAD] = PAD_BIAS
    x = torch.randint(PAD + 1, system.vocab, (6, system.length))
    x[:, 4], x[:, 5:] = EOS, PAD
    style = torch.tensor([0, 1] * 3)
    y = system.rewrite(x, style, use_ema=False)
    before_eos = (y == EOS).long().cumsum(1) == 0
    assert not (y.eq(PAD) & before_eos).any(), y
    _, soft = system.soft_rewrite(x, style, hard=y)
    assert soft[..., PAD].abs().max() == 0
    loss, per_token = system._self_rec(x, style)
    assert torch.isfinite(loss) and torch.isfinite(per_token)
