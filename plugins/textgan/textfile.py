r"""The user's text files, byte to sentence: how a line is read and cleaned.

`read_numbered` reads a file's lines as an editor numbers them (UTF-8, or UTF-16 or UTF-32
that starts with its byte-order mark, which names its byte order; refusing UTF-16 or UTF-32
without one and CR-only line ends for the whole file, marking a line that is not UTF-8);
`sentence_text` strips a line's ends of whitespace and characters that draw nothing;
`clean_sentence` is the sentence the corpus reader keeps. It reads the invisible characters
inside a line so that a word the user sees once is one word of the vocabulary, as the common
tokenizer normalisers do:

* a zero width space (U+200B) or a byte-order mark (U+FEFF: two files joined without a newline)
  separates words, as a space does (SentencePiece's default rules, nmt_nfkc, map both to a
  space): `the\u200bcat` is `the cat`; so do the Hangul fillers that draw a blank (U+3164,
  U+FFA0, and U+115F / U+1160 outside a syllable block: `BLANK_FILLER`); a run of them and
  the whitespace on either side is one space (`ok \u3164 filler` is `ok filler`);
* the other format characters draw nothing and are removed (BERT's text cleaning removes
  them; nmt_nfkc spaces the direction marks, which stand beside punctuation and would split
  it off a word): the soft hyphen (U+00AD, a hyphenation hint: `hyph\u00adenated` is
  `hyphenated`), the word joiner (U+2060), the direction marks and embeddings (U+200E/F,
  U+061C, U+202A-E, U+2066-9), the invisible math operators (U+2061-4), ...; a run of them
  with whitespace on both sides reads as a word break (`a \u00ad b` is `a b`, not two spaces);
* the format characters that change how their neighbours are drawn stay: the zero-width
  non-joiner and joiner (U+200C/D: Persian and Indic spelling, emoji sequences such as
  woman + ZWJ + laptop; nmt_nfkc keeps the joiner too), the Mongolian vowel separator, the
  Egyptian hieroglyph format controls, the emoji tag characters, and the signs drawn before
  digits (Arabic number sign);
* the text is put in Unicode NFC, so a letter typed as a base and a combining accent
  (`cafe\u0301`) is the same word as its precomposed form (`caf\u00e9`).
"""

from __future__ import annotations

import codecs
import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ganhub.errors import UsageError
from ganhub.exported import NOT_EXPORTED

# What an export's config.yaml holds for a path it leaves out, as docs/export.md documents it
# (the engine's `ganhub.exported.NOT_EXPORTED`, in no module's __all__ yet): a run opened from
# an export reads its text again from a path the user gives back
EXPORT_MARKER = NOT_EXPORTED  # what an export holds for data.path


@dataclass(frozen=True)
class Line:
    """One line of a text file: its 1-based number, its text (None when it is not UTF-8)."""

    number: int
    text: str | None
    problem: str = ""


def wide_encoding(raw: bytes) -> str | None:
    """'UTF-32' / 'UTF-16' when the bytes are text in one of them (by its byte-order mark,
    or, without one, NUL bytes in three of every four bytes of the start, or in every other
    byte), else None. UTF-32's mark starts with UTF-16's, so it is tested first."""
    if raw.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "UTF-32"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "UTF-16"
    start = raw[:4000]
    lanes = [start[k::4] for k in range(4)]  # UTF-32 without a mark: three NULs per character
    if len(start) >= 16 and sum(lane.count(0) >= 0.9 * len(lane) for lane in lanes) >= 3:
        return "UTF-32"
    if len(start) >= 8:  # ASCII-range text in UTF-16 without a mark: a NUL beside each byte
        for offset in (0, 1):
            if start[offset::2].count(0) >= 0.9 * len(start[offset::2]):
                return "UTF-16"
    return None


def _wide_as_utf8(raw: bytes, encoding: str, path: Path, key: str) -> bytes:
    """A UTF-16 or UTF-32 file that starts with its byte-order mark, as the UTF-8 bytes of its
    text (the mark dropped), so its lines are those a UTF-8 copy gives; a file the mark does
    not describe (a length that is no whole number of code units, a lone surrogate) is refused
    whole, in one line."""
    try:
        return raw.decode(encoding.lower()).encode("utf-8")
    except UnicodeDecodeError as exc:  # the text is valid UTF-16/32 once decoded: it encodes
        raise UsageError(
            f"{key}={path} starts with {encoding}'s byte-order mark but is not {encoding} text "
            f"(byte {exc.start + 1}: {exc.reason}); save it as UTF-8 (one sentence per line)"
        ) from None


MARKS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def read_numbered(path: Path, key: str) -> list[Line]:
    """Every line of a text file, numbered as an editor numbers them."""
    if str(path) == EXPORT_MARKER:
        given = (
            "data.style_paths=[FILE0,FILE1], the files" if "[" in key else f"{key}=FILE, the file"
        )
        raise UsageError(
            f"{key}={path}: an export holds no data path (ganhub export leaves the run's local "
            f"paths out); give {given} it trained on (one sentence per line)"
        )
    if path.is_dir():
        raise UsageError(f"{key}={path} is a folder; give a text file (one sentence per line)")
    if not path.is_file():
        raise UsageError(f"{key}={path}: no such file (one sentence per line)")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{key}={path}: cannot read it ({exc.strerror})") from None
    encoding = wide_encoding(raw)
    if encoding is not None and raw.startswith(MARKS):
        raw = _wide_as_utf8(raw, encoding, path, key)  # the mark names the byte order
        encoding = None
    if encoding is not None:  # whole file, not a line
        raise UsageError(
            f"{key}={path} is {encoding} text; save it as UTF-8 (one sentence per line)"
        )
    raw = raw.removeprefix(codecs.BOM_UTF8)
    body = raw.rstrip(b"\r\n")
    if b"\r" in body and b"\n" not in body:  # lines split by CR alone: one long line here
        raise UsageError(
            f"{key}={path} ends its lines with CR alone (classic Mac OS line endings); "
            "convert them to LF (e.g. tr '\\r' '\\n' < old.txt > new.txt)"
        )
    chunks = raw.split(b"\n")
    if chunks[-1] == b"":  # the newline that ends the last line starts no new one
        chunks.pop()
    lines = []
    for number, chunk in enumerate(chunks, 1):
        try:
            lines.append(Line(number, chunk.decode("utf-8").removesuffix("\r")))
        except UnicodeDecodeError as exc:
            problem = (
                f"not valid UTF-8 (byte 0x{chunk[exc.start]:02x}, byte {exc.start + 1} of the line)"
            )
            lines.append(Line(number, None, problem))
    return lines


# Characters that draw nothing, stripped like whitespace from a line's ends (a line of nothing
# else is blank): Unicode's format characters (category Cf: zero-width space U+200B, the
# joiners U+200C/D, word joiner U+2060, byte-order mark U+FEFF, direction marks, soft hyphen)
# and the Hangul fillers; not the Cf marks that are drawn before digits (Arabic number sign)
DRAWN_FORMAT = frozenset(
    "\u0600\u0601\u0602\u0603\u0604\u0605\u06dd\u070f\u0890\u0891\u08e2\U000110bd\U000110cd"
)
FILLERS = frozenset("\u115f\u1160\u3164\uffa0")


# A Hangul filler that draws a blank: U+3164 and U+FFA0 always; the choseong filler U+115F
# unless a vowel jamo follows it, the jungseong filler U+1160 unless a leading consonant jamo
# precedes it (there each is part of a syllable block, drawn with its neighbours, and kept)
BLANK_FILLER = re.compile(
    "[\u3164\uffa0]|\u115f(?![\u1161-\u11a7\ud7b0-\ud7c6])|(?<![\u1100-\u115e\ua960-\ua97c])\u1160"
)


def _invisible(text: str, i: int) -> bool:
    """Whether `text[i]` draws nothing (whitespace, a format character, a blank Hangul
    filler)."""
    c = text[i]
    if c in FILLERS:
        return BLANK_FILLER.match(text, i) is not None  # its lookbehind sees text[i - 1]
    return c.isspace() or (unicodedata.category(c) == "Cf" and c not in DRAWN_FORMAT)


def sentence_text(text: str) -> str:
    """A line's sentence: whitespace and invisible characters stripped from both ends; '' for
    a blank line (whitespace-only, or only U+200B, U+FEFF, ...)."""
    start, end = 0, len(text)
    while start < end and _invisible(text, start):
        start += 1
    while end > start and _invisible(text, end - 1):
        end -= 1
    return text[start:end]


# Inside a line: characters that separate words as a space does, and the format characters
# kept because they change how their neighbours are drawn (any other format character is
# removed; see the module docstring)
WORD_BREAKS = frozenset("\u200b\ufeff")
SHAPING = frozenset("\u200c\u200d\u180e") | DRAWN_FORMAT
# a run of word breaks: U+200B, U+FEFF and the blank Hangul fillers, which draw a blank
# between two words as a space does (U+3164 is how "invisible" names are typed), and the
# whitespace between them; `clean_sentence` drops the whitespace on either side, so the gap is
# one space (`ok \u3164 filler` is `ok filler`: two spaces are an extra token for a byte-level
# BPE). The pattern starts at a break, not at whitespace: linear in a line's length
_BREAK = f"(?:[\u200b\ufeff]|{BLANK_FILLER.pattern})"
_BREAK_RUN = re.compile(f"{_BREAK}(?:\\s*{_BREAK})*")


def _shaping(c: str) -> bool:
    """Whether the format character `c` changes how its neighbours are drawn (kept)."""
    code = ord(c)
    return c in SHAPING or 0x13430 <= code <= 0x1345F or 0xE0020 <= code <= 0xE007F


def _removed(c: str) -> bool:
    """Whether `c` is a format character that the corpus reader removes from inside a line."""
    return unicodedata.category(c) == "Cf" and c not in WORD_BREAKS and not _shaping(c)


@functools.cache
def _removed_pattern() -> re.Pattern[str]:
    """One character class of every character `_removed` names, built once: a corpus is
    cleaned at the regex engine's speed, not with one Python call per character. Format
    characters are allotted in planes 0, 1 and 14 only (2 and 3 hold ideographs, 15 and 16
    private use), so those are scanned (0.05 s where the whole range took 0.4 s)."""
    codes = [*range(0xD800), *range(0xE000, 0x20000), *range(0xE0000, 0xF0000)]
    removed = "".join(re.escape(c) for c in map(chr, codes) if _removed(c))
    return re.compile(f"[{removed}]+")


@functools.cache
def _spaced_removed_pattern() -> re.Pattern[str]:
    """A run of removed characters with whitespace on both sides (`a \\u00ad b`): the gap a
    user sees is one blank, read as a word break is (one space), not as the two spaces left
    once the run is removed. One character of lookaround each side: linear in a line."""
    return re.compile(f"(?<=\\s){_removed_pattern().pattern}(?=\\s)")


def clean_sentence(text: str) -> str:
    """The sentence the corpus reader keeps of a line (module docstring): U+200B and U+FEFF
    separate words (a word break and the whitespace beside it are one space), other invisible
    format characters are removed, NFC, ends stripped; '' exactly when `sentence_text` gives
    ''."""
    if text.isascii():  # no format character, already NFC: the common case, at its speed
        return sentence_text(text)
    # a removed run between whitespace is read as a word break, so the gap is one space
    kept = _spaced_removed_pattern().sub("\u200b", text)
    kept = _removed_pattern().sub("", kept)
    pieces = _BREAK_RUN.split(kept)
    if len(pieces) > 1:  # a word break and the whitespace beside it are one space; whitespace
        # away from a word break is left as typed (the tokens of such a line do not change)
        inner = [p.strip() for p in pieces[1:-1]]
        kept = " ".join([pieces[0].rstrip(), *inner, pieces[-1].lstrip()])
    return sentence_text(unicodedata.normalize("NFC", kept))


def invisible_inside(text: str) -> list[str]:
    """The invisible characters inside a line's sentence that `clean_sentence` reads as a word
    break or removes, each once, in order of first appearance (what `ganhub data check`
    notes)."""
    if text.isascii():
        return []
    inner = sentence_text(text)
    breaks = {m.start() for m in BLANK_FILLER.finditer(inner)}
    found = (c for i, c in enumerate(inner) if c in WORD_BREAKS or i in breaks or _removed(c))
    return list(dict.fromkeys(found))


def describe_invisible(chars: Iterable[str]) -> str:
    """'U+200B (a word break), U+00AD (removed)' for `invisible_inside`'s characters."""
    breaks = WORD_BREAKS | FILLERS  # a filler listed there is a blank one: a word break
    return ", ".join(
        f"U+{ord(c):04X} ({'a word break' if c in breaks else 'removed'})" for c in chars
    )


# -- samples, written one a line ---------------------------------------------------------------

# how a sample that draws nothing is written (samples/*.txt) and printed: a blank line read as a
# failure, or as no sample at all (the Python functions return "")
EMPTY = "(empty)"
# what `sample_line` escapes: a backslash; what ends a line for an editor or for
# str.splitlines, which ganhub's readers of samples use (\n \r \v \f \x1c-\x1e \x85 \u2028
# \u2029); and every other control character but the tab (C0, DEL, C1: NUL, ESC, CSI), which a
# terminal acts on instead of drawing: an escape sequence in a training file, and so in a
# run's vocabulary and its samples, recoloured or retitled the terminal that printed them
_TO_ESCAPE = re.compile(r"[\\\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
# the escapes `sample_line` writes: a backslash doubled, a control character as its Python
# escape, and `\(` for the "(" of a sample that is literally `(empty)`
_ESCAPED = re.compile(r"\\(?:[\\n(r]|x[0-9a-f]{2}|u[0-9a-f]{4})")
_UNESCAPE = {"\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\(": "("}


def _escape(m: re.Match[str]) -> str:
    """A backslash or a control character as its Python escape (`\\\\`, `\\n`, `\\x1b`,
    `\\u2028`)."""
    return m.group().encode("unicode_escape").decode("ascii")


def sample_line(text: str) -> str:
    """A sample as one line of a samples file or of the console, one that `read_sample_line`
    reads back: `EMPTY` for a sample that draws nothing (no words: G wrote <eos> first), a
    backslash doubled, a line break inside it (a byte-level tokenizer can write one) as its
    Python escape (`\\n`, `\\u2028`), so the file holds one sample a line, any other control
    character but the tab too (`\\x1b`: drawn, not obeyed by the terminal), and a sample that
    is literally `(empty)` as `\\(empty)`."""
    if not sentence_text(text):
        return EMPTY
    if text == EMPTY:
        return "\\" + EMPTY
    return _TO_ESCAPE.sub(_escape, text)


def read_sample_line(line: str) -> str:
    """The sample a line of a samples file holds (`sample_line` undone): `(empty)` is the empty
    sample "", the escapes are read back, any other character is itself."""
    if line == EMPTY:
        return ""

    def unescape(m: re.Match[str]) -> str:
        code = m.group()
        return _UNESCAPE.get(code) or chr(int(code[2:], 16))

    return _ESCAPED.sub(unescape, line)


__all__ = [
    "EMPTY",
    "EXPORT_MARKER",
    "Line",
    "clean_sentence",
    "describe_invisible",
    "invisible_inside",
    "read_numbered",
    "read_sample_line",
    "sample_line",
    "sentence_text",
    "wide_encoding",
]
