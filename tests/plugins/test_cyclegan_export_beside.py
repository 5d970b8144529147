"""`ganhub cyclegan translate EXPORT` wrote its PNGs into the export (EXPORT/translated_AtoB):
an export is a deliverable made for sharing and stays as exported; without --out the
translations go beside it, to ./translated_AtoB-EXPORT, said on stderr."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import ganhub
from ganhub.export import export_run

from .test_cyclegan import TINY, _png

pytestmark = pytest.mark.usefixtures("one_thread")
Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)


def test_translate_on_an_export_writes_beside_it(cli: Cli, workdir: Path) -> None:
    ganhub.train([*TINY, "trainer.steps=1", "name=t", "out_dir=runs"])
    shared = export_run(workdir / "runs" / "t", out=workdir / "shared")
    before = sorted(p.relative_to(shared) for p in shared.rglob("*"))
    _png(workdir / "in" / "a.png", np.zeros((16, 16, 3), np.uint8))
    code, out, err = cli("cyclegan", "translate", str(shared), "--input", "in")
    assert code == 0, err
    assert sorted(p.relative_to(shared) for p in shared.rglob("*")) == before
    assert (workdir / "translated_AtoB-shared" / "a.png").is_file()
    assert out.strip().endswith("to translated_AtoB-shared"), out
    assert "is an export, made for sharing" in err and "'translated_AtoB-shared'" in err, err
    # a run folder keeps RUN_DIR/translated_AtoB, without a note
    code, out, err = cli("cyclegan", "translate", "runs/t", "--input", "in")
    assert code == 0 and not err and (workdir / "runs/t/translated_AtoB/a.png").is_file(), err
