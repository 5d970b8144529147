"""The metric interface: registered objects that score a trained system."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from ganhub.engine.system import GANSystem
    from ganhub.plugins import Hub


class Metric(ABC):
    """A named evaluation returning floats; `compute` samples from the system itself."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def supports(self, system: GANSystem) -> bool:
        """Whether this metric can score `system` (e.g. needs 2D points or images)."""
        return True

    @abstractmethod
    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Score `n_samples` generated samples; keys are reported as-is (e.g. 'modes')."""


def evaluate(
    system: GANSystem, names: list[str], *, n_samples: int, seed: int, hub: Hub
) -> dict[str, float]:
    """Run the named metrics on `system` (in eval mode, without gradients)."""
    import torch

    results: dict[str, float] = {}
    was_training = system.training
    system.eval()
    try:
        with torch.no_grad():
            for name in names:
                metric = hub.metrics.get(name)
                if metric.supports(system):
                    results.update(metric.compute(system, n_samples=n_samples, seed=seed))
        if results:  # every evaluation says how many samples it scored
            results.setdefault("n_samples", float(n_samples))
    finally:
        system.train(was_training)
    return results


__all__ = ["Metric", "evaluate"]
