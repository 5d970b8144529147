"""What `ganhub adapt` says of a config error about a key the adapted run inherits from RUN's
config.yaml: the file, and the default that clears the key (`data.classes` of a digits run
adapted to an image folder)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ganhub.errors import one_line


@contextlib.contextmanager
def inherited_keys_named(
    run_dir: Path, saved: Mapping[str, Any], given: set[str], config_class: Any
) -> Iterator[None]:
    """An error about a key the adapted run inherits from RUN's config.yaml, set there to
    other than the domain's default (`data.classes` of a digits run adapted to a folder),
    names the file and the default that clears it."""
    from ganhub.config.messages import key_of_message
    from ganhub.config.overrides import dotted_keys, forget_key, source_of
    from ganhub.config.rederive import section_defaults
    from ganhub.errors import ConfigError

    try:
        yield
    except ConfigError as exc:
        where = f"config file '{one_line(run_dir / 'config.yaml', 200)}'"
        inherited = dict.fromkeys(dotted_keys(dict(saved)), where)
        for typed in given:
            forget_key(inherited, typed)
        text = str(exc).removeprefix(f"{where}: ")
        key = key_of_message(text)
        if key is None or source_of(key, inherited) != where:
            raise
        found, value = _at(saved, key)
        known, default = _at(section_defaults(config_class), key)
        if not (found and known) or value == default:  # the file's value is no choice of RUN's
            raise
        named = type(exc)(
            f"{where}: {text}; ganhub adapt keeps it from {one_line(run_dir, 200)}: give "
            f"{key}={_item(default)} (the default)"
        )
        raise named from exc.__cause__


def _at(tree: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    """(found, value) of dotted `key` in a nested mapping."""
    value: Any = tree
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _item(value: Any) -> str:
    """A value as a key=value item writes it: null, true, [8], a text as it is."""
    import json

    return value if isinstance(value, str) else json.dumps(value)


__all__ = ["inherited_keys_named"]
