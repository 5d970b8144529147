"""StyleGAN2 building blocks in plain PyTorch: equalised learning rate, modulated convolution
with weight demodulation, low-pass (FIR [1, 3, 3, 1]) up/downsampling, minibatch stddev.

Nothing here compiles a kernel: up/downsampling are a (transposed) convolution and the fixed
separable [1, 3, 3, 1] binomial filter, which is what NVIDIA's `upfirdn2d` computes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LRELU_GAIN = math.sqrt(2.0)  # keeps the activations' scale through leaky ReLU(0.2)


LOWPASS = (0.125, 0.375, 0.375, 0.125)  # binomial [1, 3, 3, 1] / 8
# the 4x4 filter per (device, dtype, gain), made once: creating it in the step would copy it
# from the host every call (a sync, and an operation a CUDA graph cannot capture)
_KERNELS: dict[tuple[torch.device, torch.dtype, float], Tensor] = {}


def lowpass_kernel(device: torch.device, dtype: torch.dtype, gain: float = 1.0) -> Tensor:
    """The separable [1, 3, 3, 1] filter as a 1 x 1 x 4 x 4 kernel whose taps sum to `gain`
    (every tap is a power of two times 1, 3 or 9: exact in fp16 too)."""
    key = (device, dtype, gain)
    kernel = _KERNELS.get(key)
    if kernel is None:
        taps = torch.tensor(LOWPASS, dtype=torch.float64) * math.sqrt(gain)
        kernel = (taps[:, None] * taps[None, :]).to(device=device, dtype=dtype)[None, None]
        _KERNELS[key] = kernel
    return kernel


def lowpass_depthwise(x: Tensor, gain: float = 1.0) -> Tensor:
    """The valid [1, 3, 3, 1] filter as one depthwise 4x4 convolution (H - 3 x W - 3 out)."""
    c = x.shape[1]
    return F.conv2d(x, lowpass_kernel(x.device, x.dtype, gain).expand(c, 1, 4, 4), groups=c)


def lowpass_slices(x: Tensor, gain: float = 1.0) -> Tensor:
    """The valid [1, 3, 3, 1] filter as two passes of four shifted, scaled slices."""
    taps = [v * math.sqrt(gain) for v in LOWPASS]
    for dim in (2, 3):
        n = x.shape[dim] - 3
        out = taps[0] * x.narrow(dim, 0, n)
        for i, t in enumerate(taps[1:], 1):
            out = out + t * x.narrow(dim, i, n)
        x = out
    return x


def blur(x: Tensor, pad: tuple[int, int], gain: float = 1.0) -> Tensor:
    """Separable [1, 3, 3, 1] low-pass filter over H and W, zero padding `pad` (before, after).

    The implementation is the faster one on the tensor's device (benchmarks/stylegan_filter.py
    and benchmarks/stylegan.py speed measure both):
    - CPU: one depthwise 4x4 convolution (NVIDIA's reference `upfirdn2d` without its CUDA
      kernel), 1.9-2.7x faster than slice adds forward and backward on one thread (16 to 64 px
      maps): 0.79x the training s/kimg.
    - GPU: slice adds. Depthwise convolutions are 4-100x slower there (an H200, batch 16, 32 to
      128 px maps, with R1's double backward: 17-50 ms per call in float32 and 106-411 ms in
      float16, against 3-9 ms for slice adds), and slice adds are elementwise work that
      torch.compile fuses."""
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    return lowpass_depthwise(x, gain) if x.device.type == "cpu" else lowpass_slices(x, gain)


def upsample2d(x: Tensor) -> Tensor:
    """2x upsampling: zero insertion, then the low-pass filter with gain 4 (no aliasing)."""
    b, c, h, w = x.shape
    y = F.pad(x.reshape(b, c, h, 1, w, 1), [0, 1, 0, 0, 0, 1]).reshape(b, c, 2 * h, 2 * w)
    return blur(y, (2, 1), gain=4.0)


def lrelu(x: Tensor, clamp: float | None = None) -> Tensor:
    """Leaky ReLU(0.2) times sqrt(2); optionally clamped (mixed precision: +-256)."""
    x = F.leaky_relu(x, 0.2) * LRELU_GAIN
    return x.clamp(-clamp, clamp) if clamp is not None else x


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: weights N(0, 1/lr_mul), scaled at run time.

    `lr_mul` (0.01 in the mapping network) slows a layer's effective learning rate without
    touching the optimizer: the stored weight is 1/lr_mul larger and is scaled back by lr_mul.
    """

    def __init__(
        self,
        in_f: int,
        out_f: int,
        *,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        act: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_f, in_f) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_f,), float(bias_init) / lr_mul))
        self.scale = lr_mul / math.sqrt(in_f)
        self.lr_mul = lr_mul
        self.act = act

    def forward(self, x: Tensor) -> Tensor:
        """x @ (scale * W).T + lr_mul * b, then leaky ReLU when `act`."""
        x = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return lrelu(x) if self.act else x


class EqualConv2d(nn.Module):
    """Convolution with equalised learning rate; `down` blurs then strides by 2."""

    def __init__(
        self,
        in_c: int,
        out_c: int,
        k: int,
        *,
        bias: bool = True,
        act: bool = True,
        down: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_c, in_c, k, k))
        self.bias = nn.Parameter(torch.zeros(out_c)) if bias else None
        self.scale = 1.0 / math.sqrt(in_c * k * k)
        self.act, self.down, self.pad = act, down, k // 2
        self.clamp: float | None = None  # set with mixed precision (model.fp16_res > 0)

    def forward(self, x: Tensor) -> Tensor:
        """Convolve (after the low-pass blur when downsampling), add bias, activate."""
        w = (self.weight * self.scale).to(x.dtype)
        b = self.bias.to(x.dtype) if self.bias is not None else None
        if self.down:
            # NVIDIA's conv2d_resample (down=2): the filter's padding and the conv's own, both
            # sides alike, then a valid strided conv; (2, 1) with the conv padding k // 2 took
            # every block's output one input pixel up and left (and a mirrored image's output
            # was not the mirrored output)
            pad = self.pad + 1
            x = F.conv2d(blur(x, (pad, pad)), w, b, stride=2)
        else:
            x = F.conv2d(x, w, b, padding=self.pad)
        return lrelu(x, self.clamp) if self.act else x


def upsample_conv2d(x: Tensor, weight: Tensor) -> Tensor:
    """2x upsampling, low-pass and a same-size convolution with `weight`, as one transposed
    convolution at the input's resolution followed by the low-pass filter.

    This is what zero insertion, the [1, 3, 3, 1] filter (gain 4) and a k x k convolution over
    the filtered image compute (NVIDIA's `conv2d_resample` with up=2 takes the same fast path),
    at a quarter of the multiply-adds: the zero-inserted image's convolution spends three in four
    on zeros. Output 2H x 2W, for odd k."""
    k = weight.shape[-1]
    # the adjoint of a stride-2 correlation is a convolution: flip the kernel, swap in/out
    y = F.conv_transpose2d(x, weight.flip([2, 3]).transpose(0, 1), stride=2)  # 2H + k - 2
    return blur(y, ((4 - k) // 2 + 1, (4 - k) // 2 + 1), gain=4.0)


def modulated_conv2d(
    x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool = True, up: bool = False
) -> Tensor:
    """Convolve each sample with weight * style (per input channel), divided by the resulting
    per-output-channel norm when `demodulate` (StyleGAN2 eq. 3); with `up`, at twice the
    input's resolution (`upsample_conv2d`).

    Computed as scale inputs -> one shared convolution -> scale outputs, which equals the
    per-sample weights exactly and is far faster on CPUs than a grouped convolution.
    Demodulation restores unit output variance for unit-variance inputs, replacing AdaIN's
    explicit normalisation of activations (the cause of StyleGAN's droplet artifacts).
    """
    k = weight.shape[-1]
    x = x * styles[:, :, None, None]
    out = upsample_conv2d(x, weight) if up else F.conv2d(x, weight, padding=k // 2)
    if demodulate:
        # sum over (in, kh, kw) of (w * s)^2 = s^2 @ (sum_k w^2).T
        # in float32 even inside fp16 autocast: the sums of squares can overflow float16
        with torch.autocast(x.device.type, enabled=False):
            energy = styles.float().square() @ weight.float().square().sum(dim=(2, 3)).T
        out = out * torch.rsqrt(energy + 1e-8).to(out.dtype)[:, :, None, None]  # (B, O)
    return out


class ModulatedConv(nn.Module):
    """A synthesis layer: style affine, modulated 3x3 conv (optionally after 2x upsampling),
    per-pixel noise with a learned strength, bias, leaky ReLU."""

    noise_const: Tensor  # a buffer (register_buffer): the constant noise of noise_mode="const"

    def __init__(
        self, in_c: int, out_c: int, w_dim: int, resolution: int, up: bool = False
    ) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_c, bias_init=1.0)  # styles start at 1
        self.weight = nn.Parameter(torch.randn(out_c, in_c, 3, 3))
        self.scale = 1.0 / math.sqrt(in_c * 9)
        self.bias = nn.Parameter(torch.zeros(out_c))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.up, self.resolution = up, resolution
        self.clamp: float | None = None

    def forward(self, x: Tensor, w: Tensor, noise_mode: str = "random") -> Tensor:
        """x: (B, in_c, r, r) or (B, in_c, r/2, r/2) when upsampling; w: (B, w_dim)."""
        styles = self.affine(w) * self.scale
        x = modulated_conv2d(x, self.weight.to(x.dtype), styles.to(x.dtype), up=self.up)
        if noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
            x = x + noise * self.noise_strength.to(x.dtype)
        elif noise_mode == "const":
            x = x + self.noise_const.to(x.dtype) * self.noise_strength.to(x.dtype)
        return lrelu(x + self.bias.to(x.dtype)[None, :, None, None], self.clamp)


class ToRGB(nn.Module):
    """Modulated 1x1 conv to image channels, without demodulation (StyleGAN2's toRGB)."""

    def __init__(self, in_c: int, img_c: int, w_dim: int) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_c, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(img_c, in_c, 1, 1))
        self.scale = 1.0 / math.sqrt(in_c)
        self.bias = nn.Parameter(torch.zeros(img_c))
        self.clamp: float | None = None

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        """RGB (or grey) contribution at this block's resolution."""
        styles = (self.affine(w) * self.scale).to(x.dtype)
        y = modulated_conv2d(x, self.weight.to(x.dtype), styles, demodulate=False)
        y = y + self.bias.to(x.dtype)[None, :, None, None]
        return y.clamp(-self.clamp, self.clamp) if self.clamp is not None else y


def minibatch_stddev(x: Tensor, group_size: int = 4, channels: int = 1) -> Tensor:
    """Append the standard deviation across groups of samples as extra feature maps.

    A generator that collapses to few modes makes this statistic small, which D can see.
    Groups are min(group_size, batch), as StyleGAN2-ADA's, when that divides the batch (the
    config refuses training batches it does not divide); any other batch (an evaluation's)
    takes the largest divisor of the batch that is at most `group_size`.
    """
    n, c, h, w = x.shape
    g = max(d for d in range(1, min(group_size, n) + 1) if n % d == 0)
    y = x.float().reshape(g, -1, channels, c // channels, h, w)
    y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt()  # (N/G, F, C/F, H, W)
    y = y.mean(dim=(2, 3, 4)).reshape(-1, channels, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y.to(x.dtype)], 1)
