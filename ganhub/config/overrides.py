"""`key.sub=value` overrides and YAML files, merged into one plain dict before validation."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ganhub.config.section import TypedFloat, TypedInt, expand_path_text
from ganhub.config.sources import (
    SHORTHAND,
    SingleValueError,
    merge_given,
    nest_dotted,
    source_of,
    trace_key,
)

# the YAML configs are written in, re-exported: imported from here too
from ganhub.config.yaml_dialect import ConfigDumper as ConfigDumper
from ganhub.config.yaml_dialect import ConfigLoader as ConfigLoader
from ganhub.config.yaml_dialect import DuplicateKeyError as DuplicateKeyError
from ganhub.config.yaml_dialect import dump_yaml as dump_yaml
from ganhub.errors import ConfigError, UsageError, one_line
from ganhub.runfiles import read_regular

if TYPE_CHECKING:
    from pydantic import BaseModel

CONFIG_KEY = "config"  # `config=file.yaml` merges a YAML file at that position

# What YAML can build but a config never needs. The deepest real key has four parts
# (trick.NAME.KEY=[...]); aliases (`*a`) count each time they are used, so `&a [*a, *a]` nested
# thirty times (a "billion laughs") is refused before anything walks it.
MAX_DEPTH = 32
MAX_VALUES = 100_000
MAX_CONFIG_BYTES = 16 << 20  # a config is a few KiB; a bigger file is not one


def check_tree(value: Any, where: str) -> None:
    """Refuse values no config holds: cycles (`&a [*a]`), nesting deeper than MAX_DEPTH, more
    than MAX_VALUES values (aliases counted each time), text that is not Unicode (a lone
    surrogate, from YAML's "\\ud800" escape: no validator or YAML writer can take it).
    `where` names the source in the error."""
    budget = [MAX_VALUES]

    def walk(node: Any, depth: int, ancestors: frozenset[int]) -> None:
        budget[0] -= 1
        if budget[0] < 0:
            raise ConfigError(
                f"{where} holds more than {MAX_VALUES} values (YAML aliases count each time)"
            )
        if isinstance(node, str):
            _require_text(node, where)
            return
        if isinstance(node, Mapping):
            children: Iterable[Any] = [*node.keys(), *node.values()]
        elif isinstance(node, list | tuple | set | frozenset):
            children = node
        else:
            return
        if id(node) in ancestors:
            raise ConfigError(f"{where} contains itself (a YAML alias inside its own anchor)")
        if depth >= MAX_DEPTH:
            raise ConfigError(f"{where} is nested more than {MAX_DEPTH} levels deep")
        inner = ancestors | {id(node)}
        for child in children:
            walk(child, depth + 1, inner)

    walk(value, 0, frozenset())


def _require_text(text: str, where: str) -> None:
    problem = not_text(text)
    if problem:
        raise ConfigError(f"{where}: '{one_line(text, 160)}' {problem}")


def not_text(text: str) -> str:
    """Why `text` cannot be a config value ('' when it can): what a run refuses, as it could
    not save it in config.yaml. A name read from the system with bytes that are not UTF-8
    (`latin\\xe9`, which Python reads as lone surrogates) says so, with what to do."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        if all(c < "\ud800" or "\udc80" <= c <= "\udcff" or c > "\udfff" for c in text):
            return (
                "holds bytes that are not UTF-8, and a run saves its settings as UTF-8 text "
                "(config.yaml); give the file or folder a UTF-8 name"
            )
        return "is not valid Unicode text (undecodable bytes, or a lone surrogate escape)"
    return ""


def without_paths(value: Any) -> Any:
    """Config data (a section's `model_dump()`) as JSON data with every path replaced by
    "<path>": what a setting is, wherever its files are (cache keys of moved data)."""
    if isinstance(value, Path):
        return "<path>"
    if isinstance(value, Mapping):
        return {str(k): without_paths(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_paths(v) for v in value]
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def parse_value(text: str) -> Any:
    """Parse the right-hand side of `key=value` as YAML (`ConfigLoader`): numbers, bools,
    null, [lists], {maps}."""
    try:
        value = yaml.load(text, Loader=ConfigLoader) if text.strip() else None
    except DuplicateKeyError:
        raise  # `{a: 1, a: 2}` is a map that loses a value, not text: `parse_override` says so
    except Exception:  # YAMLError, or what a constructor raised (see `load_yaml`)
        return text  # not YAML (an odd path, `2020-99-99`): keep it as written
    if isinstance(value, float):  # a text key keeps `1.10` as typed, not as 1.1
        return TypedFloat(value, text.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return TypedInt(value, text.strip())
    return value


def _refuse_spaced_equals(items: list[str]) -> None:
    """`trainer.steps = 5` (or `trainer.steps =5`, `trainer.steps= 5`) reaches us as several
    arguments: one line that shows the override without the spaces, not one about a piece."""
    for i, item in enumerate(items[:-1]):
        nxt = items[i + 1]
        before = "=" not in item and nxt.startswith("=")
        after = item.endswith("=") and item.count("=") == 1 and "=" not in nxt
        if before or after:
            rest = items[i + 2] if nxt == "=" and i + 2 < len(items) else ""
            typed = " ".join(p for p in (item, nxt, rest) if p)
            joined = "".join((item, nxt, rest))
            raise ConfigError(
                f"'{one_line(typed, 100)}': no spaces around '=' (the shell splits there); "
                f"write {one_line(joined, 100)}"
            )


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split `a.b=value` into (['a', 'b'], parsed value)."""
    _require_text(item, "override")  # argv holds undecodable bytes as lone surrogates
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(
            f"'{one_line(item, 100)}' is not an override; write key=value (e.g. trainer.steps=100)"
        )
    parts = key.split(".")
    if any(not p for p in parts):
        raise ConfigError(f"'{one_line(key, 100)}' is not a valid key (empty part between dots)")
    if not value.strip():  # `data.path=$DATA` with DATA unset trained on the embedded data
        raise ConfigError(
            f"{one_line(key, 100)}= has no value (an empty shell variable?): give one, or "
            "leave the key out"
        )
    try:
        parsed = parse_value(value)
    except DuplicateKeyError as exc:
        raise ConfigError(
            f"{one_line(key, 100)}={one_line(value.strip(), 60)}: names the key '{exc.key}' "
            "twice; give each key once"
        ) from None
    check_tree(parsed, f"the value of '{one_line(key, 100)}'")
    return parts, parsed


def set_dotted(target: dict[str, Any], path: list[str], value: Any) -> None:
    """Set `target[a][b]... = value`, creating dicts along the way.

    A single value met on the way (`trainer=10 trainer.steps=5`), or given for a key that
    already holds keys (`data.path=X data=phantom`), is kept beside them (`sources.SHORTHAND`):
    a section's shorthand takes it, in either order, and `expand_shorthands` refuses it
    anywhere else in one line. Replacing it dropped an invalid value without a word."""
    node = target
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {} if child is None else {SHORTHAND: child}
            node[part] = child
        node = child
    held = node.get(path[-1])
    if isinstance(held, dict) and held and value is not None and not isinstance(value, Mapping):
        node[path[-1]] = {**held, SHORTHAND: value}
    else:
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
    """Read a UTF-8 YAML config file into a dict; a one-line error for a file that is missing,
    unreadable, not UTF-8, not YAML, or not a mapping of keys. The file is untrusted input."""
    if not str(path):
        raise ConfigError("a config file path is empty; give the path of a YAML file")
    p = Path(path)
    shown = one_line(p, 200)
    try:
        if p.is_dir():
            raise ConfigError(f"config file '{shown}' is a folder; give the path of a YAML file")
    except OSError as exc:  # a name too long for the file system, no permission...
        raise ConfigError(f"config file '{shown}' cannot be read: {exc.strerror or exc}") from None
    try:  # a FIFO or /dev/zero is refused, not read forever
        data = read_regular(p, MAX_CONFIG_BYTES, "config file")
    except UsageError as exc:
        raise ConfigError(str(exc)) from None
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")  # a byte-order mark is harmless
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"config file '{shown}' is not UTF-8 text (byte 0x{data[exc.start]:02x} at line "
            f"{line}); save it as UTF-8"
        ) from None
    try:
        loaded = yaml.load(text, Loader=ConfigLoader)
    except DuplicateKeyError as exc:
        raise ConfigError(exc.said_of(f"config file '{shown}'")) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        tag = re.search(r"for the tag '([^']*)'", str(getattr(exc, "problem", "")))
        if isinstance(exc, yaml.constructor.ConstructorError) and tag:
            raise ConfigError(
                f"config file '{shown}' uses the YAML tag "
                f"{one_line(tag.group(1).replace('tag:yaml.org,2002:', '!!'), 60)}{where}; "
                "configs hold plain values (numbers, text, lists, maps), never objects"
            ) from None
        if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow
            line = text[: exc.position].count("\n") + 1
            char = (
                exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or " ")
            )
            where = f": control character U+{char:04X} at line {line}"
        raise ConfigError(f"config file '{shown}' is not valid YAML{where}") from None
    except RecursionError:
        raise ConfigError(f"config file '{shown}' is not valid YAML: nested too deeply") from None
    except Exception as exc:
        # PyYAML's constructors raise whatever the conversion raises for text that looks like a
        # tagged or implicit value but is not one: ValueError (`2020-99-99`, `!!int abc`),
        # KeyError (`!!bool maybe`), AttributeError (`!!timestamp x`)...
        raise ConfigError(
            f"config file '{shown}' holds a value YAML cannot build ({one_line(exc, 100)}); "
            "check its dates and !!tags"
        ) from None
    if loaded is None:  # an empty file (or only comments)
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(
            f"config file '{shown}' must hold a mapping of keys, not {type(loaded).__name__}"
        )
    check_tree(loaded, f"config file '{shown}'")
    return loaded


def merge_sources(
    items: Iterable[str],
    files: Iterable[str | Path] = (),
    sources: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Merge YAML `files` then `key=value` items (in order; `config=F` merges F in place).

    `sources`, when given, is filled with the dotted keys whose value a file gave, each naming
    that file ("config file 'x.yaml'"), so an error about the key can say where to fix it."""
    merged: dict[str, Any] = {}
    traced: dict[str, str] = {} if sources is None else sources

    def merge_file(name: str) -> None:
        nonlocal merged
        label = f"config file '{one_line(Path(name), 200)}'"
        data = nest_dotted(load_yaml(name), label)  # `trainer.steps: 10` is trainer: {steps: 10}
        check_tree(data, label)
        merged = merge_given(merged, data)
        for key, value in dotted_items(data):
            trace_key(traced, merged, key, value, label)

    for f in files:  # `--config=~/x.yaml` reaches us unexpanded, as `config=~/x.yaml` does
        merge_file(expand_path_text(str(f)))
    presets: list[Any] = []
    _refuse_spaced_equals(list(items))
    for item in items:
        path, value = parse_override(item)
        if path == ["preset"]:
            presets.append(value)
            _refuse_presets(presets)
        if path == [CONFIG_KEY]:
            # a path is text: `config=01` names the file 01, not 1 (YAML would make it a number)
            name = value if isinstance(value, str) else item.partition("=")[2].strip()
            if not name:
                raise ConfigError("config= needs the path of a YAML file (config=FILE.yaml)")
            merge_file(expand_path_text(name))
        else:
            set_dotted(merged, path, value)
            trace_key(traced, merged, ".".join(path), value, None)  # typed: it names itself
    return merged


def _refuse_presets(given: list[Any]) -> None:
    """A run takes one preset: a second `preset=` replaced the first without a word (preset=grid
    preset=tiny trained on the ring), and `preset=[grid,tiny]` was an unknown preset."""
    many = len(given) > 1 or isinstance(given[0], list)
    if many:
        shown = ", ".join(one_line(v, 40) for v in (given if len(given) > 1 else given[0]))
        raise ConfigError(
            f"preset: {shown}: a run takes one preset; give one, and the keys you want of "
            "another (ganhub config plugin=NAME preset=P prints the config it gives)"
        )


def dotted_items(raw: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every leaf of a nested mapping (an empty mapping is a leaf)."""
    for key, value in raw.items():
        if isinstance(value, Mapping) and value:
            yield from dotted_items(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def dotted_keys(raw: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The dotted path of every leaf of a nested mapping (an empty mapping is a leaf)."""
    return [key for key, _ in dotted_items(raw, prefix)]


def forget_key(sources: dict[str, str], key: str) -> None:
    """Drop `key`, the keys under it and those above it from `sources`: a later value replaced
    or changed them, so an error about them must not blame the file that gave them first."""
    for known in [
        k for k in sources if k == key or k.startswith(key + ".") or key.startswith(k + ".")
    ]:
        del sources[known]


def expand_shorthands(
    raw: dict[str, Any], model: type[BaseModel], prefix: str = ""
) -> dict[str, Any]:
    """Resolve `{"__shorthand__": v, ...}` left by `data=folder data.path=X` into the named field;
    a single value beside keys anywhere else is refused (`SingleValueError`)."""
    from pydantic import BaseModel

    from ganhub.config.messages import single_value_problem

    out: dict[str, Any] = {}
    fields = model.model_fields
    for key, value in raw.items():
        sub = fields[key].annotation if key in fields else None
        if isinstance(value, str | int | float) and getattr(sub, "shorthand", None):
            value = {SHORTHAND: value}
        if isinstance(value, dict):
            if SHORTHAND in value:
                value = dict(value)
                short = value.pop(SHORTHAND)
                name = getattr(sub, "shorthand", None)
                if not name:
                    message, about = single_value_problem(
                        f"{prefix}{key}", short, value, sub, known=key in fields
                    )
                    raise SingleValueError(message, about)
                value.setdefault(name, short)
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                value = expand_shorthands(value, sub, f"{prefix}{key}.")
        out[key] = value
    return out


def expand_named(
    raw: dict[str, Any], model: type[BaseModel], sources: Mapping[str, str] | None
) -> dict[str, Any]:
    """`expand_shorthands`, its refusal starting with the file that gave the key, when one did."""
    try:
        return expand_shorthands(raw, model)
    except SingleValueError as exc:
        where = source_of(exc.key, sources) if sources and exc.key else None
        if where is None:
            raise
        raise SingleValueError(f"{where}: {exc}", exc.key) from None


__all__ = [
    "CONFIG_KEY",
    "ConfigDumper",
    "ConfigLoader",
    "DuplicateKeyError",
    "deep_merge",
    "dotted_items",
    "dotted_keys",
    "dump_yaml",
    "expand_named",
    "load_yaml",
    "merge_sources",
    "not_text",
    "parse_override",
    "parse_value",
    "set_dotted",
]
