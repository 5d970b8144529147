"""The dcgan generator's latent space for interpretation (`ganhub.latent`): z, its first layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from ganhub_dcgan.networks import ConvBlock, SelfAttention
from torch import Tensor, nn

from ganhub.latent import AttentionModule, LatentSpace, seeded_generator, seeded_normal

if TYPE_CHECKING:
    from ganhub_dcgan.system import DCGANSystem

ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.SiLU, nn.ELU)


def dcgan_latent_space(system: DCGANSystem) -> LatentSpace:
    """z ~ N(0, I) read by the first transposed convolution (SeFa's projection); GANSpace's
    early features are the 4x4 maps after its norm and activation; the feature layers are the
    activations, extra blocks and attention of each resolution."""
    G = system.generator()
    assert isinstance(G, nn.Sequential)
    first = G[0]
    assert isinstance(first, nn.ConvTranspose2d)
    latent_dim = system.latent_shape[0]
    device = system.device

    def sample(n: int, seed: int) -> Tensor:
        return seeded_normal(n, (latent_dim,), seeded_generator(seed), device)  # on the CPU

    @torch.no_grad()
    def decode(codes: Tensor) -> Tensor:
        G.eval()
        return torch.cat([G(c.to(device)).float() for c in codes.split(256)])

    @torch.no_grad()
    def early_features(codes: Tensor) -> Tensor:
        G.eval()
        head = nn.Sequential(*list(G)[:3])  # the first transposed conv, its norm, its activation
        return torch.cat(
            [head(c.to(device).view(len(c), -1, 1, 1)).flatten(1) for c in codes.split(256)]
        )

    pack = system.hints.pack
    D = system.D

    def critic(images: Tensor) -> Tensor:
        D.eval()
        x = images.repeat(1, pack, 1, 1) if pack > 1 else images  # a pack of copies
        out: Tensor = D(x)
        return out.flatten()

    layers: list[tuple[str, nn.Module]] = [
        (f"{i}: {type(m).__name__}", m)
        for i, m in enumerate(G)
        if isinstance(m, (*ACTIVATIONS, ConvBlock, SelfAttention))
    ]
    attention: list[tuple[str, AttentionModule]] = [
        (f"G.{i}", m) for i, m in enumerate(G) if isinstance(m, SelfAttention)
    ]
    # named_modules, not the Sequential's children: D may be wrapped (task heads, conditioning)
    attention += [(f"D.{n}", m) for n, m in D.named_modules() if isinstance(m, SelfAttention)]
    # ConvTranspose2d weight: (latent, C, 4, 4); the matrix from z to the 4x4 maps is its transpose
    projection = first.weight.detach().flatten(1).T.float().cpu()
    return LatentSpace(
        name="z",
        dim=latent_dim,
        sample=sample,
        decode=decode,
        projection=projection,
        early_features=early_features,
        feature_layers=layers,
        critic=critic,
        attention=attention,
    )
