"""textgan's text files in UTF-16 or UTF-32 with a byte-order mark (the mark names the byte
order, so the text is read: the lines a UTF-8 copy gives, in `ganhub data check` and in a run
alike), and `ganhub textgan generate|transfer` showing a sample with no words as `(empty)`, not
a blank line that reads as a failure."""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from ganhub_textgan.corpus import read_lines
from ganhub_textgan.style_transfer import TransferSystem
from ganhub_textgan.system import TextGenSystem
from ganhub_textgan.textfile import read_numbered
from ganhub_textgan.vocab import EOS, PAD

import ganhub
from ganhub.errors import UsageError

from .test_textgan import TINY, _system

pytestmark = pytest.mark.usefixtures("one_thread")
Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)

# CRLF endings, a blank line, accents, a character outside the BMP (a surrogate pair in
# UTF-16), a zero width space inside a line, and a last line without its newline
LINES = [f"the food was good {w}" for w in "abcdefghij"] + [
    "",
    "the caf\u00e9 was nice \U0001f600",
    "the soup\u200bwas bad",
    "  the dog ran far away  ",
]
TEXT = "\r\n".join(LINES)
ENCODINGS = {
    "utf-16": TEXT.encode("utf-16"),  # Python writes its mark, in this machine's byte order
    "utf-16-le": codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"),
    "utf-16-be": codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"),
    "utf-8-sig": codecs.BOM_UTF8 + TEXT.encode("utf-8"),
    "utf-32": TEXT.encode("utf-32"),  # refused before, "is UTF-32 text"
    "utf-32-le": codecs.BOM_UTF32_LE + TEXT.encode("utf-32-le"),
    "utf-32-be": codecs.BOM_UTF32_BE + TEXT.encode("utf-32-be"),
}


def _pair(root: Path, encoding: str) -> tuple[Path, Path]:
    """lines.txt in `encoding` (with its byte-order mark) and its UTF-8 copy, same name."""
    (root / "wide").mkdir()
    (root / "utf8").mkdir()
    wide, utf8 = root / "wide" / "lines.txt", root / "utf8" / "lines.txt"
    wide.write_bytes(ENCODINGS[encoding])
    utf8.write_bytes(TEXT.encode("utf-8"))
    return wide, utf8


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_a_file_with_a_byte_order_mark_reads_as_its_utf8_copy(workdir: Path, encoding: str) -> None:
    """UTF-16 and UTF-32 with their mark were refused ("is UTF-16 text; save it as UTF-8")."""
    wide, utf8 = _pair(workdir, encoding)
    assert read_numbered(wide, "data.path") == read_numbered(utf8, "data.path")
    assert read_lines(wide, "data.path") == read_lines(utf8, "data.path")
    assert "the caf\u00e9 was nice \U0001f600" in read_lines(wide, "data.path")


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-be"])
def test_data_check_and_a_run_read_it_as_the_utf8_copy(
    cli: Cli, workdir: Path, encoding: str
) -> None:
    """`ganhub data check` reports what it reports of the UTF-8 copy, and the run trains on
    the same sentences and token ids."""
    wide, utf8 = _pair(workdir, encoding)
    reports = []
    for path in (wide, utf8):
        code, out, err = cli("data", "check", str(path), "plugin=textgan", "preset=tiny", "--json")
        assert code in (0, 1) and "UTF-" not in err, err
        report = json.loads(out)
        assert report.pop("source") == str(path)
        reports.append(report)
    assert reports[0] == reports[1] and reports[0]["items"] == len(LINES)
    runs = [_system(f"data.path={path}") for path in (wide, utf8)]
    assert runs[0].texts == runs[1].texts and sum(map(len, runs[0].texts)) == len(LINES) - 1
    assert all(torch.equal(a, b) for a, b in zip(*(r.token_ids for r in runs), strict=True))


def test_utf16_without_a_mark_and_a_mark_on_broken_utf16_are_refused(workdir: Path) -> None:
    """Without a mark the byte order is a guess: refused as before; a mark followed by bytes
    that are not UTF-16 (an odd length) or UTF-32 is one line, not a traceback."""
    bare = workdir / "bare.txt"
    bare.write_bytes(TEXT.encode("utf-16-le"))
    with pytest.raises(UsageError, match=r"bare\.txt is UTF-16 text; save it as UTF-8"):
        read_lines(bare, "data.path")
    odd = workdir / "odd.txt"
    odd.write_bytes(ENCODINGS["utf-16-le"] + b"a")
    with pytest.raises(UsageError, match=r"odd\.txt starts with UTF-16's byte-order mark but is "):
        read_lines(odd, "data.path")
    bare32 = workdir / "bare32.txt"  # named as UTF-32, not UTF-16, without its mark too
    bare32.write_bytes(TEXT.encode("utf-32-be"))
    with pytest.raises(UsageError, match=r"bare32\.txt is UTF-32 text; save it as UTF-8"):
        read_lines(bare32, "data.path")
    odd32 = workdir / "odd32.txt"
    odd32.write_bytes(ENCODINGS["utf-32-le"] + b"ab")
    with pytest.raises(UsageError, match=r"odd32\.txt starts with UTF-32's byte-order mark but"):
        read_lines(odd32, "data.path")


def _first_row_empty(ids: torch.Tensor) -> torch.Tensor:
    """`ids` with its first row a sentence of no words (<eos>, then <pad>)."""
    ids = ids.clone()
    ids[0] = PAD
    ids[0, 0] = EOS
    return ids


def test_generate_prints_an_empty_sample_as_empty(
    cli: Cli, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sample G ended at once printed as a blank line; now `(empty)`, one line per sample."""
    run = ganhub.train([*TINY, "trainer.steps=2", "adversarial.pretrain_steps=1", "name=g"])
    sample = TextGenSystem.sample
    monkeypatch.setattr(
        TextGenSystem, "sample", lambda self, *a, **k: _first_row_empty(sample(self, *a, **k))
    )
    assert ganhub.load(run["run_dir"]).system.decode(_first_row_empty(torch.full((1, 4), 5))) == [
        ""
    ]  # what `generate` returns from Python is the empty string
    code, out, err = cli("textgan", "generate", str(run["run_dir"]), "--n", "3")
    lines = out.split("\n")
    assert code == 0 and lines[0] == "(empty)" and len(lines) == 4 and lines[3] == "", err
    assert all(line.strip() and line != "(empty)" for line in lines[1:3])


def test_transfer_prints_an_empty_rewrite_as_empty(
    cli: Cli, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same for a rewrite of no words."""
    run = ganhub.train([*TINY, "task=transfer", "trainer.steps=2", "name=t"])
    rewrite = TransferSystem.rewrite
    monkeypatch.setattr(
        TransferSystem, "rewrite", lambda self, *a, **k: _first_row_empty(rewrite(self, *a, **k))
    )
    code, out, err = cli("textgan", "transfer", str(run["run_dir"]), "--to", "1", "the food",
                         "the soup was bad")  # fmt: skip
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2 and lines[0] == "(empty)", (out, err)
