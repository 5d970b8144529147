"""The StyleGAN generator's w space for interpretation (`ganhub.latent`).

Codes are w = mapping(z), one style vector given to every synthesis layer (no truncation,
constant noise, so a walk changes nothing but w). SeFa reads the style affines of every
modulated convolution and of the last toRGB stacked (the authors' StyleGAN2 recipe, genforce/sefa
`factorize_weight`: the skip architecture's other toRGBs are left out); GANSpace takes PCA of
w itself (their StyleGAN recipe), so there are no early features.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from ganhub_stylegan.layers import ModulatedConv
from ganhub_stylegan.networks import SynthesisBlock
from torch import Tensor

from ganhub.latent import LatentSpace, seeded_generator, seeded_normal

if TYPE_CHECKING:
    from ganhub_stylegan.system import StyleGANSystem


def stylegan_latent_space(system: StyleGANSystem) -> LatentSpace:
    """w of an unconditional StyleGAN run: its (EMA) generator's mapping, synthesis, style
    affines and synthesis layers; D scores images for saliency."""
    G = system.generator()
    z_dim = G.z_dim
    device = system.device
    num_ws = G.num_ws

    @torch.no_grad()
    def sample(n: int, seed: int) -> Tensor:
        z = seeded_normal(n, (z_dim,), seeded_generator(seed), device)  # on the CPU
        ws: Tensor = G.ws(z, 1.0)
        return ws[:, 0].float()

    @torch.no_grad()
    def decode(codes: Tensor) -> Tensor:
        ws = codes.to(device)[:, None].repeat(1, num_ws, 1)
        return system.synthesize(ws, use_ema=True, noise_mode="const")

    # a layer's styles are affine(w) * affine.scale (equalised learning rate): the matrix
    # from w to the styles is the scaled weight (channels, w_dim). SeFa reads the affines of
    # every modulated conv and of the last toRGB, the one that makes the final image (as the
    # authors' code does for StyleGAN2: the lower resolutions' toRGBs are not read)
    blocks = [b for b in G.synthesis.blocks if isinstance(b, SynthesisBlock)]  # all of them
    convs = [m for block in blocks for m in block.convs if isinstance(m, ModulatedConv)]
    affines = [conv.affine for conv in convs] + [blocks[-1].torgb.affine]
    projection = torch.cat([(a.weight * a.scale).detach().float().cpu() for a in affines])
    # ModulatedConv returns (B, C, H, W); a block returns (x, img), which a hook cannot show
    layers = [
        (f"b{block.convs[i].resolution}.conv{i}", conv)
        for block in blocks
        for i, conv in enumerate(block.convs)
    ]
    D = system.D

    def critic(images: Tensor) -> Tensor:
        # minibatch stddev mixes groups of images: score the batch as it was trained
        D.eval()
        out: Tensor = D(images.to(device))
        return out.flatten()

    return LatentSpace(
        name="w",
        dim=projection.shape[1],
        sample=sample,
        decode=decode,
        projection=projection,
        early_features=None,
        feature_layers=layers,
        critic=critic,
    )
