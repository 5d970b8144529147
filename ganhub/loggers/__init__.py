"""The logger interface: where a run's metrics go (metrics.jsonl, TensorBoard, your tracker)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from ganhub.config.schema import RunConfig


class Logger:
    """Receives host-side metrics on logging steps and artifact paths on sampling steps.

    Loggers run on rank 0 only and never see device tensors, so they cannot slow the loop
    beyond the logging interval.
    """

    description: ClassVar[str] = ""

    def __init__(self, run_dir: Path, config: RunConfig) -> None:
        self.run_dir = run_dir
        self.config = config

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Record scalar metrics for `step`."""

    def log_artifacts(self, step: int, paths: list[Path]) -> None:
        """Record artifacts (sample grids...) written for `step`."""

    def close(self) -> None:
        """Flush and release resources."""


__all__ = ["Logger"]
