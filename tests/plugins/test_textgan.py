"""The textgan plugin: Gumbel gradients, rollout rewards, tokenizer with the run, metrics,
phase windows, declared capabilities, n_critic over the adversarial phases, renamed keys,
torch-free registration, the contract kit and both tasks end to end. Its data (model
directories, text files, token shards) is tested in test_textgan_data.py."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ganhub_textgan import generate, transfer
from ganhub_textgan.data import OracleLSTM, style_corpus
from ganhub_textgan.metrics import bleu, paired_bleu, self_bleu
from ganhub_textgan.networks import (
    end_sentences,
    gumbel_tokens,
    lm_logits,
    rollout_rewards,
    sample_lm,
)
from ganhub_textgan.style_transfer import TransferSystem
from ganhub_textgan.system import TextGenSystem, beta_at
from ganhub_textgan.vocab import EOS, PAD, decode, encode, train_tokenizer

import ganhub
from ganhub import testing
from ganhub.cli import main
from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit
from ganhub.engine.system import Phase, PhaseOutput
from ganhub.errors import ConfigError, UsageError
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

from ..conftest import TINY_TOY

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


@pytest.mark.slow
def test_generate_run_saves_tokenizer_and_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = ganhub.train([*TINY, f"out_dir={tmp_path}", "name=g"])
    run = Path(summary["run_dir"])
    assert {"nll_oracle", "nll_gen", "nll_div", "bleu2", "self_bleu5"} <= set(summary["metrics"])
    from tokenizers import Tokenizer

    saved = Tokenizer.from_file(str(run / "tokenizer.json"))  # written by save_assets
    trained = ganhub.load(run, plugin="textgan")
    assert trained.system.tokenizer.get_vocab() == saved.get_vocab()
    lines = generate(run, n=5)
    assert len(lines) == 5 and all(w.startswith("t") for line in lines for w in line.split())
    capsys.readouterr()
    main(["textgan", "generate", str(run), "--n", "3", "--seed", "1"])
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    # the old name and the old n=3 item still work for one release, each with a notice
    main(["generate", str(run), "n=3"])
    out = capsys.readouterr()
    assert len(out.out.strip().splitlines()) == 3
    assert "use 'ganhub textgan generate'" in out.err and "write --n 3" in out.err
    with pytest.raises(UsageError, match="task=transfer"):
        transfer(run, ["the food was awful"], to="positive")
    with pytest.raises(SystemExit) as exc:  # the wrong task: one line, exit 2
        main(["textgan", "transfer", str(run), "--to", "positive", "x"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and "task=generate run" in err


@pytest.mark.slow
def test_transfer_run_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summary = ganhub.train([*TINY, "task=transfer", f"out_dir={tmp_path}", "name=t"])
    run = Path(summary["run_dir"])
    assert {"style_acc", "self_bleu", "ref_bleu"} <= set(summary["metrics"])
    assert (run / "tokenizer.json").is_file()
    out = transfer(run, ["the food was awful", "i hate the soup here"], to="positive")
    assert len(out) == 2 and all(isinstance(s, str) for s in out)
    assert len(transfer(run, "the food was awful", to="positive")) == 1  # one sentence, not 18
    with pytest.raises(UsageError, match="texts must be sentences"):
        transfer(run, [5], to="positive")  # type: ignore[list-item]
    with pytest.raises(UsageError, match="text 2 is empty"):
        transfer(run, ["fine words", "  "], to="positive")
    with pytest.raises(UsageError, match=r"^to='2': choose negative or positive \(or 0 or 1\)"):
        transfer(run, ["fine words"], to="2")
    capsys.readouterr()
    main(["textgan", "transfer", str(run), "--to", "positive", "the food was bad"])
    assert len(capsys.readouterr().out.strip().splitlines()) == 1
    main(["transfer", str(run), "--to", "positive", "the food was bad"])  # the old name
    old = capsys.readouterr()
    assert len(old.out.strip().splitlines()) == 1 and "ganhub textgan transfer" in old.err
    with pytest.raises(SystemExit) as exc:
        main(["textgan", "transfer", str(run), "--to", "postive", "x"])
    assert exc.value.code == 2 and "did you mean 'positive'" in capsys.readouterr().err
    with pytest.raises(UsageError, match="task=generate"):
        generate(run, n=2)


@pytest.mark.slow
def test_commands_refuse_a_run_of_another_domain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = ganhub.train([*TINY_TOY, "trainer.steps=2", f"out_dir={tmp_path}"])["run_dir"]
    with pytest.raises(UsageError, match="'toy2d' run; this command needs a 'textgan' run"):
        generate(run, n=2)
    with pytest.raises(SystemExit) as exc:
        main(["textgan", "generate", run])
    assert exc.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


def test_rollout_and_transformer_d_train(tmp_path: Path) -> None:
    summary = ganhub.train([*TINY, "adversarial.estimator=rollout", "model.discriminator=transformer",
                            "loss=hinge", f"out_dir={tmp_path}"])  # fmt: skip
    assert summary["steps"] == 4 and math.isfinite(summary["metrics"]["nll_oracle"])


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


def _transfer_system(*extra: str) -> TransferSystem:
    config = resolve([*TINY, "task=transfer", *extra], hub=get_hub())
    torch.manual_seed(0)
    return TransferSystem(config)  # type: ignore[arg-type]


def _style_margin(system: TransferSystem, x: torch.Tensor, style: torch.Tensor) -> float:
    """Share of sentences D scores higher with their own style than with the other one."""
    rows = system.one_hot(x)
    with torch.no_grad():
        own = system.D(system.d_view(rows, style))
        other = system.D(system.d_view(rows, 1 - style))
    return float((own > other).float().mean())


def _train_d(system: TransferSystem, ctx: object, steps: int) -> list[float]:
    """`steps` D-phase updates on random training batches of 32; the D losses."""
    ids, styles = system.train_ids
    opt = torch.optim.Adam(system.D.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        pick = torch.randint(len(ids), (32,), generator=gen)
        out = system._d((ids[pick], styles[pick]), ctx)  # type: ignore[arg-type]
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss))
    return losses


def test_transfer_d_learns_style_not_soft_tokens() -> None:
    """The D phase (Style Transformer's conditional D) has soft rows and real sentences on both
    sides, so the only thing it can learn is style: after a few steps it ranks held-out real
    sentences higher with their own style than with the other, though G is untrained."""
    from ganhub.engine.context import TrainContext

    system = _transfer_system()
    ctx = TrainContext(get_hub().losses.get("nonsaturating"))
    test_x, test_style = system.test_ids(16)
    assert 0.2 < _style_margin(system, test_x, test_style) < 0.8  # untrained: near chance
    losses = _train_d(system, ctx, 80)
    assert sum(losses[-5:]) < sum(losses[:5])
    assert _style_margin(system, test_x, test_style) > 0.9


def test_transfer_g_adversarial_term_moves_transfers_toward_the_target_style() -> None:
    """With D a style critic (frozen), G steps on the adversarial term alone raise D's score of
    the soft transfers in their target style (the G phase's `G_fake_logit`)."""
    from ganhub.engine.context import TrainContext

    system = _transfer_system("objective.self_weight=0", "objective.cycle_weight=0")
    ctx = TrainContext(get_hub().losses.get("nonsaturating"))
    _train_d(system, ctx, 80)
    system.D.requires_grad_(False)
    ids, styles = system.train_ids
    batch = (ids[:16], styles[:16])
    opt = torch.optim.Adam(system.G.parameters(), lr=3e-3)
    scores = []
    for _ in range(10):
        out = system._g(batch, ctx)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        scores.append(float(out.stats["G_fake_logit"]))
    assert scores[-1] > scores[0] + 1.0


def test_transfer_gets_its_own_step_defaults_and_the_user_still_wins() -> None:
    transfer = resolve(["plugin=textgan", "task=transfer"])
    assert (transfer.trainer.steps, transfer.adversarial.pretrain_steps) == (800, 400)
    generate = resolve(["plugin=textgan"])
    assert (generate.trainer.steps, generate.adversarial.pretrain_steps) == (1200, 600)
    mine = resolve(["plugin=textgan", "task=transfer", "trainer.steps=900"])
    assert (mine.trainer.steps, mine.adversarial.pretrain_steps) == (900, 400)
    # a short run pretrains at most half its steps, so it reaches the adversarial phases
    short = resolve(["plugin=textgan", "trainer.steps=2"])
    assert short.adversarial.pretrain_steps == 1
    given = resolve(["plugin=textgan", "trainer.steps=50", "adversarial.pretrain_steps=40"])
    assert given.adversarial.pretrain_steps == 40
    with pytest.raises(ConfigError, match=r"pretrain_steps=60 exceeds trainer\.steps=50"):
        resolve(["plugin=textgan", "trainer.steps=50", "adversarial.pretrain_steps=60"])


def test_tokenizer_vocabulary_default_follows_the_data_and_the_user_wins(tmp_path: Path) -> None:
    assert resolve(["plugin=textgan"]).data.tokenizer_vocab == 506  # 500 oracle tokens + 6
    assert resolve(["plugin=textgan", "data.vocab_size=50"]).data.tokenizer_vocab == 56
    assert resolve(["plugin=textgan", "task=transfer"]).data.tokenizer_vocab == 128
    lines = tmp_path / "lines.txt"
    lines.write_text("a b\nc d\n")
    assert resolve(["plugin=textgan", f"data.path={lines}"]).data.tokenizer_vocab == 2000
    assert resolve(["plugin=textgan", "data.tokenizer_vocab=300"]).data.tokenizer_vocab == 300


@pytest.mark.parametrize(
    ("item", "new"),
    [
        ("adversarial.d_steps=3", "tricks=[n_critic] trick.n_critic.n=K"),
        ("adversarial.mle_weight=0.5", "objective.mle_weight"),
        ("transfer.self_weight=2", "objective.self_weight"),
        ("transfer.cycle_weight=2", "objective.cycle_weight"),
        ("transfer.adv_weight=0.5", "objective.adv_weight"),
    ],
)
def test_old_keys_are_refused_with_the_new_name(item: str, new: str) -> None:
    with pytest.raises(ConfigError) as exc:
        resolve(["plugin=textgan", item])
    message = str(exc.value)
    assert new in message and item.split("=")[0] in message and "\n" not in message


def test_loss_weights_live_in_objective() -> None:
    config = resolve(["plugin=textgan", "task=transfer", "objective.adv_weight=0.3"])
    assert config.objective.adv_weight == 0.3  # type: ignore[attr-defined]
    assert resolve(["plugin=textgan", "objective.mle_weight=0.5"]).objective.mle_weight == 0.5  # type: ignore[attr-defined]


def test_n_critic_repeats_the_adversarial_d_phase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """textgan's D phase has a start window (after pretraining) and interval 1: the core
    n_critic trick repeats it; before the window it does not run at all."""
    calls: list[int] = []
    original = TextGenSystem._d

    def counted(self: TextGenSystem, x: torch.Tensor, ctx: object) -> PhaseOutput:
        calls.append(ctx.step)  # type: ignore[attr-defined]
        return original(self, x, ctx)  # type: ignore[arg-type]

    monkeypatch.setattr(TextGenSystem, "_d", counted)
    base = [*TINY, "trainer.steps=4", "adversarial.pretrain_steps=2", f"out_dir={tmp_path}",
            "eval.metrics=[]"]  # fmt: skip
    fit(make_run(resolve([*base, "name=one"])))
    assert calls == [2, 3]
    calls.clear()
    fit(make_run(resolve([*base, "tricks=[n_critic]", "trick.n_critic.n=3", "name=three"])))
    assert calls == [2, 2, 2, 3, 3, 3]


def test_capabilities_are_declared_and_the_metrics_read_them(tmp_path: Path) -> None:
    hub = get_hub()
    oracle = _system().capabilities()
    assert (oracle.modality, oracle.task, oracle.samples) == ("tokens", "generate", True)
    assert oracle.provides == {"text", "likelihood", "oracle"}
    lines = tmp_path / "lines.txt"
    lines.write_text("\n".join(f"sentence number {i}" for i in range(40)))
    files = _system(f"data.path={lines}").capabilities()
    assert files.provides == {"text", "likelihood"}  # no oracle to score against
    config = resolve([*TINY, "task=transfer"], hub=hub)
    styles = TransferSystem(config).capabilities()  # type: ignore[arg-type]
    assert (styles.modality, styles.task, styles.samples) == ("tokens", "transfer", False)
    assert styles.provides == {"style_transfer"}
    supports = {
        name: [caps for caps in (oracle, files, styles) if hub.metrics.get(name).supports(caps)]
        for name in ("text_nll", "text_bleu", "style_transfer")
    }
    assert supports == {
        "text_nll": [oracle, files],
        "text_bleu": [oracle, files],
        "style_transfer": [styles],
    }


def test_the_metrics_on_a_file_corpus_skip_only_the_oracle_keys(tmp_path: Path) -> None:
    lines = tmp_path / "lines.txt"
    lines.write_text("\n".join(f"the {w} was here today" for w in "abcdefghijklmnopqrst" * 4))
    system = _system(f"data.path={lines}")
    values = testing.check_metric(get_hub().metrics.get("text_nll"), system, n_samples=8)
    assert {"nll_gen", "nll_div"} <= set(values) and "nll_oracle" not in values
    assert "bleu2" in testing.check_metric(get_hub().metrics.get("text_bleu"), system, n_samples=8)


def test_registration_imports_no_torch_or_transformers() -> None:
    code = (
        "import json, sys\n"
        "import ganhub_textgan\n"
        "import ganhub_textgan.domain, ganhub_textgan.config, ganhub_textgan.metrics\n"
        "import click\n"
        "got = []\n"
        "ganhub_textgan.register_domains(lambda name, obj: got.append(name))\n"
        "ganhub_textgan.register_metrics(lambda name, obj: got.append(name))\n"
        "cli = click.Group()\n"
        "ganhub_textgan.register_commands(cli)\n"
        "assert len(got) == 4 and {'textgan', 'generate', 'transfer'} <= set(cli.commands)\n"
        "heavy = ('torch', 'transformers', 'tokenizers', 'sacrebleu')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


@pytest.mark.slow
def test_transfer_task_keeps_the_contract(tmp_path: Path) -> None:
    """The generate task is checked by tests/test_contract.py (preset=tiny)."""
    testing.check_domain("textgan", ["preset=tiny", "task=transfer"], workdir=tmp_path)


def test_sample_temperature_sharpens_and_scores_the_tempered_distribution() -> None:
    system = _system()
    assert system.cfg.sample.temperature == 1.0
    # the default draws exactly what the untempered Gumbel-max sampler draws (<pad> after <eos>)
    plain = sample_lm(system.G, 16, system.length, system.vocab, seed=5, known=system.known)
    plain = end_sentences(plain)
    assert torch.equal(system.sample(16, seed=5), plain)
    # lower temperature: less entropy in what G writes (its NLL of its own samples)
    div = [float(system.nll(system.sample(256, seed=1, temperature=t), temperature=t).mean())
           for t in (0.3, 1.0, 3.0)]  # fmt: skip
    assert div[0] < div[1] < div[2]
    # near 0 it is greedy decoding: every seed writes the same sentences
    assert torch.equal(system.sample(4, seed=1, temperature=1e-6),
                       system.sample(4, seed=2, temperature=1e-6))  # fmt: skip
    # the NLL is of softmax(logits / T), by hand
    ids = system.held_out_ids(8)
    logp = (lm_logits(system.G, ids, system.vocab, system.known).float() / 0.5).log_softmax(-1)
    by_hand = -logp.gather(-1, ids.unsqueeze(-1)).squeeze(-1).mean(1)
    torch.testing.assert_close(system.nll(ids, temperature=0.5), by_hand, check_dtype=False)
    # the config key sets the default of both
    tempered = _system("sample.temperature=0.5")
    assert torch.equal(tempered.sample(8, seed=3), system.sample(8, seed=3, temperature=0.5))
    torch.testing.assert_close(tempered.nll(ids), by_hand, check_dtype=False)
    with pytest.raises(ConfigError, match=r"sample\.temperature"):
        resolve([*TINY, "sample.temperature=0"], hub=get_hub())
    with pytest.raises(ConfigError, match=r"sample\.temperature=0\.5 is for task=generate"):
        resolve([*TINY, "task=transfer", "sample.temperature=0.5"], hub=get_hub())
    with pytest.raises(UsageError, match="temperature=-1"):
        system.sample(2, temperature=-1)


@pytest.mark.slow
def test_generate_takes_a_temperature(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = ganhub.train([*TINY, f"out_dir={tmp_path}"])["run_dir"]
    greedy = generate(run, n=3, seed=0, temperature=1e-6)
    assert greedy == generate(run, n=3, seed=1, temperature=1e-6)
    tempered = ganhub.load(run, plugin="textgan", overrides=["sample.temperature=1e-6"])
    assert tempered.system.decode(tempered.sample(3, seed=2)) == greedy
    capsys.readouterr()
    main(["textgan", "generate", run, "--n", "2", "--temperature", "0.7"])
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    with pytest.raises(SystemExit) as exc:
        main(["textgan", "generate", run, "--temperature", "0"])
    assert exc.value.code == 2 and "--temperature" in capsys.readouterr().err
    with pytest.raises(UsageError, match="temperature=0"):
        generate(run, n=1, temperature=0)
    with pytest.raises(UsageError, match="temperature=inf: must be above 0 and at most 100"):
        generate(run, n=1, temperature=float("inf"))  # printed empty lines
    with pytest.raises(SystemExit) as exc:
        main(["textgan", "generate", run, "--temperature", "inf"])
    assert exc.value.code == 2 and "--temperature" in capsys.readouterr().err
