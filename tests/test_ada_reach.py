"""How far ADA's p can move: by at most the real images D judges / (trick.ada.kimg x 1000), so
StyleGAN2-ADA's 500 kimg, set for millions of images, leaves p near p_init over a short run.
A real run (1,000 steps or more on p's timeline) in which p cannot move over half its range is
warned of once as it starts; a shorter one is a smoke or test run and stays quiet (an earlier
warning printed on every short run with ada). `ganhub meta` judges it on its tasks' timeline
by the same rule, and `ganhub adapt` lowers trick.ada.kimg so that p can cross its range in
the fine-tune, as StyleGAN2-ADA lowers it when it fine-tunes a trained network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ganhub_meta.carry import timeline_warnings
from ganhub_meta.reptile import MetaOptions

import ganhub
from ganhub.adapt import adapt_config
from ganhub.config.resolve import resolve
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")

ADA = ["plugin=dcgan", "preset=tiny", "tricks=[ada]", "trainer.batch_size=8"]


def test_the_rule_judges_real_runs_only() -> None:
    """999 steps are a smoke run whatever p can do; from 1,000 steps p must be able to move
    over half its range (0.5) at the run's kimg."""
    from ganhub.tricks.augmenters import ada_reach_warning

    assert ada_reach_warning(500, 0, 999, 8, "b") is None  # p moves by 0.016 at most: a smoke run
    said = ada_reach_warning(500, 0.2, 1000, 8, "trainer.batch_size=8")
    assert said == (
        "trick.ada.kimg=500: ADA's p can move by at most 0.016 over trainer.steps=1000 (8,000 "
        "real images at trainer.batch_size=8 a step / (kimg x 1000)), less than half its range "
        "from trick.ada.p_init=0.2, so ADA can do little; give trick.ada.kimg=8 or less for p "
        "to cross 0 to 1 in it"
    )
    assert ada_reach_warning(16, 0, 1000, 8, "b") is None  # 8,000 / 16,000: half its range
    assert ada_reach_warning(16.1, 0, 1000, 8, "b") is not None


def test_a_long_run_warns_once_and_a_short_run_is_quiet(workdir: Path, cli: Any) -> None:
    """`ganhub config` prints the very start warnings `ganhub run` does: 1,000 steps of 8 at
    kimg=500 move p by 0.016 at most (n_critic's 5 D steps a step move it 5 times as far);
    a short run with ada, as the tests and smoke runs train, says nothing."""
    code, _, err = cli("config", *ADA, "trainer.steps=1000")
    assert code == 0, err
    assert [line for line in err.splitlines() if "ADA" in line] == [
        "ganhub: warning: trick.ada.kimg=500 (a value you did not give): ADA's p can move by "
        "at most 0.016 over trainer.steps=1000 (8,000 real images at trainer.batch_size=8 a "
        "step / (kimg x 1000)), less than half its range from trick.ada.p_init=0, so ADA can "
        "do little; give trick.ada.kimg=8 or less for p to cross 0 to 1 in it"
    ], err
    code, _, err = cli("config", *ADA, "trainer.steps=1000", "tricks=[ada,n_critic]")
    assert code == 0, err
    assert "trainer.batch_size=8 x trick.n_critic.n=5 a step" in err, err
    code, _, err = cli("run", *TINY_DCGAN, "tricks=[ada]", "eval.metrics=[]", "name=short")
    assert (code, err) == (0, ""), err


def test_meta_judges_ada_on_the_tasks_timeline(tmp_path: Path) -> None:
    """125 outer steps of 8 steps are 1,000 steps of 8 images on the tasks' timeline (the
    meta run's own 125 steps say nothing); a lazy R1 phase judges no reals of its own, so
    its steps do not add to the images (ganhub meta counted them: 8,500)."""
    keys = [*ADA, "tricks=[ada,r1]", "trick.r1.interval=16", "model.d_norm=none",
            "trainer.steps=125",
            f"out_dir={tmp_path}", "name=m"]  # fmt: skip
    run = make_run(resolve(keys, hub=get_hub()), get_hub())
    try:
        options = MetaOptions(classes=[0, 1], outer_steps=125, inner_steps=8)
        warned = [w for w in timeline_warnings(run, options, run.preflight()) if "ADA" in w]
        short = MetaOptions(classes=[0, 1], outer_steps=2, inner_steps=4)
        quiet = [w for w in timeline_warnings(run, short, run.preflight()) if "ADA" in w]
    finally:
        run.close()
    assert warned == [
        "ganhub: warning: trick.ada.kimg=500 (a value you did not give): ADA's p can move by "
        "at most 0.016 over the tasks' 1000 training steps: meta.outer_steps x 8 (8,000 real "
        "images at trainer.batch_size=8 a step / (kimg x 1000)), less than half its range "
        "from trick.ada.p_init=0, so ADA can do little; give trick.ada.kimg=8 or less for p "
        "to cross 0 to 1 in it"
    ]
    assert quiet == []


def test_adapt_lowers_kimg_so_that_p_can_cross_in_the_fine_tune(workdir: Path) -> None:
    """An adapted run of an ADA run kept kimg=500: over its 300 steps of 8 shots a batch (the
    source's batch) p moved by 0.0048 at most. The written config.yaml holds the value the
    run used. A kimg the user gives, or one that already lets p cross (a longer fine-tune),
    is kept."""
    source = Path(
        ganhub.train([*TINY_DCGAN, "trainer.steps=1", "tricks=[ada]", "name=src"])["run_dir"]
    )
    config: Any = adapt_config(source, ["data.classes=[8]"])
    assert config.trick.ada.kimg == 2.4  # 300 x 8 = 2,400 images
    for keys, kimg in [(["trick.ada.kimg=500"], 500), (["trainer.steps=70000"], 500)]:
        config = adapt_config(source, ["data.classes=[8]", *keys])
        assert config.trick.ada.kimg == kimg
    adapted = ganhub.train(
        adapt_config(source, ["data.classes=[8]", "trainer.steps=2", "eval.metrics=[]"])
    )
    saved = yaml.safe_load((Path(adapted["run_dir"]) / "config.yaml").read_text())
    assert saved["trick"]["ada"]["kimg"] == 0.016  # 2 steps of 8
