"""`key.sub=value` overrides and YAML files, merged into one plain dict before validation."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ganhub.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import BaseModel

CONFIG_KEY = "config"  # `config=file.yaml` merges a YAML file at that position


def parse_value(text: str) -> Any:
    """Parse the right-hand side of `key=value` as YAML: numbers, bools, null, [lists], {maps}."""
    try:
        return yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        return text  # not YAML (e.g. an odd path): keep it as written


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split `a.b=value` into (['a', 'b'], parsed value)."""
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"'{item}' is not an override; write key=value (e.g. trainer.steps=100)")
    parts = key.split(".")
    if any(not p for p in parts):
        raise ConfigError(f"'{key}' is not a valid key (empty part between dots)")
    return parts, parse_value(value)


def set_dotted(target: dict[str, Any], path: list[str], value: Any) -> None:
    """Set `target[a][b]... = value`, creating dicts along the way (a scalar there is replaced)."""
    node = target
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {} if not isinstance(child, str) else {"__shorthand__": child}
            node[part] = child
        node = child
    node[path[-1]] = value


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `top` over `base` recursively; lists and scalars in `top` replace those in `base`."""
    merged = copy.deepcopy(dict(base))
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), str):
            merged[key] = deep_merge({"__shorthand__": merged[key]}, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a dict, with a clear error for missing or malformed files."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file '{p}' does not exist")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file '{p}' is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file '{p}' must hold a mapping of keys, not {type(data).__name__}"
        )
    return data


def merge_sources(items: Iterable[str], files: Iterable[str | Path] = ()) -> dict[str, Any]:
    """Merge YAML `files` then `key=value` items (in order; `config=F` merges F in place)."""
    merged: dict[str, Any] = {}
    for f in files:
        merged = deep_merge(merged, load_yaml(f))
    for item in items:
        path, value = parse_override(item)
        if path == [CONFIG_KEY]:
            merged = deep_merge(merged, load_yaml(str(value)))
        else:
            set_dotted(merged, path, value)
    return merged


def expand_shorthands(raw: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """Resolve `{"__shorthand__": v, ...}` left by `data=folder data.path=X` into the named field."""
    from pydantic import BaseModel

    out: dict[str, Any] = {}
    fields = model.model_fields
    for key, value in raw.items():
        sub = fields[key].annotation if key in fields else None
        if isinstance(value, str | int | float) and getattr(sub, "shorthand", None):
            value = {"__shorthand__": value}
        if isinstance(value, dict):
            if "__shorthand__" in value:
                value = dict(value)
                short = value.pop("__shorthand__")
                name = getattr(sub, "shorthand", None)
                if not name:
                    raise ConfigError(
                        f"'{key}' takes sub-keys ({key}.<name>=...), not a single value '{short}'"
                    )
                value.setdefault(name, short)
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                value = expand_shorthands(value, sub)
        out[key] = value
    return out
