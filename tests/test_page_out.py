"""A viewing command's --out (report, interpret pages) never replaces a user's own file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ganhub

from .conftest import TINY_TOY


@pytest.fixture
def run_dir(workdir: Path) -> Path:
    ganhub.train([*TINY_TOY, "name=p"])
    return workdir / "runs" / "p"


@pytest.mark.parametrize(
    "command", [["report"], ["interpret", "directions"], ["interpret", "features"]]
)
def test_a_file_that_is_no_page_is_refused_and_kept(
    cli: Any, run_dir: Path, workdir: Path, command: list[str]
) -> None:
    """`--out victim.txt` (outside the run) was overwritten with the HTML page, with PNGs
    written beside it; as root, `--out /etc/passwd` replaced the system's user list."""
    victim = workdir / "victim.txt"
    victim.write_text("important\n")
    code, _, err = cli(*command, str(run_dir), "--out", str(victim))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "exists and is not a page ganhub wrote" in err
    assert victim.read_text() == "important\n"
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith("victim")) == [
        "victim.txt"
    ]


def test_an_earlier_page_is_replaced(cli: Any, run_dir: Path, workdir: Path) -> None:
    page = workdir / "page.html"
    for _ in range(2):
        code, out, err = cli("report", str(run_dir), "--out", str(page))
        assert code == 0 and Path(out.strip()) == page, err
    assert "<title>ganhub report" in page.read_text()
