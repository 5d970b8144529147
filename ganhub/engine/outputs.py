"""What a phase closure returns: its loss, stats and the pairs its discriminators judged.

Plain data, apart from the system and the training context that both use it; the public
names stay importable from `ganhub.engine.system`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor, nn


@dataclass
class Pair:
    """What one discriminator saw in a phase: its inputs before D-input tricks were applied,
    and its logits on the real ones.

    Penalties recompute D on the inputs (the gradient penalty on interpolates, lazy R1 in
    its own phase), or, when they asked for it, differentiate the phase's own forward
    (`real_graph`, `fake_graph`: every-step R1 and R2); adaptive augmentation reads the sign of
    `real_logits` (ADA's overfitting measure).
    """

    discriminator: nn.Module
    real: Tensor
    fake: Tensor
    real_logits: Tensor | None = None
    # D's logits with their graph to `real` / `fake` (which then require grad), when a trick
    # asked for it (`Trick.input_graphs`); None otherwise
    real_graph: Tensor | None = None
    fake_graph: Tensor | None = None

    @property
    def samples_per_input(self) -> int:
        """How many consecutive samples D judged as one input (PacGAN's pack; 1 otherwise),
        read from its logits: a penalty on D's input takes its norms and means per input."""
        if self.real_logits is None or self.real_logits.ndim == 0 or not len(self.real_logits):
            return 1
        return max(1, len(self.real) // len(self.real_logits))


@dataclass
class PhaseOutput:
    """A phase closure's result: the scalar to minimise, detached stats, and D's input pairs.

    `aux` holds what tricks read beyond the loss: a conditional run's `labels` and the
    discriminator's auxiliary head outputs, `<head>_real` / `<head>_fake` (AC-GAN's `class`).
    `tasks`: the terms of auxiliary-task tricks (`Trick.auxiliary_task`) added to `loss` so
    far, by trick name, with their graphs; the loop fills it (task_relations reads it).
    """

    loss: Tensor
    stats: dict[str, Tensor] = field(default_factory=dict)
    pairs: list[Pair] = field(default_factory=list)
    aux: dict[str, Tensor] = field(default_factory=dict)
    tasks: dict[str, Tensor] = field(default_factory=dict)


__all__ = ["Pair", "PhaseOutput"]
