"""The fairness tricks' reference set: a folder is decoded as a data folder is and says so in
one note line; the data's own reference set is held to the minimum a folder or shard is."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ganhub_fairness.ratio import MIN_REFERENCE, load_reference
from PIL import Image

from ganhub.config.resolve import resolve
from ganhub.errors import UsageError
from ganhub.wiring import make_run

from ..conftest import TINY_DCGAN

KEY = "trick.reweight.reference"
SKEWED_SHAPES = [*TINY_DCGAN, "data=shapes", "data.shapes=[square,ellipse]",
                 "data.proportions=[0.99,0.01]", "tricks=[reweight]"]  # fmt: skip


def _folder(root: Path, mode: str, side: int, n: int = MIN_REFERENCE) -> Path:
    root.mkdir()
    colour = (200, 40, 40) if mode == "RGB" else 200
    for i in range(n):
        Image.new(mode, (side, side), colour).save(root / f"{i:03d}.png")
    return root


def test_a_reference_folder_of_another_shape_is_converted_with_one_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """60 RGB images against grey training images were converted without a word (a shard of
    another shape is refused: it is read as it is)."""
    rgb = _folder(tmp_path / "rgb", "RGB", 16)
    images = load_reference(rgb, (1, 16, 16), KEY)
    assert images.shape == (MIN_REFERENCE, 1, 16, 16)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"ganhub: note: {KEY}={rgb}: ")
    assert f"{MIN_REFERENCE} of {MIN_REFERENCE} reference images converted" in err
    assert "training data's [1, 16, 16]" in err and "000.png: 3 channels, 16x16" in err
    big = _folder(tmp_path / "big", "L", 24)  # resized and cropped as data folders are
    assert load_reference(big, (1, 16, 16), KEY).shape == (MIN_REFERENCE, 1, 16, 16)
    assert "000.png: 1 channel, 24x24" in capsys.readouterr().err
    same = _folder(tmp_path / "same", "L", 16)  # nothing converted: nothing said
    assert torch.allclose(load_reference(same, (1, 16, 16), KEY), torch.full((1,), 200 / 127.5 - 1))  # fmt: skip
    assert capsys.readouterr().err == ""


def test_the_datas_own_reference_set_is_held_to_the_minimum(workdir: Path) -> None:
    """data.n=200 trained the classifier on 20 reference images (a held-out split of 2) where
    a folder of 49 is refused."""
    with pytest.raises(UsageError) as err:
        make_run(resolve([*SKEWED_SHAPES, "data.n=200"]))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("trick 'reweight': the data's own reference set has 20 images")
    assert f"at least {MIN_REFERENCE}" in message and "give data.n=500 or more (now 200)" in message
    assert f"{KEY}=PATH" in message
    assert not (workdir / "runs").exists() or not any((workdir / "runs").iterdir())
    run = make_run(resolve([*SKEWED_SHAPES, "data.n=500", "name=ok"]))  # what it says is enough
    run.close()


def test_a_resume_that_adds_reweight_without_a_reference_is_refused_before_it_starts(
    workdir: Path,
) -> None:
    """The reference set of a resumed run is read only when its checkpoint lacks the
    classifier, once training starts: a resume adding reweight on digits (no reference set
    of their own) or naming a missing folder was refused after the start banner, with the
    run's files rewritten; now while the run is made, before it writes anything."""
    from ganhub.api import train

    train([*TINY_DCGAN, "name=r", "eval.metrics=[]"])
    own = (
        r"\(dcgan, dataset digits\) declares none: .*data\.proportions=\[0\.9,0\.1\] on data=shapes"
    )
    for extra, reason in (([], own), ([f"{KEY}=nowhere"], "nowhere: does not exist")):
        args = ["resume=runs/r", "trainer.steps=4", "tricks=[reweight]", *extra]
        with pytest.raises(UsageError, match=reason):
            make_run(resolve(args))
