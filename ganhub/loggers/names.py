"""The names a logger records metrics under: a metric's own, unless the logger keeps that name
for a record of its own (metrics.jsonl's `step` and `time`, W&B's `step` column and its `_step`,
`_runtime`, `_timestamp`, the tag of the sample images) or cannot take it (MLflow's characters).
Such a metric is recorded under a distinct name, never over the logger's record or another
metric, and one line says so the first time it is logged."""

from __future__ import annotations

from collections.abc import Callable

from ganhub.closed_output import say
from ganhub.errors import one_line

# a reserved name `step` is recorded as `metric/step`
RENAMED_PREFIX = "metric/"


def sample_tag_reason(name: str) -> str | None:
    """Why a scalar cannot be filed under `name` next to the sample images (`samples`,
    `samples/mixing`: one tag holds one kind of data), or None."""
    if name == "samples" or name.startswith("samples/"):
        return "the sample images are filed under that name"
    return None


class MetricNames:
    """Each metric's name in one logger's records, said once when it is not the metric's own.

    `reserved(name)` says why the logger keeps `name` for itself (None: it does not); `take`
    turns a name into one the logger accepts (MLflow's characters), `why_taken` says why.
    """

    def __init__(
        self,
        logger: str,
        reserved: Callable[[str], str | None],
        take: Callable[[str], str] | None = None,
        why_taken: str = "",
    ) -> None:
        self.logger = logger
        self.reserved = reserved
        self.take = take or (lambda name: name)
        self.why_taken = why_taken
        self.names: dict[str, str] = {}  # metric name -> the name it is recorded under
        self.used: set[str] = set()  # every name recorded so far

    def __call__(self, name: str) -> str:
        """The name `name` is recorded under (the same every time in one run)."""
        if name in self.names:
            return self.names[name]
        new, why = self.take(name), self.why_taken
        reason = self.reserved(new)
        if reason is not None:
            new, why = self.take(RENAMED_PREFIX + new), reason
        base, n = new, 2
        while new in self.used or self.reserved(new) is not None:
            owner = next((k for k, v in self.names.items() if v == new), None)
            if owner is not None:
                why = f"'{one_line(new, 100)}' is already metric '{one_line(owner, 100)}'"
            suffix, n = f"_{n}", n + 1
            new = self.take(base + suffix)
            if not new.endswith(suffix):  # the logger cuts long names: cut the base instead
                new = self.take(base[: len(new) - len(suffix)] + suffix)
        self.names[name] = new
        self.used.add(new)
        if new != name:
            say(
                f"ganhub: warning: logger '{self.logger}': metric '{one_line(name, 100)}' is "
                f"logged as '{one_line(new, 100)}' ({why})"
            )
        return new

    def rename(self, metrics: dict[str, float]) -> dict[str, float]:
        """`metrics` under the names they are recorded under. A metric new to the run whose
        own name the logger takes keeps it, ahead of one renamed to that name."""
        own = [k for k in metrics if k not in self.names and self._own(k)]
        for key in own:
            self(key)
        return {self(key): value for key, value in metrics.items()}

    def _own(self, name: str) -> bool:
        return self.take(name) == name and self.reserved(name) is None


__all__ = ["RENAMED_PREFIX", "MetricNames", "sample_tag_reason"]
