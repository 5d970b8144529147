"""textgan on a small text file: its tokenizer holds fewer ids than the model's vocabulary
(`data.tokenizer_vocab`, 2000 for files), and G never writes or weighs the ids it lacks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from ganhub_textgan.networks import in_sentence, lm_logits
from ganhub_textgan.system import TextGenSystem

from ganhub.config.resolve import resolve
from ganhub.engine.loop import train_steps
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["plugin=textgan", "preset=tiny", "trainer.progress=false", "loggers=[]",
        "trainer.batch_size=8", "eval.metrics=[]", "adversarial.pretrain_steps=2"]  # fmt: skip


def _small_file(tmp_path: Path) -> Path:
    path = tmp_path / "lines.txt"
    path.write_text("\n".join(f"the {w} cat sat on a mat" for w in "abcdefgh" * 10) + "\n")
    return path


def test_a_small_files_model_samples_only_the_tokenizers_ids(tmp_path: Path) -> None:
    config = resolve([*TINY, f"data.path={_small_file(tmp_path)}"], hub=get_hub())
    torch.manual_seed(0)
    system = TextGenSystem(config)  # type: ignore[arg-type]
    known = system.known
    assert known is not None and known < system.vocab == config.data.tokenizer_vocab
    ids = system.sample(64, seed=1)
    assert int(ids.max()) < known  # untrained, an unmasked G drew almost only unknown ids
    soft = system._fake(8, step=5)  # RelGAN's relaxed samples give the rest no weight
    assert float(soft[..., known:].abs().sum()) == 0.0
    # one soft token per position of the sentence, zero rows after its <eos> (as the reals')
    torch.testing.assert_close(soft.sum(-1), in_sentence(soft.argmax(-1)).float())


@pytest.mark.parametrize("estimator", ["gumbel", "rollout"])
def test_training_on_a_small_file_stays_finite(tmp_path: Path, estimator: str) -> None:
    keys = [*TINY, f"data.path={_small_file(tmp_path)}", f"adversarial.estimator={estimator}",
            "adversarial.rollouts=2", "trainer.steps=4", "trainer.log_every=1"]  # fmt: skip
    run = make_run(resolve(keys))
    try:
        train_steps(run, run.batches(), 4)
        assert all(bool(torch.isfinite(p).all()) for p in run.system.G.parameters())
    finally:
        run.close()


def test_the_oracle_tokenizer_fills_the_vocabulary_and_g_writes_its_words_only() -> None:
    system = TextGenSystem(resolve(TINY, hub=get_hub()))  # type: ignore[arg-type]
    known = system.known
    assert isinstance(known, torch.Tensor)
    assert torch.equal(known, system.to_oracle >= 0)  # the specials are masked, nothing else
    assert sorted(system.to_oracle[known].tolist()) == list(range(system.cfg.data.vocab_size))
    x = system.held_out_ids(4)
    probs = lm_logits(system.G, x, system.vocab, known).float().softmax(-1)
    assert float(probs[..., ~known].sum()) == 0.0 and bool(known[system.sample(64, seed=0)].all())


def test_a_bpe_table_below_the_byte_alphabet_is_refused(tmp_path: Path) -> None:
    """data.tokenizer_vocab=200 with bpe crashed training in the embedding (IndexError): the
    byte-level alphabet puts 262 ids in the tokenizer whatever the table's size."""
    from ganhub.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"^data\.tokenizer_vocab=200: a byte-level BPE .* at least 262"
    ):
        resolve([*TINY, f"data.path={_small_file(tmp_path)}", "data.tokenizer=bpe",
                 "data.tokenizer_vocab=200"])  # fmt: skip
    # the embedded style corpus's default table (128) grows to the BPE minimum, and trains
    config = resolve([*TINY, "task=transfer", "data.tokenizer=bpe", "trainer.steps=2"])
    assert config.data.tokenizer_vocab == 262
    run = make_run(config)
    train_steps(run, run.batches(), 2)
    with pytest.raises(ConfigError, match=r"^data\.style_names=\[a,a\]: give the two styles"):
        resolve([*TINY, "task=transfer", "data.style_names=[a,a]"])


def test_bleu_takes_the_same_references_whatever_the_sample_count(tmp_path: Path) -> None:
    """The references were as many as the samples, so bleu grew with --n (7.7 at 20 samples,
    25.8 at 200, for one model) and `ganhub eval --n N` did not compare with training."""
    from ganhub_textgan.metrics import TextBLEU

    run = make_run(resolve([*TINY, f"data.path={_small_file(tmp_path)}"]))
    asked: list[int] = []
    held_out = run.system.held_out_texts
    run.system.held_out_texts = lambda n: asked.append(n) or held_out(n)  # type: ignore[method-assign]
    for n in (4, 40):
        TextBLEU().compute(run.system, n_samples=n, seed=0)
    assert asked == [200, 200]


def test_init_from_a_text_run_starts_from_its_weights_and_tokenizer(workdir: Path) -> None:
    """init_from failed for every textgan run: the tokenizer's byte buffer (any length by
    design, as on resume) was compared by shape with the new model's empty one."""
    from ganhub.engine.loop import fit

    first = _small_file(workdir)
    fit(make_run(resolve([*TINY, f"data.path={first}", "trainer.steps=2", "name=src"])))
    other = workdir / "other.txt"
    other.write_text("\n".join(f"a {w} dog ran to the park" for w in "ijklmnop" * 10) + "\n")
    run = make_run(resolve([*TINY, f"data.path={other}", "trainer.steps=2", "name=ft",
                            f"init_from={workdir / 'runs' / 'src'}"]))  # fmt: skip
    source = make_run(resolve([f"resume={workdir / 'runs' / 'src'}", "trainer.steps=3"]))
    assert torch.equal(run.system.store.blob, source.system.store.blob)  # the source's ids
    own, trained = run.system.G.state_dict(), source.system.G.state_dict()
    assert own.keys() == trained.keys() and all(torch.equal(own[k], trained[k]) for k in own)
    fit(run)


def test_a_resume_or_init_from_keeps_its_tokenizer_and_says_what_it_lacks(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A resume with another data.tokenizer encoded with the checkpoint's tokenizer while the
    config said the new one; an init_from on another text mapped most of it to <unk>, silently."""
    from ganhub.engine.loop import fit
    from ganhub.errors import ConfigError

    fit(make_run(resolve([*TINY, f"data.path={_small_file(workdir)}", "trainer.steps=2",
                          "name=src"])))  # fmt: skip
    source = workdir / "runs" / "src"
    with pytest.raises(ConfigError, match=r"^data\.tokenizer=bpe: this run's weights were "
                       r"trained with a word tokenizer \(\d+ ids\)"):  # fmt: skip
        fit(make_run(resolve([f"resume={source}", "trainer.steps=4", "data.tokenizer=bpe"])))
    other = workdir / "other.txt"
    other.write_text("\n".join(f"a {w} dog ran to the park" for w in "ijklmnop" * 10) + "\n")
    capsys.readouterr()
    fit(make_run(resolve([*TINY, f"data.path={other}", "trainer.steps=2", "name=ft",
                          f"init_from={source}"])))  # fmt: skip
    assert re.search(
        r"textgan: \d+% of the tokens of data\.path are <unk>", capsys.readouterr().err
    )
    # the text it was made from: no warning
    fit(make_run(resolve([f"resume={source}", "trainer.steps=3"])))
    assert "<unk>" not in capsys.readouterr().err


def test_a_resume_with_another_table_names_the_weights_not_the_tokenizer(workdir: Path) -> None:
    """The tokenizer's buffer loads at any length, so it is no shape difference: the message
    named it first ("store.blob is (1058,) in the checkpoint") instead of the embedding."""
    from ganhub.engine.loop import fit
    from ganhub.errors import ConfigError

    fit(make_run(resolve([*TINY, f"data.path={_small_file(workdir)}", "trainer.steps=2",
                          "name=src"])))  # fmt: skip
    # (a resume refuses another data.tokenizer_vocab by name: a new run from the weights)
    with pytest.raises(ConfigError, match=r"differ in shape \((?!store\.blob)") as caught:
        make_run(resolve([*TINY, f"data.path={_small_file(workdir)}", "data.tokenizer=bpe",
                          "data.tokenizer_vocab=300",
                          f"init_from={workdir / 'runs' / 'src'}"]))  # fmt: skip
    assert "store.blob" not in str(caught.value) and "3 differ in shape" in str(caught.value)
