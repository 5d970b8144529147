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
