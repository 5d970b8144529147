"""Conditional stylegan runs on a StyleGAN2-ADA dataset zip: the labels of its dataset.json."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ganhub_stylegan.labels import labelled_image_files
from PIL import Image

import ganhub
from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit
from ganhub.errors import ConfigError
from ganhub.wiring import make_run

from .test_stylegan import TINY

COND = [*TINY, "model.conditional=true", "trainer.steps=2", "data.mirror=false"]


def _ada_zip(
    path: Path, labels: Any, n: int = 9, names: list[str] | None = None, **extra: Any
) -> Path:
    """A zip as StyleGAN2-ADA's dataset_tool writes it: 00000/img%08d.png and dataset.json
    (with the `extra` keys, e.g. class_names)."""
    names = names or [f"00000/img{i:08d}.png" for i in range(n)]
    with zipfile.ZipFile(path, "w") as zf:
        for i, name in enumerate(names):
            pixels = np.zeros((16, 16, 3), np.uint8)
            pixels[i % 16, :, i % 3] = 255  # each image its own
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format="PNG")
            zf.writestr(name, buffer.getvalue())
        if labels is not ...:
            zf.writestr("dataset.json", json.dumps({"labels": labels(names), **extra}))
    return path


def test_the_classes_of_a_dataset_json_train_and_sample_by_name(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """A conditional run on an ADA zip was refused: "a zip holds no class folders"."""
    data = _ada_zip(
        workdir / "ada.zip", lambda names: [[n, i % 3 * 2] for i, n in enumerate(names)]
    )
    config = resolve([*COND, f"data.path={data}", "name=ada"])
    assert config.condition.classes == ["0", "2", "4"]  # the file's classes, named as written
    labelled = labelled_image_files(config)
    assert labelled.labels.tolist() == [0, 1, 2] * 3  # class 4 is index 2
    fit(make_run(config))
    model = ganhub.load(workdir / "runs" / "ada")
    assert model.sample(2, labels="4").shape == (2, 3, 16, 16)
    _, out, err = cli("data", "check", str(data), "plugin=stylegan", "model.image_size=16",
                      "model.conditional=true")  # fmt: skip
    assert 'classes: {"0": 3, "2": 3, "4": 3}' in out, out + err


def test_one_hot_vector_labels_read_as_class_indices(workdir: Path) -> None:
    """StyleGAN2-ADA also reads dataset.json labels as vectors; one-hot ones (a class per
    image) were refused as "vector labels": they are the index of their 1."""
    one_hot = [[1, 0, 0], [0.0, 0.0, 1.0], [0, 1, 0]]
    data = _ada_zip(
        workdir / "v.zip", lambda names: [[n, one_hot[i % 3]] for i, n in enumerate(names)]
    )
    config = resolve([*COND, f"data.path={data}"])
    assert config.condition.classes == ["0", "1", "2"]
    assert labelled_image_files(config).labels.tolist() == [0, 2, 1] * 3


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (..., r"the zip holds no labels \(a dataset\.json"),
        (lambda names: None, r"the zip holds no labels"),
        (lambda names: [[n, [0.5, 1.0]] for n in names], r"has label \[0\.5, 1\.0\]; ganhub reads class indices \(whole numbers from 0\) or one-hot vectors"),
        (lambda names: [[n, [0, 1] if i else [0, 0, 1]] for i, n in enumerate(names)], r"mix class indices and one-hot vectors, or vectors of different lengths"),
        (lambda names: [[n, i % 2] for i, n in enumerate(names[1:])], r"1 image of the zip without a label, e\.g\. '00000/img00000000\.png'"),
        (lambda names: {"a": 1}, r"'labels' is not a list of \[file, class\] pairs"),
        (lambda names: [[n, 3] for n in names], r"its dataset\.json names one class; a conditional"),
    ],
)  # fmt: skip
def test_a_zip_without_usable_labels_is_refused_in_one_line(
    workdir: Path, labels: Any, message: str
) -> None:
    data = _ada_zip(workdir / "d.zip", labels)
    with pytest.raises(ConfigError, match=message) as err:
        make_run(resolve([*COND, f"data.path={data}"]))
    assert len(str(err.value).splitlines()) == 1


def _pairs(names: list[str]) -> list[list[Any]]:
    return [[n, i % 2] for i, n in enumerate(names)]


@pytest.mark.parametrize(
    ("labels", "extra", "message"),
    [
        (lambda names: [*_pairs(names), [names[0], 1]], {}, r"'00000/img00000000\.png' is listed twice, labelled '0' and '1': one image with two labels; keep it in one class"),
        (lambda names: [*_pairs(names), ["00000/ghost.png", 1]], {}, r"1 label naming no image of the zip, e\.g\. '00000/ghost\.png'"),
        (lambda names: [[n, i % 3] for i, n in enumerate(names)], {"class_names": ["cat", "dog"]}, r"'00000/img00000002\.png' has class 2, but 'class_names' names 2 \(0 to 1\)"),
    ],
)  # fmt: skip
def test_labels_that_do_not_match_the_images_are_refused(
    workdir: Path, labels: Any, extra: dict[str, Any], message: str
) -> None:
    """A file labelled twice took its last label, a label without an image added a class with
    no images, and an index past class_names became a class named by its number: silently."""
    data = _ada_zip(workdir / "d.zip", labels, **extra)
    with pytest.raises(ConfigError, match=message) as err:
        resolve([*COND, f"data.path={data}"])
    assert len(str(err.value).splitlines()) == 1


def test_labels_match_members_by_name_without_a_dot_prefix(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """'./00000/img.png' in dataset.json names member '00000/img.png': the data check said
    clean and the run refused every image as unlabelled."""
    data = _ada_zip(
        workdir / "d.zip", lambda names: [[f"./{n}", i % 2] for i, n in enumerate(names)]
    )
    assert labelled_image_files(resolve([*COND, f"data.path={data}"])).labels.tolist() == [
        i % 2 for i in range(9)
    ]
    unlabelled = _ada_zip(workdir / "u.zip", lambda names: _pairs(names[:-1]))
    code, _, err = cli("data", "check", str(unlabelled), "plugin=stylegan", "model.image_size=16",
                       "model.conditional=true")  # fmt: skip
    assert code == 2 and "1 image of the zip without a label" in err, err


def test_a_resumed_run_refuses_a_zip_with_other_classes(workdir: Path) -> None:
    """Class names are bound to the weights: index 1 stays class '2'."""
    data = _ada_zip(workdir / "a.zip", lambda names: [[n, i % 3 * 2] for i, n in enumerate(names)])
    fit(make_run(resolve([*COND, f"data.path={data}", "name=r"])))
    _ada_zip(data, lambda names: [[n, i % 2 * 7] for i, n in enumerate(names)])
    config = resolve([f"resume={workdir / 'runs' / 'r'}", "trainer.steps=3"])
    assert config.condition.classes == ["0", "2", "4"]
    with pytest.raises(
        ConfigError, match=r"class\(es\) 7 that this run's classes \(0, 2, 4\) do not"
    ):
        make_run(config).batches()


def test_class_folders_convert_to_a_labelled_zip_that_trains_alike(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """`data convert ... model.conditional=true --to zip` was refused: the zip now holds the
    labels as StyleGAN2-ADA's dataset.json, with the class names ganhub reads back."""
    for cls in ("cat", "dog"):
        (workdir / "pets" / cls).mkdir(parents=True)
        for i in range(3):
            pixels = np.full((16, 16, 3), 255 if cls == "dog" else 0, np.uint8)
            pixels[i] = 128
            Image.fromarray(pixels).save(workdir / "pets" / cls / f"{cls}{i}.png")
    convert = ("data", "convert", "pets", "plugin=stylegan", "model.conditional=true",
               "model.image_size=16", "--to", "zip", "--out")  # fmt: skip
    code, _, err = cli(*convert, "pets.zip")
    assert code == 0, err
    with zipfile.ZipFile(workdir / "pets.zip") as zf:
        written = json.loads(zf.read("dataset.json"))
    assert written["labels"][0] == ["cat/cat0.png", 0] and written["labels"][-1] == [
        "dog/dog2.png",
        1,
    ]
    assert written["class_names"] == ["cat", "dog"]
    folder = resolve([*COND, "data.path=pets"])
    zipped = resolve([*COND, "data.path=pets.zip"])
    assert zipped.condition.classes == folder.condition.classes == ["cat", "dog"]
    assert (
        labelled_image_files(zipped).labels.tolist() == labelled_image_files(folder).labels.tolist()
    )
    fit(make_run(zipped))
    code, _, err = cli(*convert[:-3], "--to", "shard", "--out", "pets.safetensors")
    assert code == 2 and "the shard holds the samples without their labels" in err


def test_a_cleaned_labelled_zip_keeps_the_labels_of_its_kept_images(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """The cleaned copy left dataset.json out ("not copied"): a conditional run on it failed."""
    made = _ada_zip(workdir / "a.zip", lambda names: [[n, i % 3] for i, n in enumerate(names)], 10)
    data = workdir / "ada.zip"
    with zipfile.ZipFile(made) as src, zipfile.ZipFile(data, "w") as zf:
        members = {name: src.read(name) for name in src.namelist()}
        members["00000/img00000009.png"] = members["00000/img00000000.png"]  # an exact copy
        for name, content in members.items():
            zf.writestr(name, content)
    listed = json.loads(members["dataset.json"])
    listed["labels"] = listed["labels"][:9]  # the copy (the later one) is dropped
    args = ["plugin=stylegan", "model.image_size=16", "model.conditional=true"]
    code, out, err = cli("data", "clean", str(data), *args, "--out", "clean.zip")
    assert code == 0 and "9 of 10 kept" in out and "dataset.json" in out, out + err
    assert "not copied" not in out  # dataset.json was listed as a file not copied
    with zipfile.ZipFile(workdir / "clean.zip") as zf:
        assert json.loads(zf.read("dataset.json")) == listed  # the kept images' pairs
    code, out, err = cli("data", "check", "clean.zip", *args)
    assert code == 0, out + err
