"""medgan's loader notes at a run's start: what loading does to the images' proportions (the
aspect-ratio notes of `ganhub data check`) is said once per run, from the headers the run
reads anyway, and on rank 0 only under torchrun."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("monai")
nib = pytest.importorskip("nibabel")

from ganhub_medgan.config import MedData  # noqa: E402
from ganhub_medgan.folder import load_folder  # noqa: E402

ASPECT = "the aspect ratio changed"
RUN = ["plugin=medgan", "task=generate", "spatial_dims=3", "model.image_size=16", "preset=tiny",
       "trainer.steps=1", "trainer.batch_size=2", "eval.metrics=[]", "trainer.progress=false", "loggers=[jsonl]"]  # fmt: skip


def _folder(root: Path, shape: tuple[int, ...], mm: tuple[float, ...], n: int = 3) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        data = np.random.default_rng(i).uniform(0, 9, shape).astype(np.float32)
        nib.save(nib.Nifti1Image(data, np.diag([*mm, 1.0])), str(root / f"c{i}.nii.gz"))
    return root


def _aspect_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if ASPECT in line]


def test_a_run_says_once_that_anisotropic_voxels_change_the_proportions(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """`data.fit=crop_pad` on 2x2x3 mm voxels: the samples show each voxel as a cube, so x
    and y look 1.5x longer than z. `ganhub data check` said so; the run itself said nothing."""
    _folder(workdir / "vols", (16, 16, 16), (2.0, 2.0, 3.0))
    code, _, err = cli("run", *RUN, "data.path=vols", "data.fit=crop_pad", f"out_dir={workdir}")
    assert code == 0, err
    lines = _aspect_lines(err)
    assert len(lines) == 1, err  # one line for the folder, not one per file
    line = lines[0]
    assert line.startswith("medgan: note: ") and "every sample" in line, line
    assert "2x2x3 mm voxels shown as cubes" in line and "data.pixdim=[2, 2, 2]" in line, line
    assert "c0.nii.gz" in line, line  # the first such file, as data check names it


def test_a_non_cubic_field_of_view_resized_is_said_with_its_count(workdir: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A 20x16x16 mm field of view resized to a cube (data.fit=resize, the default) stretches
    y and z; an isotropic cubic file beside it keeps its proportions and is not counted."""
    root = _folder(workdir / "vols", (20, 16, 16), (1.0, 1.0, 1.0), n=2)
    data = np.zeros((16, 16, 16), np.float32)
    data[4:12, 4:12, 4:12] = 5
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(root / "cube.nii.gz"))
    lines: list[str] = []
    (images,), _ = load_folder("generate", MedData(source="folder", path=root), 3, 16, 0, lines)
    assert images.shape == (3, 1, 16, 16, 16)
    assert not _aspect_lines(capsys.readouterr().err)  # the run says it, not every load
    assert len(lines) == 1 and "2 of 3 samples" in lines[0], lines
    assert "y stretched 1.25x, z stretched 1.25x" in lines[0], lines
    assert "data.fit=crop_pad keeps the proportions" in lines[0], lines


def test_a_folder_that_keeps_its_proportions_gets_no_note(workdir: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Isotropic cubic volumes (resized or cropped) keep their proportions: nothing to say."""
    root = _folder(workdir / "vols", (20, 20, 20), (1.5, 1.5, 1.5))
    for fit in ("resize", "crop_pad"):
        lines: list[str] = []
        load_folder("generate", MedData(source="folder", path=root, fit=fit), 3, 16, 0, lines)
        assert lines == [] and not _aspect_lines(capsys.readouterr().err)


def test_2d_runs_say_it_for_the_slices_they_take(workdir: Path) -> None:
    """A 2D run takes axial slices: their in-plane field of view (40x32 mm) made square."""
    root = _folder(workdir / "vols", (20, 16, 6), (2.0, 2.0, 5.0))
    lines: list[str] = []
    load_folder("generate", MedData(source="folder", path=root), 2, 16, 0, lines)
    assert len(lines) == 1 and "made square" in lines[0] and "y stretched 1.25x" in lines[0]


def test_the_notes_come_from_the_files_the_run_reads_anyway(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each file is read once: the note costs no second pass over the folder's headers."""
    import ganhub_medgan.volume as volume

    root = _folder(workdir / "vols", (16, 16, 16), (2.0, 2.0, 3.0), n=4)
    reads: list[Path] = []
    real = volume.read_file

    def counted(path: Path, spatial_dims: int):  # type: ignore[no-untyped-def]
        reads.append(path)
        return real(path, spatial_dims)

    monkeypatch.setattr(volume, "read_file", counted)
    lines: list[str] = []
    load_folder("generate", MedData(source="folder", path=root, fit="crop_pad"), 3, 16, 0, lines)
    assert len(lines) == 1
    assert sorted(p.name for p in reads) == [f"c{i}.nii.gz" for i in range(4)]


def test_other_torchrun_ranks_load_the_folder_silently(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    """Every rank loads the folder; the loader's notes were printed once per rank (the
    slices_per_volume note too). Rank 0 says them, once per run however often training asks
    for its data; the other ranks do not."""
    from ganhub.config.resolve import resolve
    from ganhub.engine.system import BuildHints
    from ganhub.plugins import get_hub

    _folder(workdir / "vols", (20, 16, 6), (2.0, 2.0, 5.0))
    keys = [*RUN[:2], "data.path=vols", "data.slices_per_volume=8", "model.image_size=16"]
    domain = get_hub().domains.get("medgan")
    monkeypatch.setenv("RANK", "1")
    system = domain.build(resolve(keys), BuildHints())
    assert len(system.data()) == 3 * 6  # the data is loaded all the same
    assert "medgan: note" not in capsys.readouterr().err
    monkeypatch.setenv("RANK", "0")
    system = domain.build(resolve(keys), BuildHints())
    system.data()
    system.data()
    err = capsys.readouterr().err
    assert len(_aspect_lines(err)) == 1 and "data.slices_per_volume=8" in err, err
