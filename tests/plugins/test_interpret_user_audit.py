"""`ganhub interpret directions` says what it sampled: SeFa's directions come from the weights,
the sampled codes give each direction's spread, the walks and the scores; and the docs give the
page's walk range and the scores' as the code has them."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from ganhub_interpret.directions_page import SCORE_ALPHA, STEPS

import ganhub

pytestmark = pytest.mark.usefixtures("one_thread")
CLI = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("method", ["sefa", "ganspace"])
def test_the_page_says_where_the_directions_come_from(
    cli: CLI, tmp_path: Path, method: str
) -> None:
    """The SeFa page said '2 direction(s) from 16 sampled codes' while SeFa samples nothing."""
    ganhub.train(["plugin=stylegan", "preset=tiny", "trainer.steps=1", "trainer.progress=false",
                  "loggers=[jsonl]", "name=sg", f"out_dir={tmp_path}"])  # fmt: skip
    code, out, err = cli("interpret", "directions", str(tmp_path / "sg"), "--method", method,
                         "--samples", "16", "--directions", "2")  # fmt: skip
    assert code == 0, err
    text = " ".join(Path(out.strip()).read_text().split())
    if method == "sefa":
        assert "2 directions from the weights alone (no sampling);" in text
        assert "16 codes sampled (seed 0) for each direction's σ, the traversals" in text
        assert "from 16 sampled codes" not in text
    else:
        assert "2 directions from 16 sampled codes (seed 0), which also give" in text


def test_the_docs_give_the_walks_the_code_takes() -> None:
    """The page walks -3σ to +3σ, the scores ±2σ; the docs named ±2σ only."""
    text = " ".join((DOCS / "interpret.md").read_text().split())
    low, high = min(STEPS), max(STEPS)
    assert f"from −{-low:g}σ_d to +{high:g}σ_d ({len(STEPS)} columns" in text
    assert f"walked from 64 sampled codes to ±{SCORE_ALPHA:g}σ_d" in text
    assert re.search(r"SeFa's directions come from the weights alone", text)
