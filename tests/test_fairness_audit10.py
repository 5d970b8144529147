"""Fairness audit 10: a reference folder too small is refused in one line, with no note first."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")


def test_too_small_reference_folder_is_one_line_without_a_conversion_note(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    from PIL import Image

    folder = workdir / "five"
    folder.mkdir()
    for i in range(5):  # RGB 28x28 against grey 32x32 digits: each would be converted
        Image.new("RGB", (28, 28), (i * 40, 0, 0)).save(folder / f"{i}.png")
    code, _, err = cli(
        "run",
        *TINY_DCGAN,
        "data=digits",
        "data.proportions=[0.9,0.1]",
        "tricks=[reweight]",
        f"trick.reweight.reference={folder}",
        "eval.metrics=[]",
    )
    assert code != 0
    lines = err.strip().splitlines()
    assert lines == [
        f"ganhub: error: trick.reweight.reference={folder}: 5 reference images; the "
        "density-ratio classifier needs at least 50 (it holds out 10% to measure its accuracy, "
        "and a few images teach it nothing of the reference distribution)"
    ]
    assert not (workdir / "runs").exists() or not any((workdir / "runs").iterdir())
