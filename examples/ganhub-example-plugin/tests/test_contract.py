"""The example plugin keeps ganhub's contract: the checks ganhub's own plugins pass.

Run with the plugin installed (`pip install .` then `pytest tests`): everything here is found
through the entry point, as users' ganhub finds it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ganhub.plugins import get_hub
from ganhub.testing import check_domain, check_loss, check_trick

SMALL = ["trainer.batch_size=32", "hidden=16"]


def test_the_plugin_is_found_through_its_entry_point() -> None:
    info = get_hub().plugins["moons"]
    assert info.status == "ok" and info.dist == "ganhub-example-plugin"


def test_moons_keeps_the_domain_contract(tmp_path: Path) -> None:
    check_domain("moons", SMALL, workdir=tmp_path)


def test_moons_smooth_hinge_keeps_the_loss_contract() -> None:
    check_loss(get_hub().losses.get("moons_smooth_hinge"))


def test_moons_weight_clip_keeps_the_trick_contract(tmp_path: Path) -> None:
    check_trick("moons_weight_clip", ["plugin=moons", "loss=wasserstein", *SMALL], workdir=tmp_path)


def test_moons_weight_clip_bounds_discriminator_weights(tmp_path: Path) -> None:
    """The trick does what it claims: D's weights stay in [-c, c], G's do not."""
    from ganhub.config.resolve import resolve
    from ganhub.engine.loop import fit
    from ganhub.wiring import make_run

    args = ["plugin=moons", "tricks=[moons_weight_clip]", "trick.moons_weight_clip.clip=0.02",
            *SMALL, "trainer.steps=5", "trainer.progress=false", "loggers=[]",
            f"out_dir={tmp_path}"]  # fmt: skip
    run = make_run(resolve(args))
    fit(run)
    assert max(p.abs().max().item() for p in run.system.D.parameters()) <= 0.02
    assert max(p.abs().max().item() for p in run.system.G.parameters()) > 0.02


def test_a_clashing_combination_is_refused() -> None:
    from ganhub.config.resolve import resolve
    from ganhub.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot be combined with: spectral_norm"):
        resolve(["plugin=moons", "tricks=[moons_weight_clip,spectral_norm]"])
