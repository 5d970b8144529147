"""Which files of an image folder are data: one listing (`ganhub.data.images.walk_files`) for
every loader and for `ganhub data check`, so that the check inspects exactly what trains."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganhub.config.resolve import resolve
from ganhub.data.images import list_images
from ganhub.errors import ConfigError
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN


def _images(folder: Path, names: list[str], suffix: str = ".png") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(names))
    for name in names:
        pixels = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{name}{suffix}", format="PNG")


def test_links_inside_the_folder_are_followed_once_and_hidden_folders_skipped(
    tmp_path: Path,
) -> None:
    """A symlinked class folder was a class with images for the run but no images for the
    check (rglob does not follow folder links); images in .ipynb_checkpoints trained in
    unconditional runs and not in conditional ones."""
    root = tmp_path / "pets"
    _images(root / "store" / "dogs", ["d0", "d1"])
    _images(root / "cat", ["c0"])
    _images(root / "cat" / ".ipynb_checkpoints", ["c0-checkpoint"])
    (root / "dog").symlink_to(root / "store" / "dogs")  # inside the folder: followed
    (root / "store" / "dogs" / "up").symlink_to(root)  # a loop back to the top: listed once
    names = [p.relative_to(root).as_posix() for p in list_images(root)]
    assert names == ["cat/c0.png", "dog/d0.png", "dog/d1.png"]


def test_a_symlink_leading_out_of_the_folder_is_refused_by_check_and_run(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """It was read by the run, and not by the check when it was a folder: the check said
    clean for what the run read and failed on. Now both refuse it in one line, as a CSV row
    leading out of data.path is refused."""
    _images(workdir / "imgs", ["a", "b", "c"])
    _images(workdir / "elsewhere", ["secret"])
    (workdir / "imgs" / "more").symlink_to(workdir / "elsewhere")
    code, out, err = cli("data", "check", "imgs", "plugin=dcgan")
    assert code == 2 and len(err.strip().splitlines()) == 1, out + err
    assert "'imgs/more' is a symlink leading outside the data folder 'imgs'" in err
    with pytest.raises(ConfigError, match="symlink leading outside the data folder") as refused:
        resolve([*TINY_DCGAN, "data.path=imgs"])
    assert len(str(refused.value).splitlines()) == 1
    os.unlink(workdir / "imgs" / "more")
    (workdir / "imgs" / "link.png").symlink_to(workdir / "elsewhere" / "secret.png")  # a file
    with pytest.raises(ConfigError, match=r"'imgs/link\.png' is a symlink leading outside"):
        resolve([*TINY_DCGAN, "data.path=imgs"])


def test_images_with_suffixes_training_skips_are_warnings_in_the_check(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """JFIF, PPM or TGA files Pillow reads were skipped without a word (the check said clean
    for 2 of 11 images)."""
    _images(workdir / "mixed", ["a", "b"])
    _images(workdir / "mixed", ["c0", "c1"], suffix=".jfif")
    _images(workdir / "mixed", ["p0"], suffix=".ppm")
    (workdir / "mixed" / "notes.txt").write_text("not an image: no warning")
    code, out, err = cli("data", "check", "mixed", "plugin=dcgan")
    assert code == 1 and "2 images, NOT clean (0 errors, 3 warnings" in out, out + err
    assert "c0.jfif  .jfif is not a suffix training reads (.png, .jpg" in out
    assert "p0.ppm" in out and "notes.txt" not in out
    run = make_run(resolve([*TINY_DCGAN, "data.path=mixed"]))
    assert len(run.data) == 2  # what the check counted
