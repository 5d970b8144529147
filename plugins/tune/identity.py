"""What a tune study was made with, kept in its storage, so that running it again with other
settings (another plugin, objective, space or fixed keys) is refused before any trial: their
values would be ranked with trials they do not compare with."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ganhub.config.overrides import parse_override
from ganhub.errors import ConfigError, one_line

if TYPE_CHECKING:
    from ganhub_tune.study import Study

IDENTITY = "ganhub_study"  # the Optuna study user attribute that records it
_MISSING = object()


def identity(study: Study) -> dict[str, Any]:
    """What makes a study's trials comparable: plugin, objectives and directions, the searched
    keys with their ranges or choices, and the fixed command-line keys."""
    return {
        "plugin": study.options.plugin,
        "objective": list(study.objectives),
        "direction": list(study.directions),
        "space": sorted(
            f"{p.key} {p.type} {p.low} {p.high} {p.log} {p.step} {list(p.choices)} "
            f"{sorted(p.when.items())}"
            for p in study.space.params
        ),
        "fixed": _fixed(study),
    }


def _fixed(study: Study) -> list[str]:
    """The fixed keys as the run resolves them (`trainer.steps=20.0` is 20), so the same setting
    typed another way is the same study; a key the config does not keep stays as parsed."""
    resolved = study.base_config.model_dump(mode="json")
    fixed: dict[str, Any] = {}
    for path, parsed in map(parse_override, study.options.overrides):
        node: Any = resolved
        for part in path:
            node = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
        fixed[".".join(path)] = parsed if node is _MISSING else node
    return sorted(
        f"{key}={value if isinstance(value, str) else json.dumps(value, sort_keys=True)}"
        for key, value in fixed.items()
    )


def check_same_study(opened: Any, study: Study) -> None:
    """Remember a new study's identity; refuse, before any trial, to add trials to a stored
    study made with other settings (their values would be ranked together)."""
    mine, stored = identity(study), opened.user_attrs.get(IDENTITY)
    if stored is None:  # a new study (or one from before identities were kept): adopt it
        opened.set_user_attr(IDENTITY, mine)
        return
    if not isinstance(stored, dict):  # an edited storage: nothing known to compare with
        stored = {}
    differ = [key for key in mine if stored.get(key) != mine[key]]
    if differ:
        was = "; ".join(f"{key}={stored.get(key)}" for key in differ)
        now = "; ".join(f"{key}={mine[key]}" for key in differ)
        raise ConfigError(
            f"study '{opened.study_name}' was made with {one_line(was, 300)}, not "
            f"{one_line(now, 300)}; its trials would not compare "
            "with these: run it with those settings, or give another study="
        )
