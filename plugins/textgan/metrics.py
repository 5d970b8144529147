"""Text metrics: NLL_oracle / NLL_gen / NLL_div, BLEU-2..5 and self-BLEU (sacrebleu), and the
transfer scores (style accuracy from a classifier trained on the two corpora, self-BLEU against
the source, ref-BLEU against the known true transfer).

BLEU follows the text-GAN literature (Texygen): every generated sentence is scored against a
set of references (the held-out corpus; for self-BLEU the other generated sentences), BLEU-n
being the geometric mean of the 1..n-gram precisions; sacrebleu computes it with
`tokenize="none"` (sentences are already whitespace tokens) and `effective_order=True`.

The metrics decide from the declared `Capabilities` alone and use the systems through the
named interfaces defined below (`INTERFACES`: "text", "likelihood", "oracle",
"style_transfer"); the textgan systems declare them in `capabilities()`, and a third-party
token-sequence system that implements one gets the metric too. Imports no torch at module level: registering the metrics
loads neither torch nor transformers.
"""

from __future__ import annotations

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
        ref_bleu_copy, on up to `n` held-out sentences per style."""


INTERFACES: dict[str, type] = {
    "text": Text,
    "likelihood": Likelihood,
    "oracle": Oracle,
    "style_transfer": StyleTransfer,
}


def bleu(hyps: Sequence[str], refs: Sequence[str], order: int) -> float:
    """Corpus BLEU-`order` (0-100) of `hyps`, each against all of `refs` as references."""
    from sacrebleu.metrics import BLEU

    scorer = BLEU(tokenize="none", max_ngram_order=order, effective_order=True)
    streams = [[r] * len(hyps) for r in refs]
    return float(scorer.corpus_score(list(hyps), streams).score)


def paired_bleu(hyps: Sequence[str], refs: Sequence[str], order: int = 4) -> float:
    """Corpus BLEU (0-100) of hyps[i] against its own reference refs[i]."""
    from sacrebleu.metrics import BLEU

    scorer = BLEU(tokenize="none", max_ngram_order=order, effective_order=True)
    return float(scorer.corpus_score(list(hyps), [list(refs)]).score)


def self_bleu(texts: Sequence[str], order: int) -> float:
    """Self-BLEU: each text against the others (higher: less diverse); the first half is
    scored against the second half so no sentence is its own reference."""
    half = len(texts) // 2
    return bleu(texts[:half], texts[half:], order)


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
            out["nll_oracle"] = float(nll.mean())
            out["oracle_invalid_rate"] = float(invalid.float().mean())
            out["nll_oracle_floor"] = float(oracle.oracle_floor(n_samples).mean())
        return out


BLEU_CAP = 200  # samples and references of text_bleu (Texygen's protocol, capped)


class TextBLEU(Metric):
    """BLEU-2..5 of samples against held-out sentences, and self-BLEU-2..5."""

    name = "text_bleu"
    description = "BLEU-2..5 vs held-out text and self-BLEU-2..5 of samples (sacrebleu)"
    better: ClassVar[Directions] = {
        "bleu*": "higher",
        "self_bleu*": "lower",
    }  # high self-BLEU: samples alike
    min_samples = 2  # self-BLEU scores one half of the samples against the other

    def supports(self, caps: Capabilities) -> bool:
        """Token ids from noise by a system that decodes them and has held-out text ('text')."""
        return caps.modality == "tokens" and caps.samples and caps.can("text")

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Up to 200 samples against the first 200 held-out references, however many samples
        (BLEU's cost is hyps x refs): references tied to the sample count made the score
        grow with it (bleu2 7.7 at 20 samples, 25.8 at 200, for one model)."""
        text = cast("Text", system)
        n = min(n_samples, BLEU_CAP)
        hyps = text.decode(system.sample(n, seed=seed))
        refs = text.held_out_texts(BLEU_CAP)
        out = {}
        for order in (2, 3, 4, 5):
            out[f"bleu{order}"] = bleu(hyps, refs, order)
            out[f"self_bleu{order}"] = self_bleu(hyps, order)
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
    # self_bleu here is content kept from the source; the *_source / *_copy keys are baselines
    better: ClassVar[Directions] = {
        "style_acc": "higher",
        "style_acc_source": None,
        "self_bleu": "higher",
        "ref_bleu": "higher",
        "ref_bleu_copy": None,
    }

    def supports(self, caps: Capabilities) -> bool:
        """Token-sequence systems that score their own transfers ('style_transfer')."""
        return caps.modality == "tokens" and caps.can("style_transfer")

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Transfers of up to `n_samples` held-out sentences of each style, scored."""
        return cast("StyleTransfer", system).scores(n_samples)
