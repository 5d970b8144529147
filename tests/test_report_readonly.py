"""`ganhub report --out` for a run folder that cannot be written (a read-only mount, another
user's run): the page and its plots go where the user can write, the run is left untouched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ganhub.metrics import store

from .test_report import trained_run  # noqa: F401  # the fixture


def test_a_run_folder_that_cannot_be_written_keeps_nothing(
    cli,  # type: ignore[no-untyped-def]
    trained_run: Path,  # noqa: F811
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It failed with "RUN/report: Read-only file system" after writing the page elsewhere."""
    before = sorted(p.relative_to(trained_run) for p in trained_run.rglob("*"))
    writable = os.access

    def unwritable_run(path: object, mode: int, *args: object, **kwargs: object) -> bool:
        if Path(str(path)).resolve() == trained_run.resolve() and mode & os.W_OK:
            return False  # as on a read-only mount (root may write anywhere else)
        return writable(path, mode, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", unwritable_run)
    code, out, err = cli("report", str(trained_run), "--out", "pages/run.html")
    assert code == 0, err
    assert Path(out.strip()) == Path("pages/run.html")
    plots = sorted(p.name for p in (workdir / "pages" / "run-plots").iterdir())
    assert "losses.png" in plots
    assert "run-plots/losses.png" in (workdir / "pages" / "run.html").read_text()
    assert sorted(p.relative_to(trained_run) for p in trained_run.rglob("*")) == before


def test_a_read_only_file_system_is_named_as_such(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ganhub eval` on a read-only mount said "no permission in RUN"."""
    from ganhub.errors import UsageError

    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    monkeypatch.setattr(store, "read_only", lambda folder: True)
    with pytest.raises(UsageError, match=r"^out\.json cannot be written: \. is on a read-only"):
        store.check_output_file(Path("out.json"))
