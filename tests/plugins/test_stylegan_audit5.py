"""The stylegan plugin as a user meets it: StyleGAN2-ADA dataset zips as people make them
(a zipped folder, hand-written dataset.json files) and `ganhub stylegan check`'s options."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from ganhub_stylegan.labels import labelled_image_files
from ganhub_stylegan.layers import ModulatedConv
from PIL import Image

from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError
from ganhub.wiring import make_run

from .test_stylegan import TINY

COND = [*TINY, "model.conditional=true", "trainer.steps=2", "data.mirror=false"]


def _png(i: int) -> bytes:
    pixels = np.zeros((16, 16, 3), np.uint8)
    pixels[i % 16, :, i % 3] = 255
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _zip(path: Path, content: Any, prefix: str = "", n: int = 6) -> Path:
    """dataset_tool's layout (00000/img%08d.png + dataset.json), under `prefix` when the user
    zipped the dataset's folder; `content(names)` is the dataset.json object."""
    names = [f"00000/img{i:08d}.png" for i in range(n)]
    with zipfile.ZipFile(path, "w") as zf:
        for i, name in enumerate(names):
            zf.writestr(prefix + name, _png(i))
        zf.writestr(prefix + "dataset.json", json.dumps(content(names)))
    return path


def _refused(data: Path) -> str:
    with pytest.raises(ConfigError) as err:
        make_run(resolve([*COND, f"data.path={data}"]))
    message = str(err.value)
    assert len(message.splitlines()) == 1
    return message


def test_a_zipped_dataset_folder_names_its_dataset_json(workdir: Path) -> None:
    """A zip of the dataset's folder (ds/dataset.json, ds/00000/...) was refused as "the zip
    holds no labels ... add one", though it holds them one folder down."""
    data = _zip(
        workdir / "ds.zip",
        lambda names: {"labels": [[n, i % 2] for i, n in enumerate(names)]},
        prefix="ds/",
    )
    message = _refused(data)
    assert "'ds/dataset.json'" in message and "top level" in message
    assert "holds no labels" not in message


def test_a_dataset_json_without_a_labels_key_is_named(workdir: Path) -> None:
    """{"class_names": [...]} without "labels" read as "the zip holds no labels": the file is
    there, its key is missing."""
    data = _zip(workdir / "k.zip", lambda names: {"class_names": ["a", "b"]})
    message = _refused(data)
    assert "dataset.json has no 'labels' key" in message


def test_whole_number_float_labels_are_class_indices(workdir: Path) -> None:
    """Labels written as 0.0, 1.0 (a dataset.json made from a float column) were refused;
    StyleGAN2-ADA's loader casts them to int64 and trains on classes 0 and 1."""
    data = _zip(
        workdir / "f.zip",
        lambda names: {"labels": [[n, float(i % 2)] for i, n in enumerate(names)]},
    )
    config = resolve([*COND, f"data.path={data}"])
    assert config.condition.classes == ["0", "1"]
    assert labelled_image_files(config).labels.tolist() == [0, 1] * 3
    half = _zip(
        workdir / "h.zip", lambda names: {"labels": [[n, i % 2 + 0.5] for i, n in enumerate(names)]}
    )
    assert "has label 0.5" in _refused(half)  # not a class: refused, not floored


@pytest.mark.parametrize(("label", "shown"), [(None, "null"), ("cat", '"cat"'), (-1, "-1")])
def test_a_label_that_is_no_vector_is_not_called_a_vector_label(
    workdir: Path, label: Any, shown: str
) -> None:
    """A null, text or negative label was refused with "..., not other vector labels"."""
    data = _zip(
        workdir / "n.zip",
        lambda names: {"labels": [[n, label if i == 2 else i % 2] for i, n in enumerate(names)]},
    )
    message = _refused(data)
    assert f"'00000/img00000002.png' has label {shown}" in message
    assert "vector labels" not in message
    assert ('"labels": null' in message) == (label is None)


def test_check_refuses_two_different_image_sizes(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """`ganhub stylegan check DIR --image-size 16 model.image_size=32` checked at 32 without
    a word (the later key won); the same size twice is fine."""
    folder = workdir / "imgs"
    folder.mkdir()
    for i in range(3):
        (folder / f"a{i}.png").write_bytes(_png(i))
    code, out, err = cli("stylegan", "check", str(folder), "--image-size", "16",
                         "model.image_size=32")  # fmt: skip
    assert code == 2 and out == ""
    assert "--image-size 16 and model.image_size=32 disagree" in err
    code, out, _ = cli("stylegan", "check", str(folder), "--image-size", "16",
                       "model.image_size=16")  # fmt: skip
    assert code == 0 and "clean" in out


def test_an_unknown_noise_mode_is_refused(workdir: Path) -> None:
    """`system.sample(n, noise_mode="Const")` ran with no noise at all (any unknown mode fell
    through to "none"); StyleGAN2-ADA asserts random, const or none."""
    from ganhub.errors import UsageError

    config = resolve([*TINY, "model.noise=true", "trainer.steps=1"])
    system = make_run(config).system
    with torch.no_grad():
        for layer in system.modules():  # G and G_ema
            if isinstance(layer, ModulatedConv):
                layer.noise_strength.fill_(1.0)  # make the noise show
    const = system.sample(2, seed=0, noise_mode="const")
    none = system.sample(2, seed=0, noise_mode="none")
    assert not torch.equal(const, none)
    with pytest.raises(UsageError, match=r"noise_mode='Const': choose random, const, none"):
        system.sample(2, seed=0, noise_mode="Const")


def test_the_interpolation_gif_does_not_write_through_a_planted_link(workdir: Path) -> None:
    """The GIF went to a fixed temporary name (.NAME.tmp.gif) beside it: a link planted there
    in a shared samples folder was written through, then renamed into the GIF's place."""
    from ganhub_stylegan.sampling import interpolation_gif

    system = make_run(resolve([*TINY, "trainer.steps=1"])).system
    victim = workdir / "victim.txt"
    victim.write_text("keep")
    out = workdir / "samples"
    out.mkdir()
    (out / ".walk.gif.tmp.gif").symlink_to(victim)
    path = interpolation_gif(system, out / "walk.gif", keys=2, frames=3)
    assert victim.read_bytes() == b"keep"  # not overwritten with the GIF
    assert not path.is_symlink() and Image.open(path).format == "GIF"
