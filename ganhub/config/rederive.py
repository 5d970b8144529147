"""Defaults derived from a resumed run's keys, derived again when a resume changes those keys.

A saved config.yaml holds every value, derived ones included, so `resume=RUN data=digits` kept
the faces run's `data.mirror: true`, while a fresh `data=digits` run derives `false` (and a new
batch size kept R1's gamma for the old one). A derived value is recomputed only where the saved
one is still what the saved keys derive: a value the user chose stays.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ganhub.config.overrides import deep_merge, expand_shorthands, set_dotted

if TYPE_CHECKING:
    from ganhub.config.schema import RunConfig
    from ganhub.domain import Domain

ABSENT = object()
# derived values a trained run is bound to, never derived again on resume: a conditional run's
# class names in label order (its embeddings learned them; new data with other class folders
# is checked against them instead of renumbering them)
BOUND_TO_WEIGHTS = (("condition", "classes"),)


def rederived(
    domain: Domain, base: type[RunConfig], saved: Mapping[str, Any], user: Mapping[str, Any]
) -> dict[str, Any]:
    """The derived defaults that the user's keys change, as a layer between `saved` and `user`."""
    if not any(key not in ("plugin", "resume") for key in user):
        return {}
    then = deep_merge(
        section_defaults(base), expand_shorthands(domain.defaults_for(dict(saved)), base)
    )
    now = expand_shorthands(domain.defaults_for(deep_merge(saved, user)), base)
    layer: dict[str, Any] = {}
    for path, value in _leaves(now):
        if tuple(path) in BOUND_TO_WEIGHTS:
            continue
        before = value_at(then, path)
        if value != before and value_at(saved, path) == before:
            set_dotted(layer, path, value)
    return layer


def section_defaults(cls: type[BaseModel]) -> dict[str, Any]:
    """The default value of every section (model-typed field) of a config class, as dicts."""
    out: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        if field.is_required():
            continue
        value = field.get_default(call_default_factory=True)
        if isinstance(value, BaseModel):
            out[name] = value.model_dump()
    return out


def _leaves(
    tree: Mapping[str, Any], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[list[str], Any]]:
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, (*prefix, key))
        else:
            yield [*prefix, key], value


def value_at(tree: Any, path: list[str]) -> Any:
    """The value at a dotted `path` of a nested dict, or ABSENT."""
    for part in path:
        tree = tree.get(part, ABSENT) if isinstance(tree, Mapping) else ABSENT
    return tree
