"""textgan audit: a near-zero sample.temperature scores a finite nll_gen (JSON has no
Infinity), and task=transfer's `sample(n, seed)` is prefix-stable in n.

A run trained with `sample.temperature=1.2e-38` reported `nll_gen=inf`: the shifted logits
divided by the temperature left float32's range, and `ganhub eval` wrote `"mean": Infinity`
into eval.json (and metrics.jsonl), which JSON readers other than Python's refuse. And a
transfer run's `sample(3)` rewrote other sentences than the first 3 of `sample(5)`: style 0's
block came first, so 3 split 2 + 1 and 5 split 3 + 2 at other positions.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from ganhub_textgan.metrics import TextNLL
from ganhub_textgan.networks import lm_logits
from ganhub_textgan.style_transfer import TransferSystem
from ganhub_textgan.system import TextGenSystem
from ganhub_textgan.vocab import PAD
from torch import nn

from ganhub.config.resolve import resolve
from ganhub.plugins import get_hub

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["plugin=textgan", "preset=tiny", "trainer.progress=false", "loggers=[]",
        "eval.metrics=[]"]  # fmt: skip
COLD = 1.2e-38  # the smallest normal float32 is 1.18e-38


def _generator(temperature: float) -> TextGenSystem:
    """A tiny oracle system whose G has logit gaps of several nats (as a trained G has)."""
    config = resolve([*TINY, f"sample.temperature={temperature}"], hub=get_hub())
    torch.manual_seed(0)
    system = TextGenSystem(config)  # type: ignore[arg-type]
    head = system.G.get_output_embeddings()
    assert isinstance(head, nn.Linear) and head.bias is None  # GPT-2's tied head
    head.bias = nn.Parameter(torch.randn(head.out_features) * 10, requires_grad=False)
    return system


def test_nll_gen_at_a_near_zero_temperature_is_finite_and_json() -> None:
    system = _generator(COLD)
    with torch.no_grad():
        scores = TextNLL().compute(system, n_samples=16, seed=0)
        held = system.held_out_ids(16)
        logits = lm_logits(system.G, held, system.vocab, system.known).double()
    assert all(math.isfinite(v) for v in scores.values()), scores
    json.dumps(scores, allow_nan=False)  # what a strict JSON reader accepts
    # the exact value, in float64 throughout: the mean gap to the argmax over the temperature
    shifted = logits - logits.amax(-1, keepdim=True)
    logp = (shifted / COLD).log_softmax(-1).gather(-1, held.unsqueeze(-1)).squeeze(-1)
    mask = held != PAD
    want = float((-(logp * mask).sum(1) / mask.sum(1)).mean())
    assert scores["nll_gen"] == pytest.approx(want, rel=1e-5)
    assert scores["nll_gen"] > 1e30 and scores["nll_div"] == 0  # greedy samples: NLL 0


def test_nll_at_ordinary_temperatures_is_unchanged() -> None:
    system = _generator(1.0)
    held = system.held_out_ids(16)
    with torch.no_grad():
        logits = lm_logits(system.G, held, system.vocab, system.known).double()
        for t in (0.5, 1.0, 2.0):
            logp = (logits / t).log_softmax(-1).gather(-1, held.unsqueeze(-1)).squeeze(-1)
            want = -(logp * (held != PAD)).sum(1) / (held != PAD).sum(1)
            got = system.nll(held, temperature=t)
            assert torch.allclose(got, want.to(got.dtype), rtol=1e-5), t


def _transfer() -> TransferSystem:
    config = resolve([*TINY, "task=transfer"], hub=get_hub())
    torch.manual_seed(0)
    return TransferSystem(config)  # type: ignore[arg-type]


def _sources(lines: list[str]) -> list[str]:
    return [line.split(" => ")[0] for line in lines]


@pytest.mark.parametrize("seed", [0, 5])
def test_transfer_samples_are_prefix_stable_in_n(seed: int) -> None:
    system = _transfer()
    with torch.no_grad():
        three, five = system.sample_texts(3, seed), system.sample_texts(5, seed)
        ids3, ids5 = system.sample(3, seed=seed), system.sample(5, seed=seed)
    assert _sources(five[:3]) == _sources(three)
    assert torch.equal(ids5[:3], ids3)
    styles = [line.startswith("[negative -> positive]") for line in five]
    assert styles == [True, False, True, False, True]  # alternating; style 0 takes the odd one
    assert system.transfer_inputs(5, seed)[1].tolist() == [0, 1, 0, 1, 0]


def test_the_sample_file_keeps_one_block_per_style(tmp_path: Path) -> None:
    system = _transfer()
    with torch.no_grad():
        (path,) = system.write_samples(tmp_path, "s")
    lines = path.read_text(encoding="utf-8").splitlines()
    styles = [line.startswith("[negative -> positive]") for line in lines]
    assert styles == [True] * 10 + [False] * 10  # up to 10 of each style, style 0's first
    test = system.corpus["test"]
    assert _sources(lines) == [
        *(f"[negative -> positive] {s}" for s in test[0][:10]),
        *(f"[positive -> negative] {s}" for s in test[1][:10]),
    ]
