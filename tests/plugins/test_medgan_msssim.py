"""med_diversity's MS-SSIM on images too small for its five scales: it keeps the scales the
images hold and rescales their weights to sum to 1 (MONAI and pytorch-msssim refuse such
images instead), as docs/medgan.md says."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import pytest
import torch

pytest.importorskip("monai")

from ganhub_medgan.metrics import ms_ssim_metric, ms_ssim_scales

pytestmark = pytest.mark.usefixtures("one_thread")
Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)
WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _system(images: torch.Tensor) -> SimpleNamespace:
    """What med_diversity reads of a generate system: held-out images, and samples."""
    return SimpleNamespace(
        eval_batch=lambda n: SimpleNamespace(images=images[:n]), sample=lambda n, seed: images[:n]
    )


@pytest.mark.parametrize(("size", "scales"), [(16, 2), (32, 3), (64, 4), (111, 4), (112, 5)])
def test_the_scales_are_those_the_size_holds_with_weights_summing_to_one(
    size: int, scales: int
) -> None:
    """Each scale halves the image; the coarsest stays at least the 7-tap window wide. MONAI
    computes every count given (its own size check passes)."""
    assert ms_ssim_scales(size) == scales
    metric = ms_ssim_metric(2, size)
    total = sum(WEIGHTS[:scales])
    assert metric.weights == pytest.approx([w / total for w in WEIGHTS[:scales]])
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, size, size, generator=gen)
    noisy = (x + 0.2 * torch.rand(2, 1, size, size, generator=gen)).clamp(0, 1)
    assert 0.3 < float(metric(x, noisy).mean()) < 1
