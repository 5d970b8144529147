"""textgan audit: G never writes <bos> or a style token, and a sentence's text never becomes one.

`decode` drops special tokens, so a G that wrote <bos> (or <style0>/<style1>) mid-sentence
printed a shorter sentence, and one that wrote it first printed an empty line:
`ganhub textgan generate RUN --temperature 0.01` on a 6-step run of a 60-line file printed an
empty first line, and 77 of 1000 samples at temperature 1 were empty. MLE never has them as a
target, so nothing taught G not to write them. And a line holding the text "<eos>", "<pad>",
"<bos>" or "<style0>" was encoded as that special token (a sentence cut short, padded in the
middle, or with a target G may not write).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ganhub_textgan.networks import lm_logits
from ganhub_textgan.system import TextGenSystem
from ganhub_textgan.vocab import BOS, EOS, PAD, STYLE0, UNK, encode, train_tokenizer
from torch import nn

from ganhub.config.resolve import resolve
from ganhub.plugins import get_hub

from .test_textgan_pad import _lines

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["plugin=textgan", "preset=tiny", "trainer.progress=false", "loggers=[]",
        "trainer.batch_size=8", "eval.metrics=[]"]  # fmt: skip
NEVER = (PAD, BOS, STYLE0, STYLE0 + 1)
BIAS = 30.0


def _system(tmp_path: Path, favour: int) -> TextGenSystem:
    """A text-file system whose G has a fixed output bias of BIAS at `favour`."""
    config = resolve([*TINY, f"data.path={_lines(tmp_path)}"], hub=get_hub())
    torch.manual_seed(0)
    system = TextGenSystem(config)  # type: ignore[arg-type]
    head = system.G.get_output_embeddings()
    assert isinstance(head, nn.Linear) and head.bias is None  # GPT-2's tied head
    bias = torch.zeros(head.out_features)
    bias[favour] = BIAS
    head.bias = nn.Parameter(bias, requires_grad=False)
    return system


def _before_eos(ids: torch.Tensor, token: int) -> int:
    eos = (ids == EOS).long()
    return int(((ids == token) & (eos.cumsum(1) - eos == 0)).sum())


@pytest.mark.parametrize("token", [BOS, STYLE0, STYLE0 + 1])
def test_g_never_writes_bos_or_a_style_token(tmp_path: Path, token: int) -> None:
    """`sample` (generate, sample files, metrics) and MLE's logits: -inf at the token."""
    system = _system(tmp_path, token)
    ids = system.sample(64, seed=0, temperature=0.01)
    assert _before_eos(ids, token) == 0, ids
    logits = lm_logits(system.G, system.held_out_ids(4), system.vocab, system.known)
    assert bool((logits[..., token] == float("-inf")).all())


def test_special_token_text_in_a_sentence_reads_as_unk() -> None:
    """ "<eos>" in a line no longer ends the sentence there, "<pad>" no longer pads it; a
    literal "<unk>" (as Penn Treebank writes rare words) stays <unk>."""
    texts = ["the cat sat", "a <eos> b <pad> c", "<bos> x <style0> <style1> <unk>"]
    for kind in ("word", "bpe"):
        tok = train_tokenizer(texts, kind, 300)  # type: ignore[arg-type]
        assert [tok.token_to_id(t) for t in ("<pad>", "<bos>", "<unk>", "<eos>")] == [0, 1, 2, 3]
        ids = encode(tok, texts, 12)
        for row in ids.tolist():
            words = row[: row.index(EOS)]
            assert not set(words) & set(NEVER) and EOS not in words, (kind, row)
        if kind == "word":  # byte-level BPE reads them as bytes anyway
            assert ids[2].tolist().count(UNK) == 4  # <bos>, <style0>, <style1> and <unk>


def test_a_resume_that_reshapes_the_networks_is_refused_naming_the_key(workdir: Path) -> None:
    """`resume=RUN data.length=12` (or another tokenizer vocabulary, G width, D...) was refused
    as a tensor-shape mismatch naming no key ("G.transformer.wte.weight is (2000, 16)...")."""
    from ganhub.api import train
    from ganhub.errors import ConfigError

    run = train([*TINY, "trainer.steps=2", "name=t", "adversarial.pretrain_steps=1"])["run_dir"]
    for key, value in (("data.length", 12), ("model.n_embd", 32), ("model.d_filters", 16)):
        with pytest.raises(ConfigError, match=rf"^{key}={value}: .* trained with {key}="):
            resolve([f"resume={run}", "trainer.steps=4", f"{key}={value}"])
    resolve([f"resume={run}", "trainer.steps=4", "model.dropout=0.1"])  # not the shapes: taken


def test_a_transfer_rewrite_never_writes_bos_or_a_style_token(tmp_path: Path) -> None:
    """task=transfer's decoder masked <pad> only: a high <bos> (or style-token) logit made the
    greedy rewrite write it, which `decode` drops (an empty or shorter line). Teacher-forced
    losses keep those ids finite as targets."""
    from ganhub_textgan.style_transfer import TransferSystem

    config = resolve([*TINY, "task=transfer"], hub=get_hub())
    torch.manual_seed(0)
    system = TransferSystem(config)  # type: ignore[arg-type]
    x = torch.randint(PAD + 1, system.vocab, (6, system.length))  # targets hold <bos> too
    x[:, 4], x[:, 5:] = EOS, PAD
    style = torch.tensor([0, 1] * 3)
    for token in (BOS, STYLE0, STYLE0 + 1):
        system.G.final_logits_bias.zero_()
        system.G.final_logits_bias[0, token] = BIAS
        y = system.rewrite(x, style, use_ema=False)
        assert _before_eos(y, token) == 0, (token, y)
        _, soft = system.soft_rewrite(x, style, hard=y)
        assert soft[..., token].abs().max() == 0
        loss, per_token = system._self_rec(x, style)
        assert torch.isfinite(loss) and torch.isfinite(per_token)


def test_a_tiny_temperature_is_greedy_decoding_and_scores_without_nan(tmp_path: Path) -> None:
    """`--temperature 1e-45` divided the logits into +-inf: every sample took the first +inf id
    (empty lines), and the tempered NLL was NaN. Now it is the greedy limit."""
    from ganhub_textgan.networks import end_sentences, sample_lm

    system = _system(tmp_path, EOS)  # <eos> favoured a little below: a real argmax
    system.G.get_output_embeddings().bias.data[EOS] = 0.5  # type: ignore[union-attr]
    n, length, vocab = 8, system.length, system.vocab
    zeros = torch.zeros(n, length, vocab)
    greedy = end_sentences(sample_lm(system.G, n, length, vocab, noise=zeros, known=system.known))
    for seed in (0, 1):
        assert torch.equal(system.sample(n, seed=seed, temperature=1.2e-38), greedy)
    nll = system.nll(system.held_out_ids(8), temperature=1.2e-38)
    assert not bool(nll.isnan().any()), nll
    assert bool((system.nll(greedy, temperature=1.2e-38) == 0).all())


def test_sampling_is_prefix_stable_in_n(tmp_path: Path) -> None:
    """`ganhub textgan generate RUN --n 5` began with other sentences than `--n 3` at the same
    seed: the noise of each position was one (n, vocab) draw. One stream per 16 samples."""
    system = _system(tmp_path, EOS)
    system.G.get_output_embeddings().bias.data[EOS] = 0.0  # type: ignore[union-attr]
    five, three = system.sample(5, seed=3), system.sample(3, seed=3)
    assert torch.equal(five[:3], three)
    assert torch.equal(system.sample(40, seed=3)[:20], system.sample(20, seed=3))
    assert not torch.equal(system.sample(20, seed=4), system.sample(20, seed=3))


def test_a_resume_on_another_file_encodes_it_with_its_tokenizer_and_says_so(
    workdir: Path,
) -> None:
    """A resume with another data.path encoded the new file with a tokenizer made from it,
    then decoded, saved and sampled with the checkpoint's (other words), without a note."""
    from ganhub_textgan.vocab import encode as encode_ids

    from ganhub.api import train
    from ganhub.wiring import make_run

    first = _lines(workdir)
    other = workdir / "other.txt"
    other.write_text("\n".join(f"zebra {w} quokka the cat" for w in "ijklmnop" * 10) + "\n")
    keys = [*TINY, "data.tokenizer=word", "trainer.steps=2", "adversarial.pretrain_steps=1"]
    run_dir = train([*keys, f"data.path={first}", "name=a"])["run_dir"]
    run = make_run(resolve([f"resume={run_dir}", f"data.path={other}", "trainer.steps=3"]))
    try:
        system = run.system
        assert isinstance(system, TextGenSystem)
        saved = system.tokenizer
        assert saved.token_to_id("zebra") is None  # the checkpoint's: made from `first`
        for ids, texts in zip(system.token_ids, system.texts, strict=True):
            assert torch.equal(ids, encode_ids(saved, texts, system.length))
        notes = [w for w in run.preflight() if "resumed with data.path=" in w]
        assert len(notes) == 1 and "of the new text's tokens read as <unk>" in notes[0], notes
        share = float(notes[0].split("% of the new")[0].rsplit(" ", 1)[1])
        assert 30 < share < 70, notes  # zebra, quokka and the letter: unknown
    finally:
        run.close()
    same = make_run(resolve([f"resume={run_dir}", f"data.path={first}", "trainer.steps=3"]))
    try:
        assert not [w for w in same.preflight() if "resumed with" in w]
    finally:
        same.close()


def test_transfer_soft_token_temperature_has_a_float32_safe_floor() -> None:
    """transfer.temperature=1e-5 was taken: its soft tokens are one-hot in float32 (no gradient
    reaches G) and logits / T overflows for smaller values."""
    from ganhub.errors import ConfigError

    with pytest.raises(ConfigError, match=r"transfer\.temperature"):
        resolve([*TINY, "task=transfer", "transfer.temperature=1e-5"], hub=get_hub())
    resolve([*TINY, "task=transfer", "transfer.temperature=0.001"], hub=get_hub())
