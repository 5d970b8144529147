"""textgan's word breaks beside whitespace: an invisible character read as a word break (U+200B,
U+FEFF, a blank Hangul filler) with a space on one or both sides is one space in the cleaned
line, so a byte-level BPE gives the tokens of the line typed with one space; lines without
invisible characters keep their whitespace, and their tokens, as typed."""

from __future__ import annotations

from pathlib import Path

import pytest
from ganhub_textgan.corpus import read_lines
from ganhub_textgan.textfile import clean_sentence
from ganhub_textgan.vocab import encode, train_tokenizer

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize(
    ("line", "cleaned"),
    [
        ("ok \u3164 filler", "ok filler"),
        ("a \u200b b", "a b"),
        ("a\u200b b", "a b"),
        ("a \ufeffb", "a b"),
        ("a\t\u200b\tb", "a b"),
        ("a \u200b \u3164  b\u200bc", "a b c"),  # breaks and the whitespace between them
        ("a \u00ad\u200b b", "a b"),  # a removed character beside the break
        ("x\u115fy \u1160 z", "x y z"),  # conjoining fillers outside a syllable block
    ],
)
def test_a_word_break_beside_whitespace_is_one_space(line: str, cleaned: str) -> None:
    """Earlier releases kept the spaces on both sides of the break (`ok  filler`)."""
    assert clean_sentence(line) == cleaned


def test_whitespace_away_from_a_word_break_is_kept_as_typed() -> None:
    """Only the gap around a word break is collapsed: other runs of whitespace in the same
    line, in a line of other non-ASCII text and in an ASCII line stay as typed."""
    assert clean_sentence("caf\u00e9  au\u200b lait  chaud") == "caf\u00e9  au lait  chaud"
    assert clean_sentence("caf\u00e9  au  lait") == "caf\u00e9  au  lait"
    assert clean_sentence("  two  spaces\t here ") == "two  spaces\t here"
    assert clean_sentence("\u115f\u1161 \u1100\u1160") == "\u115f\u1161 \u1100\u1160"  # kept


def test_bpe_tokens_of_a_break_beside_a_space_are_those_of_one_space(workdir: Path) -> None:
    """The loader's sentences, encoded by a byte-level BPE: a line with a Hangul filler or a
    zero-width space between two spaces has the tokens of the line typed with one space (two
    spaces were an extra token); the word tokenizer agrees, as before."""
    path = workdir / "lines.txt"
    lines = ["ok \u3164 filler", "a \u200b b", "ok filler", "a b", "caf\u00e9  au  lait"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    read = read_lines(path, "data.path")
    assert read[:4] == ["ok filler", "a b", "ok filler", "a b"]
    assert read[4] == "caf\u00e9  au  lait"
    for kind in ("bpe", "word"):
        tok = train_tokenizer(read * 4, kind, 300)  # type: ignore[arg-type]
        ids = encode(tok, read, 12)
        assert ids[0].tolist() == ids[2].tolist() and ids[1].tolist() == ids[3].tolist()
