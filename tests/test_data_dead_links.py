"""A symlink that leads nowhere is named for what it is: a loop, or a link to a missing file.
`ganhub data check` called a loop a broken link to its other half, and DATA or data.path
that is a dead link "does not exist", though `ls` lists it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def _folder(root: Path) -> Path:
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray((rng.random((8, 8, 3)) * 255).astype("uint8")).save(root / f"{i}.png")
    os.symlink("b.png", root / "a.png")  # a.png -> b.png -> a.png
    os.symlink("a.png", root / "b.png")
    os.symlink("gone.png", root / "dangling.png")
    return root


def test_the_check_tells_a_symlink_loop_from_a_broken_link(workdir: Path, cli: Any) -> None:
    _folder(workdir / "photos")
    code, out, err = cli("data", "check", "photos", "plugin=dcgan")
    assert code == 1, err
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("  error")}
    assert "symlink loop (to 'b.png'): no file to read" in rows["a.png"], out
    assert "symlink loop (to 'a.png'): no file to read" in rows["b.png"], out
    assert "broken symlink (to 'gone.png'): no file to read" in rows["dangling.png"], out


def test_data_that_is_a_dead_link_is_refused_as_one(workdir: Path, cli: Any) -> None:
    os.symlink("loop2", workdir / "loop1")
    os.symlink("loop1", workdir / "loop2")
    os.symlink("nowhere", workdir / "moved")
    code, _, err = cli("data", "check", "loop1", "plugin=dcgan")
    assert code == 2 and err.strip().endswith("DATA 'loop1' is a symlink loop (to 'loop2')"), err
    code, _, err = cli("data", "check", "moved", "plugin=dcgan")
    assert code == 2 and err.strip().endswith("is a broken symlink (to 'nowhere')"), err
    code, _, err = cli("run", "plugin=dcgan", "data.path=loop1", "trainer.steps=1")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "data.path='loop1': symlink loop (to 'loop2'): no folder to read" in err, err
    code, _, err = cli("data", "check", "missing", "plugin=dcgan")  # plainly missing: as before
    assert code == 2 and err.strip().endswith("DATA 'missing' does not exist"), err
