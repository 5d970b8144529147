"""`ganhub interpret features|directions|probes EXPORT` wrote EXPORT/interpret/: an export is
made for sharing and stays as exported; without --out the pages (and probes.json) go beside
it, to ./interpret-EXPORT/, said on stderr."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import ganhub
from ganhub.export import export_run

from ..conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")
Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)


def test_features_on_an_export_writes_beside_it(cli: Cli, workdir: Path) -> None:
    ganhub.train([*TINY_DCGAN, "trainer.steps=1", "eval.metrics=[]", "name=t", "out_dir=runs"])
    shared = export_run(workdir / "runs" / "t", out=workdir / "shared")
    before = sorted(p.relative_to(shared) for p in shared.rglob("*"))
    code, out, err = cli("interpret", "features", str(shared), "--images", "1")
    assert code == 0, err
    assert sorted(p.relative_to(shared) for p in shared.rglob("*")) == before
    assert Path(out.strip()) == Path("interpret-shared") / "features.html", out
    assert (workdir / "interpret-shared" / "features.html").is_file()
    assert "is an export, made for sharing: the pages are in 'interpret-shared'" in err, err
