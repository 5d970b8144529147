"""The wiring layer: from a validated config's names to the objects a run is made of.

Only this layer (with config resolution, the API and the CLI) looks names up in the plugin
registries; the engine receives the resolved `Components` and never imports discovery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ganhub.plugin_guard import GuardedHooks
from ganhub.plugins import Hub, get_hub

if TYPE_CHECKING:
    from ganhub.config.schema import RunConfig
    from ganhub.engine.components import Components
    from ganhub.engine.run import Run


def components(config: RunConfig, hub: Hub | None = None, *, training: bool = True) -> Components:
    """The domain, loss, enabled tricks, loggers, metrics, hooks and conditioning mechanisms
    that `config` names
    (`training=False`: no loggers, for reopening a finished run)."""
    from ganhub.engine.components import Components

    hub = hub or get_hub()
    domain = hub.require_domain(config.plugin)
    loggers = config.loggers if training else []
    provenance = {
        "domain": _sourced(hub.provider("domains", config.plugin)),
        "loss": _sourced(hub.provider("losses", config.loss)),
        "tricks": [_sourced(hub.provider("tricks", name)) for name in config.tricks],
        "loggers": [_sourced(hub.provider("loggers", name)) for name in loggers],
    }
    request = domain.conditioning(config)
    condition = None
    if request is not None:
        from ganhub.conditioning import Condition

        condition = Condition(
            request.labels,
            generator=hub.conditioners.get(request.generator),
            discriminator=hub.conditioners.get(request.discriminator),
            embed_dim=request.embed_dim,
            checked=training,  # a finished run of a pair refused since still opens and samples
        )
        provenance["conditioners"] = [
            _sourced(hub.provider("conditioners", request.generator)),
            _sourced(hub.provider("conditioners", request.discriminator)),
        ]
    return Components(
        domain=domain,
        condition=condition,
        loss=hub.losses.get(config.loss),
        tricks={name: hub.tricks.get(name) for name in config.tricks},
        loggers={name: hub.loggers.get(name) for name in loggers},
        metrics={entry.name: entry.obj for entry in hub.metrics},
        hooks=GuardedHooks(hub.pm.hook),
        provenance=provenance,
        # the metrics a run evaluates are known once its system is built: the run picks them
        metric_providers={e.name: hub.provider("metrics", e.name) for e in hub.metrics},
        notes=failed_plugin_notes(hub) if training else (),
    )


def _sourced(entry: dict[str, str]) -> dict[str, str]:
    """A part's provenance (`Hub.provider`) with `project`, the folder its distribution is
    installed editable from: a plugin of the user's own, which a resume where it was
    uninstalled installs again from there, not from an index that never had it."""
    import importlib.metadata as md

    from ganhub.plugin_fixes import editable_project

    if entry.get("dist") in ("?", "ganhub"):  # registered in-process; the built-ins
        return entry
    try:
        project = editable_project(md.distribution(entry["dist"]))
    except (md.PackageNotFoundError, ValueError):
        return entry
    return {**entry, "project": project} if project else entry


def failed_plugin_notes(hub: Hub) -> tuple[str, ...]:
    """One warning per plugin that failed to load: its parts were never asked for by name, but
    its hooks (a plugin that only watches runs) would have run, and nothing else says so."""
    return tuple(
        f"ganhub: warning: plugin '{info.name}' failed to load ({info.error}): none of its parts "
        f"or hooks take part in this run; `ganhub plugins` shows it, and "
        f"GANHUB_DISABLE_PLUGINS={info.name} leaves it out without this warning"
        for info in hub.plugins.values()
        if info.status == "error"  # not a missing extra ("unavailable") or one switched off
    )


def make_run(config: RunConfig, hub: Hub | None = None) -> Run:
    """A `Run` of a validated config, its components resolved through `hub`."""
    from ganhub.engine.run import Run

    return Run(config, components(config, hub))


__all__ = ["components", "failed_plugin_notes", "make_run"]
