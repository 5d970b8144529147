"""One image with two labels, in the words docs/data.md gives for copies in two class folders,
wherever labels are listed: two exact copies of a StyleGAN2-ADA zip that its dataset.json
labels differently (a plain "duplicate of a.png" before), one member listed twice there with
two labels, and one file named by two rows of a data.labels CSV with two labels."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

SAID = "one image with two labels; keep it in one class"


def _png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def _zip(path: Path, seeds: dict[str, int], labels: list[list[Any]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, seed in seeds.items():
            zf.writestr(name, _png(seed))
        zf.writestr("dataset.json", json.dumps({"labels": labels, "class_names": ["cat", "dog"]}))
    return path


def test_copies_a_zip_labels_twice_are_one_image_with_two_labels(tmp_path: Path) -> None:
    from ganhub_stylegan.data import inspect_files
    from ganhub_stylegan.labels import report_zip_classes

    from ganhub.data.inspect import DataReport

    seeds = {"a.png": 1, "b.png": 1, "c.png": 2, "d.png": 3, "e.png": 2}  # b copies a, e c
    pairs = [["a.png", 0], ["b.png", 1], ["c.png", 0], ["d.png", 1], ["./e.png", 0]]
    data = _zip(tmp_path / "d.zip", seeds, pairs)
    report = DataReport(str(data), "images")
    inspect_files(report, data, channels=3, size=16, resize=False)
    report_zip_classes(report, data)
    said = {f.item: f.problem for f in report.findings}
    assert said["b.png"] == f"duplicate of a.png, labelled 'cat' there and 'dog' here: {SAID}"
    assert said["e.png"] == "duplicate of c.png"  # the same label: a plain duplicate
    assert report.summary["classes"] == {"cat": 3, "dog": 2}


def test_a_member_listed_twice_with_two_labels_is_refused_in_those_words(
    cli: Any, tmp_path: Path
) -> None:
    pairs = [["a.png", 0], ["b.png", 1], ["a.png", 1]]
    data = _zip(tmp_path / "d.zip", {"a.png": 1, "b.png": 2}, pairs)
    code, _, err = cli("data", "check", str(data), "plugin=stylegan", "model.image_size=16",
                       "model.conditional=true")  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"'a.png' is listed twice, labelled 'cat' and 'dog': {SAID}" in err, err


def test_a_csv_naming_a_file_twice_with_two_labels_says_so(cli: Any, tmp_path: Path) -> None:
    data = tmp_path / "photos"
    data.mkdir()
    for i in range(2):
        (data / f"{i}.png").write_bytes(_png(i))
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\n0.png,cat\n1.png,dog\n./0.png,dog\n")
    code, _, err = cli("data", "check", str(data), "plugin=dcgan", "model.conditional=true",
                       f"data.labels={labels}")  # fmt: skip
    assert code == 2, err
    assert "row 4 ('./0.png') names the same file as row 2 ('0.png'), labelled 'cat' " in err
    assert f"there and 'dog' here: {SAID}" in err, err


def _folder(root: Path, names: list[bytes]) -> Path:
    for i, name in enumerate(names):
        path = root / Path(name.decode("utf-8", "surrogateescape"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_png(i))
    return root


def test_a_labels_csv_that_is_no_utf8_comma_text_says_where_and_why(
    cli: Any, tmp_path: Path
) -> None:
    data = _folder(tmp_path / "photos", [b"0.png", b"1.png"])
    rows = "file,label\n0.png,dog\n1.png,caté\n"
    spelled = {"latin": rows.encode("latin-1"), "utf16": rows.encode("utf-16"),
               "semi": rows.replace(",", ";").encode()}  # fmt: skip
    said = {}
    for name, content in spelled.items():
        (tmp_path / f"{name}.csv").write_bytes(content)
        code, _, err = cli("data", "check", str(data), "plugin=dcgan", "model.conditional=true",
                           f"data.labels={tmp_path / name}.csv")  # fmt: skip
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        said[name] = err
    assert "not UTF-8 text (line 3: byte 0xe9); save the CSV as UTF-8" in said["latin"]
    assert "UTF-16 text, not UTF-8; save the CSV as UTF-8" in said["utf16"]
    assert "it has 'file;label' (columns separated by ';'? ganhub reads commas)" in said["semi"]


def test_a_dataset_json_that_is_no_json_says_why(tmp_path: Path) -> None:
    import pytest
    from ganhub_stylegan.labels import zip_labels

    from ganhub.errors import ConfigError

    for text, why in [
        (b"{labels: [", "is not valid JSON (line 1, column 2: Expecting property name"),
        (b'{"labels": ' + b"[" * 100_000, "is nested too deeply to read as JSON"),
        ('{"labels": [["a.png", 0]], "class_names": ["caté"]}'.encode("latin-1"),
         "is not UTF-8 text (line 1: byte 0xe9); save it as UTF-8"),
    ]:  # fmt: skip
        with zipfile.ZipFile(tmp_path / "d.zip", "w") as zf:
            zf.writestr("a.png", _png(0))
            zf.writestr("dataset.json", text)
        with pytest.raises(ConfigError, match=re.escape(f"dataset.json {why}")):
            zip_labels(tmp_path / "d.zip")


def test_names_that_are_no_utf8_are_shown_as_their_bytes(cli: Any, tmp_path: Path) -> None:
    data = _folder(tmp_path / "plain", [b"ok.png", b"latin\xe9.png"])
    (data / "latin\udce9.png").write_bytes(b"no image")  # bytes 'latin\xe9.png' on Linux
    code, out, _ = cli("data", "check", str(data), "plugin=dcgan")
    assert code == 1 and "latin\\xe9.png  not an image" in out and "udce9" not in out, out
    classes = _folder(tmp_path / "classes", [b"\xc3\xbcn/0.png", b"cat/1.png"])
    code, out, _ = cli("data", "check", str(classes), "plugin=dcgan", "model.conditional=true")
    assert code == 0 and 'classes: {"cat": 1, "ün": 1}' in out, out
    _folder(classes, [b"bad\xe9/2.png"])  # a class name a run could not save as text
    code, _, err = cli("data", "check", str(classes), "plugin=dcgan", "model.conditional=true")
    assert code == 2 and "class folder 'bad\\xe9' has a name that is not UTF-8" in err, err
