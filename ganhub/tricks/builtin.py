"""Registers the built-in tricks through `register_tricks`, exactly as a plugin would."""

from __future__ import annotations

from ganhub.hookspecs import Register, hookimpl
from ganhub.tricks import Trick
from ganhub.tricks.anchor import ElasticWeightConsolidation
from ganhub.tricks.arch import ArchCost
from ganhub.tricks.augmenters import AdaptiveAugment, DiffAugment
from ganhub.tricks.classes import ACGAN
from ganhub.tricks.freeze import FreezeD
from ganhub.tricks.heads import RotationHead
from ganhub.tricks.inputs import InstanceNoise, LabelSmoothing, PacGAN
from ganhub.tricks.monitor import ParamStats
from ganhub.tricks.penalties import GradientPenalty, R1Penalty, R2Penalty
from ganhub.tricks.schedule import TTUR, Balance, GradClip, LRSchedule, NCritic
from ganhub.tricks.tasks import TaskRelations
from ganhub.tricks.weights import EMA, SpectralNorm, WeightInit, WeightPenalty

BUILTIN_TRICKS: tuple[type[Trick], ...] = (
    WeightInit,
    SpectralNorm,
    GradClip,
    LabelSmoothing,
    InstanceNoise,
    GradientPenalty,
    R1Penalty,
    R2Penalty,
    EMA,
    DiffAugment,
    AdaptiveAugment,
    PacGAN,
    NCritic,
    Balance,
    TTUR,
    WeightPenalty,
    LRSchedule,
    ACGAN,
    FreezeD,
    ElasticWeightConsolidation,
    RotationHead,
    ArchCost,
    TaskRelations,
    ParamStats,
)


@hookimpl
def register_tricks(register: Register) -> None:
    """Register the built-in tricks (classes; instantiated per run with their options)."""
    for cls in BUILTIN_TRICKS:
        register(cls.name, cls)
