"""docs/conditional.md's claims about labels and class_accuracy, checked against the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from ganhub.conditioning import LabelSpec
from ganhub.data.labels import folder_classes
from ganhub.errors import UsageError
from ganhub.metrics.conditional import balanced_labels

DOC = Path(__file__).resolve().parents[1] / "docs" / "conditional.md"


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (10, 20, 30)).save(path)


def test_class_accuracy_row_rounding_example_is_what_it_scores() -> None:
    # the row's example (`eval.n_samples=25` on the ten digits scores 30) is the code's count
    text = DOC.read_text(encoding="utf-8")
    found = re.search(r"`eval\.n_samples=(\d+)` on the ten digits scores (\d+)", text)
    assert found, "docs/conditional.md's class_accuracy row gives no rounding example"
    asked, scored = int(found[1]), int(found[2])
    labels = balanced_labels(LabelSpec((10,)), asked, seed=0)
    assert len(labels) == scored
    assert labels.bincount(minlength=10).tolist() == [scored // 10] * 10


def test_class_accuracy_row_names_counts_and_chance_warning() -> None:
    row = next(line for line in DOC.read_text(encoding="utf-8").splitlines()
               if line.startswith("| `class_accuracy`"))  # fmt: skip
    assert "`counts`" in row and "near chance" in row and "`warnings`" in row


def test_empty_class_folder_is_no_class(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # as the labelled-data table says: a sub-folder with no image is left out of the classes,
    # and said once (it was left out without a word)
    for name in ("a", "c"):
        _image(tmp_path / name / "0.png")
    (tmp_path / "b").mkdir()
    assert folder_classes(tmp_path) == ["a", "c"]
    assert folder_classes(tmp_path) == ["a", "c"]
    assert capsys.readouterr().err == (
        f"ganhub: warning: data.path='{tmp_path}': class folder 'b' holds no image and is no "
        "class; the classes are a, c\n"
    )
    table = DOC.read_text(encoding="utf-8")
    assert "a sub-folder with no image is no class" in table


@pytest.mark.parametrize("label", ["-1", "10", "seven", "3.0", ""])
def test_sample_label_out_of_range_is_one_line(label: str) -> None:
    spec = LabelSpec((10,))
    with pytest.raises(UsageError) as caught:
        spec.parse(label)
    message = str(caught.value)
    assert "\n" not in message and f"label '{label}'" in message and "0, 1, 2" in message


def test_label_names_and_indices() -> None:
    named = LabelSpec((2,), (("a", "c"),))
    assert named.parse("c") == [1] and named.parse("1") == [1]
    with pytest.raises(UsageError, match=r"did you mean 'a'"):
        named.parse("A")
    with pytest.raises(UsageError, match="not one of this run's classes: a, c"):
        named.parse("-1")
