"""Search spaces: a YAML mapping of dotted config keys to distributions, parsed and checked.

```yaml
objective: modes                 # or [modes, step_time]; optional, the CLI may set it
direction: maximize              # or [maximize, minimize]; default from the metric's name
base: {data.dataset: grid}       # overrides every trial shares (dotted keys or nested maps)
params:
  optim.G.lr: {type: float, low: 1e-4, high: 3e-3, log: true}
  model.g_layers: {type: int, low: 2, high: 5}
  loss: {type: categorical, choices: [nonsaturating, hinge]}
  trick.r1.gamma: {type: float, low: 0.1, high: 10, log: true, when: {tricks: [[r1]]}}
  optim.G.betas: {type: categorical, choices: [[0.5, 0.999], [0.0, 0.99]], also: [optim.D.betas]}
```

`when` makes a key conditional: it is sampled only when every named earlier parameter took
one of the listed values. A search file's `when` may name a param of the built-in space it is
merged over, or a key fixed on the command line (decided before the study starts); any other
key is refused when the study starts (`Space.check_order`). `also` ties keys to a param: each trial sets them to its value.
Categorical choices may be lists or maps (`tricks: [[], [ema]]`); Optuna stores them as their
YAML text. Nothing here imports Optuna.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ganhub.config.overrides import ConfigLoader, DuplicateKeyError, dump_yaml
from ganhub.errors import ConfigError, did_you_mean

TYPES = ("float", "int", "categorical")
# how alike the last parts of two dotted keys must be for one to be suggested for the other
_CLOSE_PART = 0.7
_PARAM_KEYS = {"type", "low", "high", "log", "step", "choices", "when", "also"}
_TOP_KEYS = {"objective", "direction", "base", "params"}
# values the grid sampler takes from a range it cannot step through (a float range with no
# `step`, a log range): 5 steps through two decades by half decades (1e-4, 3.16e-4, 1e-3, ...)
GRID_POINTS = 5


@dataclass(frozen=True)
class Param:
    """One searched config key: its distribution and the condition under which it is sampled."""

    key: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    when: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    also: tuple[str, ...] = ()  # keys every trial sets to this param's value too
    origin: str = field(default="search space", compare=False)  # the file or built-in space

    @property
    def keys(self) -> tuple[str, ...]:
        """The config keys a trial sets to this param's value: its own, then its `also` keys."""
        return (self.key, *self.also)

    def grid_values(self) -> list[Any]:
        """The values the grid sampler walks (categoricals as Optuna stores them): a range by its
        `step` (an int range's default step is 1), or, for a float range without a step and any
        log range, GRID_POINTS values spread evenly (evenly in log for log: true)."""
        if self.type == "categorical":
            return [encode(c) for c in self.choices]
        assert self.low is not None and self.high is not None
        if self.log or (self.step is None and self.type == "float"):
            return _spread(self.low, self.high, self.log, self.type == "int")
        step = self.step or 1
        n = math.floor((self.high - self.low) / step + 1e-9) + 1
        values = [self.low + i * step for i in range(n)]
        # a float step adds its rounding error (0.1 + 0.05 = 0.15000000000000002)
        return (
            [int(v) for v in values] if self.type == "int" else [float(f"{v:.12g}") for v in values]
        )

    def is_active(self, chosen: dict[str, Any]) -> bool:
        """Whether the conditions hold for the values chosen so far."""
        return all(key in chosen and chosen[key] in ok for key, ok in self.when.items())


@dataclass
class Space:
    """A parsed search space: parameters in sampling order, shared base overrides, objectives."""

    params: list[Param] = field(default_factory=list)
    base: dict[str, Any] = field(default_factory=dict)
    objective: list[str] = field(default_factory=list)
    direction: list[str] = field(default_factory=list)

    def merged(self, other: Space) -> Space:
        """`other` over this space: its params replace same-named ones in place, new ones
        follow, and a param moves after the params its `when` names (a replaced `tricks`
        stays before the built-in `trick.*` keys conditioned on it). A key `other` searches or
        ties leaves this space's params and their `also`."""
        theirs = {p.key: p for p in other.params}
        claimed = {key for p in other.params for key in p.keys}
        mine = {p.key for p in self.params}
        params = []
        for p in self.params:
            if p.key in theirs:
                params.append(theirs[p.key])
            elif p.key not in claimed:
                params.append(replace(p, also=tuple(k for k in p.also if k not in claimed)))
        params += [p for p in other.params if p.key not in mine]
        return Space(
            params=_conditions_first(params),
            base={**self.base, **other.base},
            objective=other.objective or self.objective,
            direction=other.direction or self.direction,
        )

    def check_order(self, where: str, partial: bool = False) -> None:
        """Conditions must name parameters sampled before them; no key is set by two params.

        `partial`: this is a search file, to be merged over a built-in space, so a condition
        on a key none of its own params search is left for the merged space to check (it may
        name a built-in param, or a key the command line fixes)."""
        setters: dict[str, str] = {}
        for p in self.params:
            for key in p.keys:
                if key in setters:
                    raise ConfigError(f"{where}: '{key}' is set by param '{setters[key]}' and "
                                      f"by param '{p.key}'; search or tie it once")  # fmt: skip
                setters[key] = p.key
        names = [p.key for p in self.params]
        seen: list[str] = []
        for p in self.params:
            for key in p.when:
                if key in seen or (partial and key not in names):
                    continue
                if key in names:  # searched, but after it (or in a cycle of conditions)
                    raise ConfigError(
                        f"{where}: param '{p.key}' has when: {{{key}: ...}} but '{key}' is not "
                        f"a param listed before it{close_key(key, seen)}"
                    )
                tied = ""
                if key in setters:
                    tied = f" ('{key}' is tied to param '{setters[key]}': name that param)"
                raise ConfigError(
                    f"{p.origin}: param '{p.key}': when: names '{key}', which this study does "
                    f"not search{tied}{close_key(key, names) if not tied else ''}; when: "
                    f"takes a param of the search space ({', '.join(seen) or 'none before it'}) "
                    f"or a key fixed on the command line ({key}=VALUE)"
                )
            seen.append(p.key)


def grid_points(params: list[Param]) -> list[dict[str, Any]]:
    """Every point `sampler=grid` runs (values as Optuna stores them), conditions respected.

    The params in order, each taking its grid values where its `when` holds for the values
    before it and left out where it does not: a conditional param multiplies only the points
    it applies to."""
    points: list[dict[str, Any]] = [{}]
    for p in params:
        values = p.grid_values()
        when = {key: [encode(v) for v in ok] for key, ok in p.when.items()}  # as stored
        grown: list[dict[str, Any]] = []
        for point in points:
            if all(key in point and point[key] in ok for key, ok in when.items()):
                grown.extend({**point, p.key: value} for value in values)
            else:
                grown.append(point)
        points = grown
    return points


def _spread(low: float, high: float, log: bool, integer: bool) -> list[Any]:
    """GRID_POINTS values from low to high, both ends exact, the ones between rounded to three
    significant digits (1.58e-4, not 1.5811388e-4); an int range keeps each integer once."""
    values: list[Any] = []
    for i in range(GRID_POINTS):
        t = i / (GRID_POINTS - 1)
        v = low * (high / low) ** t if log else low + t * (high - low)
        values.append(round(v) if integer else float(f"{v:.3g}"))
    values[0], values[-1] = (int(low), int(high)) if integer else (float(low), float(high))
    return list(dict.fromkeys(values))


def _conditions_first(params: list[Param]) -> list[Param]:
    """A stable order in which every param follows the params its `when` names (a cycle or a
    missing name is left in place for `check_order` to report)."""
    keys = {p.key for p in params}
    done: set[str] = set()
    out: list[Param] = []
    pending = list(params)
    while pending:
        ready = next(
            (p for p in pending if all(k in done or k not in keys for k in p.when)), pending[0]
        )
        pending.remove(ready)
        out.append(ready)
        done.add(ready.key)
    return out


def encode(value: Any) -> Any:
    """A categorical choice as Optuna can store it: scalars as they are, lists/maps as YAML."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return dump_yaml(value, default_flow_style=True).strip()


def decode(value: Any, param: Param) -> Any:
    """The config value of a stored categorical choice."""
    for choice in param.choices:
        if encode(choice) == value:
            return choice
    return value


def load_space(path: str | Path) -> Space:
    """Read and check a search-space YAML file."""
    p = Path(path)
    if not p.is_file():
        what = (
            "is a folder"
            if p.is_dir()
            else "is no regular file"
            if p.exists()
            else "does not exist"
        )
        raise ConfigError(f"search={p}: {what}; give a search-space YAML file")
    try:
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=ConfigLoader)
    except UnicodeDecodeError:
        raise ConfigError(f"search={p}: not UTF-8 text; give a search-space YAML file") from None
    except DuplicateKeyError as exc:
        raise ConfigError(exc.said_of(f"search={p}")) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"search={p}: not valid YAML{line}") from None
    return parse_space(data, str(p), partial=True)


def parse_space(data: Any, where: str = "search space", partial: bool = False) -> Space:
    """Check a search-space mapping (see the module docstring) and return a `Space`;
    `partial`: a search file, merged over a built-in space (see `Space.check_order`), whose
    `params` must search something."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must be a mapping with 'params' (and optionally "
                          f"{', '.join(sorted(_TOP_KEYS - {'params'}))})")  # fmt: skip
    for key in data:
        if key not in _TOP_KEYS:
            raise ConfigError(
                f"{where}: unknown top-level key '{key}'{did_you_mean(key, _TOP_KEYS)}; "
                f"valid: {', '.join(sorted(_TOP_KEYS))}"
            )
    raw_params = data.get("params")
    if partial and "params" in data and raw_params in (None, {}):
        # merged over the built-in space it would change nothing: the study the user meant
        # (their own params) is not the one that would run
        raise ConfigError(
            f"{where}: 'params' is empty; give the keys to search (params: {{optim.G.lr: "
            "{type: float, low: 1.0e-4, high: 1.0e-2, log: true}}), or leave 'params' out "
            "to search the built-in space with this file's other settings"
        )
    raw_params = raw_params or {}
    if not isinstance(raw_params, dict):
        raise ConfigError(f"{where}: 'params' must map config keys to distributions")
    base = data.get("base") or {}
    if not isinstance(base, dict):
        raise ConfigError(f"{where}: 'base' must map config keys to values")
    space = Space(
        params=[parse_param(str(k), v, where) for k, v in raw_params.items()],
        base=flatten(base, where=f"{where}: base"),
        objective=_as_list(data.get("objective"), "objective", where),
        direction=_as_list(data.get("direction"), "direction", where),
    )
    for d in space.direction:
        if d not in ("minimize", "maximize"):
            raise ConfigError(f"{where}: direction '{d}' must be minimize or maximize")
    space.check_order(where, partial)
    return space


def parse_param(key: str, spec: Any, where: str = "search space") -> Param:
    """One `key: {type: ..., ...}` entry; a bare list is shorthand for a categorical."""
    name = f"{where}: param '{key}'"
    if isinstance(spec, list):
        spec = {"type": "categorical", "choices": spec}
    if not isinstance(spec, dict):
        raise ConfigError(f"{name} must be a mapping like {{type: float, low: 1e-4, high: 1e-2}} "
                          f"or a list of choices, not {spec!r}")  # fmt: skip
    unknown = sorted(set(spec) - _PARAM_KEYS)
    if unknown:
        raise ConfigError(f"{name}: unknown field '{unknown[0]}'"
                          f"{did_you_mean(unknown[0], _PARAM_KEYS)}; valid: {', '.join(sorted(_PARAM_KEYS))}")  # fmt: skip
    kind = spec.get("type")
    if kind not in TYPES:
        raise ConfigError(f"{name}: type={kind!r}{did_you_mean(str(kind), TYPES)}; valid: {', '.join(TYPES)}")  # fmt: skip
    when = _parse_when(spec.get("when"), name)
    also = _parse_also(spec.get("also"), key, name)
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{name}: a categorical needs a non-empty 'choices' list")
        extra = sorted(set(spec) & {"low", "high", "log", "step"})
        if extra:
            raise ConfigError(f"{name}: '{extra[0]}' does not apply to a categorical")
        encoded = [encode(c) for c in choices]
        if len(set(map(repr, encoded))) != len(encoded):
            raise ConfigError(f"{name}: choices repeat a value: {choices}")
        return Param(key, kind, choices=tuple(choices), when=when, also=also, origin=where)
    if "choices" in spec:
        raise ConfigError(f"{name}: 'choices' is for type: categorical, not {kind}")
    low: Any = spec.get("low")
    high: Any = spec.get("high")
    number = int if kind == "int" else (int, float)
    for label, value in (("low", low), ("high", high)):
        if not isinstance(value, number) or isinstance(value, bool):
            raise ConfigError(f"{name}: '{label}' must be {'an integer' if kind == 'int' else 'a number'}, got {value!r}")  # fmt: skip
        if not math.isfinite(value):
            raise ConfigError(f"{name}: '{label}' must be a finite number, got {value}")
    if low >= high:
        raise ConfigError(f"{name}: low={low} must be below high={high}")
    if not math.isfinite(high - low):  # samplers draw low + u * (high - low)
        raise ConfigError(f"{name}: the range {low}..{high} is wider than a float can hold")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{name}: 'log' must be true or false, got {log!r}")
    if log and low <= 0:
        raise ConfigError(f"{name}: log: true needs low > 0, got low={low}")
    step = spec.get("step")
    if step is not None:
        if not isinstance(step, number) or isinstance(step, bool) or not 0 < step < math.inf:
            raise ConfigError(f"{name}: 'step' must be a positive {'integer' if kind == 'int' else 'number'}, got {step!r}")  # fmt: skip
        if log:
            raise ConfigError(f"{name}: 'step' and log: true cannot be combined (Optuna)")
        if step > (high - low) * (1 + 1e-9):  # Optuna then draws `low` in every trial
            raise ConfigError(f"{name}: step={step} is wider than the range {low}..{high}, so "
                              f"every trial would take {low}; give a step up to {high - low:g}, "
                              f"or fix the key on the command line ({key}={low})")  # fmt: skip
    return Param(key, kind, float(low) if kind == "float" else low,
                 float(high) if kind == "float" else high, log, step, when=when, also=also,
                 origin=where)  # fmt: skip


def _parse_when(when: Any, name: str) -> dict[str, tuple[Any, ...]]:
    if when is None:
        return {}
    if not isinstance(when, dict) or not when:
        raise ConfigError(f"{name}: 'when' must map earlier params to allowed values, "
                          f"e.g. when: {{loss: [wgan]}}")  # fmt: skip
    out = {}
    for key, values in when.items():
        values = values if isinstance(values, list) else [values]
        out[str(key)] = tuple(values)
    return out


def _parse_also(also: Any, key: str, name: str) -> tuple[str, ...]:
    if also is None:
        return ()
    keys = also if isinstance(also, list) else [also]
    if not keys or not all(isinstance(k, str) and k for k in keys):
        raise ConfigError(f"{name}: 'also' must be a config key or a list of them, "
                          f"e.g. also: [optim.D.betas], not {also!r}")  # fmt: skip
    if key in keys or len(set(keys)) != len(keys):
        raise ConfigError(f"{name}: 'also' repeats a key: {[key, *keys]}")
    return tuple(keys)


def _as_list(value: Any, label: str, where: str) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str) and v for v in items):
        raise ConfigError(f"{where}: '{label}' must be a name or a list of names, got {value!r}")
    return items


def flatten(tree: dict[str, Any], prefix: str = "", where: str = "base") -> dict[str, Any]:
    """`{a: {b: 1}}` -> `{"a.b": 1}` (dotted keys are kept as written). A key given both ways
    with two values (`trainer.steps: 10` beside `trainer: {steps: 11}`) is refused naming
    `where`, as ganhub run refuses it in a config file."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        full = f"{prefix}{key}"
        found = flatten(value, full + ".", where) if isinstance(value, dict) and value else None
        for name, item in (found or {full: value}).items():
            if name in out and encode(out[name]) != encode(item):
                raise ConfigError(
                    f"{where}: the key '{name}' is given twice, as {_typed(out[name])} and as "
                    f"{_typed(item)} (once as a dotted key, once nested); give it once"
                )
            out[name] = item
    return out


def _typed(value: Any) -> str:
    """A value as YAML writes it (true, null, [r1, ema]), on one line."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return str(encode(value))[:80]


def fixed_singles(params: list[Param]) -> tuple[list[Param], dict[str, Param]]:
    """A categorical with one choice searches nothing: Optuna would draw that value in every
    trial. Unless it has a `when` (then it sets its key only where that holds), it is a fixed
    key like `key=value` on the command line: it leaves the space, and its key and `also` keys
    take its value. Returns the params left and the fixed ones by key."""
    single = {p.key: p for p in params if p.type == "categorical" and len(p.choices) == 1}
    single = {key: p for key, p in single.items() if not p.when}
    return [p for p in params if p.key not in single], single


def close_key(key: str, keys: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for a dotted key of `keys` close to `key`, else ''. Dotted keys
    share their sections (`model.`), so a whole-key likeness suggests unrelated keys
    (model.depth -> model.d_act): here the last parts must be alike (or one begins the
    other, or they hold the same letters) and the sections too (or `key` names none: batch_size -> trainer.batch_size)."""
    head, _, last = key.rpartition(".")
    best, score = "", 0.0
    for other in keys:
        other_head, _, other_last = other.rpartition(".")
        part = difflib.SequenceMatcher(None, last, other_last).ratio()
        begins = min(len(last), len(other_last)) >= 3 and (
            last.startswith(other_last) or other_last.startswith(last)
        )
        swapped = sorted(last) == sorted(other_last)  # letters typed in another order: rl, lr
        if part < _CLOSE_PART and not begins and not swapped:
            continue
        if head and difflib.SequenceMatcher(None, head, other_head).ratio() < _CLOSE_PART:
            continue
        whole = difflib.SequenceMatcher(None, key, other).ratio()
        if whole > score and other != key:
            best, score = other, whole
    return f" (did you mean '{best}'?)" if best else ""
