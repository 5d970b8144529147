"""ganhub tune, as a user: a `storage=` with `~` or `$VAR` is refused naming it as typed (then
the expanded path the refusal is about), and a storage file that holds something else is
refused in one line, not a traceback (a journal) nor after retries (an SQLite file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

optuna = pytest.importorskip("optuna")


def _refused(cli: Any, *args: str) -> str:
    code, out, err = cli("tune", "plugin=toy2d", "trials=1", "out=studies", *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, (code, out, err)
    return lines[0]


@pytest.mark.parametrize(
    ("storage", "kind"),
    [("sqlite:///~/nope/s.db", "database"), ("sqlite:///$TUNE_HOME/nope/s.db", "database"),
     ("~/nope/s.journal", "journal")],
)  # fmt: skip
def test_an_expanded_storage_is_named_as_typed(
    cli: Any, workdir: Path, monkeypatch: pytest.MonkeyPatch, storage: str, kind: str
) -> None:
    """The line began `storage=sqlite:////home/me/nope/s.db:`, a URL the user never typed."""
    monkeypatch.setenv("HOME", str(workdir))
    monkeypatch.setenv("TUNE_HOME", str(workdir))
    folder = workdir / "nope"
    assert _refused(cli, f"storage={storage}") == (
        f"ganhub: error: storage={storage}: the folder {folder} does not exist; create it "
        f"(mkdir -p {folder}), or give a {kind} file in a folder that exists"
    )
    assert not (workdir / "studies").exists()


@pytest.mark.parametrize(
    ("name", "url", "kind", "lines"),
    [("s.journal", "~/s.journal", "an Optuna journal", 8),
     ("s.journal", "$HOME/s.journal", "an Optuna journal", 1),
     ("s.db", "sqlite:///~/s.db", "an SQLite database", 8)],
)  # fmt: skip
def test_a_storage_file_of_something_else_is_refused_in_one_line(
    cli: Any, workdir: Path, monkeypatch: pytest.MonkeyPatch, name: str, url: str, kind: str,
    lines: int,
) -> None:  # fmt: skip
    """A journal that is no journal raised a JSONDecodeError traceback (one of one line, which
    Optuna skips as a write cut short, was written to first); an SQLite file that is no
    database was retried for seconds, then said to give a folder one can write to."""
    monkeypatch.setenv("HOME", str(workdir))
    text = "these are notes, not a study\n" * lines
    (workdir / name).write_text(text)
    assert _refused(cli, f"storage={url}") == (
        f"ganhub: error: storage={url}: the file {workdir / name} is not {kind}; give a new "
        "file's path, or the one a study wrote"
    )
    assert (workdir / name).read_text() == text
    assert not (workdir / "studies").exists()
