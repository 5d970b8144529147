"""textgan: invisible characters inside a line are read as the words a user sees.

Lines of nothing but invisible characters were already blank, but inside a line a zero width
space, a byte-order mark, a soft hyphen, a word joiner or a direction mark stayed: the word-level
vocabulary held `the\\u200bcat`, `hyph\\u00adenated` and `shalom\\u200f` as words of their own,
distinct from `the cat`, `hyphenated` and `shalom`, and samples printed them looking the same.
As SentencePiece's default normaliser (nmt_nfkc) and BERT's text cleaning do, U+200B and U+FEFF
now separate words and the other format characters are removed, except those that change how
their neighbours are drawn (the joiners U+200C/D: Persian spelling, emoji sequences); the text is
put in NFC, so `cafe\\u0301` and `caf\\u00e9` are one word.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ganhub_textgan.corpus import read_lines
from ganhub_textgan.system import TextGenSystem

from ganhub.config.resolve import resolve
from ganhub.plugins import get_hub

pytestmark = pytest.mark.usefixtures("one_thread")

ZWJ_EMOJI = "\U0001f469\u200d\U0001f4bb"  # woman + ZWJ + laptop: one emoji, drawn as one
PERSIAN = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # "I want", with a ZWNJ
LINES = [
    "the cat sat on the mat",
    "the\u200bcat sat on the mat",  # zero width space between two words
    "\ufeffthe dog ran home",  # a byte-order mark at the start of a later line
    "the dog\ufeffran home",  # one inside a line: two files joined without a newline
    "a hyph\u00adenated word here",  # soft hyphen: a hyphenation hint
    "a hyphenated word here",
    "the\u2060cat is here",  # word joiner
    "thecat is here",
    "\u200fshalom\u200f friend",  # right-to-left marks
    "shalom friend",
    "cafe\u0301 is open",  # e + combining acute accent
    "caf\u00e9 is open",
    f"{ZWJ_EMOJI} codes",
]
CLEAN = [
    "the cat sat on the mat",
    "the cat sat on the mat",
    "the dog ran home",
    "the dog ran home",
    "a hyphenated word here",
    "a hyphenated word here",
    "thecat is here",
    "thecat is here",
    "shalom friend",
    "shalom friend",
    "caf\u00e9 is open",
    "caf\u00e9 is open",
    f"{ZWJ_EMOJI} codes",
]
# the words of LINES: 20 (there were 26: `the\u200bcat`, `dog\ufeffran`, `hyph\u00adenated`,
# `the\u2060cat`, `shalom\u200f` and a second `cafe\u0301` besides the words they look like)
WORDS = set(" ".join(CLEAN).split())
FILLER = [f"a plain line number {i} here" for i in range(10)]  # held out: the first 2


def _corpus(tmp_path: Path) -> Path:
    path = tmp_path / "invisible.txt"
    path.write_text("\n".join(FILLER + LINES) + "\n", encoding="utf-8")
    return path


def test_the_loader_reads_invisible_characters_inside_a_line_as_the_words_shown(
    tmp_path: Path,
) -> None:
    """U+200B/U+FEFF separate words, U+00AD/U+2060/U+200F are removed, NFC, ZWJ kept."""
    assert read_lines(_corpus(tmp_path), "data.path")[10:] == CLEAN


def test_a_runs_word_vocabulary_holds_each_visible_word_once(tmp_path: Path) -> None:
    """The tokenizer a run trains (and saves as tokenizer.json) has no invisible variants."""
    config = resolve(
        ["plugin=textgan", "preset=tiny", "trainer.progress=false", "loggers=[]",
         "eval.metrics=[]", f"data.path={_corpus(tmp_path)}"],
        hub=get_hub(),
    )  # fmt: skip
    system = TextGenSystem(config)  # type: ignore[arg-type]
    vocab = set(json.loads(system.tokenizer.to_str())["model"]["vocab"])
    filler = set(" ".join(FILLER).split())
    assert len(WORDS) == 20
    assert (
        vocab - filler - {"<pad>", "<bos>", "<unk>", "<eos>", "<style0>", "<style1>"}
        == WORDS - filler
    )


@pytest.mark.parametrize(
    ("line", "sentence"),
    [
        ("the\u200b\u200bcat", "the cat"),  # a run of breaks is one
        ("the \u200bcat", "the cat"),  # a break beside a space adds none
        ("the\u200b cat", "the cat"),
        ("\u200bthe cat\ufeff", "the cat"),
        ("the\u200b\u2060cat", "the cat"),
        ("in\u00advisible", "invisible"),
        ("\u202bnested\u202c text", "nested text"),  # an embedding and its pop
        ("a\u2062b", "ab"),  # invisible times
        (PERSIAN, PERSIAN),  # the non-joiner inside a word is its spelling
        ("\u0600123", "\u0600123"),  # the Arabic number sign is drawn
        ("\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f flag",
         "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f flag"),
        ("\u200b\u00ad", ""),
    ],
)  # fmt: skip
def test_clean_sentence(line: str, sentence: str) -> None:
    """Word breaks, removals, and the format characters that shape their neighbours."""
    from ganhub_textgan.textfile import clean_sentence, sentence_text

    assert clean_sentence(line) == sentence
    assert bool(clean_sentence(line)) == bool(sentence_text(line))  # blank exactly as before


def test_data_check_notes_them_and_finds_the_duplicates_they_hid(tmp_path: Path, cli: Any) -> None:
    """Each line with an invisible character inside has a note; a line that differed from an
    earlier one only by them is its duplicate (only the NFC pair was found before)."""
    code, out, err = cli("data", "check", str(_corpus(tmp_path)), "plugin=textgan")
    assert code == 1 and "NOT clean (0 errors, 6 warnings" in out, (out, err)
    dups = [line.split()[1] for line in out.splitlines() if "duplicate of" in line]
    assert dups == [f"invisible.txt:{n}" for n in (12, 14, 16, 18, 20, 22)], out
    notes = {
        line.split()[1]: line
        for line in out.splitlines()
        if line.split()[:1] == ["note"] and "invisible characters inside" in line
    }
    assert sorted(notes) == [f"invisible.txt:{n}" for n in (12, 14, 15, 17, 19)], out
    assert "U+200B (a word break)" in notes["invisible.txt:12"]
    assert "U+00AD (removed)" in notes["invisible.txt:15"]
    assert "invisible characters inside: 5 lines" in out


class _Recorder:
    """A transfer system that records the sentences it is asked to encode."""

    def __init__(self) -> None:
        self.encoded: list[str] = []
        self.device = "cpu"
        self.length = 64  # tokens a rewrite covers, with <eos>: a word a token here
        self.tokenizer = SimpleNamespace(
            encode_batch=lambda texts: [SimpleNamespace(ids=t.split()) for t in texts]
        )

    def style_index(self, to: Any, option: str) -> int:
        return 1

    def encode(self, texts: list[str]) -> Any:
        import torch

        self.encoded += texts
        return torch.zeros(len(texts), 4, dtype=torch.long)

    def rewrite(self, x: Any, target: Any) -> Any:
        return x

    def decode(self, ids: Any) -> list[str]:
        return ["" for _ in ids]


def test_transfer_reads_a_given_sentence_as_the_loader_reads_a_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`transfer(run, ["the food\\u200bwas awful"])` encodes `the food was awful`, the words a
    run trained on the file's line would know (it encoded `food\\u200bwas` as one word)."""

    from ganhub_textgan import api, transfer

    system = _Recorder()
    monkeypatch.setattr(api, "open_run", lambda *args: SimpleNamespace(system=system))
    transfer(tmp_path, ["the food\u200bwas aw\u00adful", "\ufeffcafe\u0301 is bad"], to=1)
    assert system.encoded == ["the food was awful", "caf\u00e9 is bad"]


def test_the_fast_cleaner_removes_every_format_character_the_rules_name() -> None:
    """The regex built from planes 0, 1 and 14 names every removed character of Unicode."""
    import sys

    from ganhub_textgan.textfile import _removed, _removed_pattern

    everything = (chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    removed = "".join(c for c in everything if _removed(c))
    assert "\u00ad" in removed and "\u200c" not in removed
    assert _removed_pattern().fullmatch(removed)
