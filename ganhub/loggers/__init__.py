"""The logger interface: where a run's metrics go (metrics.jsonl, TensorBoard, your tracker)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ganhub.config.schema import Section

if TYPE_CHECKING:
    from ganhub.config.schema import RunConfig

# the name the logger being built is registered under (`registered_as`), whose options
# (`logger.<name>`) it gets
_BUILDING: ContextVar[str] = ContextVar("ganhub_logger_name", default="")


@contextmanager
def registered_as(name: str) -> Iterator[None]:
    """Build a logger registered as `name` (`GuardedLogger` does, for a run): `self.options`
    are then `logger.<name>`'s, whether or not its class sets `name`."""
    token = _BUILDING.set(name)
    try:
        yield
    finally:
        _BUILDING.reset(token)


class Logger:
    """Receives host-side metrics on logging steps and artifact paths on sampling steps.

    Loggers run on rank 0 only and never see device tensors, so they cannot slow the loop
    beyond the logging interval.

    A logger with options sets `Config` (a pydantic `Section`): users write
    `logger.<name>.<key>=value` under the name it is registered as, the config validates it,
    and `self.options` holds the result. `name`, if set, must be that name (else it is
    refused when its plugin loads).
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
        name = _BUILDING.get() or self.name
        _BUILDING.set("")  # a logger this one builds is not registered under its name
        found = getattr(section, name, None) if name else None
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
