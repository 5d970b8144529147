"""Small user-facing faults: `ganhub adapt` of a meta run named it as a literal "RUN's"; ganhub
meta's batch refusal named data.n_shots when meta.n_shots was typed; medgan's `ganhub data
convert` resized a folder's proportions without the note a run prints; a task folder of
broken symlinks only was said to hold no NIfTI files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ganhub.adapt import adapt_config

pytestmark = pytest.mark.usefixtures("one_thread")

META = ["plugin=dcgan", "preset=tiny", "meta.classes=[0,1,2]", "meta.outer_steps=2",
        "meta.inner_steps=1", "trainer.progress=false"]  # fmt: skip
MED = ["plugin=medgan", "task=generate", "spatial_dims=3", "model.image_size=16"]
ASPECT = "the aspect ratio changed"
Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)


# -- ganhub adapt / ganhub meta -----------------------------------------------------------------


def test_adapt_of_a_meta_run_names_the_run_in_its_shots_note(workdir: Path, cli: Cli) -> None:
    code, _, err = cli("meta", *META, "meta.n_shots=5", "trainer.batch_size=5", "name=m")
    assert code == 0, err
    run = workdir / "runs" / "m"
    notes: list[str] = []
    config = adapt_config(run, ["data.classes=[8]"], notes=notes)
    assert config.data.n_shots == 5  # type: ignore[attr-defined]  # the tasks' shots
    said = [n for n in notes if n.startswith("data.n_shots=5:")]
    assert len(said) == 1, notes
    assert f"each task of {run}'s meta-training trained on" in said[0], said
    assert "RUN" not in said[0], said


@pytest.mark.parametrize("key", ["meta.n_shots", "data.n_shots"])
def test_meta_batch_refusal_names_the_shots_key_as_typed(workdir: Path, cli: Cli, key: str) -> None:
    code, _, err = cli("meta", *META, f"{key}=5", "name=m")  # tiny's batch: 16
    other = "data.n_shots" if key == "meta.n_shots" else "meta.n_shots"
    assert code == 2 and "trainer.batch_size=16" in err and f"{key}=5 images" in err, err
    assert other not in err, err
    assert not (workdir / "runs" / "m").exists()
    # more shots than a task's class holds: the domain's line, the key as typed too
    code, _, err = cli("meta", *META, f"{key}=5000", "trainer.batch_size=2", "name=m")
    assert code == 2 and f"{key}=5000" in err and other not in err, err
    assert not (workdir / "runs" / "m").exists()


# -- medgan -------------------------------------------------------------------------------------


def _volumes(root: Path, mm: tuple[float, ...], n: int = 2) -> Path:
    nib = pytest.importorskip("nibabel")
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        data = np.random.default_rng(i).uniform(0, 9, (16, 16, 16)).astype(np.float32)
        nib.save(nib.Nifti1Image(data, np.diag([*mm, 1.0])), str(root / f"c{i}.nii.gz"))
    return root


def test_convert_says_once_that_loading_changed_the_proportions(workdir: Path, cli: Cli) -> None:
    pytest.importorskip("monai")
    _volumes(workdir / "vols", (2.0, 2.0, 3.0))
    args = ["data", "convert", "vols", *MED, "data.fit=crop_pad", "--to", "nifti"]
    code, _, err = cli(*args, "--out", "conv")
    assert code == 0, err
    assert sorted(p.name for p in (workdir / "conv").glob("*.nii.gz")) == ["c0.nii.gz", "c1.nii.gz"]
    lines = [line for line in err.splitlines() if ASPECT in line]
    assert len(lines) == 1, err  # once for the folder, not once per file
    assert lines[0].startswith("medgan: note: loading changes the aspect ratio of every sample")
    assert "2x2x3 mm voxels shown as cubes" in lines[0], lines
    # isotropic voxels keep their proportions: nothing to say
    _volumes(workdir / "iso", (2.0, 2.0, 2.0))
    code, _, err = cli("data", "convert", "iso", *MED, "--to", "nifti", "--out", "conv2")
    assert code == 0 and ASPECT not in err, err


def test_a_folder_of_broken_symlinks_only_names_a_broken_link(workdir: Path, cli: Cli) -> None:
    pytest.importorskip("monai")
    flat = workdir / "flat"
    flat.mkdir()
    os.symlink("gone.nii.gz", flat / "a.nii.gz")
    os.symlink("b.nii", flat / "b.nii")  # a link to itself: a loop
    for args in (["run", *MED, "data.path=flat", "preset=tiny"],
                 ["data", "check", "flat", *MED]):  # fmt: skip
        code, _, err = cli(*args)
        assert code == 2, err
        assert "'flat/a.nii.gz' is a broken symlink (to 'gone.nii.gz')" in err, err
        assert "2 broken symlinks" in err and "holds no NIfTI" not in err, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not (workdir / "runs").exists()
    # a paired task: its images/ folder of one broken link
    (workdir / "les" / "images").mkdir(parents=True)
    _volumes(workdir / "les" / "masks", (1.0, 1.0, 1.0), n=1)
    os.symlink("moved.nii.gz", workdir / "les" / "images" / "c0.nii.gz")
    keys = ["plugin=medgan", "task=lesion", "spatial_dims=3", "model.image_size=16"]
    code, _, err = cli("run", *keys, "data.path=les", "preset=tiny")
    assert code == 2 and "'les/images/c0.nii.gz' is a broken symlink (to 'moved.nii.gz')" in err
    assert "holds no NIfTI" not in err, err
