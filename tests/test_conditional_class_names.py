"""condition.classes is checked where it is typed: a class named twice, or a blank name, is
refused in one line naming the key, before any data is read (a name twice reached the folder
loader, which failed as a plugin error: "domain 'dcgan': its data() raised ValueError")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError


def _class_folders(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        for i in range(2):
            pixels = (rng.random((8, 8, 3)) * 255).astype("uint8")
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def _keys(root: Path, classes: str) -> list[str]:
    return [
        "plugin=dcgan",
        "model.conditional=true",
        f"data.path={root}",
        f"condition.classes={classes}",
    ]


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        ("[cat,cat,dog]", r"^condition\.classes=\[cat,cat,dog\]: 'cat' is named twice; give "),
        ('["3","3"]', r"^condition\.classes=\[3,3\]: '3' is named twice"),
        ('[cat,"",dog]', r"^condition\.classes=\[cat,,dog\]: class 1 \(counting from 0\) has an "),
        ('[cat," "]', r"class 1 \(counting from 0\) has an empty name"),
    ],
)
def test_classes_named_twice_or_blank_are_refused_in_one_line(
    tmp_path: Path, classes: str, message: str
) -> None:
    root = _class_folders(tmp_path / "data")
    with pytest.raises(ConfigError, match=message) as err:
        resolve(_keys(root, classes))
    assert "\n" not in str(err.value) and "ValueError" not in str(err.value)


def test_distinct_names_are_kept_in_their_order(tmp_path: Path) -> None:
    """The refusals leave valid names alone: given in another order than the folders', or with
    a class the data does not have yet, they are the run's classes as typed."""
    root = _class_folders(tmp_path / "data")

    def classes(text: str) -> object:
        return resolve(_keys(root, text)).condition.classes  # type: ignore[attr-defined]

    assert classes("[dog,cat]") == ["dog", "cat"]
    assert classes("[cat,dog,bird]") == ["cat", "dog", "bird"]


def test_a_class_name_in_other_case_is_named_when_sampling() -> None:
    """`--label Dog` listed the classes without saying which one was meant."""
    from ganhub.conditioning import LabelSpec
    from ganhub.errors import UsageError

    spec = LabelSpec((2,), (("cat", "dog"),))
    with pytest.raises(UsageError) as err:
        spec.parse("Dog")
    message = str(err.value)
    assert message == "label 'Dog' is not one of this run's classes (did you mean 'dog'?): cat, dog"
    # a merely similar name or number is no typo: no guess
    for other, text in ((LabelSpec((10,)), "10"), (LabelSpec((2,), (("cat", "owl"),)), "cow")):
        with pytest.raises(UsageError) as err:
            other.parse(text)
        assert "did you mean" not in str(err.value)
