"""textgan audit 7: a removed invisible character between two spaces is one space, as a word
break beside spaces is (earlier releases left two spaces: `a \\u00ad b` was `a  b`), in linear
time; and the samples files are unambiguous: a sample that is literally `(empty)`, or holds a
backslash followed by `n`, was written as the line of another sample (the empty one, or one
with a line break inside). Now a backslash is doubled and `(empty)` is `\\(empty)`, and
`read_sample_line` reads each line back as its sample."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import torch
from ganhub_textgan.style_transfer import TransferSystem
from ganhub_textgan.textfile import EMPTY, clean_sentence, sample_line

from ganhub.config.resolve import resolve
from ganhub.plugins import get_hub

from .plugins.test_textgan import TINY

pytestmark = pytest.mark.usefixtures("one_thread")

DOCS = Path(__file__).resolve().parents[1] / "docs" / "textgan.md"


@pytest.mark.parametrize(
    ("line", "cleaned"),
    [
        ("a \u00ad b", "a b"),  # soft hyphen
        ("a \u2060 b", "a b"),  # word joiner
        ("a \u200e\u200f b", "a b"),  # direction marks, one run
        ("a\t\u00ad\tb", "a b"),  # a tab on both sides, as beside a word break
        ("a  \u00ad  b \u00ad \u200b c", "a b c"),
        ("caf\u00e9 \u2062 au lait", "caf\u00e9 au lait"),
    ],
)
def test_a_removed_character_between_whitespace_is_one_space(line: str, cleaned: str) -> None:
    """As `a \\u200b b` is `a b`; a removed character beside whitespace on one side only, and
    whitespace away from invisible characters, are as before."""
    assert clean_sentence(line) == cleaned
    assert clean_sentence(line.replace("\u00ad", "\u200b")) == cleaned  # as a word break


@pytest.mark.parametrize(
    ("line", "cleaned"),
    [("a \u00adb", "a b"), ("a\u00ad b", "a b"), ("hyph\u00adenated", "hyphenated"),
     ("caf\u00e9  au  lait", "caf\u00e9  au  lait"), (" \u00ad a \u00ad ", "a")],
)  # fmt: skip
def test_other_removed_characters_read_as_before(line: str, cleaned: str) -> None:
    assert clean_sentence(line) == cleaned


def test_cleaning_a_line_of_a_million_characters_stays_fast() -> None:
    """The shapes a backtracking pattern could take quadratic time on: long runs of spaces and
    of removed characters, and many short runs, each 10**6 characters (about 0.5 s each)."""
    n = 10**6
    lines = [
        "x " + "\u00ad" * n + "x",
        "x " + " " * n + "\u00ad",
        " \u00ad" * (n // 2),
        "a \u00ad\u200b" * (n // 3),
        " " * (n // 2) + "\u00ad" * (n // 2) + "é",
    ]
    start = time.perf_counter()
    out = [clean_sentence(line) for line in lines]
    assert time.perf_counter() - start < 10.0  # quadratic would take minutes
    assert out[0] == "x x" and out[2] == "" and out[3].startswith("a a a")


CASES = ["(empty)", "", "a\\nb", "a\nb", "a\\\\nb", "a\\", "\\(empty)", " (empty)", "x\u2028y"]


def test_each_samples_line_is_one_sample_and_reads_back() -> None:
    """Distinct samples are distinct lines (earlier `(empty)` and `""`, `a\\nb` and `a` LF `b`
    were one line), each one line, read back by `read_sample_line`."""
    from ganhub_textgan.textfile import read_sample_line

    lines = [sample_line(s) for s in CASES]
    assert len(set(lines)) == len(CASES)
    assert lines[:3] == ["\\(empty)", EMPTY, "a\\\\nb"]
    assert all(len(line.splitlines()) == 1 for line in lines)
    assert [read_sample_line(line) for line in lines] == CASES
    assert read_sample_line(sample_line("\u200b ")) == ""  # no words: the empty sample


def test_the_docs_snippet_runs_as_written() -> None:
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
                if "read_sample_line" in b]  # fmt: skip
    exec(compile(block, str(DOCS), "exec"), {})


def test_transfer_samples_escape_the_source_and_the_rewrite_once(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transfer line's rewrite that is literally `(empty)` or holds a backslash is written by
    the same rules as a generated sample, once (the whole line was escaped a second time)."""
    config = resolve([*TINY, "task=transfer"], hub=get_hub())
    torch.manual_seed(0)
    system = TransferSystem(config)  # type: ignore[arg-type]
    rewrites = ["(empty)", "a\\nb", "c\nd"]
    monkeypatch.setattr(TransferSystem, "decode", lambda self, ids: rewrites[: len(ids)])
    (path,) = system.write_samples(workdir / "samples", "step_000002", n=3)
    lines = path.read_text(encoding="utf-8").split("\n")
    assert len(lines) == 4 and lines[3] == ""
    assert [line.rsplit(" => ", 1)[1] for line in lines[:3]] == ["\\(empty)", "a\\\\nb", "c\\nd"]
