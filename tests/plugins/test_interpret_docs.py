"""docs/interpret.md runs as written: its commands, in order, on a short training run."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"

# the page's training line is the dcgan default (minutes); the test shortens it to seconds
SHORTER = ("preset=tiny", "data.n=512", "trainer.steps=30", "eval.metrics=[]")


@pytest.mark.slow
def test_interpret_page_commands_run_as_written(cli, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    text = (DOCS / "interpret.md").read_text()
    block = text.split("## Quick start", 1)[1].split("```", 2)[1]
    lines = [shlex.split(line) for line in block.splitlines() if line.startswith("ganhub ")]
    assert [line[1] for line in lines] == [
        "run",
        "interpret",
        "interpret",
        "interpret",
        "interpret",
    ]
    for words in lines:
        extra = SHORTER if words[1] == "run" else ()
        code, _, err = cli(*words[1:], *extra)
        assert code == 0, err
    pages = sorted(p.name for p in (workdir / "runs" / "shapes" / "interpret").glob("*.html"))
    assert pages == ["directions-boundary.html", "directions-sefa.html", "features.html"]
    assert (workdir / "runs" / "shapes" / "interpret" / "probes.json").is_file()
