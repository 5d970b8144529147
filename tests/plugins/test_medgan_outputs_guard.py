"""`ganhub medgan simulate` and `predict` keep what `--out` holds, and a resume keeps its frame.

Both commands replaced simulated.nii.gz / predicted.nii.gz (and their mask and PNG) in `--out`
without a word, and a failure part-way left new files beside old ones. Now a file already
there is refused, by name, before the run is opened, `--force` replaces it, and the files of
one call appear all or none (as `cyclegan translate`'s PNGs do). `resume=RUN
data.orientation=LPS` on a RAS run trained on mirrored voxels with no note; it is refused like
another task.

DATA: the embedded 2D phantoms; tiny runs (16 px, one step) shared by the module.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("monai")
pytest.importorskip("nibabel")

from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError, UsageError

from .test_medgan_simulate_grid import Cli, train

pytestmark = pytest.mark.usefixtures("one_thread")

SIMULATED = ("simulated.nii.gz", "simulated_mask.nii.gz", "simulated.png")
PREDICTED = ("predicted.nii.gz", "predicted.png")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A task=lesion and a task=progress run on the phantoms."""
    out = tmp_path_factory.mktemp("runs")
    return {task: train([f"task={task}"], out / task) for task in ("lesion", "progress")}


def _contents(folder: Path) -> dict[str, bytes]:
    """Every entry of `folder` (hidden ones too) with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _simulate(cli: Cli, run: Path, out: Path, at: str, *extra: str) -> tuple[int, str, str]:
    return cli("medgan", "simulate", str(run), "--at", at, "--radius", "2", "--out", str(out),
               *extra)  # fmt: skip


def test_simulate_refuses_files_in_out_before_opening_the_run(
    runs: dict[str, Path], tmp_path: Path, cli: Cli
) -> None:
    out = tmp_path / "sim"
    code, printed, err = _simulate(cli, runs["lesion"], out, "8,8")
    assert code == 0, err
    assert printed.split() == [str(out / name) for name in SIMULATED]
    before = _contents(out)
    assert set(before) == set(SIMULATED)  # no staging folder left behind
    code, _, err = _simulate(cli, runs["lesion"], out, "4,4")
    error = [line for line in err.splitlines() if line.startswith("ganhub: error:")]
    assert code == 2 and len(error) == 1, err
    assert f"--out {out} already holds '{out / 'simulated.nii.gz'}' (and 2 more)" in error[0]
    assert "--force" in error[0] and "replace" in error[0]
    assert _contents(out) == before
    # refused before the run is opened: a directory that is no medgan run gets the same line
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.yaml").write_text("plugin: toy2d\n")
    code, _, err = _simulate(cli, other, out, "4,4")
    assert code == 2 and "already holds" in err and "toy2d" not in err, err
    # --force replaces all three
    code, _, err = _simulate(cli, runs["lesion"], out, "4,4", "--force")
    assert code == 0, err
    after = _contents(out)
    assert set(after) == set(SIMULATED)
    assert all(after[name] != before[name] for name in SIMULATED), "another lesion, other files"


def test_predict_refuses_and_force_replaces(
    runs: dict[str, Path], tmp_path: Path, cli: Cli
) -> None:
    out = tmp_path / "pred"
    out.mkdir()
    (out / "predicted.png").write_bytes(b"mine")
    code, _, err = cli("medgan", "predict", str(runs["progress"]), "--out", str(out))
    assert code == 2 and f"already holds '{out / 'predicted.png'}'" in err, err
    assert "(and" not in err and "to replace it" in err
    assert _contents(out) == {"predicted.png": b"mine"}
    code, printed, err = cli("medgan", "predict", str(runs["progress"]), "--out", str(out),
                             "--force")  # fmt: skip
    assert code == 0, err
    assert printed.split() == [str(out / name) for name in PREDICTED]
    after = _contents(out)
    assert set(after) == set(PREDICTED) and after["predicted.png"].startswith(b"\x89PNG")


def test_help_says_force(cli: Cli) -> None:
    for verb, together in (("simulate", "all or none"), ("predict", "both or neither")):
        code, out, _ = cli("medgan", verb, "--help")
        assert code == 0 and "--force" in out and together in out, out
        assert "refused, by" in out and "name, before anything is read, unless --force" in out


def _failing_png(monkeypatch: pytest.MonkeyPatch) -> None:
    """The PNG, written last, fails: the NIfTI files before it are already written."""
    import ganhub_medgan.outputs as outputs

    def broken(columns: object, path: Path) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(outputs, "write_grid", broken)


def test_a_failure_part_way_leaves_out_as_it_was(
    runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old files stay (none replaced, none new beside them); a new --out is not made."""
    from ganhub_medgan.predict import predict_to_files
    from ganhub_medgan.simulate import simulate_to_files

    out = tmp_path / "sim"
    simulate_to_files(runs["lesion"], out, at=[8.0, 8.0], radius=2.0)
    pred = tmp_path / "pred"
    predict_to_files(runs["progress"], pred)
    before = {"sim": _contents(out), "pred": _contents(pred)}
    _failing_png(monkeypatch)
    with pytest.raises(OSError, match="disk full"):  # the NIfTI files were left there
        simulate_to_files(runs["lesion"], tmp_path / "new" / "sim", at=[4.0, 4.0], radius=2.0)
    assert not (tmp_path / "new").exists()
    with pytest.raises(OSError, match="disk full"):
        simulate_to_files(runs["lesion"], out, at=[4.0, 4.0], radius=2.0, force=True)
    with pytest.raises(OSError, match="disk full"):
        predict_to_files(runs["progress"], pred, force=True)
    assert {"sim": _contents(out), "pred": _contents(pred)} == before


def test_a_move_that_fails_puts_the_old_files_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All or none in the renames too: the second file's move fails after the first moved."""
    import os

    from ganhub_medgan import outputs

    out = tmp_path / "out"
    out.mkdir()
    for name in ("a.txt", "b.txt"):
        (out / name).write_text(f"old {name}")
    real, failed = os.replace, []

    def replace(src: str | Path, dst: str | Path) -> None:
        if Path(dst) == out / "b.txt" and not failed:  # once: putting it back works
            failed.append(dst)
            raise OSError("gone")
        real(src, dst)

    monkeypatch.setattr(outputs.os, "replace", replace)
    files = {name: (lambda p, n=name: p.write_text(f"new {n}")) for name in ("a.txt", "b.txt")}
    with pytest.raises(OSError, match="gone"):
        outputs.write_all(out, files, force=True)
    monkeypatch.undo()
    assert _contents(out) == {"a.txt": b"old a.txt", "b.txt": b"old b.txt"}
    with pytest.raises(UsageError, match=r"already holds '.*a\.txt' \(and 1 more\)"):
        outputs.write_all(out, files)
    assert outputs.write_all(out, files, force=True) == [out / "a.txt", out / "b.txt"]
    assert _contents(out) == {"a.txt": b"new a.txt", "b.txt": b"new b.txt"}


def test_a_resume_cannot_change_the_orientation(runs: dict[str, Path]) -> None:
    run = runs["lesion"]
    with pytest.raises(ConfigError, match=r"^data.orientation=LPS: .* trained with "
                       r"data.orientation=RAS, and a resumed run's data.orientation cannot "
                       r"change; make a new run \(data.orientation=LPS init_from="):  # fmt: skip
        resolve([f"resume={run}", "data.orientation=LPS", "trainer.steps=2"])
    # the same orientation again is no change
    config = resolve([f"resume={run}", "data.orientation=RAS", "trainer.steps=2"])
    assert config.data.orientation == "RAS"  # type: ignore[attr-defined]
