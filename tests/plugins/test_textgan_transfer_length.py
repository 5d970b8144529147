"""`ganhub textgan transfer` says when a sentence holds more tokens than the run rewrites."""

from __future__ import annotations

from typing import Any

import pytest

from .test_textgan import TINY

pytestmark = pytest.mark.usefixtures("one_thread")

LONG = "the food was great and the service was slow but the staff were kind to us all evening"


def test_a_sentence_longer_than_the_run_rewrites_is_noted(cli: Any, workdir: Any) -> None:
    """The rewrite covers a text's first data.length - 1 tokens; a longer sentence came back
    as the rewrite of its start alone ('the food was great and the service'), without a word."""
    code, _, err = cli("run", *TINY, "task=transfer", "trainer.steps=2", "data.length=8",
                       "name=tr")  # fmt: skip
    assert code == 0, err
    code, out, err = cli("textgan", "transfer", "runs/tr", "--to", "1", "the food was great", LONG)
    assert code == 0, err
    assert len(out.splitlines()) == 2
    notes = [line for line in err.splitlines() if line.startswith("ganhub: note:")]
    assert len(notes) == 1, err
    assert "text 2 holds more than the 7 tokens" in notes[0] and "data.length=8" in notes[0]
    code, _, err = cli("textgan", "transfer", "runs/tr", "--to", "1", "the food was great")
    assert code == 0 and "ganhub: note" not in err, err
