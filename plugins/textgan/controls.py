"""Control characters inside a training sentence: found, shown escaped, and removed by clean.

The loader keeps a sentence's control characters (C0 but the tab, DEL, C1: NUL, ESC and the
escape sequences it starts, CSI U+009B), so each is part of a word the tokenizer learns and G
writes. They are no text a user meant to train on (a terminal's colour codes captured into a
log, a NUL of a binary file): `ganhub data check` lists the lines that hold them,
`ganhub run` says so in one line before it starts, and `ganhub data clean --out` writes a copy
without them (`strip_controls`). Samples escape them when printed (`textfile.sample_line`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path

# control characters other than the tab (\n never stays inside a line; a lone \r can)
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# an ECMA-48 escape sequence that starts with ESC, removed whole so that its parameters
# (`[31m`) leave no word: CSI (ESC [, parameters, intermediates, a final byte), OSC / DCS /
# APC / PM / SOS strings up to their terminator (BEL or ST), and ESC with one following
# character. A C1 character is removed alone: in UTF-8 text it is most often a Windows-1252
# character decoded as Latin-1 (U+009B for a closing quote), not the start of a sequence
_SEQUENCE = (
    r"\x1b\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|\x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[\x20-\x7e]?"
)
_RUN = re.compile(rf"(\s*)((?:{_SEQUENCE}|{CONTROL.pattern})+)(\s*)")
SHOWN = 5  # lines and characters a message names before "..."


def controls_in(text: str) -> list[str]:
    """The control characters (not the tab) in `text`, each once, in order of appearance."""
    if text.isprintable():  # no control character at all: the common case, at C speed
        return []
    return list(dict.fromkeys(CONTROL.findall(text)))


def escaped(chars: Iterable[str]) -> str:
    """Characters as their Python escapes, e.g. `\\x1b, \\x00, \\x9b` (drawn, never obeyed)."""
    return ", ".join(c.encode("unicode_escape").decode("ascii") for c in chars)


def _spaced(m: re.Match[str]) -> str:
    """A run of control characters and escape sequences with the whitespace around it: one
    space where it stood between two gaps or holds a character that separates like a space
    (a vertical tab, a form feed, CR, the information separators), else the whitespace as
    typed (`red\\x1b[0m.` is `red.`, `a \\x00 b` is `a b`)."""
    before, run, after = m.groups()
    if (before and after) or any(c.isspace() for c in run):
        return " "
    return before + after


def strip_controls(text: str) -> str:
    """`text` without its control characters (the tab stays), each escape sequence removed
    whole, ends stripped: the sentence `ganhub data clean --out` writes."""
    if not controls_in(text):
        return text
    return _RUN.sub(_spaced, text).strip()


def named(chars: Iterable[str]) -> str:
    """Characters as their escapes and code points: `\\x1b (U+001B), \\x00 (U+0000)`."""
    return ", ".join(f"{escaped(c)} (U+{ord(c):04X})" for c in chars)


def describe_lines(items: Sequence[str], chars: Iterable[str]) -> str:
    """'2 lines (lines.txt:6, lines.txt:10): \\x1b, \\x00' for items that hold `chars`."""
    found = list(dict.fromkeys(chars))
    names = ", ".join(items[:SHOWN]) + (", ..." if len(items) > SHOWN else "")
    shown = escaped(found[:SHOWN]) + (", ..." if len(found) > SHOWN else "")
    return f"{len(items)} line{'s' * (len(items) != 1)} ({names}): {shown}"


def run_warning(key: str, check: str, clean: str | None, sentences: Sequence[str]) -> list[str]:
    """The one line `ganhub run` prints when sentences it trains on hold control characters:
    how many, which (escaped), and the commands that list them (`check`: `ganhub data check`'s
    arguments) and remove them (`clean`: `ganhub data clean`'s, or None where it writes no
    text copy); none when no sentence holds one."""
    held = [chars for text in sentences if (chars := controls_in(text))]
    if not held:
        return []
    found = list(dict.fromkeys(c for chars in held for c in chars))
    shown = escaped(found[:SHOWN]) + (", ..." if len(found) > SHOWN else "")
    fix = (
        f"ganhub data clean {clean} writes a copy without them"
        if clean
        else "remove them from the files"
    )
    return [
        f"textgan: warning: {key}: {len(held)} of {len(sentences)} sentences hold control "
        f"characters ({shown}), trained as parts of their words; ganhub data check {check} "
        f"lists their lines, {fix}"
    ]


def files_warning(paths: Sequence[Path], sentences: Sequence[str]) -> list[str]:
    """`run_warning` for a run's text files: task=generate's data.path (one path), whose
    `ganhub data clean --out` copy drops them, or task=transfer's two data.style_paths."""
    if len(paths) == 1:
        check = f"{shlex.quote(str(paths[0]))} plugin=textgan"
        return run_warning("data.path", check, f"{check} --out clean.txt", sentences)
    given = shlex.quote(f"data.style_paths=[{','.join(str(p) for p in paths)}]")
    return run_warning("data.style_paths", f"plugin=textgan task=transfer {given}", None, sentences)


__all__ = [
    "CONTROL",
    "controls_in",
    "describe_lines",
    "escaped",
    "files_warning",
    "run_warning",
    "strip_controls",
]
