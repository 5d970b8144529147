"""Which of a config's values the user chose: the dotted keys the user gave.

`ganhub.config.resolve` validates a run's config with the keys the user gave (as `key=value`,
in a YAML file, in the dict given to `ganhub.api`) in pydantic's validation context
(`given_context`); the class defaults, the domain's preset and what its `defaults_for`
derives are not among them. A section that inherits `KnowsGiven` keeps them, and `given_of`
reads them back: a warning about a value ("check_every is longer than the run") is for the
user only where the user chose the value (`user_gave`). A config validated without them (an
older caller, a config rebuilt from a dict) knows none: then every key counts as the user's.

The keys are a mapping's leaves (`keys_given`): an empty section (`trick: {}` in a file) sets
nothing, so it gives no key. A run records them as it starts (`ganhub.config.saved`), so a
resume of it knows them again, with the keys typed at the resume (`complete_keys`); a resume
of a run without that record knows only the keys typed again, and a value tells the rest.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from pydantic import BaseModel, PrivateAttr, ValidationInfo, model_validator

# the validation context's key for the dotted keys the user gave
GIVEN = "given"
# ... and for whether they are all the run's (`complete_keys`)
COMPLETE = "given_complete"


class UserKeys:
    """The dotted keys the user gave (None: unknown), kept beside a section's values. They say
    who chose the values, not what they are: any two compare equal, so two sections with the
    same values stay equal whoever set them (pydantic compares private attributes)."""

    __slots__ = ("complete", "keys")

    def __init__(self, keys: frozenset[str] | None = None, complete: bool = False) -> None:
        self.keys = keys
        self.complete = complete  # `complete_keys`

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UserKeys)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"UserKeys({None if self.keys is None else sorted(self.keys)})"


def given_context(keys: Iterable[str], *, complete: bool = False) -> dict[str, Any]:
    """The validation context that tells a config which dotted keys the user gave; `complete`:
    every key the user gave the run, from its start (see `complete_keys`)."""
    return {GIVEN: frozenset(keys), COMPLETE: complete}


def given_keys(info: ValidationInfo) -> frozenset[str] | None:
    """The dotted keys the user gave, from a validator's `info`; None where the config was
    validated without them (then no key can be told apart from the user's)."""
    context = info.context
    given = context.get(GIVEN) if isinstance(context, dict) else None
    return None if given is None else frozenset(given)


def keys_given(layer: Mapping[Any, Any], prefix: str = "") -> list[str]:
    """The dotted keys a nested mapping of what the user gave sets: its leaves. An empty
    mapping (`objective: {}` in a file) sets nothing, so it gives no key: were it a key, every
    key under it would count as the user's."""
    keys = []
    for key, value in layer.items():
        if isinstance(value, Mapping):
            keys += keys_given(value, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


def user_gave(given: Collection[str] | None, key: str) -> bool:
    """Whether the user gave the dotted `key`: itself, a section above it (`data=folder`) or a
    key below it (None: unknown, so yes)."""
    if given is None:
        return True
    return any(k == key or key.startswith(f"{k}.") or k.startswith(f"{key}.") for k in given)


def chosen_by_user(config: Any, dotted: str, preset: Mapping[str, Any]) -> bool:
    """Whether the user chose `dotted` (`section.key`, its section a `KnowsGiven`) of a run's
    `config` away from its class default and from the value the domain's `preset` (its nested
    dict) gives it: else a default, the preset or `defaults_for` set it, or the user's value
    changes nothing (`ganhub config ... > run.yaml` gives every key again). On a saved run's
    keys (`resume=`, `init_from=`) the value alone tells, unless the keys are complete (a
    resume of a run that recorded its user's keys); so it does where they are unknown."""
    section, name = dotted.split(".")
    part = getattr(config, section)
    value = getattr(part, name)
    default = type(part).model_fields[name].default
    if _same(value, default) or _same(value, preset.get(section, {}).get(name, default)):
        return False
    saved_run = config.resume is not None or config.init_from is not None
    return user_gave(None if saved_run and not complete_keys(part) else given_of(part), dotted)


def _same(value: Any, other: Any) -> bool:
    """Whether a config value equals a default or a preset's value (a list given for a tuple)."""
    return bool(value == (tuple(other) if isinstance(other, list) else other))


class KnowsGiven(BaseModel):
    """A config section that keeps the dotted keys the user gave (the whole config's, from its
    root: a section does not know its own key), as `given_of` reads them. Validated again
    (an assignment), it keeps those of its first validation."""

    _user_keys: UserKeys = PrivateAttr(default_factory=UserKeys)

    @model_validator(mode="after")
    def _keep_user_keys(self, info: ValidationInfo) -> Any:
        given = given_keys(info)
        if given is not None:
            context = info.context if isinstance(info.context, dict) else {}
            self._user_keys = UserKeys(given, context.get(COMPLETE) is True)
        return self


def given_of(section: BaseModel) -> frozenset[str] | None:
    """The dotted keys (from the config's root) the user gave, as `section` was validated;
    None where unknown: a section validated without them, or one that keeps none."""
    kept = (section.__pydantic_private__ or {}).get("_user_keys")
    return kept.keys if isinstance(kept, UserKeys) else None


def complete_keys(section: BaseModel) -> bool:
    """Whether the keys `given_of(section)` reads are every key the user gave the run since it
    started: a new run's, or a resumed run's from the record it wrote as it started
    (`ganhub.config.saved`) and those typed again, or an adapted run's (RUN's record, adapt's
    keys and the typed ones). Not so for a saved config that only the keys typed since stand
    on (a resume of a run without that record, `ganhub adapt` of one, `ganhub.load`): there a
    value set away from its default may be the user's."""
    kept = (section.__pydantic_private__ or {}).get("_user_keys")
    return isinstance(kept, UserKeys) and kept.keys is not None and kept.complete


__all__ = [
    "COMPLETE",
    "GIVEN",
    "KnowsGiven",
    "UserKeys",
    "chosen_by_user",
    "complete_keys",
    "given_context",
    "given_keys",
    "given_of",
    "keys_given",
    "user_gave",
]
