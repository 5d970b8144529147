"""`ganhub sample EXPORT data.path=DATA` of a medgan export wrote scan-derived samples into
the export (EXPORT/samples/...), breaking its promise to hold no scans: a later share leaked
them. They go to ./samples-EXPORT (or --out), said on stderr."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("monai")
pytest.importorskip("nibabel")

from ganhub.export import export_run

from .test_medgan_simulate_grid import Cli, scans, train

pytestmark = pytest.mark.usefixtures("one_thread")


def test_samples_of_an_export_are_written_outside_it(
    workdir: Path, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    data = scans(workdir / "DATA", n=3)
    export = export_run(train([f"data.path={data}"], workdir / "runs"), out=workdir / "shared")
    card = " ".join((export / "README.md").read_text().split())
    assert "ganhub sample EXPORT data.path=FOLDER" in card
    assert "ganhub sample EXPORT data.path=FOLDER" in capsys.readouterr().err
    code, out, err = cli("sample", str(export), "--n", "2", f"data.path={data}")
    assert code == 0, err
    assert not (export / "samples").exists()
    written = [Path(p) for p in out.split()]
    assert written and all(p.parent == Path("samples-shared") for p in written), out
    assert {p.name for p in (workdir / "samples-shared").iterdir()} == {p.name for p in written}
    notes = err.splitlines()
    assert len(notes) == 1 and notes[0].startswith("ganhub: note: "), err
    assert "is an export" in notes[0] and "'samples-shared', not in the export" in notes[0]
