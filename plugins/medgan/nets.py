"""MONAI networks for the three tasks, wrapped to the shapes the shared GAN systems expect.

* generate:  `monai.networks.nets.Generator` (latent -> residual transposed-conv stack) + Tanh
* lesion / translate: `monai.networks.nets.UNet` + Tanh, as in pix2pix
* every task: `monai.networks.nets.PatchDiscriminator` (pix2pixHD's PatchGAN), raw logits

MONAI is imported inside the builders, so importing this module stays cheap.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganhub.tricks.weights import initialise_weights


class PatchCritic(nn.Module):
    """MONAI's PatchDiscriminator returning its logit map, with `features` for feature matching.

    MONAI's forward returns every intermediate activation with the output last; the loop wants
    one tensor of logits, and MedGAN's perceptual term wants the intermediate ones.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def features(self, x: Tensor) -> list[Tensor]:
        """Activations of every layer before the final (logit) convolution."""
        out: list[Tensor] = self.net(x)
        return out[:-1]

    def forward(self, x: Tensor) -> Tensor:
        """The patch logit map (N, 1, *patches): one real/fake score per receptive field."""
        out: list[Tensor] = self.net(x)
        return out[-1]


def patch_layers(size: int, wanted: int) -> int:
    """PatchGAN depth that fits a side of `size` (each layer but the last halves it; >= 4 left)."""
    return max(1, min(wanted, int(math.log2(size)) - 2))


def patch_discriminator(
    spatial_dims: int, in_channels: int, width: int, layers: int, norm: str, size: int
) -> PatchCritic:
    """A PatchGAN on `in_channels` inputs; `layers` is reduced when `size` is too small for it."""
    from monai.networks.nets import PatchDiscriminator

    norm_arg = {"instance": ("INSTANCE", {"affine": True}), "batch": "BATCH", "none": None}[norm]
    net = PatchDiscriminator(
        spatial_dims=spatial_dims,
        channels=width,
        in_channels=in_channels,
        out_channels=1,
        num_layers_d=patch_layers(size, layers),
        norm=norm_arg,  # type: ignore[arg-type]
    )
    return PatchCritic(net)


def latent_generator(spatial_dims: int, size: int, latent_dim: int, width: int) -> nn.Sequential:
    """MONAI Generator: latent -> (4w, size/8, ...) -> three x2 upsamplings -> 1 channel, Tanh."""
    from monai.networks.nets import Generator

    start = size // 8
    net = Generator(
        latent_shape=(latent_dim,),
        start_shape=(width * 4, *([start] * spatial_dims)),
        channels=(width * 4, width * 2, width, 1),
        strides=(2, 2, 2, 1),
        num_res_units=1,
        norm="BATCH",  # BatchNorm as in DCGAN: instance norm would erase global contrast
        act="PRELU",
    )
    return nn.Sequential(net, nn.Tanh())


def unet_generator(spatial_dims: int, in_channels: int, width: int, depth: int) -> nn.Sequential:
    """MONAI UNet (width, 2w, 4w, ... over `depth` levels) -> `width` channels, then a
    full-resolution head (norm, PReLU, 3x3 conv) -> 1 channel, Tanh.

    The head matters: without residual units MONAI's UNet ends in a bare stride-2 transposed
    convolution with a 3-voxel kernel, whose kernel overlaps unevenly (even output voxels get
    one tap per axis, odd ones two), so every output voxel alternates between two filters: a
    checkerboard that L1 takes thousands of steps to train away (at 300 steps the lesions had
    5x the checkerboard energy and 3x the Laplacian energy of real ones, and 4.6 dB less PSNR).
    One full-resolution convolution after it mixes the phases (pix2pix avoids the problem with
    4-voxel kernels, which MONAI's padding rule does not allow).
    """
    from monai.networks.blocks import ADN, Convolution
    from monai.networks.nets import UNet

    norm = ("INSTANCE", {"affine": True})
    net = UNet(
        spatial_dims=spatial_dims,
        in_channels=in_channels,
        out_channels=width,
        channels=tuple(width * 2**i for i in range(depth)),
        strides=(2,) * (depth - 1),
        num_res_units=0,  # plain conv blocks: a residual unit per level costs 2-3x on a CPU
        norm=norm,
        act="PRELU",
    )
    head = nn.Sequential(
        ADN(ordering="NA", in_channels=width, act="PRELU", norm=norm, norm_dim=spatial_dims),
        Convolution(spatial_dims, width, 1, kernel_size=3, conv_only=True),
    )
    return nn.Sequential(net, head, nn.Tanh())


# pix2pix's init (Isola et al. 2017, as DCGAN): weights of every convolution N(0, 0.02)
INIT_STD = 0.02


def pix2pix_init(net: nn.Module) -> nn.Module:
    """Re-initialise `net` as pix2pix does its G: convolution weights N(0, INIT_STD), biases 0,
    norm layers weight 1 and bias 0 (PReLU slopes keep MONAI's 0.25), as the `init` trick's
    scheme=normal does (`initialise_weights`). On the embedded lesion data it gave 1.3 dB more
    PSNR and a third of the fd_rotnet of PyTorch's default init at 300 steps (docs/medgan.md,
    Benchmark); `tricks=[init]` re-initialises as asked on top."""
    return initialise_weights(net, "normal", INIT_STD)


def dilate(mask: Tensor, voxels: int = 1) -> Tensor:
    """Binary dilation of (N, 1, *spatial) masks by `voxels` (a max-pool, batched)."""
    pool = F.max_pool2d if mask.ndim == 4 else F.max_pool3d
    return pool(mask, kernel_size=2 * voxels + 1, stride=1, padding=voxels)


class Inpainter(nn.Module):
    """Lesion G with the erased image as input: the network paints inside the (dilated) mask and
    the input image is kept outside it, so healthy tissue is never altered (and never blurred)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, condition: Tensor) -> Tensor:
        """condition = (mask in {-1, 1}, erased image) -> the image with the lesion painted in."""
        painted: Tensor = self.net(condition)
        region = dilate((condition[:, :1] > 0).to(painted.dtype)) > 0
        return torch.where(region, painted, condition[:, 1:2].to(painted.dtype))
