"""The metric interface: registered objects that score a trained system.

A metric decides what it can score from the system's declared `Capabilities` alone
(`supports(caps)`), so it never needs to know a domain's classes; `compute` then samples from
the system through the interfaces those capabilities promise.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from ganhub.capabilities import Capabilities
    from ganhub.engine.system import GANSystem


class Metric(ABC):
    """A named evaluation returning floats; `compute` samples from the system itself."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def supports(self, caps: Capabilities) -> bool:
        """Whether this metric can score a system that declares `caps` (default: any)."""
        return True

    def check(self, system: GANSystem) -> None:  # noqa: B027 (optional, not abstract)
        """Raise a one-line error now if something this metric needs is missing (a library, a
        feature network), so a run fails before training rather than at its end."""

    @abstractmethod
    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Score `n_samples` generated samples; keys are reported as-is (e.g. 'modes')."""


# The rotation-prediction feature network every image or volume domain can use (`rotnet`):
# trained once per dataset on the run's real samples, batches of 64 with a fifth held out.
# Bump `version` when the recipe changes, so cached networks trained by older code are retrained.
ROTNET_RECIPE = {"version": 1, "n": 4000, "epochs": 30, "width": 16, "seed": 0, "held_out": 0.2}
ROTNET_BATCH = 64
# the fewest real samples it trains on: (1 - held_out) * n >= one batch
ROTNET_MIN_IMAGES = math.ceil(ROTNET_BATCH / (1 - ROTNET_RECIPE["held_out"]))


@dataclass
class Evaluation:
    """What `evaluate` computed and which of the asked metrics do not apply to the system."""

    values: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def evaluate(
    system: GANSystem, metrics: Sequence[Metric], *, n_samples: int, seed: int
) -> Evaluation:
    """Run the metrics the system supports (in eval mode, without gradients); list the rest."""
    import torch

    result = Evaluation()
    caps = system.capabilities()
    was_training = system.training
    system.eval()
    try:
        with torch.no_grad():
            for metric in metrics:
                if metric.supports(caps):
                    result.values.update(metric.compute(system, n_samples=n_samples, seed=seed))
                else:
                    result.skipped.append(metric.name)
        if result.values:  # every evaluation says how many samples it scored
            result.values.setdefault("n_samples", float(n_samples))
    finally:
        system.train(was_training)
    return result


__all__ = ["ROTNET_MIN_IMAGES", "ROTNET_RECIPE", "Evaluation", "Metric", "evaluate"]
