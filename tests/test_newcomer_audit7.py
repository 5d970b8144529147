"""A newcomer's mistakes on the command line: a plain resume of a finished run, samples of a
run whose folder cannot be written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import ganhub

QUICK = ["trainer.progress=false", "eval.metrics=[]", "loggers=[]"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A toy2d run trained to its trainer.steps."""
    out = tmp_path_factory.mktemp("runs")
    summary = ganhub.train(["plugin=toy2d", "trainer.steps=2", *QUICK, f"out_dir={out}"])
    return Path(summary["run_dir"])


def test_a_plain_resume_of_a_finished_run_says_how_to_train_on(cli: Any, finished: Path) -> None:
    code, out, err = cli("run", f"resume={finished}")
    assert code == 0, err
    assert "no step trained" in out
    assert (
        "ganhub: note: the run had reached trainer.steps=2, so no step was trained; to train on: "
        f"ganhub run resume={finished} trainer.steps=N (N above 2)"
    ) in err


def test_samples_of_a_run_that_cannot_be_written_name_out(
    cli: Any, finished: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run folder that cannot be written (another user's, a read-only mount) failed with the
    OS error on a hidden temporary file, and never said that --out writes elsewhere."""
    samples = finished / "samples"
    if os.geteuid() == 0:  # root writes anywhere: the OS is asked, as for another user
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, m, **k: Path(p) != samples and real(p, m))
    else:
        samples.chmod(0o555)
    try:
        before = sorted(samples.iterdir())
        code, _, err = cli("sample", str(finished))
    finally:
        samples.chmod(0o755)
    assert code == 2, err
    assert err.strip().splitlines() == [
        f"ganhub: error: samples cannot be written to '{samples}': no permission to write in "
        f"{samples}; give --out DIR to write them elsewhere"
    ]
    assert sorted(samples.iterdir()) == before
    code, out, err = cli("sample", str(finished), "--out", str(finished.parent / "elsewhere"))
    assert code == 0, err
    assert Path(out.split()[0]).is_file()
