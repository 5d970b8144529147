"""textgan's cleaned text, written back: `ganhub data clean --out` holds the lines as the loader
reads them, Hangul fillers inside a line read as the other blank characters, and samples/*.txt
holds one sample a line, an empty one marked."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ganhub_textgan.corpus import read_lines
from ganhub_textgan.style_transfer import TransferSystem
from ganhub_textgan.textfile import clean_sentence, describe_invisible, invisible_inside
from ganhub_textgan.vocab import EOS, PAD

from ganhub.config.resolve import resolve
from ganhub.metrics.rundata import sample_texts
from ganhub.plugins import get_hub

from .test_textgan import TINY, _system

pytestmark = pytest.mark.usefixtures("one_thread")

# invisible characters the loader reads inside a line: a word break, a removed soft hyphen,
# a removed direction mark, a Hangul filler; and a blank line the check drops
LINES = [f"the food was good {w}" for w in "abcdefghij"] + [
    "the soup\u200bwas bad",
    "hyph\u00adenated words\u200e here",
    "",
    "an invisible\u3164name",
]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_clean_out_holds_the_lines_as_the_loader_reads_them(workdir: Path, encoding: str) -> None:
    """The cleaned copy of a text file (its kept lines) is UTF-8 without the invisible
    characters the loader reads away, and reads back as the same sentences; earlier releases
    copied the lines' bytes (U+200B, U+00AD, U+200E, a UTF-16 file's encoding)."""
    path = workdir / "lines.txt"
    path.write_bytes("\n".join(LINES).encode(encoding))
    config = resolve([*TINY, f"data.path={path}"], hub=get_hub())
    domain = get_hub().domains.get("textgan")
    report = domain.inspect_data(config)
    kept = [item for item in report.items if item not in report.dropped()]
    assert "lines.txt:13" not in kept and len(kept) == len(LINES) - 1
    copy = domain.cleaned_copy_files(config, path, kept)
    assert list(copy) == ["lines.txt"]
    text = copy["lines.txt"].decode("utf-8")  # UTF-8 whatever the source's encoding
    assert not any(c in text for c in "\u200b\u00ad\u200e\u3164\ufeff")
    assert text.splitlines()[10:13] == [
        "the soup was bad",
        "hyphenated words here",
        "an invisible name",
    ]
    (workdir / "copy").mkdir()
    (workdir / "copy" / "lines.txt").write_text(text, encoding="utf-8")
    assert read_lines(workdir / "copy" / "lines.txt", "data.path") == read_lines(path, "data.path")


def test_hangul_fillers_inside_a_line_separate_words_as_the_zero_width_space() -> None:
    """U+3164, U+FFA0 and the conjoining fillers draw a blank: a word break, as U+200B (they
    were kept as parts of words); U+115F before a vowel jamo and U+1160 after a leading
    consonant are parts of a syllable block, kept."""
    assert clean_sentence("an invisible\u3164name") == "an invisible name"
    assert clean_sentence("half\uffa0width") == "half width"
    assert clean_sentence("x\u115fy \u1160z") == "x y z"
    assert clean_sentence("\u115f\u1161 \u1100\u1160") == "\u115f\u1161 \u1100\u1160"
    found = invisible_inside("a\u3164b\u1100\u1160")
    assert describe_invisible(found) == "U+3164 (a word break)"
    assert clean_sentence("\u3164\u115f\u1160") == ""  # a line of fillers is blank, as before


def _first_row_empty(ids: torch.Tensor) -> torch.Tensor:
    ids = ids.clone()
    ids[0] = PAD
    ids[0, 0] = EOS
    return ids


def test_samples_file_holds_one_sample_a_line_an_empty_one_marked(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """samples/step_N.txt wrote an empty sample as a blank line (and a line break inside a
    sample as two lines); the report's reader still reads one sample a line."""
    system = _system()
    sample = type(system).sample
    monkeypatch.setattr(
        type(system), "sample", lambda self, *a, **k: _first_row_empty(sample(self, *a, **k))
    )
    decode = type(system).decode
    monkeypatch.setattr(  # a byte-level tokenizer can write a line break inside a sentence
        type(system),
        "decode",
        lambda self, ids: [t.replace(" ", "\n", 1) for t in decode(self, ids)],
    )
    run = workdir / "run"
    (path,) = system.write_samples(run / "samples", "step_000002", n=4)
    lines = path.read_text(encoding="utf-8").split("\n")
    assert len(lines) == 5 and lines[4] == "" and lines[0] == "(empty)"
    assert all("\\n" in line for line in lines[1:4])
    ((step, shown, _),) = sample_texts(run)
    assert step == 2 and shown.split("\n") == lines[:4]


def test_transfer_samples_mark_an_empty_rewrite(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """task=transfer's sample lines end '=> (empty)' for a rewrite of no words ('=> ')."""
    config = resolve([*TINY, "task=transfer"], hub=get_hub())
    torch.manual_seed(0)
    system = TransferSystem(config)  # type: ignore[arg-type]
    rewrite = TransferSystem.rewrite
    monkeypatch.setattr(
        TransferSystem, "rewrite", lambda self, *a, **k: _first_row_empty(rewrite(self, *a, **k))
    )
    (path,) = system.write_samples(workdir / "samples", "step_000002", n=3)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and lines[0].endswith(" => (empty)"), lines
    assert not any(line.endswith("=> ") for line in lines)


def test_data_clean_out_writes_the_lines_the_loader_reads(cli, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    """`ganhub data clean FILE --out` writes the kept lines as the loader reads them, in
    UTF-8, and names no labels file; `ganhub data check` of the copy finds nothing invisible."""
    lines = [f"the food was good {w}" for w in "abcdefghij"]
    lines += ["the soup\u200bwas bad", "", "hyph\u00adenated \u3164words"]
    Path("lines.txt").write_bytes("\n".join(lines).encode("utf-16"))
    code, out, err = cli("data", "clean", "lines.txt", "plugin=textgan", "preset=tiny",
                         "--out", "clean.txt")  # fmt: skip
    assert code == 0 and out.strip() == "12 of 13 kept, 1 dropped -> clean.txt", (out, err)
    text = Path("clean.txt").read_bytes().decode("utf-8")
    assert text.endswith("the soup was bad\nhyphenated words\n")
    assert read_lines(Path("clean.txt"), "data.path") == read_lines(Path("lines.txt"), "data.path")
    code, out, err = cli("data", "check", "clean.txt", "plugin=textgan", "preset=tiny")
    assert "invisible" not in out, out
