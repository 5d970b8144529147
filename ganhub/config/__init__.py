"""Typed configuration: pydantic schema, `key=value` overrides, resolution against plugins."""

from ganhub.config.schema import (
    EvalConfig,
    OptimConfig,
    OptimizerConfig,
    RunConfig,
    Section,
    TrainerConfig,
)

__all__ = [
    "EvalConfig",
    "OptimConfig",
    "OptimizerConfig",
    "RunConfig",
    "Section",
    "TrainerConfig",
]
