"""What `ganhub adapt` says of a config error about a key the adapted run inherits from RUN's
config.yaml: the file, and the default that clears the key (`data.classes` of a digits run
adapted to an image folder)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ganhub.errors import one_line

# a dotted config key named in a message (data.proportions), not part of a longer word
_KEY = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)")


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
        # the key the message is about, then the others its problem names: a typed key can
        # clash with one RUN set ("data.classes=[8] and data.proportions both choose ...")
        leading = key_of_message(text)
        named = [*([leading] if leading else []), *_KEY.findall(text.split("; ", 1)[0])]
        defaults = section_defaults(config_class)
        key, default = None, None
        for candidate in dict.fromkeys(named):
            if source_of(candidate, inherited) != where:
                continue
            found, value = _at(saved, candidate)
            known, default = _at(defaults, candidate)
            if found and known and value != default:  # a choice of RUN's, not its default
                key = candidate
                break
        if key is None:
            raise
        kept = "it" if key == leading else key
        clear = type(exc)(
            f"{where}: {text}; ganhub adapt keeps {kept} from {one_line(run_dir, 200)}: give "
            f"{key}={_item(default)} (the default)"
        )
        raise clear from exc.__cause__


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
