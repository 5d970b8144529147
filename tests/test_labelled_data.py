"""Labelled image folders: classes from sub-folders or a CSV, labels in the batches, and errors
that name the key, the file and the row (the CSV is untrusted: no path leaves the folder)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganhub.data.labels import (
    LabelledImageFolder,
    folder_classes,
    labelled_files,
    read_label_csv,
)
from ganhub.errors import ConfigError, UsageError


def _png(path: Path, value: int = 128) -> Path:
    """An 8x8 RGB image of one grey `value` (so a decoded image says which file it was)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(path)
    return path


def _folder(root: Path, layout: dict[str, int]) -> Path:
    """Write `layout` (relative path -> grey value) under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, value in layout.items():
        _png(root / rel, value)
    return root


def _csv(path: Path, text: str, bom: bool = False) -> Path:
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return path


def _error(exc: pytest.ExceptionInfo[ConfigError], *parts: str) -> str:
    """The error's message, checked to be one line and to contain each of `parts`."""
    msg = str(exc.value)
    assert "\n" not in msg, msg
    for part in parts:
        assert part in msg, f"{part!r} not in {msg!r}"
    return msg


@pytest.fixture
def animals(tmp_path: Path) -> Path:
    """cat (2 images, one nested), dog (1), an empty folder and a hidden folder."""
    root = _folder(
        tmp_path / "animals",
        {"dog/d0.png": 10, "cat/c1.png": 20, "cat/deep/c0.png": 30, ".cache/junk.png": 40},
    )
    (root / "empty").mkdir()
    (root / "notes.txt").write_text("not an image")
    return root


# -- class folders -----------------------------------------------------------------------------


def test_class_folders_give_sorted_classes_and_matching_labels(animals: Path) -> None:
    assert folder_classes(animals) == ["cat", "dog"]  # no 'empty', no '.cache'
    files, labels, classes = labelled_files(animals)
    rel = [p.relative_to(animals).as_posix() for p in files]
    assert rel == ["cat/c1.png", "cat/deep/c0.png", "dog/d0.png"]
    assert labels == [0, 0, 1] and classes == ["cat", "dog"]


def test_dataset_yields_images_in_range_with_their_labels(animals: Path) -> None:
    ds = LabelledImageFolder(animals, size=8, channels=3)
    assert len(ds) == 3 and ds.classes == ["cat", "dog"]
    assert ds.labels.dtype == torch.long and ds.labels.tolist() == [0, 0, 1]
    x, y = ds[2]
    assert x.shape == (3, 8, 8) and x.dtype == torch.float32
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert torch.allclose(x, torch.full_like(x, 10 / 127.5 - 1), atol=1e-5)  # dog/d0.png
    assert y.dtype == torch.long and y.ndim == 0 and int(y) == 1
    assert ds.label_counts().tolist() == [2, 1]
    gray, _ = LabelledImageFolder(animals, size=4, channels=1)[0]
    assert gray.shape == (1, 4, 4)


def test_skip_bad_leaves_a_file_out_with_its_label_and_a_stand_in_keeps_its_own(
    tmp_path: Path,
) -> None:
    """data.skip_bad replaced an unreadable file by the next one (which then counted twice,
    and its class with it): a file whose header is not an image's is left out at start-up
    with its label; one that breaks while decoding (cut short) is stood in for by a file
    drawn at random, which comes with its own label. (A class left with no file at all is
    refused: test_data_skip_bad.py.)"""
    root = _folder(tmp_path / "d", {"a/fine.png": 120, "b/ok.png": 200, "c/ok.png": 50})
    (root / "a" / "broken.png").write_bytes(b"not an image")
    ds = LabelledImageFolder(root, size=8, skip_bad=True)
    assert ds.classes == ["a", "b", "c"] and ds.labels.tolist() == [0, 1, 2]
    assert ds.label_counts().tolist() == [1, 1, 1]
    with pytest.raises(UsageError) as exc:
        LabelledImageFolder(root, size=8)[0]
    assert "broken.png" in str(exc.value) and "data.skip_bad=true" in str(exc.value)
    (root / "a" / "broken.png").unlink()
    cut = _png(root / "a" / "cut.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8)).save(cut)
    cut.write_bytes(cut.read_bytes()[:300])  # the header reads, the pixels do not
    ds = LabelledImageFolder(root, size=8, skip_bad=True)
    assert ds.labels.tolist() == [0, 0, 1, 2]
    for _ in range(4):
        x, y = ds[0]  # a/cut.png: another readable file stands in, with its label
        value = {0: 120, 1: 200, 2: 50}[int(y)]
        assert torch.allclose(x, torch.full_like(x, value / 127.5 - 1), atol=1e-5)
    assert ds.skipped == {0}


def test_folder_errors_name_the_folder_and_what_would_be_valid(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        folder_classes(tmp_path / "nope")
    _error(exc, "data.path=", "nope", "does not exist")

    flat = _folder(tmp_path / "flat", {"x.png": 1, "y.png": 2})
    with pytest.raises(ConfigError) as exc:
        labelled_files(flat)
    _error(exc, "2 images directly in", "'x.png'", "no label", "data.labels=FILE.csv")

    bare = tmp_path / "bare"
    (bare / "empty").mkdir(parents=True)
    _png(bare / ".hidden" / "h.png")
    with pytest.raises(ConfigError) as exc:
        folder_classes(bare, key="eval.data")
    _error(exc, "eval.data=", "no class sub-folders with images", "data.labels=FILE.csv")

    one = _folder(tmp_path / "one", {"cat/a.png": 1, "cat/b.png": 2})
    with pytest.raises(ConfigError) as exc:
        LabelledImageFolder(one, size=8)
    _error(exc, "data.path=", "only one class folder ('cat')", "at least two")


def test_given_classes_fix_the_order_and_refuse_unknown_folders(animals: Path) -> None:
    _, labels, classes = labelled_files(animals, classes=["dog", "bird", "cat"])
    assert classes == ["dog", "bird", "cat"] and labels == [2, 2, 0]
    ds = LabelledImageFolder(animals, size=8, classes=["dog", "bird", "cat"])
    assert ds.label_counts().tolist() == [1, 0, 2]
    # one class on disk is enough when the run says there are more
    one = _folder(animals.parent / "one", {"dog/a.png": 1})
    assert labelled_files(one, classes=["cat", "dog"])[1] == [1]
    with pytest.raises(ConfigError) as exc:
        labelled_files(animals, classes=["dog", "cow"])
    _error(exc, "class folder 'cat' is not one of the run's classes", "dog, cow")


# -- CSV labels --------------------------------------------------------------------------------


@pytest.fixture
def flat(tmp_path: Path) -> Path:
    # the image in a hidden folder is not data: no CSV row is needed for it
    return _folder(tmp_path / "imgs", {"a.png": 10, "b.png": 20, "sub/c.png": 30, ".t/t.png": 5})


def test_csv_with_bom_quotes_case_and_extra_columns(flat: Path, tmp_path: Path) -> None:
    labels = _csv(
        tmp_path / "labels.csv",
        # the BOM sits before the file column's name: read as plain utf-8 it would hide it
        'Filename,id,notes,CLASS\nb.png,1,"x, y",  dog \n"sub/c.png",2,"say ""hi""",cat\n'
        './a.png,3,,"cat, wild"\n\n',
        bom=True,
    )
    mapping = read_label_csv(labels, flat)
    assert mapping == {
        (flat / "b.png").resolve(): "dog",
        (flat / "sub" / "c.png").resolve(): "cat",
        (flat / "a.png").resolve(): "cat, wild",
    }
    assert all(p.is_absolute() for p in mapping)
    files, labels_, classes = labelled_files(flat, labels)
    assert classes == ["cat", "cat, wild", "dog"]
    assert [p.name for p in files] == ["a.png", "b.png", "c.png"] and labels_ == [1, 2, 0]
    x, y = LabelledImageFolder(flat, 8, labels_csv=labels)[1]
    assert int(y) == 2 and torch.allclose(x, torch.full_like(x, 20 / 127.5 - 1), atol=1e-5)


def test_integer_labels_sort_numerically(tmp_path: Path) -> None:
    root = _folder(tmp_path / "n", {f"{i}.png": i for i in range(4)})
    labels = _csv(tmp_path / "l.csv", "file,label\n0.png,10\n1.png,2\n2.png,-1\n3.png,2\n")
    _, labels_, classes = labelled_files(root, labels)
    assert classes == ["-1", "2", "10"] and labels_ == [2, 1, 0, 1]
    mixed = _csv(tmp_path / "m.csv", "file,label\n0.png,10\n1.png,2\n2.png,x\n3.png,2\n")
    assert labelled_files(root, mixed)[2] == ["10", "2", "x"]  # not all integers: text order


def test_given_classes_order_csv_labels_and_refuse_unknown_ones(flat: Path, tmp_path: Path) -> None:
    labels = _csv(tmp_path / "l.csv", "file,label\na.png,b\nb.png,a\nsub/c.png,b\n")
    _, labels_, classes = labelled_files(flat, labels, classes=["b", "a", "c"])
    assert classes == ["b", "a", "c"] and labels_ == [0, 1, 0]
    with pytest.raises(ConfigError) as exc:
        labelled_files(flat, labels, classes=["a", "c"])
    _error(exc, "data.labels=", "l.csv", "label 'b' (row 2) is not one of the run's classes")
    assert str(exc.value).endswith(": a, c")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("file,label\na.png,x\nb.png,\n", "row 3 ('b.png') has an empty label"),
        (
            "file,label\na.png,x\nb.png,y\n./a.png,z\n",
            "row 4 ('./a.png') names the same file as row 2",
        ),
        ("file,label\na.png,x\na.png,x\n", "row 3 ('a.png') repeats row 2"),
        ("file,label\na.png,x\n,y\n", "row 3 has an empty file name"),
        ("name,label\na.png,x\n", "row 1 (the header) has no file column"),
        ("file,kind\na.png,x\n", "row 1 (the header) has no label column"),
        ("file,path,label\na.png,a.png,x\n", "has 'file' and 'path'; keep one file column"),
        ("", "the file is empty"),
        ("file,label\n\n", "no rows after the header"),
        ("file,label\n../x.png,y\n", "row 2: '../x.png' leads outside data.path="),
        ("file,label\na.png,x\nsub/../../x.png,y\n", "row 3: 'sub/../../x.png' leads outside"),
        ("file,label\n/etc/passwd.png,y\n", "row 2: '/etc/passwd.png' is an absolute path"),
        ("file,label\nC:\\x.png,y\n", "is an absolute path"),
        (
            "file,label\na.png,1\nsub/c.png,1.0\n",
            "labels '1' (row 2) and '1.0' (row 3) are one number written two ways",
        ),
    ],
)
def test_bad_csv_rows_are_refused_with_file_and_row(
    flat: Path, tmp_path: Path, text: str, expected: str
) -> None:
    _folder(tmp_path, {"x.png": 1})  # a real image just outside the data folder
    labels = _csv(tmp_path / "bad.csv", text)
    with pytest.raises(ConfigError) as exc:
        read_label_csv(labels, flat)
    _error(exc, "data.labels=", "bad.csv", expected)


def test_symlink_leading_outside_the_folder_is_refused(flat: Path, tmp_path: Path) -> None:
    secret = _png(tmp_path / "outside" / "secret.png")
    os.symlink(secret, flat / "link.png")
    os.symlink(secret.parent, flat / "linkdir")
    for name, row in (("link.png", 2), ("linkdir/secret.png", 2)):
        labels = _csv(tmp_path / "l.csv", f"file,label\n{name},x\n")
        with pytest.raises(ConfigError) as exc:
            read_label_csv(labels, flat)
        _error(exc, f"row {row}: '{name}' leads outside data.path=", "symlink")
    # a symlink that stays inside the folder is the file it points to
    os.symlink(flat / "sub" / "c.png", flat / "sub" / "alias.png")
    labels = _csv(tmp_path / "l.csv", "file,label\nsub/alias.png,x\n")
    assert read_label_csv(labels, flat) == {(flat / "sub" / "c.png").resolve(): "x"}


def test_csv_must_cover_the_images_and_name_only_images(flat: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        read_label_csv(tmp_path / "missing.csv", flat)
    _error(exc, "data.labels=", "missing.csv", "does not exist")

    partial = _csv(tmp_path / "p.csv", "file,label\nb.png,x\n")
    with pytest.raises(ConfigError) as exc:
        labelled_files(flat, partial)
    _error(exc, "p.csv", "2 images in data.path=", "have no row (e.g. 'a.png')")

    ghost = _csv(tmp_path / "g.csv", "file,label\na.png,x\nb.png,y\nsub/c.png,x\nnope.png,y\n")
    with pytest.raises(ConfigError) as exc:
        LabelledImageFolder(flat, 8, labels_csv=ghost)
    _error(exc, "g.csv", "row 5: 'nope.png' is not a file in data.path=")
    prefixed = _csv(tmp_path / "w.csv", "file,label\nimgs/a.png,x\nimgs/b.png,y\nimgs/c.png,x\n"
                    "nope.png,y\nimgs/sub/c.png,x\n")  # fmt: skip
    with pytest.raises(ConfigError) as exc:  # every wrong row at once, not the first
        labelled_files(flat, prefixed)
    _error(exc, "5 rows are (row 2: 'imgs/a.png', row 3: 'imgs/b.png', row 4: 'imgs/c.png' "
           "and 2 more) not a file in data.path=", "taken relative to it")  # fmt: skip

    (flat / "readme.txt").write_text("hi")
    text = _csv(tmp_path / "t.csv", "file,label\na.png,x\nreadme.txt,y\n")
    with pytest.raises(ConfigError) as exc:
        labelled_files(flat, text)
    _error(exc, "row 3: 'readme.txt' is not an image")

    one = _csv(tmp_path / "o.csv", "file,label\na.png,x\nb.png,x\nsub/c.png,x\n")
    with pytest.raises(ConfigError) as exc:
        labelled_files(flat, one)
    _error(exc, "o.csv", "only one label ('x')", "at least two")


def test_csv_text_that_is_not_utf8_or_spans_lines_stays_one_line(
    flat: Path, tmp_path: Path
) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("file,label\na.png,caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as exc:
        read_label_csv(latin, flat)
    _error(exc, "latin.csv", "not UTF-8")
    multi = _csv(tmp_path / "multi.csv", 'file,label\n"a\nb.png",x\n')
    with pytest.raises(ConfigError) as exc:
        labelled_files(flat, multi)
    _error(exc, "row 2", "a\\nb.png")


def test_a_conditional_dcgan_on_class_folders_scores_class_accuracy_by_default(
    tmp_path: Path,
) -> None:
    """intra_fid ran Inception on 2,500 samples by default (15 minutes on a CPU) where an
    unconditional folder run scores nothing by default."""
    from ganhub.config.resolve import resolve
    from ganhub.wiring import make_run

    root = _folder(
        tmp_path / "colours", {f"{c}/{i}.png": 10 * i for c in ("red", "blue") for i in range(12)}
    )
    run = make_run(resolve(["plugin=dcgan", "preset=tiny", "model.conditional=true",
                            f"data.path={root}", f"out_dir={tmp_path / 'runs'}"]))  # fmt: skip
    assert run.system.default_metrics() == ["class_accuracy"]
    run.close()
