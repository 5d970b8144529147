"""Text metrics: NLL_oracle / NLL_gen / NLL_div, BLEU-2..5 and self-BLEU, and the transfer
scores (style accuracy from a classifier trained on the two corpora, self-BLEU against the
source, ref-BLEU against the known true transfer).

`text_bleu` is Texygen's BLEU (Zhu et al. 2018), the one the text-GAN literature reports
(SeqGAN, LeakGAN, RelGAN): nltk's `sentence_bleu` of every generated sentence against all the
reference sentences (the held-out corpus; for self-BLEU every other generated sentence),
uniform weights (1/n for BLEU-n), `SmoothingFunction().method1`, averaged over the sentences.
It is computed here without nltk: per n-gram order a table of each n-gram's largest count over
the references clips the hypotheses' counts (self-BLEU keeps the two largest counts, so that
a sentence is clipped by the others alone), so the cost grows with the number of sentences,
not with their pairs. Sentences are split on whitespace, hypotheses and references alike.
The transfer scores' BLEU (`paired_bleu`) is sacrebleu's corpus BLEU of sentence pairs.

The metrics decide from the declared `Capabilities` alone and use the systems through the
named interfaces defined below (`INTERFACES`: "text", "likelihood", "oracle",
"style_transfer"); the textgan systems declare them in `capabilities()`, and a third-party
token-sequence system that implements one gets the metric too. Imports no torch at module
level: registering the metrics loads neither torch nor transformers.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Protocol, cast

from ganhub.metrics import Directions, Metric

if TYPE_CHECKING:
    from torch import Tensor

    from ganhub.capabilities import Capabilities
    from ganhub.engine.system import GANSystem

# -- the named interfaces (`Capabilities.provides`) textgan defines ---------------------------


class Text(Protocol):
    """'text': token id rows as sentences, and held-out sentences to compare with."""

    def decode(self, ids: Tensor) -> list[str]:
        """Sentences of token id rows (N, L), cut at the first <eos>."""

    def held_out_texts(self, n: int) -> list[str]:
        """Up to `n` held-out sentences."""


class Likelihood(Protocol):
    """'likelihood': G scores token sequences; held-out sentences as token ids."""

    def nll(self, ids: Tensor) -> Tensor:
        """G's per-sequence NLL (B,) in nats per token of id rows (B, L), under the
        distribution `sample` draws from (textgan: at its sampling temperature)."""

    def held_out_ids(self, n: int) -> Tensor:
        """Up to `n` held-out sentences as token ids (n, L)."""


class Oracle(Protocol):
    """'oracle': the data came from a known oracle language model that scores samples."""

    def oracle_nll(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        """The oracle's per-sequence NLL (B,) of model token ids, and which rows (B,) hold
        tokens the oracle cannot emit."""

    def oracle_floor(self, n: int) -> Tensor:
        """The oracle's NLL (n,) of its own held-out sentences (its entropy rate)."""


class StyleTransfer(Protocol):
    """'style_transfer': transfers of held-out sentences into the other style, scored."""

    def scores(self, n: int) -> dict[str, float]:
        """style_acc, style_acc_source, self_bleu and, with known true transfers, ref_bleu and
        ref_bleu_copy, on up to `n` held-out sentences per style; n_samples: how many were
        scored (both styles)."""


INTERFACES: dict[str, type] = {
    "text": Text,
    "likelihood": Likelihood,
    "oracle": Oracle,
    "style_transfer": StyleTransfer,
}


# -- BLEU as Texygen computes it (nltk sentence_bleu, method1 smoothing, averaged) -----------

EPSILON = 0.1  # nltk SmoothingFunction().method1: a zero n-gram match count counts as 0.1
Gram = tuple[str, ...]


def ngrams(words: Sequence[str], order: int) -> Counter[Gram]:
    """How often each `order`-gram occurs in `words`."""
    return Counter(zip(*(words[i:] for i in range(order)), strict=False))


def closest_length(lengths: Counter[int], hyp_len: int, *, own: bool = False) -> int:
    """The reference length nearest `hyp_len` (the shorter on a tie, as nltk); `own`: one of
    the sentences of that length is the hypothesis itself and is left out."""
    near = [r for r, k in lengths.items() if not (own and r == hyp_len and k == 1)]
    return min(near, key=lambda r: (abs(r - hyp_len), r))


def sentence_bleu(matches: Sequence[int], hyp_len: int, ref_len: int) -> float:
    """BLEU-n (0-1) of one sentence from its clipped n-gram matches, n = len(matches)."""
    if hyp_len == 0 or matches[0] == 0:  # nltk: no unigram in common scores 0
        return 0.0
    logs = 0.0
    for k, m in enumerate(matches, start=1):
        total = max(1, hyp_len - k + 1)
        logs += math.log((m or EPSILON) / total)
    penalty = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return penalty * math.exp(logs / len(matches))


def mean_bleu(
    matches: Sequence[Sequence[int]],
    hyp_lens: Sequence[int],
    ref_lens: Sequence[int],
    orders: Sequence[int],
) -> dict[int, float]:
    """Mean sentence BLEU (0-100) per order, from each sentence's matches of orders 1..max."""
    out = {}
    for n in orders:
        each = map(sentence_bleu, (m[:n] for m in matches), hyp_lens, ref_lens)
        out[n] = 100 * math.fsum(each) / len(hyp_lens)
    return out


def bleu_scores(
    hyps: Sequence[str], refs: Sequence[str], orders: Sequence[int] = (2, 3, 4, 5)
) -> dict[int, float]:
    """Texygen's BLEU-n (0-100) for each n in `orders`: the mean over `hyps` of each one's
    sentence BLEU against all of `refs`."""
    if not hyps or not refs:
        raise ValueError(f"BLEU needs hypotheses and references, got {len(hyps)} and {len(refs)}")
    hyp_words = [h.split() for h in hyps]
    ref_words = [r.split() for r in refs]
    matches: list[list[int]] = [[] for _ in hyp_words]
    for k in range(1, max(orders) + 1):
        most: dict[Gram, int] = {}  # each k-gram's largest count in any one reference
        for words in ref_words:
            for gram, count in ngrams(words, k).items():
                if count > most.get(gram, 0):
                    most[gram] = count
        for words, row in zip(hyp_words, matches, strict=True):
            row.append(sum(min(c, most.get(g, 0)) for g, c in ngrams(words, k).items()))
    lengths = Counter(map(len, ref_words))
    hyp_lens = [len(w) for w in hyp_words]
    return mean_bleu(matches, hyp_lens, [closest_length(lengths, h) for h in hyp_lens], orders)


def self_bleu_scores(
    texts: Sequence[str], orders: Sequence[int] = (2, 3, 4, 5)
) -> dict[int, float]:
    """Texygen's self-BLEU-n (0-100; higher: the texts are more alike): the mean over `texts`
    of each one's sentence BLEU against all the others."""
    if len(texts) < 2:
        raise ValueError(f"self-BLEU needs 2 texts or more, got {len(texts)}")
    words = [t.split() for t in texts]
    matches: list[list[int]] = [[] for _ in words]
    for k in range(1, max(orders) + 1):
        counts = [ngrams(w, k) for w in words]
        # each k-gram's two largest counts over the texts (equal on a tie): the largest over
        # the others is the second for the text holding the first, else the first
        first: dict[Gram, int] = {}
        second: dict[Gram, int] = {}
        for sentence in counts:
            for gram, count in sentence.items():
                top = first.get(gram, 0)
                if count >= top:
                    second[gram], first[gram] = top, count
                elif count > second.get(gram, 0):
                    second[gram] = count
        for sentence, row in zip(counts, matches, strict=True):
            row.append(
                sum(
                    min(c, second.get(g, 0) if c == first[g] else first[g])
                    for g, c in sentence.items()
                )
            )
    lengths = Counter(map(len, words))
    lens = [len(w) for w in words]
    return mean_bleu(matches, lens, [closest_length(lengths, n, own=True) for n in lens], orders)


def bleu(hyps: Sequence[str], refs: Sequence[str], order: int) -> float:
    """Texygen's BLEU-`order` (0-100) of `hyps` against all of `refs` (`bleu_scores`)."""
    return bleu_scores(hyps, refs, (order,))[order]


def self_bleu(texts: Sequence[str], order: int) -> float:
    """Texygen's self-BLEU-`order` (0-100), each text against all the others."""
    return self_bleu_scores(texts, (order,))[order]


def paired_bleu(hyps: Sequence[str], refs: Sequence[str], order: int = 4) -> float:
    """Corpus BLEU (0-100, sacrebleu) of hyps[i] against its own reference refs[i]."""
    from sacrebleu.metrics import BLEU

    scorer = BLEU(tokenize="none", max_ngram_order=order, effective_order=True)
    return float(scorer.corpus_score(list(hyps), [list(refs)]).score)


class TextNLL(Metric):
    """NLL_oracle (oracle on G's samples), NLL_gen (G on held-out data), NLL_div (G on its own)."""

    name = "text_nll"
    description = "NLL_oracle, NLL_gen, NLL_div in nats per token (task=generate)"
    # nll_div measures G's confidence in its own samples (diversity), not quality; the floor
    # is the oracle's own entropy
    better: ClassVar[Directions] = {
        "nll_gen": "lower",
        "nll_oracle": "lower",
        "oracle_invalid_rate": "lower",
        "nll_div": None,
        "nll_oracle_floor": None,
    }

    def supports(self, caps: Capabilities) -> bool:
        """Token ids from noise by a system that scores sequences ('likelihood'); the oracle
        keys need 'oracle' too."""
        return caps.modality == "tokens" and caps.samples and caps.can("likelihood")

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Scores on `n_samples` samples (and as many held-out sentences)."""
        lm = cast("Likelihood", system)
        fake = system.sample(n_samples, seed=seed)
        out = {
            "nll_gen": float(lm.nll(lm.held_out_ids(n_samples)).mean()),
            "nll_div": float(lm.nll(fake).mean()),
        }
        if system.capabilities().can("oracle"):
            oracle = cast("Oracle", system)
            nll, invalid = oracle.oracle_nll(fake)
            # the oracle scores sequences of its own tokens: a sample holding a special token
            # (which the oracle cannot emit) is counted by oracle_invalid_rate, not scored as
            # oracle token 0; none valid: NaN (never a best checkpoint)
            valid = nll[~invalid.to(nll.device)]
            out["nll_oracle"] = float(valid.mean()) if len(valid) else float("nan")
            out["oracle_invalid_rate"] = float(invalid.float().mean())
            out["nll_oracle_floor"] = float(oracle.oracle_floor(n_samples).mean())
        return out


# text_bleu's budget, reported as the counts n_samples and n_real. The references stay the
# same 200 whatever the sample count: tied to it, BLEU grew with it (bleu2 7.7 at 20 samples,
# 25.8 at 200, for one model; Texygen takes its first 500). Its cost grows with the sentences
# (about 0.1 s for 1,000 samples, 0.5 s for 5,000, on a 2-core CPU), so up to 10,000 samples
# are scored, each eval.n_samples of a default run.
BLEU_REFERENCES = 200
BLEU_SAMPLES = 10_000


class TextBLEU(Metric):
    """Texygen's BLEU-2..5 of samples against held-out sentences, and self-BLEU-2..5."""

    name = "text_bleu"
    description = "BLEU-2..5 vs held-out text and self-BLEU-2..5 of samples (Texygen's)"
    # high self-BLEU: samples alike. "self_bleu[0-9]*", not "self_bleu*": style_transfer's
    # self_bleu (against the source, no score) must not read as this one ("lower is better")
    better: ClassVar[Directions] = {
        "bleu*": "higher",
        "self_bleu[0-9]*": "lower",
    }
    min_samples = 2  # self-BLEU scores each sample against the others

    def supports(self, caps: Capabilities) -> bool:
        """Token ids from noise by a system that decodes them and has held-out text ('text')."""
        return caps.modality == "tokens" and caps.samples and caps.can("text")

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Up to `BLEU_SAMPLES` samples, each against the first `BLEU_REFERENCES` held-out
        sentences (BLEU) and against all the other samples (self-BLEU); n_samples and n_real
        say how many were scored."""
        text = cast("Text", system)
        hyps = text.decode(system.sample(min(n_samples, BLEU_SAMPLES), seed=seed))
        refs = text.held_out_texts(BLEU_REFERENCES)
        orders = (2, 3, 4, 5)
        bleus = bleu_scores(hyps, refs, orders)
        selfs = self_bleu_scores(hyps, orders)
        out = {}
        for order in orders:
            out[f"bleu{order}"] = bleus[order]
            out[f"self_bleu{order}"] = selfs[order]
        out["n_samples"] = float(len(hyps))
        out["n_real"] = float(len(refs))
        return out


def train_style_classifier(ids: Tensor, styles: Tensor, vocab: int, steps: int = 300) -> Tensor:
    """A bag-of-words logistic regression (V, 2) weights, trained full-batch with Adam."""
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(0)
    w = (0.01 * torch.randn(vocab + 1, 2, generator=gen)).requires_grad_()
    bow = bag_of_words(ids, vocab)
    opt = torch.optim.Adam([w], lr=0.1)
    with torch.enable_grad():
        for _ in range(steps):
            loss = F.cross_entropy(bow @ w[:-1] + w[-1], styles)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return w.detach()


def bag_of_words(ids: Tensor, vocab: int) -> Tensor:
    """Token counts (N, V) of id rows (special tokens are counted too; the pad column is zeroed)."""
    import torch

    counts = torch.zeros(len(ids), vocab).scatter_add_(1, ids.cpu(), torch.ones(ids.shape))
    counts[:, 0] = 0
    return counts


def classify(w: Tensor, ids: Tensor, vocab: int) -> Tensor:
    """Predicted style (N,) of id rows."""
    return (bag_of_words(ids, vocab) @ w[:-1] + w[-1]).argmax(1)


class StyleTransferScores(Metric):
    """Style accuracy, self-BLEU vs source and ref-BLEU vs the true transfer (task=transfer)."""

    name = "style_transfer"
    description = "style accuracy, self-BLEU (vs source) and ref-BLEU (vs true transfer)"
    # self_bleu is how much of the source a transfer keeps (content preservation), no score on
    # its own: copying the input maximises it (100, against 43.5 for the true transfers of the
    # template corpus), so "higher is better" made trainer.keep_best=self_bleu keep the copy
    # model. Read it beside style_acc. The *_source / *_copy keys are baselines.
    better: ClassVar[Directions] = {
        "style_acc": "higher",
        "style_acc_source": None,
        "self_bleu": None,
        "ref_bleu": "higher",
        "ref_bleu_copy": None,
    }

    def supports(self, caps: Capabilities) -> bool:
        """Token-sequence systems that score their own transfers ('style_transfer')."""
        return caps.modality == "tokens" and caps.can("style_transfer")

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Transfers of up to `n_samples` held-out sentences of each style, scored;
        `n_samples` reports how many (both styles)."""
        return cast("StyleTransfer", system).scores(n_samples)
