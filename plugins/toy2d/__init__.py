"""toy2d: MLP GANs on 2D Gaussian mixtures (ring of 8, grid of 25), the mode-collapse testbed.

Runs in seconds on a CPU and reports the PacGAN/VEEGAN statistics: modes captured, the share
of high-quality samples (within 3 std of a mode) and the reverse KL of the mode histogram.
"""

from __future__ import annotations

from ganhub.hookspecs import Register, hookimpl


@hookimpl
def register_domains(register: Register) -> None:
    """Register the toy2d domain."""
    from ganhub_toy2d.domain import Toy2dDomain

    register("toy2d", Toy2dDomain())


@hookimpl
def register_metrics(register: Register) -> None:
    """Register the 2D mode-coverage metric."""
    from ganhub_toy2d.metrics import ModeCoverage2D

    register("mode_coverage_2d", ModeCoverage2D())
