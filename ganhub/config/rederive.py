"""Defaults derived from a resumed run's keys, derived again when a resume changes those keys.

A saved config.yaml holds every value, derived ones included, so `resume=RUN data=digits` kept
the faces run's `data.mirror: true`, while a fresh `data=digits` run derives `false` (and a new
batch size kept R1's gamma for the old one). A derived value is recomputed only where the saved
one is still what the saved keys derive: a value the user chose stays.

A value a run is bound to once it exists is never derived again on resume: the conditional
class names (`BOUND_TO_WEIGHTS`) and every field a config class marks `KEPT_ON_RESUME`
(textgan's MLE stretch: derived from trainer.steps, and a resume with more steps had gone back
to MLE after adversarial steps had run). A new run made from a saved one (`ganhub adapt`)
derives them afresh for itself (`derived_afresh`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ganhub.config.overrides import deep_merge, expand_shorthands, set_dotted
from ganhub.errors import ConfigError

if TYPE_CHECKING:
    from ganhub.config.schema import RunConfig
    from ganhub.domain import Domain

ABSENT = object()
# derived values a trained run is bound to, never derived again on resume: a conditional run's
# class names in label order (its embeddings learned them; new data with other class folders
# is checked against them instead of renumbering them)
BOUND_TO_WEIGHTS = (("condition", "classes"),)


class KeptOnResume:
    """Field metadata: a derived default that a run keeps once it exists (`KEPT_ON_RESUME`)."""

    def __repr__(self) -> str:
        return "KEPT_ON_RESUME"


# `Annotated[int, KEPT_ON_RESUME]` on a config field whose default `Domain.defaults_for`
# derives: a resume keeps the saved value unless the user types the key, though the keys it
# is derived from change (a phase boundary derived from trainer.steps: a run whose MLE stretch
# had ended went back to MLE when resumed with more steps)
KEPT_ON_RESUME = KeptOnResume()


def rederived(
    domain: Domain, base: type[RunConfig], saved: Mapping[str, Any], user: Mapping[str, Any]
) -> dict[str, Any]:
    """The derived defaults that the user's keys change, as a layer between `saved` and `user`."""
    if not any(key not in ("plugin", "resume") for key in user):
        return {}
    derived_then, now = (
        _derived(domain, base, saved),
        _derived(domain, base, deep_merge(saved, user)),
    )
    if derived_then is None or now is None:
        return {}
    then = deep_merge(section_defaults(base), derived_then)
    layer: dict[str, Any] = {}
    bound = {*BOUND_TO_WEIGHTS, *kept_on_resume(base)}
    for path, value in _leaves(now):
        if tuple(path) in bound:
            continue
        before = value_at(then, path)
        if value != before and value_at(saved, path) == before:
            set_dotted(layer, path, value)
    return layer


def no_longer_derived(
    domain: Domain, base: type[RunConfig], saved: Mapping[str, Any], user: Mapping[str, Any]
) -> dict[str, Any]:
    """`saved` without the derived values that the user's keys no longer derive, where the
    saved value is still the derived one and the user does not type it: they fall back to
    their class defaults. (A StyleGAN run's derived EMA half-life beside a typed
    `trick.ema.decay` was refused as two averaging rates, naming the saved config.)"""
    if not any(key not in ("plugin", "resume") for key in user):
        return dict(saved)
    bound = {*BOUND_TO_WEIGHTS, *kept_on_resume(base)}
    # a saved value equal to its derived one counts as derived (the saved config cannot tell
    # them apart); twice, since a derived value can decide another (StyleGAN's EMA ramp-up is
    # derived only where the half-life is)
    chosen: dict[str, Any] = dict(saved)
    for _ in range(2):
        then = _derived(domain, base, chosen)
        if then is None:
            return dict(saved)
        derived = [
            path
            for path, value in _leaves(then)
            if tuple(path) not in bound and value_at(saved, path) == value
        ]
        chosen = copy.deepcopy(dict(saved))
        for path in derived:
            _drop(chosen, path)
    now = _derived(domain, base, deep_merge(chosen, user))
    if now is None:
        return dict(saved)
    kept = copy.deepcopy(dict(saved))
    for path in derived:
        if value_at(now, path) is ABSENT and value_at(user, path) is ABSENT:
            _drop(kept, path)
    return kept


def kept_on_resume(cls: type[BaseModel]) -> list[tuple[str, ...]]:
    """The keys (as paths) of a config class whose fields are marked `KEPT_ON_RESUME`."""
    found: list[tuple[str, ...]] = []
    for name, field in cls.model_fields.items():
        if any(item is KEPT_ON_RESUME for item in field.metadata):
            found.append((name,))
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            found += [(name, *path) for path in kept_on_resume(section)]
    return found


def derived_afresh(
    domain: Domain,
    base: type[RunConfig],
    source: Mapping[str, Any],
    layer: Mapping[str, Any],
    user: Mapping[str, Any],
) -> dict[str, Any]:
    """A new run made from the saved config `source` (`ganhub adapt`): its `layer` (the saved
    keys with the command's defaults) and the `user`'s keys. The `KEPT_ON_RESUME` keys that
    `source` derived, and the user does not give, derived again for the new run (a layer);
    a value `source` did not derive (set by hand) stays."""
    derived_then = _derived(domain, base, source)
    if derived_then is None:
        return {}
    then = deep_merge(section_defaults(base), derived_then)
    chosen = deep_merge(layer, user)
    redo = []
    for key in kept_on_resume(base):
        path = list(key)
        was = value_at(source, path)
        if was is not ABSENT and was == value_at(then, path) and value_at(user, path) is ABSENT:
            redo.append(path)
            _drop(chosen, path)
    derived_now = _derived(domain, base, chosen)
    if derived_now is None:
        return {}
    now = deep_merge(section_defaults(base), derived_now)
    out: dict[str, Any] = {}
    for path in redo:
        value = value_at(now, path)
        if value is not ABSENT:
            set_dotted(out, path, value)
    return out


def _derived(
    domain: Domain, base: type[RunConfig], chosen: Mapping[str, Any]
) -> dict[str, Any] | None:
    """What `domain.defaults_for` derives from a saved config's keys, or None where it refuses
    them together: a saved config holds derived values beside the keys they came from
    (cyclegan's trainer.steps beside the epochs it was counted from, which a fresh run refuses
    as two run lengths), and then nothing is derived again (the saved values stand)."""
    try:
        return expand_shorthands(domain.defaults_for(dict(chosen)), base)
    except ConfigError:
        return None


def _drop(tree: dict[str, Any], path: list[str]) -> None:
    """Remove the value at `path` of a nested dict, where there is one."""
    for part in path[:-1]:
        tree = tree.get(part)  # type: ignore[assignment]
        if not isinstance(tree, dict):
            return
    tree.pop(path[-1], None)


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


__all__ = [
    "ABSENT",
    "BOUND_TO_WEIGHTS",
    "KEPT_ON_RESUME",
    "KeptOnResume",
    "derived_afresh",
    "kept_on_resume",
    "no_longer_derived",
    "rederived",
    "section_defaults",
    "value_at",
]
