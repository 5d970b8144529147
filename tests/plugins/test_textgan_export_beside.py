"""`ganhub textgan curve EXPORT` wrote EXPORT/temperatures.json: an export is made for sharing
and stays as exported; without --out the scores go beside it, to ./temperatures-EXPORT.json,
said on stderr."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import ganhub
from ganhub.export import export_run

pytestmark = pytest.mark.usefixtures("one_thread")
Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)


def test_curve_on_an_export_writes_beside_it(cli: Cli, workdir: Path) -> None:
    ganhub.train(["plugin=textgan", "preset=tiny", "trainer.steps=2", "trainer.progress=false",
                  "loggers=[]", "eval.metrics=[]", "name=t", "out_dir=runs"])  # fmt: skip
    shared = export_run(workdir / "runs" / "t", out=workdir / "shared")
    before = sorted(p.relative_to(shared) for p in shared.rglob("*"))
    code, out, err = cli("textgan", "curve", str(shared), "--temperature", "0.8", "--n", "2")
    assert code == 0, err
    assert sorted(p.relative_to(shared) for p in shared.rglob("*")) == before
    assert (workdir / "temperatures-shared.json").is_file()
    assert out.strip().endswith("written to temperatures-shared.json"), out
    assert "is an export, made for sharing: the scores are in 'temperatures-shared.json'" in err
