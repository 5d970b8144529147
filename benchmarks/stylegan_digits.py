"""Which network makes the CPU-sized StyleGAN2 collapse on the digits: G or D?

Trains each pairing of generator and discriminator, StyleGAN2's (the `small` preset's
networks: 32 channels, z = w = 128, mapping 2, no noise inputs) and DCGAN's (the dcgan
plugin's defaults), with a plain non-saturating loop (no R1, ADA or EMA, so only the
networks and their optimisers differ) on the 5,000 embedded digits at 32 px, then scores
2,000 samples by the Frechet distance on the built-in digit classifier's features
(`fd_digits`, lower is better) and by their pixel spread across samples relative to the
data's (`spread`; a collapsed generator's is small, an untrained one's above 1).

Each network keeps its own recipe: StyleGAN2's Adam(0.0025, betas (0, 0.99)), DCGAN's
Adam(2e-4, betas (0.5, 0.999)). `--g-lr` overrides StyleGAN2's G rate.

`--reference DIR` (a checkout of NVIDIA's stylegan2-ada-pytorch) adds the kind `rf`: its
`training/networks.py` built at the same size as `sg` (the same parameter counts), without
noise inputs, fp16 or clamping, trained by StyleGAN2's recipe; `--pairs rf-rf` then tells
whether a collapse is in ganhub's layers or in the architecture at this size.

    python benchmarks/stylegan_digits.py [--steps 600] [--pairs sg-sg,dc-sg,dc-dc]
        [--seeds 0] [--g-lr 0.0005] [--reference DIR --pairs rf-rf,sg-sg]
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch
import torch.nn.functional as F
from entry import Parser, run_main
from ganhub_dcgan.networks import Discriminator as DCGANDiscriminator
from ganhub_dcgan.networks import Generator as DCGANGenerator
from ganhub_stylegan.networks import Discriminator as StyleDiscriminator
from ganhub_stylegan.networks import Generator as StyleGenerator
from torch import Tensor, nn

from ganhub.data.images import digits
from ganhub.metrics.featurenet import digit_classifier
from ganhub.metrics.features import LocalExtractor
from ganhub.metrics.formulas import frechet_distance, gaussian_stats

STYLE_ADAM = {"lr": 0.0025, "betas": (0.0, 0.99), "eps": 1e-8}
DCGAN_ADAM = {"lr": 2e-4, "betas": (0.5, 0.999)}


def reference_networks(directory: str) -> ModuleType:
    """`training.networks` of a stylegan2-ada-pytorch checkout at `directory`."""
    root = Path(directory).resolve()
    if not (root / "training" / "networks.py").is_file():
        sys.exit(f"--reference {directory}: no training/networks.py there (a checkout of "
                 "stylegan2-ada-pytorch is expected)")  # fmt: skip
    sys.path.insert(0, str(root))
    return importlib.import_module("training.networks")


class ReferenceGenerator(nn.Module):
    """The reference generator at `sg`'s size, called on z alone without noise inputs."""

    def __init__(self, networks: ModuleType) -> None:
        super().__init__()
        synthesis = {"channel_base": 1024, "channel_max": 32, "num_fp16_res": 0, "conv_clamp": None}
        self.G = networks.Generator(z_dim=128, c_dim=0, w_dim=128, img_resolution=32,
                                    img_channels=1, mapping_kwargs={"num_layers": 2},
                                    synthesis_kwargs=synthesis)  # fmt: skip

    def forward(self, z: Tensor) -> Tensor:
        """(B, 128) -> (B, 1, 32, 32)."""
        images: Tensor = self.G(z, None, noise_mode="none")
        return images


class ReferenceDiscriminator(nn.Module):
    """The reference discriminator at `sg`'s size (minibatch-stddev group 4, as ours)."""

    def __init__(self, networks: ModuleType) -> None:
        super().__init__()
        self.D = networks.Discriminator(c_dim=0, img_resolution=32, img_channels=1,
                                        channel_base=1024, channel_max=32, num_fp16_res=0,
                                        conv_clamp=None,
                                        epilogue_kwargs={"mbstd_group_size": 4})  # fmt: skip

    def forward(self, images: Tensor) -> Tensor:
        """(B, 1, 32, 32) -> (B, 1) logits."""
        logits: Tensor = self.D(images, None)
        return logits


REFERENCE: ModuleType | None = None  # set by --reference


def generator(kind: str, g_lr: float | None) -> tuple[nn.Module, int, torch.optim.Optimizer]:
    """The generator of `kind` (sg, dc or rf), its latent size and its optimiser."""
    if kind in ("sg", "rf"):
        G: nn.Module
        if kind == "rf":
            G = ReferenceGenerator(_reference())
        else:
            G = StyleGenerator(128, 128, 2, 32, 1, 1024, 32, noise=False)
        adam = {**STYLE_ADAM, "lr": g_lr or STYLE_ADAM["lr"]}
        return G, 128, torch.optim.Adam(G.parameters(), **adam)  # type: ignore[arg-type]
    G = DCGANGenerator(100, 32, 1, 32)
    return G, 100, torch.optim.Adam(G.parameters(), **DCGAN_ADAM)  # type: ignore[arg-type]


def _reference() -> ModuleType:
    if REFERENCE is None:
        sys.exit("the kind rf needs --reference DIR (a stylegan2-ada-pytorch checkout)")
    return REFERENCE


def discriminator(kind: str) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The discriminator of `kind` (sg, dc or rf) and its optimiser."""
    if kind in ("sg", "rf"):
        D: nn.Module
        D = (
            ReferenceDiscriminator(_reference())
            if kind == "rf"
            else StyleDiscriminator(32, 1, 1024, 32)
        )
        return D, torch.optim.Adam(D.parameters(), **STYLE_ADAM)  # type: ignore[arg-type]
    D = DCGANDiscriminator(32, 1, 32, "batch")
    return D, torch.optim.Adam(D.parameters(), **DCGAN_ADAM)  # type: ignore[arg-type]


def train(
    pair: str, steps: int, seed: int, data: Tensor, g_lr: float | None
) -> tuple[nn.Module, int]:
    """A plain non-saturating loop (one D step, then one G step, batch 32): G and its z size."""
    torch.manual_seed(seed)
    g_kind, d_kind = pair.split("-")
    G, z_dim, g_opt = generator(g_kind, g_lr)
    D, d_opt = discriminator(d_kind)
    for _ in range(steps):
        real = data[torch.randint(0, len(data), (32,))]
        with torch.no_grad():
            fake = G(torch.randn(32, z_dim))
        d_loss = F.softplus(D(fake)).mean() + F.softplus(-D(real)).mean()
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        D.requires_grad_(False)
        g_loss = F.softplus(-D(G(torch.randn(32, z_dim)))).mean()
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        D.requires_grad_(True)
    return G.eval(), z_dim


def scorer(data: Tensor) -> Callable[[Tensor], float]:
    """fd_digits against the 5,000 digits."""
    net, spec = digit_classifier()
    extractor = LocalExtractor(net, spec)
    real = gaussian_stats(extractor.run(data)["features"])
    return lambda images: frechet_distance(gaussian_stats(extractor.run(images)["features"]), real)


def main() -> None:
    """Print one row per pairing and seed."""
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--pairs", default="sg-sg,dc-sg,dc-dc", help="G-D pairings (sg, dc)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--g-lr", type=float, default=None, help="StyleGAN2 G's Adam rate")
    parser.add_argument(
        "--reference", metavar="DIR", help="a stylegan2-ada-pytorch checkout (kind rf)"
    )
    args = parser.parse_args()
    kinds = {kind for pair in args.pairs.split(",") for kind in pair.split("-")}
    if kinds - {"sg", "dc", "rf"} or any(
        len(pair.split("-")) != 2 for pair in args.pairs.split(",")
    ):
        parser.error(f"--pairs {args.pairs}: expected G-D pairs of sg, dc and rf, e.g. sg-sg,dc-sg")
    if "rf" in kinds and not args.reference:
        parser.error("the kind rf needs --reference DIR (a stylegan2-ada-pytorch checkout)")
    global REFERENCE
    if args.reference:
        REFERENCE = reference_networks(args.reference)
    data = digits(32)[0]
    fd_digits = scorer(data)
    spread_real = data.std(0).mean().item()
    print(f"{args.steps} steps, batch 32, {torch.get_num_threads()} threads")
    print(f"{'G-D':<7} {'seed':>4} {'fd_digits':>10} {'spread':>7} {'s':>6}")
    for pair in args.pairs.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            start = time.perf_counter()
            G, z_dim = train(pair, args.steps, seed, data, args.g_lr)
            with torch.no_grad():
                gen = torch.Generator().manual_seed(1000 + seed)
                z = torch.randn(2000, z_dim, generator=gen)
                images = torch.cat([G(chunk) for chunk in z.split(500)]).clamp(-1, 1)
            spread = images.std(0).mean().item() / spread_real
            took = time.perf_counter() - start
            print(f"{pair:<7} {seed:>4} {fd_digits(images):>10.1f} {spread:>7.2f} {took:>6.0f}")


if __name__ == "__main__":
    run_main(main)
