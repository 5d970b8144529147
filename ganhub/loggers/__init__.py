"""The logger interface: where a run's metrics go (metrics.jsonl, TensorBoard, your tracker)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ganhub.config.schema import Section

if TYPE_CHECKING:
    from ganhub.config.schema import RunConfig


class Logger:
    """Receives host-side metrics on logging steps and artifact paths on sampling steps.

    Loggers run on rank 0 only and never see device tensors, so they cannot slow the loop
    beyond the logging interval.

    A logger with options sets `name` (the name it is registered under) and `Config` (a
    pydantic `Section`): users write `logger.<name>.<key>=value`, the config validates it, and
    `self.options` holds the result.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Config: ClassVar[type[Section]] = Section
    # options that send the run's data outside its directory (a tracking server's address):
    # a run's saved config.yaml is untrusted, so a resume (or `ganhub adapt`) uses such a
    # value from it only when the user gives it again
    destination_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, run_dir: Path, config: RunConfig) -> None:
        self.run_dir = run_dir
        self.config = config
        section = getattr(config, "logger", None)
        found = getattr(section, self.name, None) if self.name else None
        self.options: Any = found if found is not None else self.Config()

    @classmethod
    def problems(cls, options: Any, config: RunConfig) -> list[str]:
        """Reasons this logger cannot run with this config (a missing package...), checked
        when the config resolves, before anything is trained; empty when it can run."""
        return []

    def resumed_at(self, step: int) -> None:
        """The run resumes from its checkpoint at `step`, before anything is logged: what was
        recorded after that step (by the session that crashed or was stopped after the
        checkpoint) will be recorded again, so a logger that appends drops it here."""

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Record scalar metrics for `step`."""

    def log_artifacts(self, step: int, paths: list[Path]) -> None:
        """Record artifacts (sample grids...) written for `step`."""

    def on_error(self, error: BaseException) -> None:
        """The run stopped with `error`; `close()` follows (a tracker marks its run failed)."""

    def close(self) -> None:
        """Flush and release resources."""


def image_tag(stem: str) -> str:
    """The tag a tracker files a sample artifact under: its file stem without the step
    (`step_0000500` -> `samples`, `step_0000500_mixing` -> `samples/mixing`)."""
    kind = re.sub(r"(^|_)step_\d+", "", stem).strip("_")
    return f"samples/{kind}" if kind else "samples"


__all__ = ["Logger", "image_tag"]
