"""textgan: a sample is drawn by the terminal that prints it, never obeyed.

A word of a training file is a word of the run's vocabulary, so G writes it. A line holding an
escape sequence (`\\x1b]0;...\\x07` retitles a terminal, `\\x1b[2J` clears it) or a NUL byte
went as it was into samples/*.txt and to the terminal of `ganhub textgan generate`, which
obeyed it: a run directory, which travels between people, could recolour, retitle or clear
the screen of whoever printed its samples. Control characters but the tab are now written as
their Python escapes (`\\x1b`), as line breaks were, and read back by `read_sample_line`."""

from __future__ import annotations

from pathlib import Path

import pytest
from ganhub_textgan.textfile import read_sample_line, sample_line

import ganhub

pytestmark = pytest.mark.usefixtures("one_thread")

# a terminal title, a colour, a clear screen, C1's CSI, DEL, a NUL inside a word
WORDS = ["\x1b]0;owned\x07", "\x1b[31mred", "\x1b[2J", "\x9b1m", "del\x7f", "c\x00t"]


def _controls(text: str) -> list[str]:
    """The characters of `text` a terminal acts on (control characters but tab and newline)."""
    return [c for c in text if (c < " " or "\x7f" <= c <= "\x9f") and c not in "\t\n"]


@pytest.mark.parametrize("word", WORDS)
def test_a_control_character_is_written_escaped_and_read_back(word: str) -> None:
    text = f"the {word} sat\ton the mat"
    line = sample_line(text)
    assert _controls(line) == [], repr(line)
    assert "\t" in line  # a tab draws as blank space: kept
    assert read_sample_line(line) == text


def test_generate_prints_what_a_hostile_training_file_taught_as_text(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    corpus = workdir / "hostile.txt"
    lines = [
        " ".join([WORDS[i % len(WORDS)], "the", WORDS[(i + 1) % len(WORDS)]]) for i in range(24)
    ]
    corpus.write_bytes("\n".join(lines).encode() + b"\n")
    summary = ganhub.train(
        ["plugin=textgan", f"data.path={corpus}", "model.n_layer=1", "model.n_embd=16",
         "model.n_head=2", "model.d_embd=16", "model.d_filters=8", "trainer.steps=2",
         "trainer.batch_size=8", "trainer.progress=false", "loggers=[]", "eval.metrics=[]",
         "adversarial.pretrain_steps=1", "sample.temperature=2"]
    )  # fmt: skip
    run_dir = Path(summary["run_dir"])
    code, out, err = cli("textgan", "generate", str(run_dir), "--n", "40")
    assert code == 0, err
    assert _controls(out) == [], repr(out)
    said = [read_sample_line(line) for line in out.splitlines()]
    assert any(_controls(s) for s in said), said  # G wrote the words: they are escaped, not lost
    (written,) = (run_dir / "samples").glob("*.txt")
    assert _controls(written.read_text(encoding="utf-8")) == []


def test_a_file_that_is_not_utf8_is_refused_with_the_way_to_fix_it(workdir: Path) -> None:
    """A Latin-1 file got "line 1 is not valid UTF-8" and no way on; a binary file the same
    line, as if it were text in another encoding."""
    from ganhub_textgan.corpus import read_lines

    from ganhub.errors import UsageError

    latin = workdir / "latin.txt"
    latin.write_bytes("le café est noir\nla crème\n".encode("latin-1"))
    with pytest.raises(UsageError) as err:
        read_lines(latin, "data.path")
    said = str(err.value)
    assert "line 1 is not valid UTF-8 (byte 0xe9" in said
    fix = f"iconv -f cp1252 -t utf-8 {latin} > latin.utf8.txt"
    assert fix in said, said
    binary = workdir / "model.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UsageError) as err:
        read_lines(binary, "data.path")
    assert "it holds NUL bytes, so it is no text file" in str(err.value)
    assert "iconv" not in str(err.value)
