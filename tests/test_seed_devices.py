"""A seed means the same samples on every device.

A seed's latents (and a conditional sample's labels) were drawn with a generator on the model's
device, so one seed gave other pictures on a GPU than on the CPU. They are drawn on the CPU and
copied over, the numbers the CPU always drew (and an exported generator is fed). Without a GPU
the tests put the model on the meta device: a draw made with the device's own generator cannot
run there, one made on the CPU and copied over can."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_SG = ["plugin=stylegan", "preset=tiny"]
DCGAN = ["plugin=dcgan", "model.g_channels=8", "model.d_channels=8"]
SYSTEMS = {  # the seeded sampling paths: the engine's (with labels) and stylegan's
    "toy2d": ["plugin=toy2d"],
    "dcgan-conditional": [*DCGAN, "data=digits", "model.conditional=true"],
    "stylegan": TINY_SG,
}


def _system(keys: list[str]) -> Any:
    """The untrained system of a config, built as a run builds it (conditioning wired)."""
    from ganhub.config.resolve import resolve
    from ganhub.engine.prepare import prepare_system
    from ganhub.wiring import components

    config = resolve(keys)
    system, _tricks = prepare_system(
        config, components(config, training=False), torch.device("cpu")
    )
    assert (system.label_spec is not None) == ("model.conditional=true" in keys)
    return system.eval()


def _draw(system: Any, n: int, seed: int) -> torch.Tensor:
    """n samples as `ganhub sample --n n` makes them (stylegan: its grid's constant noise)."""
    if system.config.plugin == "stylegan":
        return system.sample(n, seed=seed, noise_mode="const")
    return system.sample(n, seed=seed)


def test_a_seed_draws_what_the_cpu_always_drew() -> None:
    """The convention an exported generator's users feed it (docs/export.md): a seed's codes are
    `torch.randn((n, *shape), generator=torch.Generator().manual_seed(seed))`."""
    from ganhub.latent import seeded_generator, seeded_normal

    for shape in [(2,), (100,), (3, 5, 5)]:
        want = torch.randn((9, *shape), generator=torch.Generator().manual_seed(4))
        assert torch.equal(seeded_normal(9, shape, seeded_generator(4)), want)


@pytest.mark.parametrize("name", ["toy2d", "dcgan-conditional", "stylegan"])
def test_a_seed_is_drawn_on_the_cpu_whatever_the_device(name: str) -> None:
    """The latents and labels of a seed were drawn by a generator on the model's device (one
    seed, other pictures on a GPU): on a device whose generator is not the CPU's (meta here,
    where no generator runs) sampling now draws on the CPU and copies the draw over."""
    system = _system(SYSTEMS[name]).to("meta")
    if name == "stylegan":  # its synthesis does not run on meta: the draws of its pictures
        from ganhub_stylegan.sampling import _latents

        assert _latents(system, 2, 0).device.type == "meta"
        return
    out = _draw(system, 2, seed=0)
    assert out.device.type == "meta" and out.shape[0] == 2
    if name == "dcgan-conditional":
        assert system.class_grid(columns=2, rows=2, seed=0).device.type == "meta"


def test_a_gif_faster_than_50_fps_is_refused(tmp_path: Path) -> None:
    """A GIF stores frame delays in hundredths of a second and browsers play a delay under 2
    at 10 fps: `fps=60` wrote a GIF that played at 10 fps."""
    from ganhub_stylegan.sampling import interpolation_gif

    from ganhub.errors import UsageError

    system = _system(TINY_SG)
    with pytest.raises(UsageError) as caught:
        interpolation_gif(system, tmp_path / "walk.gif", keys=2, frames=2, fps=60)
    assert str(caught.value) == (
        "interpolation_gif(fps=60): a GIF stores each frame's delay in hundredths of a second "
        "and browsers play delays under 2 at 10 fps: give 50 or less (leave fps out for 12)"
    )
    assert not (tmp_path / "walk.gif").exists()
    interpolation_gif(system, tmp_path / "walk.gif", keys=2, frames=2, fps=50)
    assert (tmp_path / "walk.gif").stat().st_size > 0
