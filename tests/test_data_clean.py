"""What `ganhub data clean` writes: a copy DATA does not share (hard links only when asked),
a summary that adds up, and one line naming --out when the copy cannot be written there.
`ganhub data check ""` is refused instead of checking the current folder."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganhub.data import copies
from ganhub.data_commands import copy_kept
from ganhub.errors import UsageError


def _folder(root: Path, n: int = 3) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return root


def test_editing_the_cleaned_copy_in_place_leaves_data_as_it_was(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """The copy was hard-linked: re-saving one of its images changed DATA's image too."""
    data = _folder(workdir / "d")
    before = (data / "0.png").read_bytes()
    code, out, err = cli("data", "clean", "d", "plugin=dcgan", "--out", "c")
    assert code == 0 and "3 of 3 kept, 0 dropped -> c" in out, err
    assert (workdir / "c" / "0.png").read_bytes() == before
    Image.open(workdir / "c" / "0.png").convert("L").save(workdir / "c" / "0.png")
    assert (data / "0.png").read_bytes() == before
    assert Image.open(data / "0.png").mode == "RGB"


def test_hard_links_are_asked_for_and_their_help_says_what_they_share(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    _folder(workdir / "d")
    code, out, err = cli("data", "clean", "d", "plugin=dcgan", "--out", "c", "--hard-links")
    assert code == 0 and "3 of 3 kept" in out, err
    assert os.path.samefile(workdir / "d" / "1.png", workdir / "c" / "1.png")
    code, out, _ = cli("data", "clean", "--help")
    assert code == 0 and "--hard-links" in out
    assert "changes DATA too" in " ".join(out.split())
    code, _, err = cli("data", "clean", "d", "plugin=dcgan", "--list", "k.txt", "--hard-links")
    assert code == 2 and "--hard-links is for --out" in err


def test_the_summary_counts_items_and_names_the_other_files_left_out(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """It said "3 of 4 kept, 2 dropped": the .ppm file (training skips its suffix) was
    counted among the dropped, but is none of the 4 items."""
    data = _folder(workdir / "d")
    Image.open(data / "1.png").save(data / "x.ppm")
    (data / "bad.png").write_text("not an image")
    code, out, err = cli("data", "clean", "d", "plugin=dcgan", "--out", "c")
    assert code == 0, err
    assert out.strip() == "3 of 4 kept, 1 dropped; 1 other file not copied (x.ppm) -> c"
    assert sorted(p.name for p in (workdir / "c").iterdir()) == ["0.png", "1.png", "2.png"]


def test_an_out_that_cannot_be_written_is_named_not_the_temporary_path(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """It said `a-file/.x.6862.tmp: Not a directory`, a path the user never gave."""
    _folder(workdir / "d")
    (workdir / "a-file").write_text("")
    code, _, err = cli("data", "clean", "d", "plugin=dcgan", "--out", "a-file/x")
    assert code == 2 and err.count("\n") == 1 and ".tmp" not in err
    assert "a-file/x cannot be written: a-file is a file" in err
    if Path("/proc/self").is_dir():  # a folder that takes no new entries, even as root
        code, _, err = cli("data", "clean", "d", "plugin=dcgan", "--out", "/proc/ganhub-x")
        assert code == 2 and err.count("\n") == 1 and ".tmp" not in err, err
        assert "--out /proc/ganhub-x cannot be written" in err
    # missing folders above --out are made, as for --list and other commands' outputs
    code, _, err = cli("data", "clean", "d", "plugin=dcgan", "--out", "new/deeper/c")
    assert code == 0 and (workdir / "new/deeper/c/0.png").is_file(), err


def test_a_copy_that_fails_leaves_no_temporary_folder_nor_the_folders_it_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _folder(tmp_path / "d")
    with pytest.raises(FileNotFoundError):  # a kept file gone from DATA: the error is DATA's
        copy_kept(data, tmp_path / "new" / "deeper" / "c", ["0.png", "gone.png"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]

    def full(self: object, src: str, dst: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")  # as sendfile: no file named

    monkeypatch.setattr(copies.FileCopies, "__call__", full)
    with pytest.raises(UsageError, match=r"^--out .*/new/c cannot be written: No space left"):
        copy_kept(data, tmp_path / "new" / "c", ["0.png"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_an_empty_data_path_is_refused_not_read_as_this_folder(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It checked the current folder, as if DATA were '.'."""
    monkeypatch.chdir(_folder(workdir / "here"))
    for args in (["check"], ["clean", "--list", "../k.txt"]):
        code, out, err = cli("data", args[0], "", "plugin=dcgan", *args[1:])
        assert code == 2 and out == "" and err.count("\n") == 1, out + err
        assert "DATA '' is an empty path" in err
    assert not (workdir / "k.txt").exists()
