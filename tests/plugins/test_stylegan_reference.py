"""stylegan's training details that follow StyleGAN2-ADA's code: the running mean of w moves in
every phase that maps fresh latents, and the GPU presets train all their steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ganhub_stylegan.networks import MappingNetwork

from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit
from ganhub.wiring import make_run
from tests.plugins.test_stylegan import TINY

pytestmark = pytest.mark.usefixtures("one_thread")


def test_w_avg_moves_in_every_phase_that_maps_latents(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """StyleGAN2-ADA's run_G moves w_avg in Gmain, Greg and Dmain (about 2.25 times a step
    with path length every 4); it moved in Dmain only. The mixing latents never move it."""
    run = make_run(resolve([*TINY, "trainer.steps=1", "objective.pl_interval=4"]))
    phases: list[str] = []
    forward = MappingNetwork.forward

    def spy(self: Any, z: Any, update_w_avg: bool = False) -> Any:
        if update_w_avg:
            phases.append(run.phases[current[0]].name)
        return forward(self, z, update_w_avg)

    current = [0]
    for i, phase in enumerate(run.phases):
        loss = phase.loss

        def marked(batch: Any, ctx: Any, i: int = i, loss: Any = loss) -> Any:
            current[0] = i
            return loss(batch, ctx)

        phase.loss = marked
    monkeypatch.setattr(MappingNetwork, "forward", spy)
    fit(run)
    assert phases == ["Dmain", "Gmain", "Greg"]


@pytest.mark.parametrize("preset", ["auto", "paper256"])
def test_gpu_presets_train_every_step(preset: str) -> None:
    """The CPU preset's 500 s limit stopped the GPU presets' 100k and 390k steps at minute 8."""
    config = resolve(["plugin=stylegan", f"preset={preset}"])
    assert config.trainer.max_seconds is None and config.trainer.steps >= 100_000
    assert resolve(["plugin=stylegan"]).trainer.max_seconds == 500.0


def test_samples_draw_random_noise_inputs_from_their_seed(workdir: Path) -> None:
    """StyleGAN2-ADA's metrics sample with random noise inputs; ganhub's sampled one constant
    pattern for every image. The noise comes from the seed, in a forked stream."""
    import torch

    system: Any = make_run(resolve(TINY)).system  # noise inputs on
    for conv in system.G_ema.synthesis.modules():  # strengths start at 0: make noise visible
        if hasattr(conv, "noise_strength"):
            conv.noise_strength.data.fill_(0.5)
    state = torch.get_rng_state()
    a, b = system.sample(4, seed=3), system.sample(4, seed=3)
    assert torch.equal(a, b) and torch.equal(state, torch.get_rng_state())
    gen = torch.Generator(device=system.device).manual_seed(3)
    const = system.synthesize(system.ws_for(system.latent(4, gen), psi=1.0))
    assert (a - const).abs().amax() > 1e-3  # not the constant pattern
    ws = system.ws_for(system.latent(4, torch.Generator().manual_seed(3)), psi=1.0)
    assert torch.equal(system.synthesize(ws, noise_mode="random", seed=3), a)


def test_sample_grids_use_the_constant_noise_inputs(workdir: Path) -> None:
    """The docs say grids use the constant noise (StyleGAN2-ADA's generate.py); an
    unconditional run's grid (`ganhub sample`, previews, explore) drew random noise, so a
    latent looked different there than in the truncation and mixing grids."""
    import torch

    system: Any = make_run(resolve(TINY)).system  # noise inputs on
    for conv in system.G_ema.synthesis.modules():
        if hasattr(conv, "noise_strength"):
            conv.noise_strength.data.fill_(0.5)
    grid, width = system.sample_grid(4, seed=3, psi=1.0)
    assert width is None
    gen = torch.Generator(device=system.device).manual_seed(3)
    const = system.synthesize(system.ws_for(system.latent(4, gen), psi=1.0))
    assert torch.equal(grid, const)
    assert (grid - system.sample(4, seed=3)).abs().amax() > 1e-3  # the metrics' random noise
