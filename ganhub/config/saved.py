"""A saved run's config as a resume (or `ganhub.load`, `ganhub adapt`) reads it: its
config.yaml, the record of the keys its user gave, what a resume keeps and may not change.

A run directory is untrusted input (a folder copied from a shared drive): its config.yaml is
read only once `refuse_foreign_entries` found no link or FIFO in it, and the record of the
user's keys (`GIVEN_FILE`, written as the run starts) is read as at most `MAX_GIVEN_BYTES` of
JSON holding dotted keys, or refused in one line naming it. A run that has no record (one an
earlier ganhub wrote) knows only the keys typed again at its resume, as before.
"""

from __future__ import annotations

import json
import os
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ganhub.config.overrides import load_yaml
from ganhub.config.rederive import ABSENT, value_at
from ganhub.config.schema import expand_path_text, holds_path
from ganhub.config.sources import as_typed, nest_dotted
from ganhub.errors import ConfigError, UsageError, one_line
from ganhub.runfiles import (
    MAX_STATE_JSON,
    latest_checkpoint,
    read_regular,
    refuse_foreign_entries,
    runs_inside,
)

if typing.TYPE_CHECKING:
    from ganhub.config.schema import RunConfig
    from ganhub.domain import Domain

# beside config.yaml: the dotted keys the run's user gave (as key=value, in a YAML file or in
# the dict given to ganhub.api), told apart from defaults, presets and derived values
GIVEN_FILE = "given.json"
MAX_GIVEN_BYTES = 1 << 20  # a config of every key, each typed: a few KiB
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
# keys that say where a run comes from, not which setting the user chose
_NOT_SETTINGS = frozenset({"resume"})


def read_saved(run_dir: str | Path) -> dict[str, Any]:
    """The config.yaml of a run directory (`~` and `$VAR` expanded, as every path typed after
    `key=` is), or a one-line error saying it is not one."""
    saved = Path(expand_path_text(str(run_dir))) / "config.yaml"
    try:
        # a folder without one is no run, and is not walked (`ganhub export /` named /sbin as
        # a link to remove); a linked config.yaml is one, refused with the other links
        found = os.path.lexists(saved)
        if found and saved.parent.is_dir():  # links out of it, FIFOs: refused before reading
            refuse_foreign_entries(saved.parent)
        found = found and saved.is_file()
    except OSError as exc:  # a name too long for the file system...
        raise ConfigError(f"resume='{one_line(run_dir, 200)}': {exc.strerror or exc}") from None
    if not found and not os.path.lexists(saved.parent):
        raise ConfigError(f"'{one_line(run_dir, 200)}': no such run directory")
    holder = None if found else run_holding(saved.parent)
    if holder is not None:  # `resume=runs/x/config.yaml`, `ganhub sample runs/x/checkpoints`
        raise ConfigError(
            f"'{one_line(run_dir, 200)}' is not a run directory but is inside one: "
            f"give '{one_line(holder, 200)}'"
        )
    if not found:
        raise ConfigError(
            f"'{one_line(run_dir, 200)}' is not a ganhub run directory "
            f"({one_line(saved, 200)} is missing)" + runs_inside(saved.parent)
        )
    data = nest_dotted(load_yaml(saved), f"config file '{one_line(saved, 200)}'")
    data.pop("resume", None)
    return data


def run_holding(path: str | os.PathLike[str]) -> Path | None:
    """The nearest folder above `path` (a file or folder within a run: its config.yaml, its
    checkpoints/) that is a run directory, as the user would type it (relative when `path` is),
    or None. Only a regular config.yaml marks one: no link is followed."""
    absolute = Path(os.path.abspath(path))
    for folder in absolute.parents:
        config = folder / "config.yaml"
        try:
            if not config.is_symlink() and config.is_file():
                return folder if Path(path).is_absolute() else Path(os.path.relpath(folder))
        except OSError:  # a folder above that cannot be read: no run is known there
            return None
    return None


def given_record(keys: typing.Iterable[str]) -> str:
    """The text of `GIVEN_FILE` for the dotted keys the user gave (sorted; `resume` left out:
    it names the run, not a setting)."""
    kept = sorted({k for k in keys if k not in _NOT_SETTINGS and _DOTTED.fullmatch(k)})
    return json.dumps({"given": kept}, indent=1) + "\n"


def read_given(run_dir: str | Path) -> frozenset[str] | None:
    """The dotted keys a run's user gave, from its `GIVEN_FILE` (None: the run has none, as
    one an earlier ganhub wrote); a file that is not such a record is refused in one line.
    Call it after `read_saved`, which refuses a link or FIFO in the run directory."""
    path = Path(expand_path_text(str(run_dir))) / GIVEN_FILE
    if not os.path.lexists(path):
        return None
    shown = one_line(path, 200)
    # a FIFO, a folder, a file too large: refused in one line (a link: by `read_saved`)
    data = read_regular(path, MAX_GIVEN_BYTES, "the record of the keys the user gave")
    try:
        record = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # not UTF-8, not JSON
        record = None
    keys = record.get("given") if isinstance(record, dict) else None
    if not isinstance(keys, list) or not all(
        isinstance(k, str) and len(k) <= 200 and _DOTTED.fullmatch(k) for k in keys
    ):
        raise ConfigError(
            f"{shown} is not the record of the keys the user gave that ganhub writes (JSON: "
            '{"given": [dotted keys]}); remove it to resume without it (then only the keys '
            "typed again count as given)"
        )
    return frozenset(keys) - _NOT_SETTINGS


def kept_parts(raw: Mapping[str, Any], saved: Mapping[str, Any]) -> dict[str, Any]:
    """The loggers and metrics a resume uses: the user's, else the saved run's (None: every
    metric the run evaluated, its domain's defaults included)."""
    given_eval, saved_eval = (d.get("eval") for d in (raw, saved))
    metrics = (saved_eval or {}).get("metrics") if isinstance(saved_eval, dict) else None
    if isinstance(given_eval, dict) and "metrics" in given_eval:
        metrics = given_eval["metrics"]
    loggers = raw.get("loggers", saved.get("loggers"))
    return {
        "loggers": loggers if isinstance(loggers, list) else [],  # else: validation names it
        "metrics": metrics if isinstance(metrics, list) or metrics is None else [],
    }


def refuse_fixed_changes(
    domain: Domain, saved: Mapping[str, Any], user: Mapping[str, Any], origin: str
) -> None:
    """A resume that gives one of the domain's `resume_fixed_keys` another value than the run
    was trained with (its task), another conditioning mechanism or width, or another seed
    (it draws the data order, which a resume continues): refused, naming the trained value.
    That value is what the run's newest checkpoint records it was trained with, not what its
    config.yaml (`saved`, read from `origin`) says now, which an edit may have changed: a key
    typed back to the checkpoint's value resumes (and the resume writes it back into the
    file). A path key is compared as the run saves it (absolute, `~` expanded): the same file
    typed relative to the current folder is no change. A checkpoint from before the record,
    or none, leaves config.yaml as the reference;
    the resume's own check (`ganhub.engine.run_checkpoints.refuse_changed_fixed`) has the
    last word on the checkpoint it loads."""
    run_dir = Path(origin).parent
    record: tuple[str, dict[str, Any]] | None = None
    read = False
    resolved: tuple[dict[str, Any], dict[str, Any]] | None = None
    resolving = False
    for key in fixed_keys(domain):
        path = key.split(".")
        given, was = value_at(user, path), value_at(saved, path)
        if given is ABSENT:
            continue
        if not read:  # once, and only when a fixed key is typed
            record, read = recorded_fixed(run_dir), True
        trained = record[1].get(key, ABSENT) if record is not None else ABSENT
        if trained is ABSENT:
            trained = was
        if trained is ABSENT or given == trained:
            continue
        if _holds_path(domain.config_class, path) and _as_saved(given) == _as_saved(trained):
            continue  # the same file typed relative to here, or with ~: the run saved it absolute
        if not resolving:  # once, and only when a typed value differs from the trained one
            recorded = record[1] if record is not None else {}
            resolved, resolving = _resolved_pair(domain, saved, recorded, user), True
        if resolved is not None and resolved[0].get(key) == resolved[1].get(key):
            continue  # another spelling of the model trained (model.norm=auto is instance...)
        run = one_line(run_dir, 200)
        typed, shown = (one_line(as_typed(v), 60) for v in (given, trained))
        model = resolved[0].get(key, trained) if resolved is not None else trained
        model = one_line(as_typed(model), 60) if model != trained else ""
        means = f" ({shown} resolved to {model} for its model)" if model else ""
        edited = ""
        if record is not None and was is not ABSENT and was != trained:
            edited = (
                f" ({one_line(origin, 200)} was edited to {key}={one_line(as_typed(was), 60)} "
                f"after checkpoint {record[0]}: resume with {key}={shown}, which writes it back)"
            )
        raise ConfigError(
            f"{key}={typed}: {run} trained with {key}={shown}, and a resumed run's {key} "
            f"cannot change{means}{edited}; make a new run ({key}={typed} init_from={run} starts "
            "one from its weights where the change leaves their shapes as they are)"
        )


def recorded_fixed(run_dir: Path) -> tuple[str, dict[str, Any]] | None:
    """(name, record) of what the newest checkpoint of `run_dir` records it was trained with
    (its state.json's `fixed`, see `fixed_values`), read without its tensors; None when there
    is no checkpoint, or its record is absent (an earlier ganhub's), unreadable or not one:
    the resume that loads it says so."""
    try:
        newest = latest_checkpoint(run_dir / "checkpoints")
        if newest is None:
            return None
        text = read_regular(newest / "state.json", MAX_STATE_JSON, "state.json")
        meta = json.loads(text.decode("utf-8"))
    except (UsageError, OSError, ValueError, RecursionError):  # ValueError: not UTF-8, JSON
        return None
    state = meta.get("state") if isinstance(meta, dict) else None
    record = state.get("fixed") if isinstance(state, dict) else None
    if not _is_record(record):
        return None
    return newest.name, record


# keys no resume may change, beside the domain's `resume_fixed_keys`: the seed (it draws the
# data order a resume continues) and the conditioning mechanisms and width (they shape G and D)
FIXED_KEYS = ("seed", "condition.generator", "condition.discriminator", "condition.embed_dim")


def fixed_keys(domain: Domain) -> tuple[str, ...]:
    """The dotted keys a resume of a `domain` run may not change."""
    return (*FIXED_KEYS, *domain.resume_fixed_keys)


def fixed_values(domain: Domain, dumped: Mapping[str, Any]) -> dict[str, Any]:
    """{dotted key: value} of the keys a resume may not change, from a run config's JSON dump
    (`dumped`): what a checkpoint records it was trained with (a key the config lacks left out)."""
    found = {key: value_at(dumped, key.split(".")) for key in fixed_keys(domain)}
    return {key: value for key, value in found.items() if value is not ABSENT}


def resolved_fixed(domain: Domain, config: RunConfig) -> dict[str, Any]:
    """{dotted key: what it resolves to for the model} of the keys a resume of a run of the
    validated `config` may not change (`Domain.resume_value`; model.norm=auto: instance on an
    unpaired cyclegan run). Two values that resolve the same train the same model."""
    return {key: domain.resume_value(config, key) for key in fixed_keys(domain)}


def _resolved_pair(
    domain: Domain, saved: Mapping[str, Any], recorded: Mapping[str, Any], user: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """`resolved_fixed` of the config a run was trained with (`saved` with the checkpoint's
    `recorded` values, dotted keys) and of its resume (with the `user`'s keys over it); None
    when either does not validate (the resume's validation names what is wrong)."""
    from ganhub.config.overrides import deep_merge

    try:  # a damaged record (keys that nest into each other): compared as typed
        trained = deep_merge(saved, nest_dotted(recorded, "a checkpoint's record"))
    except UsageError:
        return None
    out = []
    for values in (trained, deep_merge(trained, user)):
        # the tricks' and loggers' options: sections the domain's own class does not hold
        own = {k: v for k, v in values.items() if k not in ("trick", "logger")}
        try:
            out.append(resolved_fixed(domain, domain.config_class.model_validate(own)))
        except (ValueError, TypeError, UsageError):  # pydantic's ValidationError: a ValueError
            return None
    return out[0], out[1]


def fixed_drift(
    recorded: Any,
    now: Mapping[str, Any],
    in_file: Mapping[str, Any] | None,
    resolved: typing.Callable[[Mapping[str, Any]], Mapping[str, Any] | None] | None = None,
) -> tuple[str, Any, Any, bool] | None:
    """The first key whose value `now` (`fixed_values` of the resumed config) differs from a
    checkpoint's record of what it was trained with (`recorded`, untrusted: anything but a
    dict of dotted keys raises ValueError; None: a checkpoint from before the record, which
    nothing is checked against): (key, value now, value recorded, whether `in_file`, the
    run's config.yaml as read, gives the value now). None when all agree. `resolved` gives
    `resolved_fixed` of the resumed config with some keys set to other values (None: it does
    not validate): a value that resolves as the recorded one does (model.norm=instance where
    the run trained with auto, which is instance there) agrees."""
    if recorded is None:
        return None
    if not _is_record(recorded):
        raise ValueError(
            f"its 'fixed' is {one_line(recorded, 60)}, not {{dotted key: value}} of the settings "
            "the run was trained with"
        )
    drifted = [key for key, value in now.items() if key in recorded and recorded[key] != value]
    if drifted and resolved is not None:
        trained = resolved({key: recorded[key] for key in drifted})
        current = resolved({})
        if trained is not None and current is not None:
            drifted = [key for key in drifted if trained.get(key) != current.get(key)]
    if not drifted:
        return None
    key = drifted[0]
    given = value_at(in_file, key.split(".")) if in_file is not None else ABSENT
    return key, now[key], recorded[key], given == now[key]


def config_field(section: Any, path: typing.Iterable[str]) -> Any:
    """The pydantic field of the dotted key `path` (its parts) in a config class, or None
    where the class has no such key (domains differ in their data section)."""
    from pydantic import BaseModel

    field = None
    for part in path:
        if not (isinstance(section, type) and issubclass(section, BaseModel)):
            return None
        field = section.model_fields.get(part)
        if field is None:
            return None
        section = field.annotation
    return field


def _holds_path(section: Any, path: list[str]) -> bool:
    """Whether the dotted key `path` of a config class is a path key (config.yaml and a
    checkpoint's record hold its value absolute)."""
    field = config_field(section, path)
    return field is not None and holds_path(field.annotation)


def _as_saved(value: Any) -> Any:
    """A path key's value as a run saves it (`with_absolute_paths`): `~` and `$VAR` expanded,
    made absolute from the current folder; a list of paths each so."""
    if isinstance(value, list):
        return [_as_saved(v) for v in value]
    if value is None or isinstance(value, bool | dict) or not str(value):
        return value
    return os.path.abspath(expand_path_text(str(value)))  # a path typed 1.10: its text


def _is_record(recorded: Any) -> typing.TypeGuard[dict[str, Any]]:
    """Whether `recorded` is a checkpoint's record of its fixed keys ({dotted key: value})."""
    return isinstance(recorded, dict) and all(
        isinstance(k, str) and _DOTTED.fullmatch(k) and _plain(v) for k, v in recorded.items()
    )


def _plain(value: Any) -> bool:
    """Whether `value` is a config value as JSON holds it (no tensor a damaged record names)."""
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):  # a key naming a section
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return value is None or isinstance(value, bool | int | float | str)


__all__ = [
    "FIXED_KEYS",
    "GIVEN_FILE",
    "MAX_GIVEN_BYTES",
    "config_field",
    "fixed_drift",
    "fixed_keys",
    "fixed_values",
    "given_record",
    "kept_parts",
    "read_given",
    "read_saved",
    "recorded_fixed",
    "refuse_fixed_changes",
    "resolved_fixed",
]
