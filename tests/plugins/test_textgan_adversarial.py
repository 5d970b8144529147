"""textgan's adversarial phases: D judges real and fake sentences alike after their end, SeqGAN
pretrains D before G's rollout steps, and RelGAN's temperature anneals over its own horizon."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from ganhub_textgan.system import TextGenSystem
from ganhub_textgan.vocab import EOS, PAD
from torch import Tensor, nn

from ganhub.config.resolve import resolve
from ganhub.engine.loop import train_steps
from ganhub.engine.system import PhaseOutput
from ganhub.errors import ConfigError
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["plugin=textgan", "preset=tiny", "trainer.progress=false", "loggers=[]"]
SEQGAN = [*(k for k in TINY if k != "preset=tiny"), "preset=seqgan"]  # a run takes one preset
EOS_AT = 2  # the scripted G ends every sentence at this position


class _Out(dict):  # type: ignore[type-arg]
    """What a transformers causal LM returns: .logits and the cache by key."""

    @property
    def logits(self) -> Tensor:
        return self["logits"]  # type: ignore[no-any-return]


class ScriptedLM(nn.Module):
    """A causal LM whose logits at position t are a learnable row t (whatever the input), with
    <eos> certain at position EOS_AT and impossible elsewhere: each position's gradient is its
    own row's."""

    def __init__(self, length: int, vocab: int) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.randn(length + 1, vocab))

    def forward(
        self, input_ids: Tensor, past_key_values: Any = None, use_cache: bool = False
    ) -> _Out:
        start = 0 if past_key_values is None else int(past_key_values)
        pos = torch.arange(start, start + input_ids.shape[1])
        bias = torch.full((len(pos), self.table.shape[1]), 0.0)
        bias[:, EOS] = torch.where(pos == EOS_AT, 50.0, -50.0)
        bias[:, PAD] = -50.0  # a hole in the sentence is not what these tests look at
        logits = (self.table[pos] + bias).expand(input_ids.shape[0], -1, -1)
        return _Out(logits=logits, past_key_values=start + len(pos))


class Ctx:
    """The two TrainContext members the G phases use."""

    step = 10

    def g_loss(self, d: nn.Module, fake: Tensor, real: Tensor) -> PhaseOutput:
        return PhaseOutput(-d(fake).mean(), {})


def _system(*extra: str) -> TextGenSystem:
    config = resolve([*TINY, *extra], hub=get_hub())
    torch.manual_seed(0)
    system = TextGenSystem(config)  # type: ignore[arg-type]
    system.G = ScriptedLM(system.length, system.vocab)
    return system


def _text_system(*extra: str) -> TextGenSystem:
    """A scripted G on a text file's words: on the oracle task G writes no <eos> at all (the
    oracle's language has none), so the end of a sentence is a text file's matter."""
    words = ("sat", "ran", "lay", "slept", "stood", "sang")
    Path("corpus.txt").write_text("".join(f"the cat {w} on the mat\n" for w in words * 8))
    config = resolve([*TINY, "data.path=corpus.txt", *extra], hub=get_hub())
    torch.manual_seed(0)
    system = TextGenSystem(config)  # type: ignore[arg-type]
    system.G = ScriptedLM(system.length, system.vocab)
    return system


def test_d_sees_a_real_and_a_fake_sentence_alike_after_their_end() -> None:
    """A real sentence has <pad> after <eos>, G writes anything (MLE ignores padding): D's view
    of the two is the same sentence, zero rows after the end."""
    system = _system()
    real = torch.tensor([[7, 8, EOS, PAD, PAD, PAD, PAD, PAD]])
    fake = torch.tensor([[7, 8, EOS, 9, 10, EOS, 11, 12]])
    assert torch.equal(system.one_hot(real), system.one_hot(fake))
    assert float(system.one_hot(real)[:, EOS_AT + 1 :].abs().sum()) == 0
    assert torch.equal(system.one_hot(real)[0, EOS_AT].argmax(), torch.tensor(EOS))


@pytest.mark.parametrize("estimator", ["gumbel", "rollout"])
def test_fakes_have_zero_rows_after_their_first_eos(estimator: str) -> None:
    system = _text_system(f"adversarial.estimator={estimator}")
    with torch.no_grad():
        fake = system._fake(5, 10)
    assert fake.shape == (5, system.length, system.vocab)
    assert bool((fake[:, EOS_AT].argmax(-1) == EOS).all())
    assert float(fake[:, EOS_AT + 1 :].abs().sum()) == 0
    assert bool((fake[:, : EOS_AT + 1].sum(-1) > 0.99).all())


@pytest.mark.parametrize("estimator", ["gumbel", "rollout"])
def test_no_gradient_reaches_g_from_positions_after_the_end(estimator: str) -> None:
    system = _text_system(f"adversarial.estimator={estimator}")
    g_phase = system._gumbel_g if estimator == "gumbel" else system._rollout_g
    x = torch.tensor([[7, 8, EOS, PAD, PAD, PAD, PAD, PAD]] * 6)
    torch.manual_seed(1)
    out = g_phase(x, Ctx())  # type: ignore[arg-type]
    out.loss.backward()
    grad = system.G.table.grad
    assert grad is not None
    assert float(grad[: EOS_AT + 1].abs().sum()) > 0  # the sentence itself is trained
    assert float(grad[EOS_AT + 1 :].abs().sum()) == 0


def test_samples_are_padded_after_their_end_like_the_corpus() -> None:
    system = _text_system()
    ids = system.sample(4, seed=0)
    assert bool((ids[:, EOS_AT] == EOS).all())
    assert bool((ids[:, EOS_AT + 1 :] == PAD).all())


def test_seqgan_pretrains_d_between_mle_and_the_first_rollout_step() -> None:
    config = resolve(["plugin=textgan", "preset=seqgan"])
    adv = config.adversarial
    assert (adv.pretrain_steps, adv.d_pretrain_steps) == (600, 300)
    system = TextGenSystem(config)  # type: ignore[arg-type]
    due = {p.name: [s for s in (599, 600, 899, 900) if p.due(s)] for p in system.phases()}
    assert due == {"mle": [599], "D": [600, 899, 900], "G": [900]}
    # a short run keeps most of what follows MLE for G; Gumbel (RelGAN) pretrains no D
    short = resolve(["plugin=textgan", "preset=seqgan", "trainer.steps=230",
                     "adversarial.pretrain_steps=200"]).adversarial  # fmt: skip
    assert short.d_pretrain_steps == 15
    assert resolve(["plugin=textgan"]).adversarial.d_pretrain_steps == 0
    with pytest.raises(ConfigError, match=r"d_pretrain_steps=9 exceed trainer\.steps=10"):
        resolve([*TINY, "trainer.steps=10", "adversarial.pretrain_steps=2",
                 "adversarial.d_pretrain_steps=9"])  # fmt: skip


def _d_accuracy(system: TextGenSystem, n: int = 256) -> float:
    """Share of real training sentences D scores real and of G's samples it scores fake."""
    real = system.token_ids[0][:n]
    with torch.no_grad():
        fake = system._fake(n, 0)
        hits = torch.cat([system.D(system.one_hot(real)) > 0, system.D(fake) < 0])
    return float(hits.float().mean())


def test_pretrained_d_tells_mle_samples_from_real_sentences() -> None:
    keys = [*SEQGAN, "trainer.steps=42", "adversarial.pretrain_steps=2",
            "adversarial.d_pretrain_steps=40", "trainer.batch_size=32", "optim.D.lr=1e-3",
            "eval.metrics=[]", "data.n_train=512"]  # fmt: skip
    run = make_run(resolve(keys))
    try:
        system = run.system
        assert isinstance(system, TextGenSystem)
        torch.manual_seed(0)
        before = _d_accuracy(system)
        train_steps(run, run.batches(), 42)
        g = [p.detach().clone() for p in system.G.parameters()]
        after = _d_accuracy(system)
    finally:
        run.close()
    assert before < 0.65
    assert after > 0.8
    # the pretraining moved D only: G's next adversarial step is step 42
    assert all(torch.equal(a, b) for a, b in zip(g, system.G.parameters(), strict=True))


def test_gumbel_temperature_anneals_over_relgans_adversarial_iterations() -> None:
    """RelGAN raises beta as max ** (i / N) over its fixed N = 5000 (its code's horizon), so
    after 150 of them beta is 1.15; a 150-step run used to anneal all the way to the maximum."""
    system = _system("trainer.steps=300", "adversarial.pretrain_steps=150")
    assert system.cfg.adversarial.anneal_steps == 5000
    assert system.beta(150) == 1.0
    assert system.beta(300) == pytest.approx(100 ** (150 / 5000))
    assert system.beta(150 + 3000) == pytest.approx(100 ** (3000 / 5000))
    assert system.beta(150 + 5000) == pytest.approx(100.0)
    whole_run = _system("trainer.steps=300", "adversarial.pretrain_steps=150",
                        "adversarial.anneal_steps=null")  # fmt: skip
    assert whole_run.beta(300) == pytest.approx(100.0)
    assert whole_run.beta(225) == pytest.approx(10.0)


def test_seqgan_trains_g_at_one_rate_in_both_phases_and_relgan_lowers_it() -> None:
    """SeqGAN's references train G at one rate throughout (TextGAN-PyTorch's gen_lr, LantaoYu's
    0.01); only RelGAN has a separate adversarial rate (gen_adv_lr 1e-4)."""
    seqgan = resolve(["plugin=textgan", "preset=seqgan"])
    assert (seqgan.optim.G.lr, seqgan.adversarial.g_lr) == (1e-3, None)
    relgan = resolve(["plugin=textgan", "preset=relgan"])
    assert (relgan.optim.G.lr, relgan.adversarial.g_lr) == (1e-3, 1e-4)
    keys = [*SEQGAN, "trainer.steps=6", "eval.metrics=[]",
            "adversarial.pretrain_steps=2", "adversarial.d_pretrain_steps=2"]  # fmt: skip
    run = make_run(resolve(keys))
    try:
        train_steps(run, run.batches(), 6)
        assert run.optimizers["G"].param_groups[0]["lr"] == pytest.approx(1e-3)
    finally:
        run.close()
