"""Errors meant for people: one line, the key or file, the bad value, what would be valid."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


class GanhubError(Exception):
    """Base class of every error ganhub raises on purpose."""

    exit_code = 1


class UsageError(GanhubError):
    """The user asked for something that cannot work (bad key, value, plugin, path); exit 2."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration value or combination is invalid."""


class PluginError(UsageError):
    """A plugin or registry entry is unknown or could not be loaded."""


class UnknownName(ConfigError, PluginError):
    """A name no registry holds (`unknown_choice`): a plugin that failed to load may be why."""


class TrainingError(GanhubError):
    """Training stopped for a reason the user must act on (NaN loss, diverged run)."""

    exit_code = 3


class Diverged(TrainingError):
    """Training stopped because `what` (`loss D, G`, or `weights`) became NaN/Inf at or before
    `step`; `checkpoint` is the run's last good one (None: none was written). The message is
    `ganhub run`'s; the fields let a caller that trains in pieces word its own (`ganhub meta`
    names its outer step and its own checkpoint)."""

    hint = "Try a lower learning rate, clip_grad, or precision=32"

    def __init__(self, what: str, step: int, checkpoint: object = None, refused: str = "") -> None:
        self.what, self.step, self.checkpoint, self.refused = what, step, checkpoint, refused
        where = f"last good checkpoint: {checkpoint}" if checkpoint else "no checkpoint was written"
        not_done = f"; not {refused}" if refused else ""
        super().__init__(
            f"{what} became NaN/Inf at or before step {step}{not_done}; training stopped "
            f"({where}). {self.hint}"
        )

    def __reduce__(self) -> tuple[type[Diverged], tuple[str, int, object, str]]:
        return type(self), (self.what, self.step, self.checkpoint, self.refused)


_URL_USER = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")  # a URL's user:password@


def without_credentials(text: str) -> str:
    """`text` without the user names and passwords of the URLs it quotes (a tracking URI's
    `http://alice:s3cret@host` is shown as `http://host`)."""
    return _URL_USER.sub(r"\1", text)


def one_line(text: object, limit: int = 0) -> str:
    """`text` as an error message may show it: newlines, control and unprintable characters
    escaped; cut to `limit` characters if given. A byte that is not UTF-8 in a file name or
    argument (Python reads it as a lone surrogate, `latin\\udce9.png`) is shown as the byte it
    is (`latin\\xe9.png`), as `ganhub data` shows names; other lone surrogates as `\\ud800`."""
    shown = "".join(c if c.isprintable() else _escaped(c) for c in str(text))
    return shown if not limit or len(shown) <= limit else shown[: limit - 3] + "..."


def _escaped(char: str) -> str:
    if "\udc80" <= char <= "\udcff":  # os.fsdecode's surrogateescape of one byte 0x80-0xff
        return f"\\x{ord(char) - 0xDC00:02x}"
    return char.encode("unicode_escape").decode("ascii")


def first_line(exc: BaseException, limit: int) -> str:
    """The first line of an exception's message as one escaped line of at most `limit`
    characters ('' when it has none): what a one-line error quotes of a library's error."""
    text = str(exc).strip()
    return one_line(text.splitlines()[0] if text else "", limit)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest choice, or '' when none is close; a
    choice spelled the same in another case (`DCGAN` for `dcgan`) is the closest."""
    names = list(choices)
    same = [name for name in names if str(name).casefold() == str(word).casefold()]
    close = same or difflib.get_close_matches(str(word), names, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_choice(kind: str, name: str, choices: Iterable[str]) -> UnknownName:
    """Build the error for an unknown registry name, listing what exists."""
    names = sorted(choices)
    listing = ", ".join(names) if names else "none registered"
    shown = one_line(name, 100)  # a name is input: one line, however it was typed
    return UnknownName(f"unknown {kind} '{shown}'{did_you_mean(name, names)}; available: {listing}")


@contextmanager
def plugin_code(what: str, hint: str) -> Iterator[None]:
    """Run a plugin's code (`what`: "metric 'x'", "domain 'y': its check()"): an exception it
    raises becomes one PluginError line naming it, with `hint` (its traceback chained:
    GANHUB_DEBUG=1 shows it); ganhub's own one-line errors, raised on purpose, pass as they are."""
    try:
        yield
    except GanhubError:
        raise
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise PluginError(
            f"{what} raised {type(exc).__name__}: {reason[:200]} ({hint}; GANHUB_DEBUG=1 shows "
            "the traceback)"
        ) from exc


@contextmanager
def writing(path: object) -> Iterator[None]:
    """Turn a library's own write error (safetensors' SafetensorError wraps the system's:
    "I/O error: No space left on device (os error 28)") into an OSError naming `path`, which
    the command line shows as one line; other errors pass unchanged."""
    try:
        yield
    except OSError:
        raise
    except Exception as exc:
        found = re.search(r"\(os error (\d+)\)", str(exc))
        if found is None:
            raise
        code = int(found.group(1))
        raise OSError(code, os.strerror(code), str(path)) from exc


__all__ = [
    "ConfigError",
    "Diverged",
    "GanhubError",
    "PluginError",
    "TrainingError",
    "UnknownName",
    "UsageError",
    "did_you_mean",
    "first_line",
    "one_line",
    "plugin_code",
    "unknown_choice",
    "without_credentials",
    "writing",
]
