"""File names are data: a name holding a newline or a terminal escape is shown escaped, on
one line, by `ganhub data check`'s table and by every error or warning naming the file
(`ganhub.errors.one_line`), never raw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganhub.config.resolve import resolve
from ganhub.data.images import ImageFolder
from ganhub.data.inspect import DataReport
from ganhub.errors import ConfigError, UsageError

from .conftest import TINY_DCGAN

ODD = "bad\nname\x1b[2J.png"
SHOWN = "bad\\nname\\x1b[2J.png"


def _odd_folder(root: Path) -> Path:
    root.mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / "ok.png")
    (root / ODD).write_text("junk")
    return root


def _one_line(text: str) -> str:
    assert "\n" not in text and "\x1b" not in text and "\r" not in text, repr(text)
    return text


def test_the_check_table_keeps_each_row_on_one_line(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """The row of `bad<newline>name<ESC>[2J.png` was split over two lines and the escape
    reached the terminal (it clears the screen)."""
    _odd_folder(workdir / "odd")
    code, out, err = cli("data", "check", "odd", "plugin=dcgan")
    assert code == 1 and "\x1b" not in out + err, out + err
    (row,) = [line for line in out.splitlines() if "error" in line and "bad" in line]
    assert row.split() == ["error", SHOWN, "not", "an", "image", "in", "a", "format", "Pillow",
                           "reads", "->", "drop"]  # fmt: skip
    report = DataReport(ODD, "images", items=[ODD], summary={"odd\tkey": ODD})
    report.add(ODD, f"duplicate of {ODD}", "drop", "warning")
    lines = report.table().splitlines()
    assert len(lines) == 4 and all(_one_line(line) for line in lines)
    assert lines[-1].split() == ["warning", SHOWN, "duplicate", "of", SHOWN, "->", "drop"]


def test_errors_naming_an_odd_file_are_one_line(workdir: Path) -> None:
    """`ganhub run` printed "cannot read image 'odd/bad" and, on the next line, the rest of
    the name with its raw escape."""
    _odd_folder(workdir / "odd")
    ds = ImageFolder(Path("odd"), 16, 3)
    with pytest.raises(UsageError) as caught:
        ds[[p.name for p in ds.files].index(ODD)]
    assert _one_line(str(caught.value)).startswith(f"cannot read image 'odd/{SHOWN}': not an")
    (workdir / "elsewhere").mkdir()
    (workdir / "odd" / "z\x1bnk").symlink_to(workdir / "elsewhere")
    with pytest.raises(ConfigError) as refused:
        resolve([*TINY_DCGAN, "data.path=odd"])
    assert _one_line(str(refused.value)).startswith("'odd/z\\x1bnk' is a symlink leading outside")


def test_skip_bad_warns_about_an_odd_file_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ImageFolder(_odd_folder(tmp_path / "odd"), 16, 3, skip_bad=True)
    (line,) = capsys.readouterr().err.splitlines()
    assert _one_line(line).endswith(f"{SHOWN}': not an image in a format Pillow reads")


def test_cyclegan_names_an_odd_file_with_a_pair_too_narrow_on_one_line(tmp_path: Path) -> None:
    from ganhub_cyclegan.folder import read_training

    path = tmp_path / "t\x1bny.png"
    Image.fromarray(np.zeros((10, 1, 3), np.uint8)).save(path, format="PNG")
    with pytest.raises(UsageError) as caught:
        read_training(path, 3, pairs=True)
    assert "t\\x1bny.png': 1 px wide" in _one_line(str(caught.value))
