"""The textgan plugin: Gumbel gradients, rollout rewards, tokenizer with the run, metrics,
local model loading, phase windows, and both tasks end to end."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from ganhub_textgan import generate, transfer
from ganhub_textgan.corpus import OracleLSTM, style_corpus
from ganhub_textgan.metrics import bleu, paired_bleu, self_bleu
from ganhub_textgan.nets import gumbel_tokens, rollout_rewards, sample_lm
from ganhub_textgan.system import TextGenSystem, beta_at
from ganhub_textgan.vocab import EOS, PAD, decode, encode, train_tokenizer

import ganhub
from ganhub.cli import main
from ganhub.config.resolve import resolve
from ganhub.engine.system import Phase, PhaseOutput
from ganhub.errors import UsageError
from ganhub.plugins import get_hub

TINY = ["plugin=textgan", "preset=tiny", "trainer.progress=false", "loggers=[jsonl]"]


pytestmark = pytest.mark.usefixtures("one_thread")


def _system(*extra: str) -> TextGenSystem:
    config = resolve([*TINY, *extra], hub=get_hub())
    torch.manual_seed(0)
    system = TextGenSystem(config)  # type: ignore[arg-type]
    return system


def test_gumbel_gradients_reach_g_through_d() -> None:
    system = _system()
    soft = gumbel_tokens(system.G, 4, system.length, system.vocab, beta=2.0)
    assert soft.shape == (4, system.length, system.vocab)
    torch.testing.assert_close(soft.sum(-1), torch.ones(4, system.length))
    system.D.requires_grad_(False)  # the G phase: D's weights frozen, its input differentiable
    system.D(soft).mean().backward()
    grads = [p.grad for p in system.G.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_gumbel_soft_tokens_argmax_are_the_sampled_tokens() -> None:
    system = _system()
    torch.manual_seed(3)
    soft = gumbel_tokens(system.G, 6, system.length, system.vocab, beta=1.0)
    torch.manual_seed(3)
    noise = -torch.log(
        -torch.log(torch.rand(6, system.length, system.vocab).clamp(1e-10, 1 - 1e-7))
    )
    hard = sample_lm(system.G, 6, system.length, system.vocab, noise=noise)
    assert torch.equal(soft.argmax(-1), hard)


def test_rollout_rewards_shape_prefix_and_last_column() -> None:
    system = _system()
    seqs = sample_lm(system.G, 3, system.length, system.vocab, gen=torch.Generator().manual_seed(1))
    calls: list[torch.Tensor] = []

    def reward(s: torch.Tensor) -> torch.Tensor:
        calls.append(s)
        return (s == seqs[0, -1]).float().mean(1)  # any deterministic per-sequence score

    r = rollout_rewards(system.G, seqs, system.vocab, rollouts=2, reward=reward)
    assert r.shape == (3, system.length)
    completions = calls[0].view(3, system.length - 1, 2, system.length)
    for t in range(1, system.length):  # every rollout keeps its prefix of length t
        assert torch.equal(completions[:, t - 1, :, :t], seqs[:, None, :t].expand(3, 2, t))
    torch.testing.assert_close(r[:, -1], reward(seqs))
    torch.testing.assert_close(r[:, :-1], reward(calls[0]).view(3, -1, 2).mean(2))


def test_beta_annealing() -> None:
    assert beta_at(10, 10, 110, 100.0, "exp") == 1.0
    assert beta_at(60, 10, 110, 100.0, "exp") == pytest.approx(10.0)
    assert beta_at(110, 10, 110, 100.0, "exp") == pytest.approx(100.0)
    assert beta_at(60, 10, 110, 101.0, "linear") == pytest.approx(51.0)
    assert beta_at(0, 10, 110, 7.0, "const") == 7.0


def test_phase_window() -> None:
    def loss(batch: object, ctx: object) -> PhaseOutput:
        return PhaseOutput(torch.zeros(()))

    p = Phase("x", "G", loss, interval=2, start=4, stop=9)
    assert [s for s in range(12) if p.due(s)] == [4, 6, 8]
    assert [s for s in range(4) if Phase("y", "G", loss).due(s)] == [0, 1, 2, 3]
    with pytest.raises(ValueError):
        Phase("z", "G", loss, start=5, stop=2)


def test_tokenizer_roundtrip_word_and_bpe() -> None:
    sents, _ = style_corpus(50, seed=0)
    texts = sents[0] + sents[1]
    for kind in ("word", "bpe"):
        tok = train_tokenizer(texts, kind, 300)  # type: ignore[arg-type]
        ids = encode(tok, texts[:5], 64)
        assert ids.shape == (5, 64)
        assert (ids == EOS).sum(1).eq(1).all() and ids[:, -1].eq(PAD).all()
        assert decode(tok, ids) == texts[:5]


def test_metrics_on_hand_computed_cases() -> None:
    # identical corpora: every precision is 1, BLEU 100; disjoint words: 0
    assert bleu(["a b c d"], ["a b c d"], 4) == pytest.approx(100.0)
    assert bleu(["a b c d"], ["e f g h"], 2) == pytest.approx(0.0)
    # "a b c d" vs "a b x d": unigrams 3/4, bigrams 1/3 ("a b"); BLEU-2 = sqrt(3/4 * 1/3) = 0.5
    assert bleu(["a b c d"], ["a b x d"], 2) == pytest.approx(50.0)
    # the best of several references counts (max clipping over references)
    assert bleu(["a b c d"], ["e f g h", "a b c d"], 3) == pytest.approx(100.0)
    assert paired_bleu(["a b x d"], ["a b c d"], order=2) == pytest.approx(50.0)
    assert self_bleu(["a b c d", "a b c d"], 4) == pytest.approx(100.0)
    # oracle NLL: a 3-token oracle scored by hand from its own softmax
    oracle = OracleLSTM(3, seed=0)
    x = torch.tensor([[0, 2, 1]])
    logp = oracle.logits(x).log_softmax(-1)[0]
    by_hand = -(logp[0, 0] + logp[1, 2] + logp[2, 1]) / 3
    torch.testing.assert_close(oracle.nll(x)[0], by_hand)
    assert float(oracle.nll(oracle.sample(500, 3, seed=1)).mean()) < math.log(3)


def test_oracle_is_seeded_and_normal() -> None:
    a, b = OracleLSTM(50, seed=4), OracleLSTM(50, seed=4)
    assert torch.equal(a.out.weight, b.out.weight)
    w = torch.cat([p.flatten() for p in a.parameters()])
    assert abs(float(w.mean())) < 0.1 and abs(float(w.std()) - 1) < 0.1
    assert torch.equal(a.sample(5, 7, seed=2), b.sample(5, 7, seed=2))


def test_local_directory_model(tmp_path: Path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    system = _system()
    torch.manual_seed(5)
    lm = GPT2LMHeadModel(GPT2Config(vocab_size=system.vocab, n_positions=16, n_embd=16,
                                    n_layer=1, n_head=2))  # fmt: skip
    lm.save_pretrained(tmp_path / "lm")
    loaded = _system(f"model.path={tmp_path / 'lm'}").G
    for (name, p), q in zip(lm.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    small = GPT2LMHeadModel(
        GPT2Config(vocab_size=10, n_positions=16, n_embd=16, n_layer=1, n_head=2)
    )
    small.save_pretrained(tmp_path / "small")
    with pytest.raises(UsageError, match="10 token embeddings"):
        _system(f"model.path={tmp_path / 'small'}")


@pytest.mark.slow
def test_generate_run_saves_tokenizer_and_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = ganhub.train([*TINY, f"out_dir={tmp_path}", "name=g"])
    run = Path(summary["run_dir"])
    assert {"nll_oracle", "nll_gen", "nll_div", "bleu2", "self_bleu5"} <= set(summary["metrics"])
    from tokenizers import Tokenizer

    saved = Tokenizer.from_file(str(run / "tokenizer.json"))
    trained = ganhub.load(run)
    assert trained.system.tokenizer.get_vocab() == saved.get_vocab()
    lines = generate(run, n=5)
    assert len(lines) == 5 and all(w.startswith("t") for line in lines for w in line.split())
    capsys.readouterr()
    main(["generate", str(run), "n=3"])
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    with pytest.raises(UsageError, match="task=transfer"):
        transfer(run, ["the food was awful"], to="positive")


@pytest.mark.slow
def test_transfer_run_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summary = ganhub.train([*TINY, "task=transfer", f"out_dir={tmp_path}", "name=t"])
    run = Path(summary["run_dir"])
    assert {"style_acc", "self_bleu", "ref_bleu"} <= set(summary["metrics"])
    out = transfer(run, ["the food was awful", "i hate the soup here"], to="positive")
    assert len(out) == 2 and all(isinstance(s, str) for s in out)
    capsys.readouterr()
    main(["transfer", str(run), "--to", "positive", "the food was bad"])
    assert len(capsys.readouterr().out.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exc:
        main(["transfer", str(run), "--to", "postive", "x"])
    assert exc.value.code == 2 and "did you mean 'positive'" in capsys.readouterr().err


def test_rollout_and_transformer_d_train(tmp_path: Path) -> None:
    summary = ganhub.train([*TINY, "adversarial.estimator=rollout", "model.discriminator=transformer",
                            "loss=hinge", f"out_dir={tmp_path}"])  # fmt: skip
    assert summary["steps"] == 4 and math.isfinite(summary["metrics"]["nll_oracle"])


def test_bad_data_path_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"data\.path"):
        resolve([*TINY, f"data.path={tmp_path / 'missing.txt'}"], hub=get_hub())


@pytest.mark.parametrize("loss", get_hub().losses.names())
def test_every_registered_loss_trains_g_through_the_text_d(loss: str) -> None:
    from ganhub.engine.context import TrainContext

    system = _system()
    ctx = TrainContext(get_hub().losses.get(loss))
    real = system.one_hot(system.token_ids[0][:4])
    d_out = ctx.d_loss(system.D, real, gumbel_tokens(system.G, 4, system.length, system.vocab, 1.0))
    assert torch.isfinite(d_out.loss)
    soft = gumbel_tokens(system.G, 4, system.length, system.vocab, 1.0)
    g_out = ctx.g_loss(system.D, soft, real)
    g_out.loss.backward()
    assert torch.isfinite(g_out.loss)
    assert system.G.transformer.wte.weight.grad is not None


def test_transfer_gets_its_own_step_defaults_and_the_user_still_wins() -> None:
    transfer = resolve(["plugin=textgan", "task=transfer"])
    assert (transfer.trainer.steps, transfer.adversarial.pretrain_steps) == (800, 400)
    generate = resolve(["plugin=textgan"])
    assert (generate.trainer.steps, generate.adversarial.pretrain_steps) == (1200, 600)
    mine = resolve(["plugin=textgan", "task=transfer", "trainer.steps=900"])
    assert (mine.trainer.steps, mine.adversarial.pretrain_steps) == (900, 400)
