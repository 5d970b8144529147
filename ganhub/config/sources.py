"""What several sources give one config: dotted keys of a mapping as the keys they name, a
source's values merged over earlier ones, and which file gave each key for its errors.

A single value met where keys go (`trainer: 10` with `trainer.steps: 5`, in one file or
across sources, in either order) is kept beside them in the slot `SHORTHAND`: a section with a
shorthand (`data=phantom data.n_samples=100`) takes it, and any other place is refused in one
line naming the key and the value (`overrides.expand_shorthands`), never dropped."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ganhub.errors import ConfigError, one_line

SHORTHAND = "__shorthand__"  # a section's single value, kept beside the keys given under it


class SingleValueError(ConfigError):
    """A single value and keys under it for one key that takes only one of them; `key` is the
    dotted key of what was given (its file, when one gave it, is named with the error)."""

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


def nest_dotted(data: Mapping[Any, Any], where: str) -> dict[Any, Any]:
    """`data` with each dotted key (`trainer.steps: 10`) as the nested keys it names, at any
    depth; a key given both ways with two values is refused naming `where` (its file)."""
    out: dict[Any, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            value = nest_dotted(value, where)
        parts = key.split(".") if isinstance(key, str) else [key]
        if len(parts) > 1 and not all(parts):
            raise ConfigError(
                f"{where}: '{one_line(key, 100)}' is not a valid key (empty part between dots); "
                "write trainer.steps, or trainer: {steps: ...}"
            )
        _place(out, parts, value, where, [])
    return out


def _place(
    node: dict[Any, Any], parts: list[Any], value: Any, where: str, above: list[Any]
) -> None:
    """Put `value` at `parts` under `node` (itself at `above`), merging mappings; a key given
    two values (as `a.b` and under `a`) is refused naming it and both values."""
    part, here = parts[0], [*above, parts[0]]
    held = node.get(part)
    if len(parts) > 1:
        if not isinstance(held, dict):
            held = node[part] = {} if held is None else {SHORTHAND: held}
        _place(held, parts[1:], value, where, here)
    elif held is None or (type(held) is type(value) and held == value):
        node[part] = value
    elif isinstance(value, Mapping) or isinstance(held, dict):
        if not isinstance(held, dict):
            held = node[part] = {SHORTHAND: held}
        new = value if isinstance(value, Mapping) else {} if value is None else {SHORTHAND: value}
        for key, sub in new.items():
            _place(held, [key], sub, where, here)
    else:
        shown = ".".join(str(p) for p in here if p != SHORTHAND)
        raise ConfigError(
            f"{where}: the key '{one_line(shown, 100)}' is given twice, as "
            f"{one_line(_typed(held), 60)} and as {one_line(_typed(value), 60)} (once as a "
            "dotted key, once nested); give it once"
        )


def as_typed(value: Any) -> Any:
    """A config value as users type it: true/false/null, not Python's True/False/None."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return value


def _typed(value: Any) -> str:
    """A value as YAML shows it: true/false/null, text quoted."""
    return repr(value) if isinstance(value, str) else str(as_typed(value))


def merge_given(base: Mapping[Any, Any], top: Mapping[Any, Any]) -> dict[Any, Any]:
    """Merge what a later source gave (`top`) over what earlier ones did, as `deep_merge` does,
    except that a single value and keys for one key are both kept (see `SHORTHAND`)."""
    merged = copy.deepcopy(dict(base))
    for key, value in top.items():
        held = merged.get(key)
        if isinstance(value, Mapping) and isinstance(held, Mapping):
            merged[key] = merge_given(held, value)
        elif isinstance(value, Mapping) and value and held is not None:
            merged[key] = merge_given({SHORTHAND: held}, value)
        elif isinstance(held, Mapping) and held and value is not None:
            merged[key] = {**held, SHORTHAND: copy.deepcopy(value)}
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def value_at(tree: Mapping[Any, Any], key: str) -> Any:
    """The value at dotted `key` of a nested mapping, or None."""
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def beside_keys(merged: Mapping[Any, Any], key: str, value: Any) -> bool:
    """Whether `value`, given for `key`, went into the single-value slot of keys already there."""
    held = value_at(merged, key)
    return isinstance(held, dict) and bool(held) and not isinstance(value, Mapping)


def trace_key(
    sources: dict[str, str], merged: Mapping[Any, Any], key: str, value: Any, label: str | None
) -> None:
    """Record that `key` (given `value`, now merged into `merged`) came from `label` (None:
    typed on the command line, naming no file), and forget what it replaced.

    A value set beside keys already there leaves them their sources; an earlier single value
    now beside the new keys keeps its own (as `KEY.__shorthand__`)."""
    held = value_at(merged, key)
    if isinstance(value, Mapping) and not value and isinstance(held, dict) and held:
        return  # an empty mapping merged into keys already there changes none of them
    beside = beside_keys(merged, key, value)
    if beside:
        key = f"{key}.{SHORTHAND}"
    related = [
        k
        for k in sources
        if k == key or key.startswith(k + ".") or (not beside and k.startswith(key + "."))
    ]
    for known in related:
        source = sources.pop(known)
        above, moved = value_at(merged, known), f"{known}.{SHORTHAND}"
        kept = isinstance(above, dict) and SHORTHAND in above  # its single value stays
        if kept and key.startswith(known + ".") and moved != key:
            sources[moved] = source
    if label is not None:
        sources[key] = label


def source_of(key: str, sources: Mapping[str, str]) -> str | None:
    """Which source gave `key` (a dotted key; the longest known prefix decides), or None.

    A key none of whose prefixes is known, but whose sub-keys all came from one source
    (`loss: {name: x}` in a file, where `loss` takes a single value), is that source's."""
    parts = key.split(".")
    for end in range(len(parts), 0, -1):
        found = sources.get(".".join(parts[:end]))
        if found is not None:
            return found
    below = {source for known, source in sources.items() if known.startswith(key + ".")}
    return below.pop() if len(below) == 1 else None


__all__ = [
    "SHORTHAND",
    "SingleValueError",
    "as_typed",
    "beside_keys",
    "merge_given",
    "nest_dotted",
    "source_of",
    "trace_key",
    "value_at",
]
