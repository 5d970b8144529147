"""`ganhub report --out` for a run folder that cannot be written (a read-only mount, another
user's run): the page and its plots go where the user can write, the run is left untouched."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ganhub.metrics import store

from .test_report import trained_run  # noqa: F401  # the fixture


def _refuse_writes(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`run` takes no files, as on a read-only mount (root may write anywhere else)."""
    writable = os.access

    def unwritable_run(path: object, mode: int, *args: object, **kwargs: object) -> bool:
        if Path(str(path)).resolve() == run.resolve() and mode & os.W_OK:
            return False
        return writable(path, mode, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", unwritable_run)


def test_a_run_folder_that_cannot_be_written_keeps_nothing(
    cli,  # type: ignore[no-untyped-def]
    trained_run: Path,  # noqa: F811
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It failed with "RUN/report: Read-only file system" after writing the page elsewhere."""
    before = sorted(p.relative_to(trained_run) for p in trained_run.rglob("*"))
    _refuse_writes(trained_run, monkeypatch)
    code, out, err = cli("report", str(trained_run), "--out", "pages/run.html")
    assert code == 0, err
    assert Path(out.strip()) == Path("pages/run.html")
    plots = sorted(p.name for p in (workdir / "pages" / "run-plots").iterdir())
    assert "losses.png" in plots
    assert "run-plots/losses.png" in (workdir / "pages" / "run.html").read_text()
    assert sorted(p.relative_to(trained_run) for p in trained_run.rglob("*")) == before


def test_eval_of_a_run_folder_that_cannot_be_written_takes_out(
    cli,  # type: ignore[no-untyped-def]
    trained_run: Path,  # noqa: F811
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`ganhub eval` on a read-only run could only fail: the scores go to `--out FILE`, which
    the refusal names; a second scoring into the same file keeps the first's other scores."""
    before = sorted(p.relative_to(trained_run) for p in trained_run.rglob("*"))
    _refuse_writes(trained_run, monkeypatch)
    code, _, err = cli("eval", str(trained_run), "--n", "200")
    assert code == 2 and err.count("\n") == 1 and "give --out FILE to write elsewhere" in err, err
    code, out, err = cli("eval", str(trained_run), "--n", "200", "--out", "scores/run.json",
                         "eval.metrics=[mode_coverage_2d]")  # fmt: skip
    assert code == 0, err
    assert out.rstrip().endswith("written to scores/run.json")
    first = json.loads((workdir / "scores" / "run.json").read_text())
    assert first["run_dir"] == str(trained_run) and first["results"]
    # an earlier scoring in the file (a metric of a plugin, say) is kept beside the new one,
    # where the file scored this run; another run's file is written over
    saved = workdir / "scores" / "run.json"
    for folder, kept in ((str(trained_run), True), ("runs/other", False)):
        earlier = {**first, "run_dir": folder, "metrics": [*first["metrics"], "mine"]}
        earlier["results"] = {**first["results"], "mine_score": {"mean": 1.0, "std": None,
                                                                 "values": [1.0]}}  # fmt: skip
        saved.write_text(json.dumps(earlier))
        code, _, err = cli("eval", str(trained_run), "--n", "200", "--out", str(saved))
        assert code == 0, err
        assert ("mine_score" in json.loads(saved.read_text())["results"]) is kept, folder
    assert sorted(p.relative_to(trained_run) for p in trained_run.rglob("*")) == before


def test_eval_out_naming_a_folder_writes_eval_json_in_it(
    cli,  # type: ignore[no-untyped-def]
    trained_run: Path,  # noqa: F811
    workdir: Path,
) -> None:
    """`--out scores/` wrote a file named `scores` (click's path type drops the slash)."""
    code, out, err = cli("eval", str(trained_run), "--n", "200", "--out", "scores/",
                         "eval.metrics=[mode_coverage_2d]")  # fmt: skip
    assert code == 0, err
    assert json.loads((workdir / "scores" / "eval.json").read_text())["results"]
    assert out.rstrip().endswith(f"written to {Path('scores/eval.json')}"), out


def test_a_read_only_file_system_is_named_as_such(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ganhub eval` on a read-only mount said "no permission in RUN"."""
    from ganhub.errors import UsageError

    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    monkeypatch.setattr(store, "read_only", lambda folder: True)
    with pytest.raises(UsageError, match=r"^out\.json cannot be written: \. is on a read-only"):
        store.check_output_file(Path("out.json"))
