"""How far ADA's p can move: p moves by at most the real images D judges / (trick.ada.kimg x
1000), so StyleGAN2-ADA's 500 kimg, set for millions of images, leaves p near p_init over a
short run. `ganhub run` warns of it (ganhub meta judged it alone), and `ganhub adapt` lowers
trick.ada.kimg so that p can adapt within its fine-tune, as StyleGAN2-ADA lowers it when it
fine-tunes a trained network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ganhub
from ganhub.adapt import adapt_config

from .conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")

ADA = ["plugin=dcgan", "preset=tiny", "tricks=[ada]", "trainer.steps=300",
       "trainer.batch_size=10"]  # fmt: skip


def _said(cli: Any, *keys: str) -> list[str]:
    """The warnings about ADA that a run of `keys` gives as it starts (`ganhub config` prints
    the very lines `ganhub run` does)."""
    code, _, err = cli("config", *keys)
    assert code == 0, err
    return [line for line in err.splitlines() if "ADA's p" in line]


def test_a_run_warns_when_p_cannot_cross_its_range(workdir: Path, cli: Any) -> None:
    """300 steps of 10 real images move p by 0.006 at most at kimg=500, and `ganhub run` said
    nothing; kimg=3 lets p cross 0 to 1, so nothing is said of it."""
    assert _said(cli, *ADA) == [
        "ganhub: warning: trick.ada.kimg=500: ADA's p can move by at most 0.006 over "
        "trainer.steps=300, at trainer.batch_size=10 (3,000 real images / (kimg x 1000), for D "
        "trained once a step; n times a step, as with n_critic, moves it n times as far), so it "
        "stays near trick.ada.p_init=0; give trick.ada.kimg=3 or less for p to cross 0 to 1 in it"
    ]
    assert _said(cli, *ADA, "trick.ada.kimg=3") == []
    assert len(_said(cli, *ADA, "trick.ada.kimg=3.1")) == 1
    # stylegan's default run (1,500 steps of 32 at its kimg=20) lets p cross 2.4 times
    assert _said(cli, "plugin=stylegan") == []


def test_adapt_lowers_kimg_so_that_p_can_cross_in_the_fine_tune(workdir: Path) -> None:
    """An adapted run of an ADA run kept kimg=500: over its 300 steps of 8 shots a batch (the
    source's batch) p moved by 0.0048 at most. A kimg the user gives, or one that already lets
    p cross (a longer fine-tune), is kept."""
    source = Path(
        ganhub.train([*TINY_DCGAN, "trainer.steps=1", "tricks=[ada]", "name=src"])["run_dir"]
    )
    notes: list[str] = []
    config: Any = adapt_config(source, ["data.classes=[8]"], notes=notes)
    assert config.trick.ada.kimg == 2.4
    assert [n for n in notes if n.startswith("trick.ada.kimg")] == [
        f"trick.ada.kimg=2.4 ({source}'s is 500): the adapted run's 2,400 real images "
        "(trainer.steps=300 at 8 a step) move ADA's p by at most 0.0048 at 500, so it would "
        "stay near trick.ada.p_init=0; at 2.4 p can cross 0 to 1 in them, as StyleGAN2-ADA "
        "lowers it when it fine-tunes; give trick.ada.kimg=K for another"
    ]
    for keys, kimg in [(["trick.ada.kimg=500"], 500), (["trainer.steps=70000"], 500)]:
        notes = []
        config = adapt_config(source, ["data.classes=[8]", *keys], notes=notes)
        assert config.trick.ada.kimg == kimg
        assert not [n for n in notes if "trick.ada.kimg" in n]
