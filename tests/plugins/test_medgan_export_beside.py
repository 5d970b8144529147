"""`ganhub medgan simulate|predict EXPORT` wrote into the export (EXPORT/simulated,
EXPORT/predicted): an export is made for sharing and stays as exported; without --out the
outputs go beside it, to ./simulated-EXPORT and ./predicted-EXPORT, said on stderr."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("monai")
pytest.importorskip("nibabel")

from ganhub.export import export_run

from .test_medgan_simulate_grid import Cli, train

pytestmark = pytest.mark.usefixtures("one_thread")


def test_simulate_and_predict_on_an_export_write_beside_it(cli: Cli, workdir: Path) -> None:
    cases = (("lesion", "simulate", "simulated", ["--at", "8,8", "--radius", "2"]),
             ("progress", "predict", "predicted", []))  # fmt: skip
    for task, verb, name, args in cases:
        run = train([f"task={task}", f"name={task}"], workdir / "runs")
        shared = export_run(run, out=workdir / f"shared_{task}")
        before = sorted(p.relative_to(shared) for p in shared.rglob("*"))
        code, out, err = cli("medgan", verb, str(shared), *args)
        assert code == 0, err
        assert sorted(p.relative_to(shared) for p in shared.rglob("*")) == before
        folder = Path(f"{name}-shared_{task}")
        written = [Path(p) for p in out.split()]
        assert written and all(p.parent == folder and p.is_file() for p in written), out
        assert "is an export, made for sharing" in err and f"'{folder}'" in err, err
        code, out, err = cli("medgan", verb, str(run), *args)  # a run folder: RUN_DIR/NAME
        assert code == 0 and not err and Path(out.split()[0]).parent == run / name, err
