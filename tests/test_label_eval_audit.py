"""Audit fixes: `--label N` on classes named by numbers with gaps, and data keys given to
`ganhub eval` that the run's data source does not read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ganhub.conditioning import LabelSpec
from ganhub.errors import UsageError

pytestmark = pytest.mark.usefixtures("one_thread")


# -- LabelSpec.parse: a number is a name when the classes are named by numbers ----------------


def test_classes_named_by_numbers_with_gaps_take_numbers_as_names_only() -> None:
    """Labels {0, 3, 7} of a dataset.json: `--label 1` gave class '3' and `--label 2` class
    '7' (the position, tried after the name); a number that names no class is refused."""
    spec = LabelSpec((3,), (("0", "3", "7"),))
    assert spec.parse("0") == [0] and spec.parse("3") == [1] and spec.parse("7") == [2]
    for text in ("1", "2"):
        with pytest.raises(UsageError) as info:
            spec.parse(text)
        message = str(info.value)
        assert f"label '{text}' is not one of this run's classes: 0, 3, 7" in message
        assert "\n" not in message


def test_positions_still_work_for_named_classes_and_digits_runs_are_unchanged() -> None:
    words = LabelSpec((2,), (("cat", "dog"),))
    assert words.parse("1") == [1] and words.parse("dog") == [1] and words.parse("0") == [0]
    with pytest.raises(UsageError, match="is not one of this run's classes: cat, dog"):
        words.parse("2")
    digits = LabelSpec((10,))  # unnamed: names '0'..'9', the positions
    assert [digits.parse(str(i)) for i in range(10)] == [[i] for i in range(10)]
    named = LabelSpec((10,), (tuple(str(i) for i in range(10)),))
    assert named.parse("7") == [7] and named.describe([7]) == "7"
    stacked = LabelSpec((10, 10, 10))
    assert stacked.parse("1,2,3") == [1, 2, 3]
    with pytest.raises(UsageError):
        digits.parse("10")


def test_truncation_label_on_a_zip_with_gapped_numeric_classes(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """End to end: `ganhub stylegan truncation RUN --label 1` wrote seed0_label3_*."""
    from .plugins.test_stylegan_zip_labels import COND, _ada_zip

    data = _ada_zip(
        workdir / "ada.zip", lambda names: [[n, (0, 3, 7)[i % 3]] for i, n in enumerate(names)]
    )
    code, _, err = cli("run", *COND, "trainer.steps=1", f"data.path={data}", "name=gaps")
    assert code == 0, err
    config = (workdir / "runs/gaps/config.yaml").read_text()
    assert "- '3'" in config or '- "3"' in config, config
    code, _, err = cli("stylegan", "truncation", "runs/gaps", "--label", "1", "--n", "2")
    assert code == 2 and "label '1' is not one of this run's classes: 0, 3, 7" in err, err
    code, _, err = cli("stylegan", "truncation", "runs/gaps", "--label", "3", "--n", "2")
    assert code == 0, err
    written = [p.name for p in (workdir / "runs/gaps/samples").iterdir()]
    assert any("label3" in name for name in written), written


# -- ganhub eval: data keys the run's data source does not read --------------------------------


def test_eval_refuses_a_data_path_beside_built_in_data(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """stylegan's default faces: `ganhub eval RUN data.path=DIR` exited 0, scoring the faces
    and ignoring data.path; `ganhub run` refuses the same combination."""
    code, _, err = cli("run", "plugin=stylegan", "preset=tiny", "trainer.steps=1", "name=faces")
    assert code == 0, err
    (workdir / "imgs").mkdir()
    code, _, err = cli("eval", "runs/faces", "data.path=imgs", "--n", "64")
    assert code == 2, err
    assert "data.path is only read with data=folder, and data=faces was given" in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (workdir / "runs/faces/eval.json").exists()


def test_eval_refuses_a_data_path_beside_dcgan_digits(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("run", "plugin=dcgan", "preset=tiny", "trainer.steps=1", "name=digits")
    assert code == 0, err
    (workdir / "imgs").mkdir()
    code, _, err = cli("eval", "runs/digits", "data.path=imgs", "--n", "64")
    assert code == 2 and "data.path='imgs' is only read with" in err, err
    assert not (workdir / "runs/digits/eval.json").exists()


def test_eval_takes_data_path_where_a_folder_run_has_moved(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """The check keeps what data.path is for: a folder run's data given where it is now."""
    from PIL import Image

    images = workdir / "imgs"
    images.mkdir()
    for i in range(8):
        Image.new("RGB", (16, 16), (i * 30, 0, 0)).save(images / f"{i}.png")
    code, _, err = cli("run", "plugin=stylegan", "preset=tiny", "trainer.steps=1",
                       "data=folder", f"data.path={images}", "name=mine")  # fmt: skip
    assert code == 0, err
    moved = images.rename(workdir / "moved")
    code, _, err = cli("eval", "runs/mine", f"data.path={moved}", "--n", "16",
                       "eval.metrics=[ssim_diversity]")  # fmt: skip
    assert code == 0, err
    assert json.loads((workdir / "runs/mine/eval.json").read_text())["step"] == 1
