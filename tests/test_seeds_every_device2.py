"""A seed means the same samples on every device: the draws after the latents.

pix2pix/CycleGAN's `model.inference=paper` dropout drew its masks on the model's device; they now
come from the seed's CPU stream and are copied over, the numbers the CPU always drew; training's
masks stay on the device. StyleGAN's random noise inputs in the metrics' draws stay on the device
(a CPU draw costs about 45 ms per 1024 px image): the tests pin what the CPU draws and that
training never draws on the host. Without a GPU the tests record every random draw (a dispatch
mode sees the generator and device of each) and put networks on the meta device, where a draw
made by the device itself is no CPU draw.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

pytestmark = pytest.mark.usefixtures("one_thread")

NOISY_SG = ["plugin=stylegan", "preset=tiny", "model.noise=true"]
PAIRED = [  # 64 px: the smallest U-Net with a dropout level
    "plugin=cyclegan", "task=paired", "model.image_size=64", "model.ngf=4", "model.ndf=4",
    "model.n_layers_d=2", "data.n_test=8", "model.inference=paper",
]  # fmt: skip
CYCLE = [
    "plugin=cyclegan", "model.image_size=32", "model.ngf=4", "model.ndf=4",
    "model.dropout=true", "model.inference=paper",
]  # fmt: skip


class RandomDraws(TorchDispatchMode):
    """Every random op run inside: its name, its explicit generator (None: the device's own),
    the device it drew on and what it drew."""

    RANDOM = ("normal", "randn", "rand", "bernoulli", "uniform", "randint")

    def __init__(self) -> None:
        super().__init__()
        self.draws: list[tuple[str, torch.Generator | None, torch.device, Tensor]] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if any(word in func.__name__ for word in self.RANDOM):
            self.draws.append((func.__name__, kwargs.get("generator"), out.device, out.clone()))
        return out


def _system(keys: list[str]) -> Any:
    """The untrained system of a config on the CPU, built as a run builds it."""
    from ganhub.config.resolve import resolve
    from ganhub.engine.prepare import prepare_system
    from ganhub.wiring import components

    config = resolve(keys)
    system, _tricks = prepare_system(
        config, components(config, training=False), torch.device("cpu")
    )
    return system.eval()


def _noisy_stylegan() -> Any:
    """A tiny StyleGAN whose noise inputs show (their strengths start at 0)."""
    system = _system(NOISY_SG)
    for name, param in system.named_parameters():
        if name.endswith("noise_strength"):
            param.data.fill_(0.5)
    return system


# -- StyleGAN's random noise inputs ------------------------------------------------------------


def test_stylegan_noise_of_a_seed_is_what_the_cpu_always_drew() -> None:
    """The CPU's numbers are unchanged: the noise inputs of `sample(n, seed=s)` are the draws of
    a CPU stream seeded with s, in layer order, and they show in the images."""
    system = _noisy_stylegan()
    G = system.generator()
    got = system.sample(3, seed=5)
    with torch.no_grad():
        z = torch.randn((3, G.z_dim), generator=torch.Generator().manual_seed(5))
        ws = G.ws(z, 1.0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(5)
            want = G.synthesis(ws, "random").float().clamp(-1, 1)
        const = G.synthesis(ws, "const").float().clamp(-1, 1)
    assert torch.equal(got, want)
    assert not torch.equal(got, const)
    assert torch.equal(system.sample(3, seed=5), got)


def test_stylegan_training_draws_its_noise_on_the_device() -> None:
    """Training's noise inputs stay on the device's own generator: no host copy per step."""
    system = _noisy_stylegan()
    ws = system.generator().ws(torch.zeros(2, system.G.z_dim), 1.0)
    with RandomDraws() as seen, torch.no_grad():
        system.G.synthesis(ws)
    assert seen.draws and all(gen is None for _, gen, _, _ in seen.draws)


# -- pix2pix/CycleGAN's paper-inference dropout ------------------------------------------------


def _dropouts(G: nn.Module) -> list[nn.Module]:
    return [m for m in G.modules() if isinstance(m, nn.Dropout)]


@pytest.mark.parametrize("keys", [PAIRED, CYCLE], ids=["pix2pix", "cyclegan"])
def test_paper_dropout_masks_are_the_cpus_on_another_device(keys: list[str]) -> None:
    """model.inference=paper's dropout drew its masks on the model's device (other masks on a
    GPU). On the meta device a G now draws them on the CPU's stream, the very masks a G on the
    CPU draws from that stream (which `run_generator` seeds with the seed for each image)."""
    from ganhub_cyclegan.networks import dropout_on_cpu
    from ganhub_cyclegan.system import build_generator

    from ganhub.config.resolve import resolve

    config = resolve(keys)
    G = build_generator(config).train()
    size = config.model.image_size
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    masks = {}
    for device in ["cpu", "meta"]:
        G.to(device)
        with RandomDraws() as seen, torch.no_grad(), dropout_on_cpu(G):
            torch.manual_seed(7)
            out = G(x.to(device))
        assert out.device.type == device
        assert len(seen.draws) == len(_dropouts(G)) > 0
        assert all(d.type == "cpu" and gen is None for _, gen, d, _ in seen.draws)
        masks[device] = [drawn for _, _, _, drawn in seen.draws]
    assert all(torch.equal(a, b) for a, b in zip(masks["cpu"], masks["meta"], strict=True))


@pytest.mark.parametrize("keys", [PAIRED, CYCLE], ids=["pix2pix", "cyclegan"])
def test_paper_translations_draw_dropout_on_the_cpu_training_on_the_device(
    keys: list[str],
) -> None:
    """`translate` (and so `sample`, the grids and the metrics) runs G's dropout with masks from
    the CPU's stream; a training forward, in train mode too, draws them on the device."""
    system = _system(keys)
    seen: list[bool] = []
    for layer in _dropouts(system):
        layer.register_forward_hook(lambda m, _i, _o: seen.append(getattr(m, "on_cpu", False)))
    size = system.config.model.image_size
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    for direction in system.directions:
        system.translate(x, direction, seed=3)
    assert seen and all(seen)
    seen.clear()
    G = system.generator()
    G.train()
    G(x)
    assert seen and not any(seen)
