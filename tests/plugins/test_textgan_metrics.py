"""text_bleu is Texygen's BLEU and self-BLEU (nltk sentence_bleu, method1, averaged), and it
reports the samples and references it scored."""

from __future__ import annotations

import math
import random

import pytest
import torch
from ganhub_textgan import metrics as textgan_metrics
from ganhub_textgan.metrics import TextBLEU, bleu, bleu_scores, self_bleu, self_bleu_scores

from ganhub.config.resolve import resolve
from ganhub.metrics import evaluate
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["plugin=textgan", "preset=tiny", "trainer.progress=false", "loggers=[]",
        "trainer.batch_size=8", "eval.metrics=[]"]  # fmt: skip


def test_bleu_is_the_mean_of_smoothed_sentence_bleus_by_hand() -> None:
    """ganhub scored sacrebleu's corpus BLEU (exp smoothing), not Texygen's mean sentence BLEU
    with nltk's method1 smoothing (a zero match count counts as 0.1)."""
    # "a b x d" vs "a b c d": 3/4 unigrams, 1/3 bigrams, 0/2 trigrams, 0/1 4-grams
    assert bleu(["a b x d"], ["a b c d"], 4) == pytest.approx(100 * (0.75 / 3 * 0.05 * 0.1) ** 0.25)
    # the mean of the two sentences' BLEU-2 (100 and 50), not the corpus's sqrt(7/8 * 4/6)
    assert bleu(["a b c d", "a b x d"], ["a b c d"], 2) == pytest.approx(75.0)
    # the brevity penalty takes the closest reference length, the shorter one on a tie
    assert bleu(["a b"], ["a b c d"], 2) == pytest.approx(100 * math.exp(1 - 4 / 2))
    assert bleu(["a b c"], ["a b c d", "a b"], 2) == pytest.approx(100.0)
    # every order in one pass agrees with one order at a time
    hyps, refs = ["a b c d e", "b c d", "x a b"], ["a b c d", "c d e a b", "a"]
    assert bleu_scores(hyps, refs) == pytest.approx({n: bleu(hyps, refs, n) for n in (2, 3, 4, 5)})


def test_self_bleu_scores_each_text_against_all_the_others_by_hand() -> None:
    """ganhub scored the first half of the samples against the second half."""
    # 100, 100 and 0 (the half split scored the first text alone: 100)
    assert self_bleu(["a b c d", "a b c d", "e f g h"], 4) == pytest.approx(100 * 2 / 3)
    # "a a b" holds the only count 2 of "a": the others clip it to 1 (p1 2/3, p2 1/2); "a b"
    # matches "a a b" fully; "c d" matches nothing
    by_hand = (math.sqrt(2 / 3 * 1 / 2) + 1 + 0) / 3
    assert self_bleu(["a a b", "a b", "c d"], 2) == pytest.approx(100 * by_hand)
    with pytest.raises(ValueError, match="2 texts or more"):
        self_bleu(["a b"], 2)


def _sentences(rng: random.Random, n: int) -> list[str]:
    """Random sentences of a few words, with empty and 1-3 word ones (shorter than the order)."""
    out = []
    for _ in range(n):
        words = rng.randint(3, 9)
        size = rng.choice([0, 1, 2, 3, 6, 8, 8, 11])
        out.append(" ".join(f"w{rng.randrange(words)}" for _ in range(size)))
    return out


def test_bleu_and_self_bleu_equal_texygens_nltk_computation() -> None:
    """Texygen (utils/metrics/Bleu.py, SelfBleu.py) with nltk, on the same whitespace words."""
    nltk_bleu = pytest.importorskip("nltk.translate.bleu_score")
    smooth = nltk_bleu.SmoothingFunction().method1
    rng = random.Random(0)
    hyps, refs = _sentences(rng, 40), _sentences(rng, 30)
    hyp_words, ref_words = [h.split() for h in hyps], [r.split() for r in refs]
    ours, ours_self = bleu_scores(hyps, refs), self_bleu_scores(hyps)
    for n in (2, 3, 4, 5):
        weights = (1 / n,) * n

        def texygen(refs: list[list[str]], hyp: list[str], w: tuple[float, ...] = weights) -> float:
            return float(nltk_bleu.sentence_bleu(refs, hyp, w, smoothing_function=smooth))

        expected = 100 * sum(texygen(ref_words, h) for h in hyp_words) / len(hyps)
        others = [hyp_words[:i] + hyp_words[i + 1 :] for i in range(len(hyps))]
        expected_self = 100 * sum(map(texygen, others, hyp_words)) / len(hyps)
        assert ours[n] == pytest.approx(expected, abs=1e-9)
        assert ours_self[n] == pytest.approx(expected_self, abs=1e-9)


def test_text_bleu_scores_every_sample_and_reports_the_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """text_bleu scored at most 200 samples (self-BLEU 100 against 100) while the evaluation
    reported the n_samples asked for."""
    system = make_run(resolve(TINY, hub=get_hub())).system
    drawn: list[int] = []
    sample = system.sample

    def counted(n: int, seed: int) -> torch.Tensor:
        drawn.append(n)
        return sample(n, seed=seed)

    monkeypatch.setattr(system, "sample", counted)
    values = evaluate(system, [TextBLEU()], n_samples=300, seed=0).values
    assert drawn == [300] and values["n_samples"] == 300.0
    assert values["n_real"] == float(len(system.held_out_texts(200)))
    # past the cap, the samples scored are the ones reported
    monkeypatch.setattr(textgan_metrics, "BLEU_SAMPLES", 5)
    assert TextBLEU().compute(system, n_samples=8, seed=0)["n_samples"] == 5.0
    assert drawn[-1] == 5


def test_text_bleu_keeps_its_keys_and_directions() -> None:
    """The keys runs and reports compare by name; BLEU higher-better, self-BLEU lower."""
    metric = TextBLEU()
    for n in (2, 3, 4, 5):
        assert metric.direction(f"bleu{n}") == "higher"
        assert metric.direction(f"self_bleu{n}") == "lower"
    assert metric.direction("n_samples") is None and metric.direction("n_real") is None
