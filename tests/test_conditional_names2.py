"""Class names of conditional folder runs, in the words of what the user typed.

`condition.classes=[cat]` on two class folders blamed the folder ("needs at least two
classes: one sub-folder per class"); `condition.classes=[cat," dog"]` kept the space, so no
labels-CSV label (read stripped) could match it; a copy of one image in two class folders was
a plain "duplicate of cat/1.png", not the "one image with two labels" docs/data.md promises."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

import ganhub
from ganhub.conditioning import ConditionConfig
from ganhub.errors import ConfigError

Cli = Callable[..., tuple[int, str, str]]


def _folders(root: Path, *classes: str) -> Path:
    """Three distinct 16 px images in each class sub-folder."""
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(3):
            colour = (40 * i + 10, 90 * c + 20, 7 * i + 3 * c)
            Image.new("RGB", (16, 16), colour).save(root / name / f"{i}.png")
    return root


@pytest.mark.parametrize("plugin", ["dcgan", "stylegan"])
@pytest.mark.parametrize(("given", "named"), [("[cat]", "one class"), ("[]", "no class")])
def test_too_few_given_classes_blame_the_key(
    workdir: Path, plugin: str, given: str, named: str
) -> None:
    data = _folders(workdir / "data", "cat", "dog")
    with pytest.raises(ConfigError) as err:
        ganhub.resolve(
            [f"plugin={plugin}", f"data.path={data}", "model.conditional=true",
             f"condition.classes={given}"]
        )  # fmt: skip
    line = str(err.value)
    assert line.startswith(f"condition.classes={given} names {named}; a conditional run needs ")
    assert "two or more" in line and "sub-folder per class" not in line and "\n" not in line


def test_one_class_folder_still_blames_the_folder(workdir: Path) -> None:
    data = _folders(workdir / "one", "cat")
    with pytest.raises(ConfigError, match="only one class folder \\('cat'\\) holds images"):
        ganhub.resolve(["plugin=dcgan", f"data.path={data}", "model.conditional=true"])


def test_class_names_are_read_without_surrounding_spaces() -> None:
    assert ConditionConfig(classes=["cat", " dog "]).classes == ["cat", "dog"]
    with pytest.raises(ValueError, match="'dog' is named twice"):
        ConditionConfig(classes=["dog", "dog "])
    with pytest.raises(ValueError, match=r"class 1 .* has an empty name"):
        ConditionConfig(classes=["dog", "  "])


def test_spaced_names_match_labels_csv_rows(workdir: Path) -> None:
    """`[cat," dog"]` against a labels CSV (whose labels are stripped): the run's labels."""
    from ganhub.data.labels import labelled_files

    data = _folders(workdir / "data", "a", "b")
    rows = [f"{c}/{i}.png,{'cat' if c == 'a' else 'dog'}" for c in "ab" for i in range(3)]
    (workdir / "labels.csv").write_text("file,label\n" + "\n".join(rows) + "\n")
    config = ganhub.resolve(
        ["plugin=dcgan", f"data.path={data}", "data.labels=labels.csv",
         "model.conditional=true", 'condition.classes=[cat," dog"]']
    )  # fmt: skip
    assert config.condition.classes == ["cat", "dog"]
    _, labels, _ = labelled_files(data, workdir / "labels.csv", config.condition.classes)
    assert sorted(labels) == [0, 0, 0, 1, 1, 1]


def test_a_class_folder_named_with_spaces_is_its_stripped_name(workdir: Path) -> None:
    from ganhub.data.labels import labelled_files

    data = _folders(workdir / "data", " dog", "cat")
    config = ganhub.resolve(["plugin=dcgan", f"data.path={data}", "model.conditional=true"])
    assert config.condition.classes == ["dog", "cat"]
    assert sorted(labelled_files(data, None, config.condition.classes)[1]) == [0, 0, 0, 1, 1, 1]
    _folders(data, "dog")
    with pytest.raises(ConfigError, match="class folders ' dog' and 'dog' are both class 'dog'"):
        labelled_files(data)


@pytest.mark.parametrize("csv", [False, True])
def test_a_copy_in_two_classes_is_one_image_with_two_labels(
    cli: Cli, workdir: Path, csv: bool
) -> None:
    data = _folders(workdir / "data", "cat", "dog")
    (data / "dog" / "9.png").write_bytes((data / "cat" / "1.png").read_bytes())
    (data / "dog" / "8.png").write_bytes((data / "dog" / "0.png").read_bytes())  # same class
    args = ["plugin=dcgan", "model.conditional=true"]
    if csv:
        rows = [f"{c}/{i}.png,{c}" for c in ("cat", "dog") for i in (0, 1, 2)]
        rows += ["dog/9.png,dog", "dog/8.png,dog"]
        (workdir / "l.csv").write_text("file,label\n" + "\n".join(rows) + "\n")
        args.append("data.labels=l.csv")
    code, out, err = cli("data", "check", str(data), *args)
    assert code == 1, out + err
    line = next(line for line in out.splitlines() if "dog/9.png" in line)
    said = "duplicate of cat/1.png, labelled 'cat' there and 'dog' here: one image with two labels"
    assert said in line
    assert line.rstrip().endswith("-> drop")
    same = next(line for line in out.splitlines() if "dog/8.png" in line)
    assert "duplicate of dog/0.png" in same and "two labels" not in same
