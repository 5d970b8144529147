"""Few-shot audit 10: what `ganhub adapt` says when a key RUN set clashes with one typed."""

from __future__ import annotations

from pathlib import Path

import pytest

import ganhub

from .conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")


def test_adapt_names_an_inherited_key_that_clashes_with_a_typed_one(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    # a biased-digits run (the fairness page's data) adapted to one digit: its
    # data.proportions, kept from config.yaml, clashes with the typed data.classes
    summary = ganhub.train(
        [*TINY_DCGAN, "name=biased", "data=digits", "data.proportions=[0.9,0.1]"]
    )
    source = Path(summary["run_dir"])
    before = sorted(p.name for p in (workdir / "runs").iterdir())
    code, _, err = cli("adapt", str(source), "data.classes=[8]", "trainer.steps=2")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0] == (
        f"ganhub: error: config file '{source / 'config.yaml'}': data.classes=[8] and "
        "data.proportions both choose the digits a run trains on; give one of them; ganhub "
        f"adapt keeps data.proportions from {source}: give data.proportions=null (the default)"
    )
    assert sorted(p.name for p in (workdir / "runs").iterdir()) == before  # nothing written
