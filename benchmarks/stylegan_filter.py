"""StyleGAN2's [1, 3, 3, 1] low-pass filter on the GPU: four ways to compute it, side by side.

For feature-map shapes of a 256 px StyleGAN2 at batch 16, each implementation runs forward,
backward and a double backward (R1's create_graph path) with cuDNN autotuning on (as
`ganhub run` sets it); the table shows the first call's seconds (autotuning included) and the
steady-state ms per call, in float32 and float16.

    depthwise      one 4x4 convolution with groups = channels (`lowpass_depthwise`: the CPU's)
    depthwise, contiguous   the same with a materialised C x 1 x 4 x 4 weight
    one-channel    the maps reshaped to (B*C) x 1 x H x W and one 1 -> 1 channel convolution
    slice adds     eight shifted, scaled slices added, two separable passes (`lowpass_slices`:
                   the GPU's)

    python benchmarks/stylegan_filter.py [--reps 10]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from entry import Parser, run_main
from ganhub_stylegan.layers import lowpass_depthwise, lowpass_kernel, lowpass_slices
from torch import Tensor

SHAPES = [(16, 512, 32, 32), (16, 256, 64, 64), (16, 128, 128, 128), (16, 64, 257, 257)]


def contiguous_depthwise(x: Tensor) -> Tensor:
    """Depthwise, with a contiguous weight."""
    c = x.shape[1]
    kernel = lowpass_kernel(x.device, x.dtype).expand(c, 1, 4, 4).contiguous()
    return F.conv2d(F.pad(x, [2, 1, 2, 1]), kernel, groups=c)


def one_channel(x: Tensor) -> Tensor:
    """Every map as its own one-channel image, one 1 -> 1 channel convolution."""
    b, c, h, w = x.shape
    y = F.conv2d(F.pad(x, [2, 1, 2, 1]).reshape(b * c, 1, h + 3, w + 3),
                 lowpass_kernel(x.device, x.dtype))  # fmt: skip
    return y.reshape(b, c, h, w)


IMPLS: dict[str, Callable[[Tensor], Tensor]] = {
    "depthwise": lambda x: lowpass_depthwise(F.pad(x, [2, 1, 2, 1])),
    "depthwise, contiguous": contiguous_depthwise,
    "one-channel": one_channel,
    "slice adds": lambda x: lowpass_slices(F.pad(x, [2, 1, 2, 1])),
}


def step(impl: Callable[[Tensor], Tensor], x: Tensor) -> None:
    """Forward, a create_graph backward (as R1) and the backward of its square."""
    y = impl(x)
    (g,) = torch.autograd.grad(y.square().sum(), x, create_graph=True)
    g.square().sum().backward()


def main() -> None:
    """Print the table."""
    parser = Parser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--reps", type=int, default=10)
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = True
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, cudnn.benchmark on")
    print(f"| {'shape':<20} | {'dtype':<8} | {'implementation':<22} | first s | ms/call |")
    for shape in SHAPES:
        for dtype in (torch.float32, torch.float16):
            x = torch.randn(shape, device="cuda", dtype=dtype, requires_grad=True)
            for name, impl in IMPLS.items():
                torch.cuda.synchronize()
                t = time.perf_counter()
                step(impl, x)
                torch.cuda.synchronize()
                first = time.perf_counter() - t
                t = time.perf_counter()
                for _ in range(args.reps):
                    step(impl, x)
                torch.cuda.synchronize()
                ms = (time.perf_counter() - t) / args.reps * 1e3
                label = "x".join(map(str, shape))
                print(f"| {label:<20} | {str(dtype)[6:]:<8} | {name:<22} | {first:7.2f} | {ms:7.2f} |",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    run_main(main)
