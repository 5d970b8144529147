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


def test_the_scatter_plot_leaves_matplotlib_global_state_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plugin is a library: it draws with matplotlib's objects (Figure), never with pyplot,
    whose backend and open figures belong to the user's program (a notebook's, a GUI's)."""
    import sys

    from PIL import Image

    from ganhub.config.resolve import resolve
    from ganhub.engine.system import BuildHints

    system = get_hub().domains.get("moons").build(resolve(["plugin=moons", *SMALL]), BuildHints())
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)  # importing pyplot fails
    (path,) = system.write_samples(tmp_path / "samples", "moons", n=64, step=3)
    assert path == tmp_path / "samples" / "moons.png"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.text["Source"] == "ganhub moons: step 3, seed 0"
    assert [p.name for p in path.parent.iterdir()] == ["moons.png"]  # no temporary file left


def _readme_run_args() -> list[str]:
    """The overrides of the README's `ganhub run` command."""
    import shlex

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    (line,) = [ln for ln in readme.splitlines() if ln.startswith("ganhub run plugin=moons")]
    return shlex.split(line.split("#")[0])[2:]


def test_the_readme_command_draws_two_moons(tmp_path: Path) -> None:
    """The README's run (500 steps) puts most points on the moons and covers both of them;
    paired with weight clipping the hinge loss stalled there and drew a blob (30 % near)."""
    import math

    import torch

    from ganhub.config.resolve import resolve
    from ganhub.engine.loop import fit
    from ganhub.wiring import make_run

    args = _readme_run_args()
    assert "trainer.steps=500" in args and "tricks=[moons_weight_clip]" not in args
    run = make_run(resolve([*args, "trainer.progress=false", "loggers=[]",
                            f"out_dir={tmp_path}"]))  # fmt: skip
    fit(run)
    points = run.system.sample(2000, seed=0).cpu().float()
    t = torch.linspace(0, math.pi, 400)
    moons = torch.cat([torch.stack([t.cos(), t.sin()], 1),
                       torch.stack([1 - t.cos(), 0.5 - t.sin()], 1)])  # fmt: skip
    dist = torch.cdist(points, moons)
    near = (dist.min(1).values <= 0.15).float().mean().item()  # 3 noise std from a moon
    covered = (dist.min(0).values <= 0.15).float().mean().item()  # of each moon's length
    assert near >= 0.5 and covered >= 0.9, (near, covered)
