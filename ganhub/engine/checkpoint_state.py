"""A checkpoint's state.json read back with its shape checked, part by part.

state.json is `{"step": N, "state": {...}}`: the training state with each tensor replaced by
`{"__tensor__": key}`, a reference into state.safetensors, each dict with keys that are not
text written as `{"__items__": [[key, value], ...]}` and each tuple as `{"__tuple__": [...]}`
(`ganhub.engine.checkpoint.flatten`). Run directories travel between people, so the file is
untrusted: an edited or damaged one raises `DamagedState`, whose text names the key and what
is wrong with it (`ganhub.engine.checkpoint.load` makes it one line naming the checkpoint),
never the bare text of a KeyError or TypeError.

Here too: `best.json`'s record (`Best`, `read_best`) and `better.json`'s (`read_directions`:
which way each score the run evaluated improves), equally untrusted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganhub.errors import UsageError, one_line
from ganhub.plural import counted
from ganhub.runfiles import MAX_STATE_JSON, read_regular

if TYPE_CHECKING:
    from torch import Tensor


class DamagedState(ValueError):
    """What is wrong with a state.json, as a clause whose subject is the file ("has no key
    'state'", "refers at state['tricks'] to tensor 't.9', which ..."), naming the key."""


def read_state(meta: Any, tensors: Mapping[str, Tensor]) -> tuple[int, dict[str, Any]]:
    """(step, training state) of a parsed state.json, its tensors taken from `tensors` (those
    of state.safetensors); `DamagedState` when any part is not what `save` writes."""
    if not isinstance(meta, dict):
        raise DamagedState(f"holds {_kind(meta)}, not an object with 'step' and 'state'")
    for key in ("step", "state"):
        if key not in meta:
            found = ", ".join(repr(k) for k in list(meta)[:4]) or "nothing"
            raise DamagedState(f"has no key '{key}' (it holds {one_line(found, 80)})")
    step = meta["step"]
    if type(step) is not int or step < 0:
        raise DamagedState(f"gives 'step' as {_kind(step)}, not a whole number of steps")
    if not isinstance(meta["state"], dict):
        raise DamagedState(f"gives 'state' as {_kind(meta['state'])}, not an object")
    return step, unflatten(meta["state"], tensors, "state")


def unflatten(obj: Any, tensors: Mapping[str, Tensor], where: str = "state") -> Any:
    """Inverse of `flatten`: the references of `obj` replaced by their tensors, markers by the
    dicts and tuples they stand for; `where` names `obj` in a `DamagedState` message."""
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            key = obj["__tensor__"]
            if not isinstance(key, str) or key not in tensors:
                raise DamagedState(
                    f"refers at {where} to tensor {_shown(key)}, which state.safetensors does "
                    "not hold"
                )
            return tensors[key]
        if "__items__" in obj:
            return _items(obj["__items__"], tensors, where)
        if "__tuple__" in obj:
            values = obj["__tuple__"]
            if not isinstance(values, list):
                raise DamagedState(f"has at {where} a '__tuple__' of {_kind(values)}, not a list")
            return tuple(unflatten(v, tensors, f"{where}[{i}]") for i, v in enumerate(values))
        return {k: unflatten(v, tensors, f"{where}[{_key_text(k)}]") for k, v in obj.items()}
    if isinstance(obj, list):
        return [unflatten(v, tensors, f"{where}[{i}]") for i, v in enumerate(obj)]
    return obj


def _items(pairs: Any, tensors: Mapping[str, Tensor], where: str) -> dict[Any, Any]:
    """A dict whose keys are not all text, from its [[key, value], ...] pairs."""
    if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
        raise DamagedState(f"has at {where} '__items__' that are not [key, value] pairs")
    out: dict[Any, Any] = {}
    for key, value in pairs:
        key = tuple(key) if isinstance(key, list) else key  # a tuple key is written as a list
        try:
            hash(key)
        except TypeError:
            raise DamagedState(
                f"has at {where} the key {_shown(key)}, which no dict can have"
            ) from None
        out[key] = unflatten(value, tensors, f"{where}[{_key_text(key)}]")
    return out


def _key_text(key: Any) -> str:
    return one_line(repr(key), 60)


def _shown(value: Any) -> str:
    return one_line(repr(value), 60)


def _kind(value: Any) -> str:
    """'a list', 'the text 'x'', 'null': a JSON value as a sentence says it."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"the text {_shown(value)}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {_shown(value)}"
    if isinstance(value, dict):
        return "an object"
    return "a list" if isinstance(value, list) else type(value).__name__


# -- the best checkpoint's record (trainer.keep_best) ------------------------------------

BEST = "best.json"  # checkpoints/best.json, the record of the best checkpoint


@dataclass(frozen=True)
class Best:
    """The checkpoint kept for the best value of a metric so far."""

    metric: str
    step: int
    value: float
    better: str  # "lower" or "higher"

    @property
    def name(self) -> str:
        """The step directory holding it."""
        return f"step_{self.step:07d}"

    def beaten_by(self, value: float) -> bool:
        """Whether `value` is strictly better (a tie keeps the earlier checkpoint)."""
        if not math.isfinite(value):
            return False
        return value < self.value if self.better == "lower" else value > self.value


def read_best(directory: Path) -> Best | None:
    """The best-checkpoint record under `directory`, or None when there is none.

    The file is untrusted (run directories travel between people): anything but the exact
    shape written by `write_best` raises a one-line `UsageError`, and the step directory is
    derived from the integer step, never read as a path.
    """
    path = directory / BEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UsageError(f"'{path}' is unreadable: {str(exc).splitlines()[0]}") from None
    fields = data if isinstance(data, dict) else {}
    metric, step, value = fields.get("metric"), fields.get("step"), fields.get("value")
    better = fields.get("better")
    if not (
        isinstance(metric, str)
        and 0 < len(metric) <= 100
        and metric.isprintable()
        and type(step) is int
        and step >= 0
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and better in ("lower", "higher")
    ):
        raise UsageError(f"'{path}' is not a best-checkpoint record (metric, step, value, better)")
    return Best(metric, step, float(value), str(better))


# -- which way each evaluated score improves (the run's own record) ----------------------

# checkpoints/better.json: {"better": {key: "lower", "higher" or null}}, each key a run's
# evaluation reported with the direction the metric reporting it declared (null: a count, no
# score); what `ganhub report RUN RUN` reads, so a comparison needs no metric installed
DIRECTIONS = "better.json"
MAX_DIRECTIONS = 1000  # keys a record holds at most (one with more is not ganhub's)
MAX_DIRECTION_KEY = 200  # characters of one key
MAX_DIRECTIONS_BYTES = 1 << 20  # a larger file is not read


def directions_in(data: Any) -> dict[str, str | None]:
    """The {key: "lower", "higher" or None} of a parsed better.json; a ValueError whose text
    (a clause: "holds a list") says what is wrong when it is not the shape that
    `ganhub.engine.best.record_directions` writes."""
    better = data.get("better") if isinstance(data, dict) else None
    if not isinstance(better, dict):
        found = _kind(data) if not isinstance(data, dict) else f"{_kind(better)} as 'better'"
        raise ValueError(f'holds {found}, not {{"better": {{key: direction}}}}')
    if len(better) > MAX_DIRECTIONS:
        raise ValueError(f"holds {len(better):,} keys, more than {MAX_DIRECTIONS:,}")
    for key, way in better.items():
        if not direction_key(key):
            raise ValueError(f"holds the key {_shown(key)}, which no metric reports")
        if way not in ("lower", "higher", None):
            raise ValueError(f'gives {_shown(key)} {_kind(way)}, not "lower", "higher" or null')
    return dict(better)


def direction_key(key: Any) -> bool:
    """Whether `key` may be a key of better.json: short printable text."""
    return isinstance(key, str) and 0 < len(key) <= MAX_DIRECTION_KEY and key.isprintable()


def read_directions(directory: Path) -> dict[str, str | None]:
    """The better.json record under `directory` ({} when there is none); a one-line
    `UsageError` naming the file when it is anything but a record `directions_in` accepts."""
    path = directory / DIRECTIONS
    if not path.exists() and not path.is_symlink():
        return {}
    data = read_regular(path, MAX_DIRECTIONS_BYTES, "the record of which way scores improve")
    try:
        return directions_in(json.loads(data))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        problem = "is not valid JSON"
    except ValueError as exc:
        problem = str(exc)
    raise UsageError(
        f"'{one_line(path, 200)}' is not a record of which way each score improves: it {problem}"
    )


# -- a checkpoint that does not fit the model a resume builds --------------------------------

# keys that never shape a run's weights: a resume may change them, and a checkpoint that does
# not fit is never their doing
_NOT_SHAPES = frozenset({
    "preset", "seed", "deterministic", "device", "precision", "out_dir", "name", "resume",
    "init_from", "loss", "optim", "trainer", "eval", "loggers", "logger",
})  # fmt: skip
_SHOWN_CHANGES = 3  # changed keys a refusal names before "and N more"


def misfit_line(run_dir: Path, checkpoint: str, mismatch: str, config: Any) -> str:
    """The line refusing `resume=run_dir` when checkpoint `checkpoint` does not fit the model
    (`mismatch`: `checkpoint_fit.mismatch`'s words), naming what differs and where: each key
    that may shape the model which the resume sets otherwise than the run's config.yaml (the
    value typed now and the run's), or, when it sets none, that file, which then no longer
    holds what the run was trained with (edited since the checkpoint was written)."""
    return _misfit(run_dir, checkpoint, f"checkpoint {checkpoint}", "the model", mismatch, config)


def optimizer_misfit_line(run_dir: Path, checkpoint: str, mismatch: str, config: Any) -> str:
    """`misfit_line` for the optimizer states of checkpoint `checkpoint` that do not fit this
    resume's optimizers (`mismatch`: `optimizer_mismatch`'s words): the keys that change
    which parameters each optimizer trains (tricks such as freeze_d, model keys), or the
    run's config.yaml when the resume changes none."""
    what = f"the optimizer state of checkpoint {checkpoint}"
    return _misfit(run_dir, checkpoint, what, "the optimizers", mismatch, config)


def _misfit(
    run_dir: Path, checkpoint: str, what: str, part: str, mismatch: str, config: Any
) -> str:
    """The refusal of `misfit_line` (`what`, of `checkpoint`, does not fit `part`)."""
    from ganhub.config.overrides import dotted_items, load_yaml
    from ganhub.config.schema import with_absolute_paths
    from ganhub.config.sources import nest_dotted

    file = one_line(run_dir / "config.yaml", 200)
    now = dict(dotted_items(with_absolute_paths(config, config.model_dump(mode="json"))))
    try:  # the file the resume read, not yet rewritten (the run writes it once restored)
        saved = dict(dotted_items(nest_dotted(load_yaml(run_dir / "config.yaml"), file)))
    except Exception:  # removed or damaged since: the checkpoint's words are all there is
        saved = {}
    tricks = set(now.get("tricks") or []) & set(saved.get("tricks") or [])
    changed = [
        key
        for key in [*now, *(k for k in saved if k not in now)]
        if key.split(".")[0] not in _NOT_SHAPES
        # another trick's options follow `tricks`, which names the change; the options of a
        # trick the file names without them were not typed now: the file was edited
        and not (key.startswith("trick.") and key.split(".")[1] not in tricks)
        and not (key.startswith("trick.") and key not in saved)
        # an empty section (`trick: {}` of a run without tricks) holds no setting
        and not any(isinstance(side.get(key), dict) for side in (now, saved))
        and now.get(key, _ABSENT) != saved.get(key, _ABSENT)
    ]
    head = f"resume={one_line(run_dir, 200)}: {what} does not fit"
    if not saved:
        return f"{head} {part} of this resume ({mismatch}); resume with the run's settings"
    edited = _edited_since(run_dir / "checkpoints" / checkpoint, saved) if not changed else []
    if edited:  # the checkpoint's record of what it was trained with names the edit
        named = [f"{key}={_text(saved[key])} (trained: {_text(was)})" for key, was in edited]
        more = len(named) - _SHOWN_CHANGES
        named = named[:_SHOWN_CHANGES] + ([f"and {more} more"] if more > 0 else [])
        return (
            f"{head} {part} {file} describes ({mismatch}), and this resume changes none of "
            "its keys: the file no longer holds the settings the run was trained with (edited "
            f"since {checkpoint} was written): it gives {', '.join(named)}; put the trained "
            "values back in it"
        )
    if not changed and part == "the model":
        return (
            f"{head} {part} {file} describes ({mismatch}), and this resume changes none of "
            "its model's keys: the file no longer holds the settings the run was trained with "
            "(edited since?); put them back in it"
        )
    if not changed:  # torch's own numbering, kept whole: an edit of one file or the other
        step = what.rpartition(" ")[2]
        return (
            f"{head} {part} {file} describes ({mismatch}), and this resume changes none of "
            "its keys: either the file no longer holds the settings the run was trained with "
            f"(edited since? put them back in it) or {step}'s state.json was edited (remove "
            f"{step} to resume from the checkpoint before it)"
        )
    named = [
        f"{key}={_text(now.get(key, _ABSENT))} (the run's: {_text(saved.get(key, _ABSENT))})"
        for key in changed[:_SHOWN_CHANGES]
    ]
    more = len(changed) - _SHOWN_CHANGES
    named += [f"and {more} more"] if more > 0 else []
    return (
        f"{head} {part} this resume builds ({mismatch}): it sets {', '.join(named)}, "
        f"where {file} holds the run's settings; resume without changing them (a new run with "
        f"init_from={one_line(run_dir, 200)} starts from its weights)"
    )


# the record of the settings that may shape a run's model (`shaping_settings`): a few KiB
MAX_SHAPING_JSON = 64 << 10


def shaping_settings(config: Any) -> dict[str, Any]:
    """{dotted key: value} of the settings of a run's `config` that may shape its model or
    which parameters its optimizers train (every key but those of `_NOT_SHAPES`; paths
    absolute, as config.yaml keeps them): what a checkpoint records it was trained with
    (state.json's `shaping`), so that one that does not fit the model an edited config.yaml
    describes names the key edited. {} when the record would not be small."""
    from ganhub.config.overrides import dotted_items
    from ganhub.config.schema import with_absolute_paths

    dumped = with_absolute_paths(config, config.model_dump(mode="json"))
    record = {
        key: value
        for key, value in dotted_items(dumped)
        if key.split(".")[0] not in _NOT_SHAPES and not isinstance(value, dict)
    }
    return record if len(json.dumps(record)) <= MAX_SHAPING_JSON else {}


def _edited_since(step_dir: Path, saved: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(key, value trained) of each key the run's config.yaml (`saved`, dotted) gives
    otherwise than checkpoint `step_dir` records it was trained with (`shaping_settings`);
    [] when none does, or the checkpoint has no such record (an earlier ganhub's) or an
    unreadable one: its state.json is untrusted, and this only names what to put back."""
    try:
        text = read_regular(step_dir / "state.json", MAX_STATE_JSON, "state.json")
        meta = json.loads(text.decode("utf-8"))
    except (UsageError, OSError, ValueError, RecursionError):
        return []
    state = meta.get("state") if isinstance(meta, dict) else None
    record = state.get("shaping") if isinstance(state, dict) else None
    if not isinstance(record, dict):
        return []
    return [
        (key, was)
        for key, was in record.items()
        if isinstance(key, str) and key in saved and saved[key] != was
    ]


# -- optimizer states that do not fit the optimizers a resume builds -------------------------


def optimizer_mismatch(
    optimizers: Mapping[str, Any], saved: Any, names: Mapping[int, str] | None = None
) -> str | None:
    """How a checkpoint's optimizer states (`saved`: its state['optimizers']) do not fit the
    torch optimizers a resume built (`optimizers`, by group), in words: a group it holds no
    state for, another number of param groups, another number of parameters, a moment of
    another shape than its parameter (named from `names`, by id). None when they fit.
    `DamagedState` when a state is not what torch's `state_dict()` writes (parameters
    numbered 0 to N-1 across the param groups, a state per parameter at most)."""
    if not isinstance(saved, dict):
        raise DamagedState(f"gives state['optimizers'] as {_kind(saved)}, not an object")
    words: list[str] = []
    for group, optimizer in optimizers.items():
        if group not in saved:
            held = ", ".join(_key_text(k) for k in saved) or "none"
            words.append(f"it holds no optimizer state for {group} (it holds {held})")
            continue
        sizes, moments = _optimizer_numbers(saved[group], f"state['optimizers'][{group!r}]")
        params = [p for g in optimizer.param_groups for p in g["params"]]
        counts = [len(g["params"]) for g in optimizer.param_groups]
        if len(sizes) != len(counts):
            words.append(
                f"{group}'s optimizer has {counted(len(sizes), 'param groups')} in it, "
                f"{len(counts)} in "
                "this resume"
            )
        elif sizes != counts:
            words.append(
                f"{group}'s optimizer trains {_sizes(sizes)} parameters in it, "
                f"{_sizes(counts)} in this resume"
            )
        else:
            for index, param in enumerate(params):
                shape = moments.get(index)
                if shape is not None and shape != tuple(param.shape):
                    name = (names or {}).get(id(param), f"{group}'s parameter {index}")
                    words.append(
                        f"{name} has moments of shape {shape} in it, is {tuple(param.shape)} "
                        "in this resume"
                    )
                    break
    return "; ".join(words) or None


def _sizes(sizes: list[int]) -> str:
    """`8` for one param group of 8 parameters, `8 (6 + 2 in its param groups)` for two."""
    return f"{sum(sizes)}" + (f" ({' + '.join(map(str, sizes))} by param group)" * (len(sizes) > 1))


def _optimizer_numbers(saved: Any, where: str) -> tuple[list[int], dict[int, tuple[int, ...]]]:
    """(parameters per param group, {parameter index: its moments' shape}) of one saved
    optimizer state; `DamagedState` when it is not the shape torch writes."""
    from torch import Tensor

    groups = saved.get("param_groups") if isinstance(saved, dict) else None
    if not isinstance(groups, list) or not all(
        isinstance(g, dict) and isinstance(g.get("params"), list) for g in groups
    ):
        raise DamagedState(f"gives {where} without a list of param groups, each with 'params'")
    flat = [i for g in groups for i in g["params"]]
    if flat != list(range(len(flat))) or any(type(i) is not int for i in flat):
        raise DamagedState(
            f"numbers the parameters of {where} otherwise than 0 to {len(flat) - 1} in turn"
        )
    state = saved.get("state")
    if not isinstance(state, dict):
        raise DamagedState(f"gives {where}['state'] as {_kind(state)}, not an object")
    moments: dict[int, tuple[int, ...]] = {}
    for index, values in state.items():
        if type(index) is not int or not 0 <= index < len(flat) or not isinstance(values, dict):
            raise DamagedState(
                f"holds at {where}['state'] a state for parameter {_key_text(index)}, which "
                f"its param groups do not number (0 to {len(flat) - 1})"
            )
        shapes = {tuple(v.shape) for v in values.values() if isinstance(v, Tensor) and v.dim()}
        if len(shapes) > 1:
            raise DamagedState(f"holds at {where}['state'][{index}] moments of several shapes")
        if shapes:
            moments[index] = shapes.pop()
    return [len(g["params"]) for g in groups], moments


_ABSENT = object()


def _text(value: Any) -> str:
    """A config value as it is typed: [a,b], true, null; 'not set' for a key one side lacks."""
    if value is _ABSENT:
        return "not set"
    if isinstance(value, list):
        return one_line("[" + ",".join(_text(v) for v in value) + "]", 60)
    typed = {True: "true", False: "false", None: "null"}
    return one_line(typed[value] if value is None or isinstance(value, bool) else value, 60)


__all__ = [
    "BEST",
    "DIRECTIONS",
    "MAX_DIRECTIONS",
    "Best",
    "DamagedState",
    "direction_key",
    "directions_in",
    "misfit_line",
    "optimizer_misfit_line",
    "optimizer_mismatch",
    "read_best",
    "read_directions",
    "read_state",
    "shaping_settings",
    "unflatten",
]
