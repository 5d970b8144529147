"""`data.skip_bad=true` skips unreadable image files: they take no place in an epoch and give
no other file a second turn, and `ganhub data convert` writes each readable image once."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganhub.data import LoaderBatches
from ganhub.data.images import ImageFolder
from ganhub.data.shards import load_shard
from ganhub.errors import UsageError


def _bad_folder(root: Path, cut: bool = False) -> Path:
    """9 PNGs of noise, a text file named .png and an empty one (or, with `cut`, a PNG cut
    short instead: its header reads, its pixels do not)."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(9):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(root / f"i{i}.png")
    if cut:
        whole = (root / "i4.png").read_bytes()
        (root / "i4_cut.png").write_bytes(whole[: len(whole) // 2])
    else:
        (root / "i0_broken.png").write_text("not a png")
        (root / "i3_zero.png").write_bytes(b"")
    return root


def _digests(x: torch.Tensor) -> list[str]:
    return [hashlib.sha256(row.numpy().tobytes()).hexdigest() for row in x]


def test_unreadable_files_are_left_out_not_replaced_by_the_next_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """They were replaced by the next good image: 11 items, 9 distinct, i0.png and i3.png
    trained twice as often as the others."""
    ds = ImageFolder(_bad_folder(tmp_path / "bad"), 16, 3, skip_bad=True)
    assert [p.name for p in ds.files] == [f"i{i}.png" for i in range(9)]
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all("skipped (data.skip_bad=true): cannot read" in e for e in err)
    assert "i0_broken.png" in err[0] and "i3_zero.png" in err[1]
    batches = LoaderBatches(ds).batches(3, torch.device("cpu"), seed=0)
    epoch = torch.cat([next(batches) for _ in range(3)])
    assert len(set(_digests(epoch))) == 9  # each readable image once an epoch
    assert ImageFolder(tmp_path / "bad", 16, 3).files[1].name == "i0_broken.png"  # kept


def test_convert_writes_each_readable_image_once(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _bad_folder(workdir / "bad")
    code, out, err = cli("data", "convert", "bad", "plugin=dcgan", "data.skip_bad=true",
                         "--to", "shard", "--out", "bad.safetensors")  # fmt: skip
    assert code == 0, out + err
    rows = _digests(load_shard(workdir / "bad.safetensors"))
    assert len(rows) == 9 and len(set(rows)) == 9


def test_a_file_cut_short_is_stood_in_for_at_random_and_left_out_of_convert(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """A file whose header reads but whose pixels do not is found while decoding: a file
    drawn anew each time stands in (not always its neighbour), and convert drops its row."""
    ds = ImageFolder(_bad_folder(workdir / "cut", cut=True), 16, 3, skip_bad=True)
    assert len(ds) == 10
    at = [p.name for p in ds.files].index("i4_cut.png")
    others = [i for i in range(10) if i != at]
    good = dict(zip(_digests(torch.stack([ds[i] for i in others])), others))
    stand_ins = {good[_digests(ds[at][None])[0]] for _ in range(8)}
    assert len(stand_ins) > 1 and at not in stand_ins and ds.skipped == {at}
    code, out, err = cli("data", "convert", "cut", "plugin=dcgan", "data.skip_bad=true",
                         "--to", "shard", "--out", "cut.safetensors")  # fmt: skip
    assert code == 0 and "i4_cut.png" in err, out + err
    rows = _digests(load_shard(workdir / "cut.safetensors"))
    assert len(rows) == 9 and len(set(rows)) == 9


def test_a_folder_of_unreadable_files_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "a.png").write_text("x")
    with pytest.raises(UsageError) as caught:
        ImageFolder(tmp_path / "none", 16, 3, skip_bad=True)
    assert str(caught.value) == (
        f"data.path='{tmp_path / 'none'}': none of its 1 image file is readable "
        "(data.skip_bad=true skipped every one); give a folder with readable images"
    )


def test_a_class_left_with_no_readable_image_is_refused(tmp_path: Path) -> None:
    """Class folders where skip_bad leaves one class empty: refused naming it (the run would
    generate a class it has nothing to learn from); a class that keeps some images is fine."""
    from ganhub.data.labels import LabelledImageFolder

    root = tmp_path / "cls"
    _bad_folder(root / "kept")  # 9 readable, 2 unreadable
    (root / "gone").mkdir()
    for i in range(3):
        (root / "gone" / f"{i}.png").write_text("not a png")
    with pytest.raises(UsageError, match=r"every file of class gone \(3 unreadable\)") as caught:
        LabelledImageFolder(root, 16, 3, skip_bad=True)
    assert "\n" not in str(caught.value)
    (root / "gone" / "0.png").unlink()
    Image.new("RGB", (16, 16)).save(root / "gone" / "0.png")
    ds = LabelledImageFolder(root, 16, 3, skip_bad=True)
    assert ds.label_counts().tolist() == [1, 9]
