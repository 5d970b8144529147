"""The third-party example plugin: pip-installed on its own, found by entry point, run by the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ganhub-example-plugin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Install the example into its own directory (not site-packages) and return an env using it."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return {**os.environ, "PYTHONPATH": str(target)}


def ganhub(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ganhub", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_installed_plugin_is_discovered_and_trains_through_the_cli(
    installed: dict[str, str], tmp_path: Path
) -> None:
    site = Path(installed["PYTHONPATH"])
    (entry_points,) = site.glob("ganhub_example_plugin-*.dist-info/entry_points.txt")
    assert "[ganhub]\nexample = ganhub_example" in entry_points.read_text()

    listing = ganhub(installed, tmp_path, "plugins")
    assert listing.returncode == 0, listing.stderr
    assert "example  ganhub-example-plugin 0.1.0  [ok]" in listing.stdout
    assert "losses: smooth_hinge" in listing.stdout and "tricks: weight_clip" in listing.stdout
    assert "domains: moons" in listing.stdout

    trained = ganhub(
        installed, tmp_path, "run", "plugin=moons", "loss=smooth_hinge", "tricks=[weight_clip,ema]",
        "trainer.steps=30", "trainer.progress=false", "name=moons",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "runs/moons/samples/step_0000030.png").is_file()
    bad = ganhub(installed, tmp_path, "run", "plugin=moons", "tricks=[weight_clip,spectral_norm]")
    assert bad.returncode == 2 and "cannot be combined with: spectral_norm" in bad.stderr


def test_weight_clip_bounds_discriminator_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example's trick does what it claims (registered in-process this time)."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.chdir(tmp_path)
    import ganhub_example

    from ganhub.config.resolve import resolve
    from ganhub.engine.loop import fit
    from ganhub.wiring import make_run
    from ganhub.plugins import Hub

    hub = Hub.discover(extra=(("example", ganhub_example),))
    run = make_run(resolve(["plugin=moons", "tricks=[weight_clip]", "trick.weight_clip.clip=0.02",
                       "trainer.steps=5", "trainer.progress=false", "loggers=[]"], hub=hub), hub)  # fmt: skip
    fit(run)
    assert max(p.abs().max().item() for p in run.system.D.parameters()) <= 0.02
    assert max(p.abs().max().item() for p in run.system.G.parameters()) > 0.02
