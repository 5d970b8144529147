"""The tokenizer: trained locally with `tokenizers` (word-level or byte-level BPE), saved with the run.

The trained tokenizer's JSON travels inside the checkpoint as a byte buffer of `TokenizerStore`
(so `ganhub.load(run_dir)` restores the exact vocabulary even when the corpus file is gone) and
as `tokenizer.json` in the run directory for people and other tools.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from tokenizers import Tokenizer

PAD, BOS, UNK, EOS = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<unk>", "<eos>", "<style0>", "<style1>")
STYLE0 = 4  # <style0>, <style1>: target-style tokens of the transfer task
# the specials that structure a sentence, never a word of it (<unk> is one: a rare word)
STRUCTURAL = frozenset({PAD, BOS, EOS, STYLE0, STYLE0 + 1})


def train_tokenizer(
    texts: Sequence[str], kind: Literal["word", "bpe"], vocab_size: int
) -> Tokenizer:
    """A word-level or byte-level BPE tokenizer trained on `texts` (at most `vocab_size` ids)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if kind == "word":
        tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        trainer: Any = trainers.WordLevelTrainer(
            vocab_size=vocab_size, special_tokens=list(SPECIALS)
        )
    else:
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=list(SPECIALS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
    if kind == "word":  # a special's text counted as a word moved the specials off ids 0-5
        texts = [" ".join(w for w in t.split() if w not in SPECIALS) for t in texts]
    tok.train_from_iterator(list(texts), trainer=trainer)
    return tok


def tokenizer_kind(tok: Tokenizer) -> str:
    """ "word" or "bpe" (`data.tokenizer`'s names) for the tokenizers ganhub trains, else the
    model type `tokenizers` names."""
    kind = str(json.loads(tok.to_str())["model"]["type"])
    return {"WordLevel": "word", "BPE": "bpe"}.get(kind, kind)


def encode(tok: Tokenizer, texts: Sequence[str], length: int, eos: bool = True) -> Tensor:
    """Token ids (N, length): each text's ids, then <eos> (if `eos`), then <pad>; truncated.

    Batched: the ids of all texts are joined into one tensor and placed, mapped and ended by
    tensor ops; per text only its id list is cut (earlier releases mapped each token in
    Python, which cost about half as long again as the tokenizing on 100,000 sentences)."""
    width = length - 1 if eos else length
    rows = [enc.ids[:width] for enc in tok.encode_batch(list(texts))]
    sizes = torch.tensor([len(r) for r in rows], dtype=torch.long)
    flat = torch.tensor(list(chain.from_iterable(rows)), dtype=torch.long)
    # a special token's text in a sentence ("<eos>", "<pad>") is a word G cannot write (it
    # would end, pad or restyle the sentence): <unk>, as a word outside the vocabulary
    flat = flat.masked_fill(torch.isin(flat, torch.tensor(sorted(STRUCTURAL))), UNK)
    out = torch.full((len(rows), length), PAD, dtype=torch.long)
    positions = torch.arange(length)
    out[positions < sizes[:, None]] = flat  # row-major: each row's ids in order
    if eos and len(rows):
        out[torch.arange(len(rows)), sizes] = EOS
    return out


def decode(tok: Tokenizer, ids: Tensor) -> list[str]:
    """Texts of token id rows, cut at the first <eos> (special tokens dropped)."""
    ended = (ids == EOS).long().cumsum(1) > 0  # the first <eos> and all after it
    rows = ids.masked_fill(ended, PAD).tolist()  # <pad>, a special token, decodes to nothing
    return [t.strip() for t in tok.decode_batch(rows, skip_special_tokens=True)]


class TokenizerStore(nn.Module):
    """Holds the tokenizer JSON as a uint8 buffer, so checkpoints carry the vocabulary."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("blob", torch.zeros(0, dtype=torch.uint8))
        self._tokenizer: Tokenizer | None = None
        # a tokenizer loaded from a checkpoint that the system has not yet compared with its
        # config (a resume or init_from keeps the tokenizer its weights were trained with)
        self.unchecked_load = False
        self.from_checkpoint = False
        self.made: Tokenizer | None = None  # the one `set` stored, before any checkpoint's

    def set(self, tok: Tokenizer) -> None:
        """Store `tok` (its JSON bytes)."""
        data = tok.to_str().encode("utf-8")
        self.blob = torch.frombuffer(bytearray(data), dtype=torch.uint8).clone()
        self._tokenizer = self.made = tok

    @property
    def tokenizer(self) -> Tokenizer | None:
        """The stored tokenizer, or None before one was set or loaded."""
        if self._tokenizer is None and self.blob.numel():
            from tokenizers import Tokenizer

            self._tokenizer = Tokenizer.from_str(bytes(self.blob.cpu().tolist()).decode("utf-8"))
        return self._tokenizer

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        key = prefix + "blob"
        if key in state_dict:  # any length: the loaded tokenizer replaces the built one
            self.blob = state_dict[key].detach().to(torch.uint8).cpu().clone()
            self._tokenizer = None
            self.unchecked_load = self.from_checkpoint = bool(self.blob.numel())
            state_dict = {**state_dict, key: self.blob}
        super()._load_from_state_dict(state_dict, prefix, *args)
