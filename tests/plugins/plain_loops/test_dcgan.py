"""dcgan's step equals examples/raw_vs_ganhub/plain_pytorch.py's, which benchmarks/overhead.py
times against it: the same weights after the same batches and noise."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plugins.plain_loops.helpers import assert_same_weights, train_both

pytestmark = pytest.mark.usefixtures("one_thread")


def test_steps_equal_the_plain_dcgan_loop(workdir: Path) -> None:
    """Five steps at batch 16: D then G on the D phase's fakes, as the PyTorch DCGAN example."""
    run, plain = train_both("dcgan", ["trainer.batch_size=16", "model.g_channels=8",
                                      "model.d_channels=8"], steps=5)  # fmt: skip
    s = run.system
    assert_same_weights([("G", s.G, plain.G), ("D", s.D, plain.D)])
