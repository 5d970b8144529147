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
    clean for what the run read and failed on. Now the run refuses it in one line, as a CSV
    row leading out of data.path is refused, and the check names it as an error (each such
    link, not only the first)."""
    _images(workdir / "imgs", ["a", "b", "c"])
    _images(workdir / "elsewhere", ["secret"])
    (workdir / "imgs" / "more").symlink_to(workdir / "elsewhere")
    code, out, err = cli("data", "check", "imgs", "plugin=dcgan")
    assert code == 1 and "NOT clean (1 error," in out, out + err
    assert "more  symlink leading outside the data folder" in out
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


def test_class_folders_follow_links_inside_data_path_and_refuse_others(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """Each class folder was its own data folder: a link from b/ to an image of a/ was
    refused as "leading outside the data folder 'cls/b'" (an unconditional run read it), and
    a class folder linked out of data.path was read. Both are judged against data.path now,
    for dcgan and stylegan (which share the class listing)."""
    from ganhub.data.labels import labelled_files

    _images(workdir / "cls" / "a", ["1", "2"])
    _images(workdir / "cls" / "b", ["1", "2", "3"])  # other pixels than a/'s
    (workdir / "cls" / "b" / "also_a1.png").symlink_to("../a/1.png")
    conditional = [*TINY_DCGAN, "data.path=cls", "model.conditional=true"]
    files, labels, classes = labelled_files(Path("cls"))
    assert classes == ["a", "b"] and labels == [0, 0, 1, 1, 1, 1]
    assert [p.as_posix() for p in files][-1] == "cls/b/also_a1.png"
    assert len(make_run(resolve(conditional)).data) == 6
    code, out, err = cli("data", "check", "cls", "plugin=dcgan", "model.conditional=true")
    assert code == 1 and "cls: 6 images" in out, out + err
    assert "b/also_a1.png  duplicate of a/1.png" in out and "1 warning," in out, out + err
    _images(workdir / "elsewhere", ["secret"])
    (workdir / "cls" / "c").symlink_to(workdir / "elsewhere")
    refused = "'cls/c' is a symlink leading outside the data folder 'cls'"
    with pytest.raises(ConfigError, match=refused) as caught:
        resolve(conditional)
    assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match=refused):
        resolve(["plugin=stylegan", "data.path=cls", "model.conditional=true"])
    code, out, err = cli("data", "check", "cls", "plugin=dcgan", "model.conditional=true")
    assert code == 2 and refused in err, out + err
