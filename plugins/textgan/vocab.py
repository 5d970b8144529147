"""The tokenizer: trained locally with `tokenizers` (word-level or byte-level BPE), saved with the run.

The trained tokenizer's JSON travels inside the checkpoint as a byte buffer of `TokenizerStore`
(so `ganhub.load(run_dir)` restores the exact vocabulary even when the corpus file is gone) and
as `tokenizer.json` in the run directory for people and other tools.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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
    """Token ids (N, length): each text's ids, then <eos> (if `eos`), then <pad>; truncated."""
    out = torch.full((len(texts), length), PAD, dtype=torch.long)
    for i, enc in enumerate(tok.encode_batch(list(texts))):
        # a special token's text in a sentence ("<eos>", "<pad>") is a word G cannot write
        # (it would end, pad or restyle the sentence): <unk>, as a word outside the vocabulary
        words = [UNK if t in STRUCTURAL else t for t in enc.ids]
        ids = [*words[: length - 1], EOS] if eos else words[:length]
        out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out


def decode(tok: Tokenizer, ids: Tensor) -> list[str]:
    """Texts of token id rows, cut at the first <eos> (special tokens dropped)."""
    rows = []
    for row in ids.tolist():
        if EOS in row:
            row = row[: row.index(EOS)]
        rows.append(row)
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
