"""medgan's step equals benchmarks/plain_loops/medgan.py's (pix2pix's `optimize_parameters` with
MONAI's patch loss), which benchmarks/overhead.py times against it: the same weights after the
same batches."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plugins.plain_loops.helpers import assert_same_weights, train_both

pytestmark = pytest.mark.usefixtures("one_thread")

# the lesion task at 32 px with narrow nets: seconds, and still every part of the default step
# (the erased-image Inpainter, the UNet of depth 4, the PatchGAN of three layers, L1 x100)
TINY = ["task=lesion", "model.image_size=32", "model.g_channels=4", "model.d_channels=4",
        "data.n_samples=16", "data.n_eval=4", "trainer.batch_size=4"]  # fmt: skip


def test_steps_equal_the_plain_medgan_loop(workdir: Path) -> None:
    """Four steps: D on real and detached fake pairs (x0.5), then G through the updated D + L1."""
    run, plain = train_both("medgan", TINY, steps=4)
    s = run.system
    assert_same_weights([("G", s.G, plain.G), ("D", s.D, plain.D)])
