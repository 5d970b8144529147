"""StyleGAN's layers: weight demodulation, modulated convolution, and the upsampling
convolution against its definition (NVIDIA's `conv2d_resample`)."""

from __future__ import annotations

import pytest
import torch
from ganhub_stylegan.layers import LOWPASS, modulated_conv2d, upsample_conv2d


def test_demodulation_gives_unit_output_variance() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(16, 128, 18, 18, generator=gen)
    weight = torch.randn(32, 128, 3, 3, generator=gen)
    styles = torch.rand(16, 128, generator=gen) * 4 + 0.1  # far from unit scale
    out = modulated_conv2d(x, weight, styles)[:, :, 1:-1, 1:-1]  # away from the zero padding
    per_channel = out.var(dim=(0, 2, 3))
    assert torch.allclose(per_channel, torch.ones(32), atol=0.15)
    assert per_channel.mean() == pytest.approx(1.0, abs=0.03)
    raw = modulated_conv2d(x, weight, styles, demodulate=False)[:, :, 1:-1, 1:-1]
    assert raw.var() > 10  # what demodulation removed


def test_modulated_conv_equals_per_sample_weights() -> None:
    gen = torch.Generator().manual_seed(1)
    x, w = torch.randn(3, 5, 6, 6, generator=gen), torch.randn(4, 5, 3, 3, generator=gen)
    s = torch.randn(3, 5, generator=gen)
    out = modulated_conv2d(x, w, s)
    for i in range(3):
        wi = w * s[i][None, :, None, None]
        wi = wi / wi.square().sum(dim=(1, 2, 3), keepdim=True).add(1e-8).sqrt()
        ref = torch.nn.functional.conv2d(x[i : i + 1], wi, padding=1)
        assert torch.allclose(out[i : i + 1], ref, atol=1e-5)


@pytest.mark.parametrize("k", [3, 1])
def test_upsampling_convolution_is_zero_insertion_lowpass_and_convolution(k: int) -> None:
    """The transposed-convolution path equals its definition (NVIDIA's `conv2d_resample`,
    up=2): zeros inserted after every pixel, padded (3, 2), the [1, 3, 3, 1] filter with gain
    4, then a valid k x k correlation; and it differentiates twice (path length needs that)."""
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 5, 6, 7, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 5, k, k, generator=gen, dtype=torch.float64)
    inserted = torch.zeros(2, 5, 12, 14, dtype=torch.float64)
    inserted[:, :, ::2, ::2] = x
    before, after = 2 + k // 2, 1 + k // 2  # the filter's (2, 1) and the conv's own k // 2
    f = torch.tensor(LOWPASS, dtype=torch.float64) * 2
    kernel = (f[:, None] * f[None, :]).expand(5, 1, 4, 4)
    filtered = torch.nn.functional.conv2d(
        torch.nn.functional.pad(inserted, [before, after, before, after]), kernel, groups=5
    )
    reference = torch.nn.functional.conv2d(filtered, w)
    out = upsample_conv2d(x, w)
    assert out.shape == reference.shape == (2, 4, 12, 14)
    assert torch.allclose(out, reference, atol=1e-12)
    (g,) = torch.autograd.grad(out.square().sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(g.square().sum(), x)
    assert gg.abs().sum() > 0


@pytest.mark.parametrize("k", [3, 1])
def test_downsampling_convolution_is_lowpass_then_strided_valid_convolution(k: int) -> None:
    """D's downsampling equals NVIDIA's `conv2d_resample` (down=2): padded (k // 2 + 1) on
    both sides, the [1, 3, 3, 1] filter, then a valid k x k correlation with stride 2. The
    padding (2, 1) with the conv's own k // 2 sampled one input pixel off; a mirrored image's
    output was then not the mirrored output (runs mirror their data)."""
    from ganhub_stylegan.layers import EqualConv2d

    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 5, 8, 8, generator=gen, dtype=torch.float64)
    layer = EqualConv2d(5, 4, k, bias=False, act=False, down=True).double()
    w = layer.weight.detach() * layer.scale
    f = torch.tensor(LOWPASS, dtype=torch.float64)
    kernel = (f[:, None] * f[None, :]).expand(5, 1, 4, 4)
    pad = k // 2 + 1
    padded = torch.nn.functional.pad(x, [pad, pad, pad, pad])
    filtered = torch.nn.functional.conv2d(padded, kernel, groups=5)
    reference = torch.nn.functional.conv2d(filtered, w, stride=2)
    out = layer(x)
    assert out.shape == reference.shape == (2, 4, 4, 4)
    assert torch.allclose(out, reference, atol=1e-12)
    if k == 1:  # a symmetric filter and padding: mirroring commutes with the layer
        assert torch.allclose(layer(x.flip(-1)), out.flip(-1), atol=1e-12)


@pytest.mark.parametrize("gain", [1.0, 4.0])
def test_blur_is_the_separable_binomial_filter(gain: float) -> None:
    """Both implementations (depthwise 4x4 convolution: CPU; slice adds: GPU) equal filtering
    rows, then columns, with [1, 3, 3, 1]/8 (times sqrt(gain) each), through R1's double
    backward too; the kernel is made once per device and dtype (a copy from the host in every
    step would sync, and a CUDA graph could not capture it), exact in fp16."""
    from ganhub_stylegan.layers import blur, lowpass_depthwise, lowpass_kernel, lowpass_slices

    x = torch.randn(2, 3, 9, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    taps = [t * gain**0.5 for t in LOWPASS]
    padded = torch.nn.functional.pad(x, [2, 1, 2, 1])
    rows = sum(t * padded[:, :, i : i + 9, :] for i, t in enumerate(taps))
    reference = sum(t * rows[:, :, :, i : i + 8] for i, t in enumerate(taps))
    assert torch.allclose(blur(x, (2, 1), gain), reference, atol=1e-12)
    grads = []
    for lowpass in (lowpass_depthwise, lowpass_slices):
        p = padded.clone().requires_grad_(True)
        out = lowpass(p, gain)
        assert torch.allclose(out, reference, atol=1e-12)
        (g,) = torch.autograd.grad(out.square().sum(), p, create_graph=True)
        grads.append((g, *torch.autograd.grad(g.square().sum(), p)))
    assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(*grads, strict=True))
    kernel = lowpass_kernel(torch.device("cpu"), torch.float16, gain)
    assert kernel is lowpass_kernel(torch.device("cpu"), torch.float16, gain)
    assert torch.equal(kernel.double(), lowpass_kernel(torch.device("cpu"), torch.float64, gain))


def test_blur_off_the_cpu_uses_slice_adds_not_a_depthwise_convolution() -> None:
    """On GPUs the depthwise convolution was 4-100x slower than slice adds (an H200:
    benchmarks/stylegan_filter.py) and made the 256 px step about 3x slower: any device but
    the CPU takes the slice adds. Checked on the meta device, by the operators dispatched."""
    from ganhub_stylegan.layers import blur
    from torch.utils._python_dispatch import TorchDispatchMode

    class Ops(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.names: set[str] = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            self.names.add(func.__name__.split(".")[0])
            return func(*args, **(kwargs or {}))

    for device, convolves in (("meta", False), ("cpu", True)):
        ops = Ops()
        with ops:
            out = blur(torch.zeros(2, 3, 8, 8, device=device), (2, 1))
        assert out.shape == (2, 3, 8, 8)
        assert ("convolution" in ops.names) == convolves, (device, sorted(ops.names))


@pytest.mark.parametrize(
    "device",
    [
        "cpu",
        pytest.param(
            "cuda",
            marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
        ),
    ],
)
def test_fp16_channels_last_changes_the_layout_of_the_fp16_blocks_only(device: str) -> None:
    """model.fp16_channels_last runs the fp16_res blocks of G and D on channels_last tensors
    on CUDA (cuDNN's float16 kernels transposed NCHW inputs on every call) and computes the
    same images, logits and gradients; the other blocks, and every block on the CPU, keep
    NCHW."""
    from ganhub.config.resolve import resolve
    from ganhub.wiring import make_run

    from .test_stylegan import TINY

    layouts: dict[str, bool] = {}

    def record(name: str):  # type: ignore[no-untyped-def]
        def hook(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            x = inputs[0]
            layouts[name] = x.is_contiguous(memory_format=torch.channels_last) and x.shape[1] > 1

        return hook

    results = []
    for enabled in (False, True):
        torch.manual_seed(0)
        overrides = [*TINY, "model.fp16_res=2", f"model.fp16_channels_last={enabled}"]
        run = make_run(resolve([*overrides, f"device={device}", "precision=32"]))
        G, D = run.system.G, run.system.D
        blocks = list(G.synthesis.blocks)
        for i, block in enumerate(blocks):
            block.convs[-1].register_forward_pre_hook(record(f"G{i}"))
        z = torch.randn(3, 16, generator=torch.Generator().manual_seed(1)).to(device)
        with torch.autocast("cuda", enabled=False):  # compare in float32
            for block in [*blocks, *D.blocks]:
                block.fp16 = False  # the layout alone, without float16 rounding
            img = G(z)
            logits = D(img)
            logits.sum().backward()
        grads = [p.grad.cpu().clone() for p in G.parameters() if p.grad is not None]
        results.append((img.detach().cpu(), logits.detach().cpu(), grads))
        marked = [block.channels_last for block in blocks]
        assert marked == [False, enabled, enabled]  # 4, 8, 16 px: the top 2 resolutions
        cuda = device == "cuda"
        assert [layouts[f"G{i}"] for i in range(len(blocks))] == [m and cuda for m in marked]
    (img0, logits0, grads0), (img1, logits1, grads1) = results
    assert torch.allclose(img0, img1, atol=1e-4) and torch.allclose(logits0, logits1, atol=1e-4)
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(grads0, grads1, strict=True))
