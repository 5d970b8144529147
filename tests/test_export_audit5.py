"""`ganhub export` audit 5: an export of an export goes beside it, not into it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import ganhub
from ganhub.export import export_run

from .conftest import TINY_TOY


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    return Path(ganhub.train([*TINY_TOY, f"out_dir={root}", "name=toy"])["run_dir"])


def test_an_export_of_an_export_goes_beside_it(toy_run: Path, workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    first = export_run(toy_run, out=workdir / "shared" / "first")
    before = sorted(p.name for p in first.iterdir())
    code, out, err = cli("export", str(first))
    assert code == 0, err
    # made for sharing (maybe on a read-only share): nothing is written into it
    assert sorted(p.name for p in first.iterdir()) == before
    written = Path(out.strip())
    assert written == workdir / "export-safetensors-first" and (written / "export.json").is_file()
    assert "'export-safetensors-first'" in err and "--out DIR" in err


def test_an_out_that_is_a_file_is_refused_in_ganhubs_line(
    toy_run: Path, workdir: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    (workdir / "notes.txt").write_text("mine")
    code, out, err = cli("export", str(toy_run), "--out", "notes.txt")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        f"ganhub: error: --out '{workdir / 'notes.txt'}' is a file or a link; give a folder"
    ]
    assert (workdir / "notes.txt").read_text() == "mine"


def test_forcing_an_export_in_the_working_folder_keeps_that_folder(
    toy_run: Path, workdir: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    mine = export_run(toy_run, out=workdir / "mine", seed=1)
    monkeypatch.chdir(mine)  # the user's shell is in the earlier export
    code, _out, err = cli("export", str(toy_run), "--out", ".", "--force")
    assert code == 0, err
    # replaced in place: the shell's folder is the new export, not a deleted one
    assert os.path.samefile(os.getcwd(), mine) and Path("export.json").is_file()
    assert '"seed": 0' in Path("export.json").read_text()
    assert sorted(p.name for p in workdir.iterdir()) == ["mine"]  # nothing left aside
