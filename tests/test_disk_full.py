"""A full disk (or a second Ctrl-C) while ganhub writes a run's own files: nothing half-written
is left behind, and failed.json says what stopped the run in words."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
import torch

from ganhub.engine import checkpoint
from ganhub.engine.rundir import FAILED_FILE, RunDirectory


def _full(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_failed_json_that_cannot_be_written_leaves_no_temporary_file(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty .failed.json.tmp was left next to the checkpoints on a full disk."""
    directory = RunDirectory.create(workdir / "runs", "r")
    monkeypatch.setattr(Path, "replace", _full)
    directory.fail(OSError(errno.ENOSPC, "No space left on device"), step=3, resumable=True)
    assert sorted(p.name for p in directory.path.iterdir() if p.name != ".lock") == []


def test_a_second_ctrl_c_is_recorded_in_words(workdir: Path) -> None:
    """failed.json said "KeyboardInterrupt: KeyboardInterrupt" (an error without a message)."""
    directory = RunDirectory.create(workdir / "runs", "r")
    directory.fail(KeyboardInterrupt(), step=7, resumable=True)
    record = json.loads((directory.path / FAILED_FILE).read_text())
    assert record["error"] == "aborted by a second Ctrl-C" and record["step"] == 7
    directory = RunDirectory.create(workdir / "runs", "s")
    directory.fail(RuntimeError(), step=7, resumable=True)
    assert json.loads((directory.path / FAILED_FILE).read_text())["error"] == "RuntimeError"


def test_a_checkpoint_cut_short_by_a_full_disk_leaves_no_temporary_folder(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """checkpoints/.step_0000300.tmp stayed, and a resume failing the same way kept it."""
    folder = workdir / "checkpoints"
    weights = {"w": torch.ones(3)}
    checkpoint.save(folder, 1, weights, {"step": 1}, keep=2)
    monkeypatch.setattr(checkpoint, "save_file", _full)
    with pytest.raises(Exception, match="No space left on device"):
        checkpoint.save(folder, 2, weights, {"step": 2}, keep=2)
    assert sorted(p.name for p in folder.iterdir()) == ["latest", "step_0000001"]


def test_a_run_without_a_checkpoint_says_what_to_do_on_resume(workdir: Path) -> None:
    """A run killed before its first checkpoint: "it holds no complete checkpoint to resume
    from" and no word of what would work."""
    import shutil

    import ganhub
    from ganhub.errors import ConfigError

    from .conftest import TINY_TOY

    run = Path(ganhub.train([*TINY_TOY, "name=k"])["run_dir"])
    shutil.rmtree(run / "checkpoints")  # as a kill -9 before the first save leaves it
    with pytest.raises(ConfigError, match="start a new run, with the same name once you have"):
        ganhub.train([f"resume={run}", "trainer.steps=6"])


def test_a_full_disk_names_the_checkpoint_kept_and_how_to_continue(
    cli,  # type: ignore[no-untyped-def]
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The line named only the file it could not write: a user freeing space had to find out
    which checkpoint survived, and that the run resumes from it."""
    from .conftest import TINY_TOY

    real_save = checkpoint.save_file
    calls: list[object] = []

    def fills_up(tensors: object, filename: object, *args: object, **kwargs: object) -> None:
        calls.append(filename)
        if len(calls) > 2:  # the first checkpoint (two files) fits; the second finds it full
            raise OSError(errno.ENOSPC, "No space left on device", str(filename))
        real_save(tensors, filename, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(checkpoint, "save_file", fills_up)
    args = [*TINY_TOY, "name=full", "trainer.steps=8", "trainer.checkpoint_every=4"]
    code, _, err = cli("run", *args)
    assert code == 2 and err.count("\n") == 1, err
    assert (
        "No space left on device; the run keeps checkpoints/step_0000004: free space, then " in err
    )
    assert err.rstrip().endswith("ganhub run resume=runs/full"), err
