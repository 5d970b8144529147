"""`ganhub stylegan explore|mix|truncation|interpolate` and `ganhub eval` on an export write
beside it (./samples-EXPORT as `ganhub sample` does, ./eval-EXPORT.json), not into the export: an export is a deliverable
and stays as exported (and may be on a read-only share)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import ganhub
from ganhub.export import export_run

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)


def test_stylegan_commands_on_an_export_write_beside_it(cli: Cli, workdir: Path) -> None:
    ganhub.train(["plugin=stylegan", "preset=tiny", "model.image_size=8", "trainer.steps=1",
                  "trainer.progress=false", "loggers=[jsonl]", "name=t", "out_dir=runs"])  # fmt: skip
    shared = export_run(workdir / "runs" / "t", out=workdir / "shared")
    before = sorted(p.relative_to(shared) for p in shared.rglob("*"))
    code, out, err = cli("stylegan", "truncation", str(shared), "--n", "1")
    assert code == 0, err
    assert [Path(p) for p in out.split()] == [Path("samples-shared") / "seed0_n1_truncation.png"]
    assert (workdir / "samples-shared" / "seed0_n1_truncation.png").is_file()
    assert "is an export, made for sharing: the samples are in 'samples-shared'" in err, err
    assert sorted(p.relative_to(shared) for p in shared.rglob("*")) == before
    # `ganhub eval` on an export: the scores beside it, ./eval-EXPORT.json
    code, out, err = cli("eval", str(shared), "--n", "4", "eval.metrics=[precision_recall]")
    assert code == 0, err
    assert (workdir / "eval-shared.json").is_file() and "eval-shared.json" in out, out
    assert sorted(p.relative_to(shared) for p in shared.rglob("*")) == before
    # a run's own commands still write into RUN_DIR/samples, without a note
    code, out, err = cli("stylegan", "truncation", "runs/t", "--n", "1")
    assert code == 0 and not err and Path(out.strip()).parent == Path("runs/t/samples"), err
