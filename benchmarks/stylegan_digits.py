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

    python benchmarks/stylegan_digits.py [--steps 600] [--pairs sg-sg,dc-sg,dc-dc]
        [--seeds 0] [--g-lr 0.0005]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
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


def generator(kind: str, g_lr: float | None) -> tuple[nn.Module, int, torch.optim.Optimizer]:
    """The generator of `kind` (sg or dc), its latent size and its optimiser."""
    if kind == "sg":
        G: nn.Module = StyleGenerator(128, 128, 2, 32, 1, 1024, 32, noise=False)
        adam = {**STYLE_ADAM, "lr": g_lr or STYLE_ADAM["lr"]}
        return G, 128, torch.optim.Adam(G.parameters(), **adam)  # type: ignore[arg-type]
    G = DCGANGenerator(100, 32, 1, 32)
    return G, 100, torch.optim.Adam(G.parameters(), **DCGAN_ADAM)  # type: ignore[arg-type]


def discriminator(kind: str) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The discriminator of `kind` (sg or dc) and its optimiser."""
    if kind == "sg":
        D: nn.Module = StyleDiscriminator(32, 1, 1024, 32)
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--pairs", default="sg-sg,dc-sg,dc-dc", help="G-D pairings (sg, dc)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--g-lr", type=float, default=None, help="StyleGAN2 G's Adam rate")
    args = parser.parse_args()
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
    main()
