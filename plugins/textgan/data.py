"""Embedded corpora: the oracle LSTM of the text-GAN literature and a two-style template corpus.

The oracle (SeqGAN / Texygen protocol) is an LSTM with embedding and hidden size 32 whose
weights are drawn from N(0, 1) with a fixed seed; its samples are the training corpus and its
log-likelihood scores what a generator writes (NLL_oracle). The style corpus fills templates
with words from a paired lexicon, so the true transfer of every sentence is known.
"""

from __future__ import annotations

import random

import torch
from torch import Tensor, nn


class OracleLSTM(nn.Module):
    """A random LSTM language model over `vocab` tokens (index `vocab` is the start token)."""

    def __init__(self, vocab: int, seed: int, emb: int = 32, hidden: int = 32) -> None:
        super().__init__()
        self.vocab = vocab
        self.embed = nn.Embedding(vocab + 1, emb)
        self.lstm = nn.LSTM(emb, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen))  # N(0, 1), as in SeqGAN's oracle
        self.requires_grad_(False)

    def logits(self, x: Tensor) -> Tensor:
        """Next-token logits (B, L, vocab) for sequences x (B, L) fed after the start token."""
        start = torch.full((len(x), 1), self.vocab, dtype=torch.long, device=x.device)
        h, _ = self.lstm(self.embed(torch.cat([start, x[:, :-1]], 1)))
        return self.out(h)

    @torch.no_grad()
    def nll(self, x: Tensor, batch_size: int = 512) -> Tensor:
        """Per-sequence mean negative log-likelihood in nats per token (B,)."""
        out = []
        for chunk in x.split(batch_size):
            logp = self.logits(chunk).log_softmax(-1)
            out.append(-logp.gather(-1, chunk.unsqueeze(-1)).squeeze(-1).mean(1))
        return torch.cat(out)

    @torch.no_grad()
    def sample(self, n: int, length: int, seed: int) -> Tensor:
        """`n` sequences of `length` tokens (batched; a private generator, global RNG untouched)."""
        gen = torch.Generator().manual_seed(seed)
        tok = torch.full((n, 1), self.vocab, dtype=torch.long)
        state = None
        out = []
        for _ in range(length):
            h, state = self.lstm(self.embed(tok), state)
            probs = self.out(h[:, -1]).softmax(-1)
            tok = torch.multinomial(probs, 1, generator=gen)
            out.append(tok)
        return torch.cat(out, 1)


def oracle_words(ids: Tensor) -> list[str]:
    """Oracle token ids as sentences of words `t<id>` (what the tokenizer is trained on)."""
    return [" ".join(f"t{i}" for i in row) for row in ids.tolist()]


# Paired lexicon of the two-style corpus: (negative, positive), index = style.
LEXICON: tuple[tuple[str, str], ...] = (
    ("awful", "great"), ("bad", "good"), ("disgusting", "delicious"), ("rude", "friendly"),
    ("terrible", "amazing"), ("dirty", "clean"), ("slow", "fast"), ("cold", "warm"),
    ("boring", "lovely"), ("overpriced", "cheap"), ("noisy", "quiet"), ("bland", "tasty"),
)  # fmt: skip
VERBS: tuple[tuple[str, str], ...] = (("hate", "love"), ("regret", "enjoy"), ("avoid", "recommend"))
SUPERLATIVES: tuple[tuple[str, str], ...] = (("worst", "best"), ("saddest", "nicest"))
NOUNS = (
    "food", "service", "staff", "place", "pizza", "coffee", "room", "music", "waiter", "menu",
    "pasta", "soup", "bar", "hotel", "view", "dessert", "bread", "owner", "table", "price",
)  # fmt: skip
TEMPLATES = (
    "the {n} was {a}",
    "the {n} is {a} and the {m} is {b}",
    "i {v} the {n} here",
    "this is the {s} {n} in town",
    "we {v} this place , the {n} was {a}",
    "what a {a} {n}",
    "the {n} was really {a} today",
    "my friends {v} the {m}",
)
STYLES = ("negative", "positive")


def style_corpus(n_per_style: int, seed: int) -> tuple[list[list[str]], list[list[str]]]:
    """Sentences of each style and their true transfers: ([neg, pos], [neg->pos, pos->neg])."""
    rng = random.Random(seed)
    sentences: list[list[str]] = [[], []]
    transfers: list[list[str]] = [[], []]
    for style in (0, 1):
        for _ in range(n_per_style):
            template = rng.choice(TEMPLATES)
            n, m = rng.sample(NOUNS, 2)
            a, b = rng.sample(LEXICON, 2)
            v, s = rng.choice(VERBS), rng.choice(SUPERLATIVES)

            words = [{"n": n, "m": m, "a": a[k], "b": b[k], "v": v[k], "s": s[k]} for k in (0, 1)]
            sentences[style].append(template.format(**words[style]))
            transfers[style].append(template.format(**words[1 - style]))
    return sentences, transfers
