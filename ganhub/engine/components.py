"""The objects a run is made of, handed to the engine already resolved.

The wiring layer (`ganhub.wiring`: config resolution, the API and the CLI) turns the names in a
config into these objects through the plugin registries; the engine (`Run`, the loop,
checkpoints, `evaluate`) only receives them, so it never imports plugin discovery.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ganhub.conditioning import Condition
    from ganhub.domain import Domain
    from ganhub.loggers import Logger
    from ganhub.losses import AdversarialLoss
    from ganhub.metrics import Metric
    from ganhub.tricks import Trick


class NoHooks:
    """A lifecycle-hook caller that calls nothing (runs built without a plugin manager)."""

    def __getattr__(self, name: str) -> Callable[..., list[Any]]:
        return lambda **kwargs: []


@dataclass
class Components:
    """What one run uses: its domain, loss, enabled tricks, loggers, metrics and hooks.

    `tricks` holds the enabled tricks by name in the config's order; `metrics` every metric a
    run may name (eval.metrics, the domain's defaults); `hooks` calls the lifecycle hooks
    (`hooks.before_train(run=...)`, pluggy's hook relay); `condition` the labels and resolved
    mechanisms of a conditional run (None otherwise); `provenance` says which plugin and
    distribution each part came from, and `metric_providers` the same of every metric a run
    may name: `requires` joins them into the run directory's requires.json. `notes` are
    warnings about the environment the run is made in (a plugin that failed to load).
    """

    domain: Domain
    loss: AdversarialLoss
    tricks: dict[str, type[Trick]] = field(default_factory=dict)
    loggers: dict[str, type[Logger]] = field(default_factory=dict)
    metrics: Mapping[str, Metric] = field(default_factory=dict)
    hooks: Any = field(default_factory=NoHooks)
    provenance: dict[str, Any] = field(default_factory=dict)
    condition: Condition | None = None
    metric_providers: Mapping[str, dict[str, str]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # warnings the wiring found, shown before the start banner

    def requires(self, metrics: Iterable[str]) -> dict[str, Any]:
        """What the run directory's requires.json holds: `provenance`, and the plugin and
        distribution of each metric the run evaluates (`metrics`, their names), so that a run
        opened where one of them is not installed names the package to install ({} for a run
        built without a hub, which knows no plugins)."""
        if not self.provenance:
            return {}
        used = [self.metric_providers[n] for n in metrics if n in self.metric_providers]
        return {**self.provenance, "metrics": used}


__all__ = ["Components", "NoHooks"]
