"""A pydantic `ValidationError` as the one line a user reads: the key, the bad value, what would
be valid, and the file that gave the key when one did."""

from __future__ import annotations

import itertools
import re
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from ganhub.config.sources import source_of
from ganhub.errors import did_you_mean, one_line

# How much one line names: a file of 500 unknown keys gave a 97 KB line that repeated the valid
# keys for each, and a text file read as YAML (`--config /etc/shadow`) echoed every line of it.
MAX_PROBLEMS = 4  # problems named before "... and N more problems"
MAX_UNKNOWN = 3  # unknown keys of one section named before "and N more"


def format_validation_error(
    exc: ValidationError, model: type[BaseModel], sources: Mapping[str, str] | None = None
) -> str:
    """Every problem in one line: the full dotted key, the bad value, what would be valid.

    `sources` maps dotted keys to where they came from ("config file 'x.yaml'",
    `overrides.merge_sources`): a problem of such a key starts with its source. Unknown keys
    of one section are named together; the line names at most MAX_PROBLEMS problems."""
    entries: list[tuple[str | None, str | list[str]]] = []  # (source, text or unknown keys)
    unknown: dict[tuple[str | None, tuple[str, ...]], list[str]] = {}
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc)
        source = source_of(key, sources) if sources and key else None
        if err["type"] == "extra_forbidden":
            keys = unknown.get((source, tuple(loc[:-1])))
            if keys is None:
                keys = unknown[(source, tuple(loc[:-1]))] = []
                entries.append((source, keys))
            keys.append(key)
            continue
        problem = _problem(err, loc, model)
        if not key and sources:  # a check of several keys: the key its message starts with
            named = key_of_message(problem)
            source = source_of(named, sources) if named else None
        if sources:
            source, problem = blame(problem, source, sources)
        entries.append((source, problem))
    shown = [
        (source, entry if isinstance(entry, str) else _unknown_keys(model, entry))
        for source, entry in entries[:MAX_PROBLEMS]
    ]
    parts = []
    for source, same in itertools.groupby(shown, key=lambda pair: pair[0]):
        text = "; ".join(line for _, line in same)
        parts.append(f"{source}: {text}" if source else text)
    hidden = len(entries) - len(shown)
    more = f"; ... and {hidden} more problem{'s' if hidden > 1 else ''}" if hidden else ""
    return "; ".join(parts) + more  # one line, as every usage error is


# The key a registry or cross-field error is about: an unknown name's list, the list that
# enabled the part a message starts with ("trick 'gp' does not suit loss ...": `tricks`, which a
# resume that typed tricks= gave, not the saved config.yaml), or the dotted key it starts with
# ("trainer.grad_accum=3 must divide trainer.batch_size=10").
_LIST_OF_NAMES = {"trick": "tricks", "loss": "loss", "logger": "loggers", "metric": "eval.metrics"}
_UNKNOWN_NAME = re.compile(r"unknown (trick|loss|logger|metric) '")
_NAMED_PART = re.compile(r"(trick|loss|logger|metric) '[^']*'")
_LEADING_KEY = re.compile(r"([A-Za-z_]\w*(?:\.\w+)*)[=: ]")


def key_of_message(message: str) -> str | None:
    """The config key an error message is about, or None (see _LEADING_KEY)."""
    unknown = _UNKNOWN_NAME.match(message) or _NAMED_PART.match(message)
    if unknown:
        return _LIST_OF_NAMES[unknown[1]]
    leading = _LEADING_KEY.match(message)
    return leading[1] if leading else None


_NAMED_KEY = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:\.\w+)+)=")


def blame(problem: str, source: str | None, sources: Mapping[str, str]) -> tuple[str | None, str]:
    """(what the line starts with, the problem) for a problem that `source` (a file, or None:
    the command line) is blamed for. When it names keys (`key=value`) that another source gave
    (a key typed now against a resumed run's config.yaml: "trainer.grad_accum=4 must divide
    trainer.batch_size=30"), the combination is no one file's: the line starts with the
    problem and names which of its keys each file gave, after it. Only the keys of what is
    wrong count, not of the remedy after its first '; ' ("...; or use optim.D.name=rmsprop")."""
    named = dict.fromkeys(_NAMED_KEY.findall(problem.split("; ", 1)[0]))
    given = {key: source_of(key, sources) for key in named}
    if len(given) < 2 or all(where == source for where in given.values()):
        return source, problem
    by_file = ", ".join(f"{key} from {where}" for key, where in given.items() if where)
    return None, f"{problem} ({by_file})"


def _unknown_keys(model: type[BaseModel], keys: list[str]) -> str:
    """'unknown key(s) ...; valid keys under ...' for unknown keys of one section."""
    loc = keys[0].split(".")[:-1]
    parent = _model_at(model, loc)
    valid = sorted(getattr(parent, "model_fields", {})) if parent else []
    where = f" under '{'.'.join(loc)}'" if loc else ""
    prefix = ".".join(loc) + "." if loc else ""
    named = [
        f"'{one_line(key, 100)}'{one_line(_suggestion(key, prefix, valid, parent), 120)}"
        for key in keys[:MAX_UNKNOWN]
    ]
    more = f" and {len(keys) - MAX_UNKNOWN} more" if len(keys) > MAX_UNKNOWN else ""
    head = "unknown key " if len(keys) == 1 else "unknown keys "
    return (
        head + ", ".join(named) + more + f"; valid keys{one_line(where, 120)}: "
        + (", ".join(valid) or "none")
    )  # fmt: skip


def _suggestion(key: str, prefix: str, valid: list[str], parent: type[BaseModel] | None) -> str:
    """' (did you mean ...?)' for an unknown key: the nested keys (up to 3) it spells with `_`
    for `.` (`trainer_steps`) or is the last part of (`steps`: trainer.steps), else a close
    valid key of its section; never the key itself."""
    name = key.removeprefix(prefix)
    # keys differ in case (optim.D, optim.G): spelling distance alone offered optim.G for optim.d
    if cased := [v for v in valid if v.lower() == name.lower() and v != name]:
        return f" (did you mean '{prefix}{cased[0]}'?)"
    # the section's own names, without the shared prefix: 'model.' counted as alike made
    # model.z_dm look like model.g_norm
    near = did_you_mean(name, [v for v in valid if v != name])
    close = near.replace(" (did you mean '", f" (did you mean '{prefix}", 1) if near else ""
    nested = [k for k in _nested_keys(parent) if "." in k]
    found = [k for k in nested if k.replace(".", "_") == name] or [
        k for k in nested if k.rsplit(".", 1)[-1] == name
    ]
    if found and len(found) <= 3:
        return " (did you mean " + " or ".join(f"'{prefix}{k}'" for k in found) + "?)"
    return close


def _nested_keys(model: type[BaseModel] | None, depth: int = 0) -> list[str]:
    """The dotted keys of every field of `model` and of its sections, below it."""
    keys: list[str] = []
    fields = model.model_fields if model is not None else {}
    for name, field in fields.items():
        keys.append(name)
        sub = as_model(field.annotation)
        if sub is not None and depth < 4:
            keys += [f"{name}.{k}" for k in _nested_keys(sub, depth + 1)]
    return keys


def _problem(err: Any, loc: list[str], model: type[BaseModel]) -> str:
    """One pydantic error (other than an unknown key) as `key=value: what is wrong`."""
    key = ".".join(loc)
    msg = one_line(err["msg"].removeprefix("Value error, "))
    missing = err["type"] == "missing"  # its input is the section that lacks the key
    if missing and len(loc) > 1 and isinstance(err["loc"][-1], int):  # a short tuple
        count = _tuple_length(_model_at(model, loc[:-2]), loc[-2])
        need = f"needs {count} items" if count else f"item {loc[-1]} is missing"
        return f"{one_line('.'.join(loc[:-1]), 100)}={_short(err.get('input'))}: {need}"
    if key and isinstance(err.get("input"), dict) and not missing:
        field = _leaf_field(model, loc)
        if field is not None and not err["input"]:
            return f"{one_line(key, 100)}={{}}: {one_line(key, 100)} is {_kind(field.annotation)}"
        if field is not None:  # `trainer.steps.x=3`: keys under a number
            sub, value = _first_leaf(err["input"])
            return (
                f"{one_line(key, 100)}.{one_line(sub, 60)}={_short(value)}: {one_line(key, 100)} "
                f"is {_kind(field.annotation)}, it has no key '{one_line(sub.split('.')[0], 60)}'"
            )
    if not key or (isinstance(err.get("input"), dict) and not missing):
        return msg  # a check across a section's keys: its message names them
    section = _section_annotation(model, loc) if err["type"] == "model_type" else None
    if section is not None:  # `trainer=3`: pydantic names the section's class, not its keys
        return single_value_problem(key, err.get("input"), {}, section)[0]
    if not missing and err.get("input", "") is None:  # `key=` typed empty
        return f"{one_line(key, 100)} is empty and needs a value"
    shown = "" if missing else f"={_short(err.get('input'))}"
    msg = error_wording(err, _leaf_field(model, loc))
    if err["type"] == "literal_error" and isinstance(err.get("input"), str):  # name=Adam
        msg += _choice_hint(err["input"], _leaf_field(model, loc))
    if err["type"] == "list_type" and isinstance(err.get("input"), str):  # tricks=ema
        fix = _as_list(err["input"])
        if fix is not None:  # `tricks=[ema` needs `[ema]`, not `[[ema]`
            msg += f" (write {one_line(key, 100)}={one_line(fix, 100)})"
    return f"{one_line(key, 100)}{shown}: {msg}"


# pydantic's own words ("Input should be greater than 0") say what, in its voice, not which
# values the key takes: each type a user can meet from a key, a YAML file or train(**kwargs),
# as what the key must be. A field's other bound joins the one broken ("above 0 and below 1").
_BOUNDS = {"gt": "above {}", "ge": "at least {}", "lt": "below {}", "le": "at most {}"}
_WORDING = {
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "missing": "needs a value (it has no default)",
    "multiple_of": "must be a multiple of {multiple_of}",
    "string_pattern_mismatch": "must match the pattern '{pattern}'",
    "too_long": "must have at most {max_length} item{s}, not {actual_length}",
    "too_short": "must have at least {min_length} item{s}, not {actual_length}",
    "string_too_long": "must be at most {max_length} character{s} long",
    "string_too_short": "must be at least {min_length} character{s} long",
}


def error_wording(err: Any, field: Any = None) -> str:
    """What one pydantic error says a value must be, in ganhub's words, without the key:
    "must be above 0", "must be at least 1 and at most 64", "must be one of adam, sgd".
    `field` (the key's FieldInfo, when known) adds its other bound to a range. An error of a
    type not listed (a validator's own message) keeps its text. Plugins that validate a value
    against a config field themselves (a search space's ends) word their refusals with it:
    `f"{key}={value}: {error_wording(exc.errors()[0], field)}"`, as `ganhub run` does."""
    kind, ctx = err["type"], err.get("ctx") or {}
    bound = {"greater_than": "gt", "greater_than_equal": "ge", "less_than": "lt"}.get(
        kind, "le" if kind == "less_than_equal" else None
    )
    if bound is not None and bound in ctx:
        limits = {bound: ctx[bound]} | _field_bounds(field, bound)
        parts = [_BOUNDS[b].format(_number(limits[b])) for b in _BOUNDS if b in limits]
        return "must be " + " and ".join(parts)
    if kind == "literal_error" and "expected" in ctx:
        head, _, last = one_line(ctx["expected"]).rpartition(" or ")  # 'a', 'b' or 'c'
        return "must be one of " + (f"{head}, {last}" if head else last)
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind in _WORDING:
        count = ctx.get("max_length", ctx.get("min_length"))
        try:
            return _WORDING[kind].format(**ctx, s="" if count == 1 else "s")
        except (KeyError, IndexError, ValueError):  # a pydantic release with other context
            pass
    return one_line(err["msg"].removeprefix("Value error, "))


def _field_bounds(field: Any, broken: str) -> dict[str, Any]:
    """The bound of `field` on the side other than `broken` (gt/ge against lt/le), if it has one."""
    other = ("lt", "le") if broken in ("gt", "ge") else ("gt", "ge")
    found: dict[str, Any] = {}
    for item in getattr(field, "metadata", None) or ():
        for name in other:
            value = getattr(item, name, None)
            if isinstance(value, int | float) and not isinstance(value, bool):
                found[name] = value
    return found


def _number(value: Any) -> str:
    """A bound as a user would type it: 0 not 0.0, 1e-08 kept."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return one_line(value)


def single_value_problem(
    key: str, value: Any, keys: Mapping[str, Any], annotation: Any, *, known: bool = True
) -> tuple[str, str]:
    """The one line refusing a single `value` given for `key` beside `keys` under it, where
    the field (of type `annotation`; `known`: the section has it) takes only one of them, and
    the dotted key the line is about (of the value, or of the first key under a leaf)."""
    shown = f"{one_line(key, 100)}={_short(value)}"
    field_model = as_model(annotation)
    if known and field_model is not None:
        valid = ", ".join(sorted(field_model.model_fields)) or "none"
        return (
            f"{shown}: {one_line(key, 100)} takes keys ({one_line(key, 100)}.KEY=VALUE), not a "
            f"single value; valid keys under '{one_line(key, 100)}': {valid}"
        ), f"{key}.__shorthand__"
    sub, leaf = _first_leaf(keys)
    if known and keys and not _takes_mapping(annotation):
        return (
            f"{one_line(key, 100)}.{one_line(sub, 60)}={_short(leaf)}: {one_line(key, 100)} is "
            f"{_kind(annotation)}, it has no key '{one_line(sub.split('.')[0], 60)}'"
        ), f"{key}.{sub}"
    return (
        f"{shown}: {one_line(key, 100)} is given a single value and keys under it "
        f"({one_line(key, 100)}.{one_line(sub, 60)}=...); give one or the other"
    ), f"{key}.__shorthand__"


def _first_leaf(value: Any) -> tuple[str, Any]:
    """The dotted path and value of the first leaf of a nested mapping (keys of any type)."""
    path = []
    while isinstance(value, Mapping) and value:
        key, value = next(iter(value.items()))
        path.append(str(key))
    return ".".join(path), value


def _as_list(text: str) -> str | None:
    """`ema`, `[ema`, `a,b]` as the list they mean (`[ema]`, `[a,b]`); None when the text is
    more than brackets away from a list of plain names, so no guess is offered."""
    names = [name.strip() for name in text.strip().lstrip("[").rstrip("]").split(",")]
    if all(re.fullmatch(r"[\w.+-]+", name) for name in names):
        return "[" + ",".join(names) + "]"
    return None


def _leaf_field(model: type[BaseModel], loc: list[str]) -> Any:
    """The field at `loc` when it holds one value (a number, text, a list), not keys; else None."""
    parent = _model_at(model, loc[:-1])
    field = parent.model_fields.get(loc[-1]) if parent is not None else None
    if field is None or as_model(field.annotation) is not None:
        return None
    return None if _takes_mapping(field.annotation) else field


def _section_annotation(model: type[BaseModel], loc: list[str]) -> Any:
    """The type of the field at `loc` when it is a config section (keys under it), else None."""
    parent = _model_at(model, loc[:-1])
    field = parent.model_fields.get(loc[-1]) if parent is not None else None
    return field.annotation if field is not None and as_model(field.annotation) else None


def _choice_hint(typed: str, field: Any) -> str:
    """' (did you mean 'adam'?)' for a choice typed in another case ('Adam') or nearly."""
    annotations = [field.annotation, *typing.get_args(field.annotation)] if field else []
    choices = [
        str(choice)
        for annotation in annotations
        if typing.get_origin(annotation) is typing.Literal
        for choice in typing.get_args(annotation)
    ]
    same = [choice for choice in choices if choice.lower() == typed.lower()]
    return f" (did you mean '{same[0]}'?)" if same else did_you_mean(typed, choices)


def _takes_mapping(annotation: Any) -> bool:
    if annotation in (dict, Any) or typing.get_origin(annotation) in (dict, Mapping):
        return True
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    return union and any(_takes_mapping(a) for a in typing.get_args(annotation))


def _kind(annotation: Any) -> str:
    """What a leaf field holds, in words: 'a number (int)', 'a list ([str])'..."""
    text = type_text(annotation)
    options = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        options = [annotation]
    first = options[0] if options else annotation
    if typing.get_origin(first) is typing.Literal:
        return f"one of {text}"
    if typing.get_origin(first) in (list, tuple):
        return f"a list ({text})"
    if first in (int, float):
        return f"a number ({text})"
    if first is bool:
        return f"true or false ({text})"
    return f"a single value ({text})"


def _tuple_length(model: type[BaseModel] | None, name: str) -> int | None:
    """How many items the fixed-length tuple field `name` of `model` takes (None: not one)."""
    field = model.model_fields.get(name) if model is not None else None
    for option in (*typing.get_args(field.annotation), field.annotation) if field else ():
        args = typing.get_args(option)
        if typing.get_origin(option) is tuple and args and Ellipsis not in args:
            return len(args)
    return None


def _short(value: Any) -> str:
    """A bad value as the user typed it: a string quoted, a list of names as `[ema,r1]`."""
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        text = one_line("[" + ",".join(map(str, value)) + "]")
    else:
        text = repr(value) if isinstance(value, str) else one_line(value)
    return text if len(text) < 60 else text[:57] + "..."


def _model_at(model: type[BaseModel] | None, path: list[str]) -> type[BaseModel] | None:
    for part in path:
        if model is None:
            return None
        field = model.model_fields.get(part)
        model = as_model(field.annotation) if field else None
    return model


def as_model(annotation: Any) -> type[BaseModel] | None:
    """The config section class a field's type holds (through Optional/unions), or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = as_model(arg)
        if found:
            return found
    return None


def type_text(annotation: Any) -> str:
    """A field's type as `--help` and errors show it: `int`, `adam|sgd`, `[str]`, `float?`."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "|".join(str(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):  # `int|auto`; `float?` when None is one
        members = typing.get_args(annotation)
        shown = "|".join(type_text(a) for a in members if a is not type(None))
        return shown + "?" if type(None) in members else shown
    if origin in (list, tuple):
        inner = ",".join(type_text(a) for a in typing.get_args(annotation) if a is not Ellipsis)
        return f"[{inner}]"
    return getattr(annotation, "__name__", str(annotation))


__all__ = [
    "MAX_PROBLEMS", "MAX_UNKNOWN", "as_model", "blame", "error_wording",
    "format_validation_error", "key_of_message", "single_value_problem", "type_text",
]  # fmt: skip
