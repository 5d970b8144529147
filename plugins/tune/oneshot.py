"""`sampler=oneshot`: architecture search with shared weights, then the chosen nets alone.

The domain's supernet (`Domain.supernet`, `ganhub.nas`) trains once, as an ordinary run in the
study directory (`supernet/`), with the study's shared keys. Its architecture choices are
learned by gradient descent with the weights; what it prefers is written to
`architecture.json` (each key's probability per value); a signal that stops the supernet
stops the study, and running it again resumes the supernet. The trials then train architectures
on their own, as in every study: trial 0 is the default, trial 1 the supernet's preferred
architecture, and later trials are drawn from its distribution. A resumed study reads
`architecture.json` again (checked like any file of a run directory) instead of retraining.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganhub_tune.space import Param, encode

from ganhub.config.overrides import deep_merge, merge_sources, set_dotted
from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError, UsageError, one_line

if TYPE_CHECKING:
    from ganhub_tune.study import Study

    from ganhub.config.schema import RunConfig
    from ganhub.plugins import Hub

ARCHITECTURE_FILE = "architecture.json"
SUPERNET_RUN = "supernet"
MAX_FILE_BYTES = 1 << 20

Architecture = dict[str, dict[Any, float]]


def search(study: Study, hub: Hub, echo: Callable[[str], None]) -> Architecture:
    """The supernet's preference over the searched keys: trained now, or read back."""
    path = study.directory / ARCHITECTURE_FILE
    if path.is_file():
        arch = read_architecture(path, study)
        echo(f"ganhub tune: the supernet's architecture from {path}")
        return arch
    from ganhub.api import load, train
    from ganhub.nas import SUPERNET

    raw = supernet_raw(study, hub)
    run_dir = study.directory / SUPERNET_RUN
    if any((run_dir / "checkpoints").glob("*")):  # an earlier attempt was stopped: go on
        raw["resume"] = str(run_dir)
    else:
        raw["out_dir"], raw["name"] = str(study.directory), SUPERNET_RUN
    echo(f"ganhub tune: training the {study.options.plugin} supernet ({run_dir})")
    summary = train(resolve(raw, hub=hub), hub=hub)
    if summary.get("signal"):  # SIGINT/SIGTERM stopped it after a checkpoint: the user means
        # the study. No architecture.json, so running the command again resumes the supernet.
        signum = int(summary["signal"])
        raise SupernetStopped(signum, f"ganhub tune: the supernet run was stopped by signal "
                              f"{signum}; the study stops (run the same command to continue "
                              "it)")  # fmt: skip
    system = load(summary["run_dir"], hub=hub).system
    if SUPERNET not in system.capabilities().provides:
        raise ConfigError(
            f"sampler=oneshot: domain '{study.options.plugin}' built no supernet from its "
            f"Domain.supernet overrides {hub.require_domain(study.options.plugin).supernet}"
        )
    searched = {p.key for p in study.space.params}
    arch = {key: probs for key, probs in system.architecture().items() if key in searched}
    _write(path, arch)
    study.supernet_trained = True  # its preference is queued, even in a study that has run
    echo(describe(arch, study.space.params))
    return arch


class SupernetStopped(Exception):
    """A signal stopped the supernet run: the study stops as when a signal stops a trial (the
    summary of the trials it holds, then this line). Its args: the signal and the line."""

    def __init__(self, signum: int, line: str) -> None:
        super().__init__(signum, line)
        self.signum, self.line = signum, line


def supernet_raw(study: Study, hub: Hub, *, given: bool = True) -> dict[str, Any]:
    """The supernet run's raw config: the study's base, the domain's `Domain.supernet`
    overrides, then (`given`) the user's `supernet.KEY=VALUE` ones."""
    domain = hub.require_domain(study.options.plugin)
    raw = deep_merge(study.base_raw, {})
    for key, value in domain.supernet.items():
        set_dotted(raw, key.split("."), value)
    if not given:
        return raw
    return deep_merge(raw, merge_sources(study.options.supernet_overrides))


def supernet_config(study: Study, hub: Hub) -> RunConfig:
    """The supernet run's config, checked before anything runs: it resolves, and the user's
    `supernet.KEY`s leave the keys that build the supernet (`Domain.supernet`) as they are."""
    try:
        config = resolve(supernet_raw(study, hub), hub=hub)
    except ConfigError as exc:
        raise ConfigError(f"the supernet run (sampler=oneshot): {exc}") from None
    if not study.options.supernet_overrides:
        return config
    built = resolve(supernet_raw(study, hub, given=False), hub=hub).model_dump(mode="json")
    got = config.model_dump(mode="json")
    plugin = study.options.plugin
    for key in hub.require_domain(plugin).supernet:
        want, now = _lookup(built, key), _lookup(got, key)
        if want != now:
            raise ConfigError(
                f"supernet.{key}={json.dumps(now)}: sampler=oneshot trains {plugin}'s supernet, "
                f"which {key}={json.dumps(want)} builds (its Domain.supernet); leave "
                f"supernet.{key} out"
            )
    return config


def _lookup(tree: Any, key: str) -> Any:
    for part in key.split("."):
        tree = tree.get(part) if isinstance(tree, dict) else None
    return tree


def describe(arch: Architecture, params: Sequence[Param] = ()) -> str:
    """One line per key: the preferred value, its probability and how decided the key is;
    a key the preferred architecture leaves unused (its `when` fails) is left out."""
    from ganhub.nas import entropy_ratio

    lines = ["ganhub tune: the supernet prefers (value, probability, entropy / uniform's):"]
    for key, value in preferred_values(arch, params).items():
        lines.append(f"  {key}={value} ({arch[key][value]:.2f}, {entropy_ratio(arch[key]):.2f})")
    return "\n".join(lines)


def _write(path: Path, arch: Architecture) -> None:
    from ganhub.engine.checkpoint import write_text_atomic

    data = {key: [[value, p] for value, p in probs.items()] for key, probs in arch.items()}
    write_text_atomic(path, json.dumps(data, indent=2))


def read_architecture(path: Path, study: Study) -> Architecture:
    """architecture.json, checked: every key searched, every value one of its choices, every
    probability finite and >= 0; a one-line error naming the file otherwise."""
    shown = one_line(path, 200)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise UsageError(f"'{shown}' is larger than {MAX_FILE_BYTES} bytes; delete it to retrain")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"'{shown}' is not readable JSON ({one_line(exc, 100)}); delete it to "
                         f"train the supernet again") from None  # fmt: skip
    params = {p.key: p for p in study.space.params}
    if not isinstance(data, dict):
        raise UsageError(f"'{shown}' must map searched keys to [value, probability] pairs")
    arch: Architecture = {}
    for key, pairs in data.items():
        param = params.get(key)
        if param is None:
            raise UsageError(f"'{shown}': '{one_line(key, 60)}' is not a searched key of this "
                             f"study; delete the file to train the supernet again")  # fmt: skip
        if not isinstance(pairs, list):
            raise UsageError(f"'{shown}': {key}: {one_line(pairs, 60)} is not a list of "
                             f"[choice, probability] pairs; delete the file to train the "
                             f"supernet again")  # fmt: skip
        probs: dict[Any, float] = {}
        for pair in pairs:
            ok = isinstance(pair, list) and len(pair) == 2 and _allowed(pair[0], param)
            p = pair[1] if ok else None
            if not ok or not isinstance(p, int | float) or not math.isfinite(p) or p < 0:
                raise UsageError(f"'{shown}': {key}: {one_line(pair, 60)} is not a "
                                 f"[choice, probability] pair of this key")  # fmt: skip
            probs[pair[0]] = float(p)
        arch[key] = probs
    return arch


def _allowed(value: Any, param: Any) -> bool:
    if param.type == "categorical":
        return any(encode(c) == encode(value) and type(c) is type(value) for c in param.choices)
    return isinstance(value, int | float) and (param.low or 0) <= value <= (param.high or 0)


def preferred_values(arch: Architecture, params: Sequence[Param] = ()) -> dict[str, Any]:
    """The most probable value of each key, in `arch`'s order, without the keys a trial of
    these values would not set: a param of `params` whose `when` names only keys of `arch`
    and fails on their preferred values (dcgan's `model.residual` when `model.extra_blocks`
    is 0). Such a key is unused, and a trial that ran the architecture never stored it."""
    from ganhub.nas import preferred

    values = preferred(arch)
    kept: dict[str, Any] = {}
    for p in params:  # in sampling order: a condition's keys come before it
        if p.key in values and (any(k not in values for k in p.when) or p.is_active(kept)):
            kept[p.key] = values[p.key]  # (a condition on a key sampled later: kept)
    searched = {p.key for p in params}
    return {key: value for key, value in values.items() if key in kept or key not in searched}


def preferred_params(arch: Architecture, params: Sequence[Param] = ()) -> dict[str, Any]:
    """The supernet's preferred architecture as stored trial params (trial 1 of the study),
    without the keys its values leave unused (`preferred_values`; `params`: the study's)."""
    return {key: encode(value) for key, value in preferred_values(arch, params).items()}


def runs_params(trial: Any, params: dict[str, Any]) -> bool:
    """Whether an Optuna trial runs (or, waiting, will run) these stored params."""
    own = trial.system_attrs.get("fixed_params") or trial.params
    return all(
        key in own and own[key] == value and type(own[key]) is type(value)
        for key, value in params.items()
    )
