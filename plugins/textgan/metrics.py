"""Text metrics: NLL_oracle / NLL_gen / NLL_div, BLEU-2..5 and self-BLEU (sacrebleu), and the
transfer scores (style accuracy from a classifier trained on the two corpora, self-BLEU against
the source, ref-BLEU against the known true transfer).

BLEU follows the text-GAN literature (Texygen): every generated sentence is scored against a
set of references (the held-out corpus; for self-BLEU the other generated sentences), BLEU-n
being the geometric mean of the 1..n-gram precisions; sacrebleu computes it with
`tokenize="none"` (sentences are already whitespace tokens) and `effective_order=True`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ganhub.engine.system import GANSystem
from ganhub.metrics import Metric


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

    def supports(self, system: GANSystem) -> bool:
        """task=generate systems."""
        from ganhub_textgan.system import TextGenSystem

        return isinstance(system, TextGenSystem)

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Scores on `n_samples` samples (and as many held-out sentences)."""
        from ganhub_textgan.system import TextGenSystem

        assert isinstance(system, TextGenSystem)
        fake = system.sample(n_samples, seed=seed)
        test = system.token_ids[1][:n_samples]
        out = {
            "nll_gen": float(system.nll(test).mean()),
            "nll_div": float(system.nll(fake).mean()),
        }
        if system.oracle is not None:
            nll, invalid = system.oracle_nll(fake)
            out["nll_oracle"] = float(nll.mean())
            out["oracle_invalid_rate"] = float(invalid.float().mean())
            entropy = system.oracle.nll(system.oracle_ids[1][:n_samples].to(system.device))
            out["nll_oracle_floor"] = float(entropy.mean())  # the oracle's own entropy rate
        return out


class TextBLEU(Metric):
    """BLEU-2..5 of samples against held-out sentences, and self-BLEU-2..5."""

    name = "text_bleu"
    description = "BLEU-2..5 vs held-out text and self-BLEU-2..5 of samples (sacrebleu)"

    def supports(self, system: GANSystem) -> bool:
        """task=generate systems."""
        from ganhub_textgan.system import TextGenSystem

        return isinstance(system, TextGenSystem)

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Up to 200 samples against up to 200 references (BLEU's cost is hyps x refs)."""
        from ganhub_textgan.system import TextGenSystem

        assert isinstance(system, TextGenSystem)
        n = min(n_samples, 200)
        hyps = system.decode(system.sample(n, seed=seed))
        refs = system.texts[1][:n]
        out = {}
        for order in (2, 3, 4, 5):
            out[f"bleu{order}"] = bleu(hyps, refs, order)
            out[f"self_bleu{order}"] = self_bleu(hyps, order)
        return out


def train_style_classifier(ids: Tensor, styles: Tensor, vocab: int, steps: int = 300) -> Tensor:
    """A bag-of-words logistic regression (V, 2) weights, trained full-batch with Adam."""
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

    def supports(self, system: GANSystem) -> bool:
        """task=transfer systems."""
        from ganhub_textgan.transfer import TransferSystem

        return isinstance(system, TransferSystem)

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Transfers of up to `n_samples` held-out sentences of each style, scored."""
        from ganhub_textgan.transfer import TransferSystem

        assert isinstance(system, TransferSystem)
        return system.scores(n_samples)
