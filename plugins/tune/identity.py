"""What a tune study was made with, kept in its storage and in its folder (`study.json`), so
that running it again with other settings (another plugin, objective, space, fixed keys or
storage) is refused before any trial: their values would be ranked with trials they do not
compare with, and its outputs would be overwritten by another study's. The search strategy
(sampler, pruner, sampler_seed) is kept too: another one is said in one line, not refused (a
strategy may change between runs of a study), but a worker that joins a study other workers are
running with another strategy is refused (the record would name whichever worker started last).
The `supernet.KEY`s of `sampler=oneshot` are kept too: other ones are refused while the supernet
they trained is in the folder (its architecture.json would be read back as theirs), adopted once
it is deleted."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganhub_tune.oneshot import ARCHITECTURE_FILE, SUPERNET_RUN

from ganhub.config.overrides import parse_override
from ganhub.errors import ConfigError, one_line

if TYPE_CHECKING:
    from ganhub_tune.space import Param
    from ganhub_tune.study import Study

IDENTITY = "ganhub_study"  # the Optuna study user attribute that records it
RECORD = "study.json"  # the same record in the study folder, with the storage it lives in
# what a study folder holds once a study has run there (besides its storage)
OUTPUTS = ("trials", "supernet", "architecture.json", "summary.json", "best.yaml", "trials.csv")
# identity keys recorded since a later version: a stored identity without them is not
# compared on them (a study made before keeps resuming)
_ADDED = ("base", "repeats", "supernet")
SUPERNET = "supernet"  # the identity entry of the supernet run's own keys (sampler=oneshot)
# kept with the identity but not compared: the search strategy may change between runs of a
# study (Optuna's samplers start from the trials it holds); a change is said in one line, and
# refused while other workers run the study with the strategy it records
SAMPLER = "sampler"
PRUNER = "pruner"
SAMPLER_SEED = "sampler_seed"
STRATEGY = (SAMPLER, PRUNER, SAMPLER_SEED)
# the trial user attribute that records the strategy of the worker that ran it: a study's
# trials may come from several runs and workers, each with its own
TRIAL_STRATEGY = "strategy"
_MISSING = object()


def identity(study: Study) -> dict[str, Any]:
    """What makes a study's trials comparable: plugin, objectives and directions, the searched
    keys with their ranges or choices (and tied keys), the fixed command-line keys, a search
    file's `base:` and the runs per trial (`repeats`); and what trained its supernet."""
    return {
        "plugin": study.options.plugin,
        "objective": list(study.objectives),
        "direction": list(study.directions),
        "space": _searched(study.space.params),
        "fixed": _fixed(  # command-line keys, and the keys one-choice params fix
            study,
            [parse_override(o) for o in study.options.overrides]
            + [(key.split("."), value) for key, value in study.fixed.items()],
        ),
        "base": _fixed(study, [(k.split("."), v) for k, v in study.space.base.items()]),
        # a trial's value is the mean over this many run seeds: one seed's does not compare
        "repeats": study.options.repeats,
        # sampler=oneshot's `supernet.KEY`s, as the supernet run resolves them
        SUPERNET: _fixed(
            study,
            [parse_override(o) for o in study.options.supernet_overrides],
            study.supernet_config,
        ),
    }


def _searched(params: list[Param]) -> list[str]:
    """The searched params as the identity records them: key, kind, range or choices,
    condition and tied keys."""
    return sorted(
        f"{p.key} {p.type} {p.low} {p.high} {p.log} {p.step} {list(p.choices)} "
        f"{sorted(p.when.items())}" + (f" also {list(p.also)}" if p.also else "")
        for p in params
    )


def _as_searched_then(study: Study, mine: dict[str, Any]) -> dict[str, Any] | None:
    """`mine` as releases before one-choice params were fixed recorded it (they searched a
    one-choice categorical over its one value, with the conditions on it undecided, and the
    fixed keys were the command line's); None when the study has no one-choice param."""
    if study.searched_then is None:
        return None
    given = [parse_override(o) for o in study.options.overrides]
    return {**mine, "space": _searched(study.searched_then), "fixed": _fixed(study, given)}


def _fixed(study: Study, keys: list[tuple[list[str], Any]], config: Any = None) -> list[str]:
    """The fixed keys as the run (the trials', else `config`'s) resolves them (`trainer.steps=20.0`
    is 20), so the same setting typed another way is the same; a key the config does not keep
    stays as parsed."""
    resolved = (config or study.base_config).model_dump(mode="json")
    fixed: dict[str, Any] = {}
    for path, parsed in keys:
        node: Any = resolved
        for part in path:
            node = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
        fixed[".".join(path)] = parsed if node is _MISSING else node
    return sorted(
        f"{key}={value if isinstance(value, str) else json.dumps(value, sort_keys=True)}"
        for key, value in fixed.items()
    )


def check_same_study(opened: Any, study: Study) -> None:
    """Remember a new study's identity; refuse, before any trial, to add trials to a stored
    study made with other settings, or to a folder that holds another study's outputs."""
    mine, stored = identity(study), opened.user_attrs.get(IDENTITY)
    new = stored is None and not opened.get_trials(deepcopy=False)
    _check_folder(opened.study_name, study, mine, new)
    now = strategy(study)
    if stored is None:  # a new study (or one from before identities were kept): adopt it
        opened.set_user_attr(IDENTITY, {**mine, **now})
    else:
        if not isinstance(stored, dict):  # an edited storage: nothing known to compare with
            stored = {}
        searched_then = _refuse_other(opened.study_name, stored, mine, study)
        kept = dict(stored)
        if searched_then:  # the same study: its one-choice params are recorded as fixed now
            kept.update(space=mine["space"], fixed=mine["fixed"])
        if SUPERNET in stored and stored[SUPERNET] != mine[SUPERNET]:  # its supernet is gone:
            kept[SUPERNET] = mine[SUPERNET]  # train anew
        # a setting a study from before it was kept does not record is not compared
        changed = [key for key in STRATEGY if key in stored and stored[key] != now[key]]
        if changed:
            _refuse_joining(opened, stored, now, changed)
            if opened.get_trials(deepcopy=False):
                study.resume_notes += [
                    _strategy_note(opened.study_name, key, stored[key], now[key], study)
                    for key in changed
                ]
        kept.update(now)
        if kept != stored:
            opened.set_user_attr(IDENTITY, kept)
    _write_record(study, mine)


def strategy(study: Study) -> dict[str, Any]:
    """The search strategy this command runs the study with (recorded, not compared)."""
    options = study.options
    return {SAMPLER: options.sampler, PRUNER: options.pruner, SAMPLER_SEED: options.seed}


def _refuse_joining(
    opened: Any, stored: dict[str, Any], now: dict[str, Any], changed: list[str]
) -> None:
    """A worker whose strategy differs from the one the study records, while a trial of the
    study runs (another worker's): refused, or the record would flip to whichever worker
    started last and the summary would name a strategy half the trials did not use."""
    from optuna.storages import fail_stale_trials
    from optuna.trial import TrialState

    fail_stale_trials(opened)  # a trial of a dead worker (heartbeat gone) runs no more
    running = opened.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not running:
        return
    was = ", ".join(f"{key}={one_line(stored[key], 40)}" for key in changed)
    given = ", ".join(f"{key}={now[key]}" for key in changed)
    raise ConfigError(
        f"study '{opened.study_name}' has trial {running[0].number} running with {was} (another "
        f"worker's, or a killed worker's not yet timed out): start this worker with {was}, not "
        f"{given}, or change {'it' if len(changed) == 1 else 'them'} once no worker runs the study"
    )


def _strategy_note(name: str, key: str, was: Any, now: Any, study: Study) -> str:
    """The line that says this run of a stored study uses another sampler, pruner or seed."""
    shown = one_line(was, 40)
    keep = f"(run it with {key}={shown} to keep to one {_KEEP[key]}, or give another study=)"
    if key == SAMPLER:
        uses = f"its next trials use sampler={now}, which starts from the trials it holds"
    elif key == PRUNER:
        uses = f"its next trials are judged by pruner={now}, its earlier ones by pruner={shown}"
        if len(study.objectives) > 1:  # Optuna prunes no multi-objective trial
            uses = f"pruner={now} is recorded (a study of several objectives prunes no trial)"
    else:
        uses = f"its next trials are drawn with sampler_seed={now}"
    return f"study '{name}' was last run with {key}={shown}; {uses} {keep}"


_KEEP = {SAMPLER: "strategy", PRUNER: "pruning rule", SAMPLER_SEED: "seed"}


def _differing(was: dict[str, Any], mine: dict[str, Any], trained: bool) -> list[str]:
    """The identity entries `was` records otherwise than `mine` (entries added since it was
    recorded are not compared; nor the supernet's keys while no supernet was trained)."""
    differ = [k for k in mine if was.get(k) != mine[k] and (k in was or k not in _ADDED)]
    if SUPERNET in differ and not trained:  # other keys train (or go on with) the supernet,
        differ.remove(SUPERNET)  # as `ganhub run resume=` would; the trials still compare
    return differ


def _refuse_other(name: str, was: dict[str, Any], mine: dict[str, Any], study: Study) -> bool:
    """Refuse a study recorded (`was`) with other settings than `mine`; True when it records
    them as releases before one-choice params were fixed did (a param searched over its one
    value then and fixed to it now is the same study), False when it records `mine`."""
    trained = (study.directory / ARCHITECTURE_FILE).is_file()
    differ = _differing(was, mine, trained)
    if not differ:
        return False
    then = _as_searched_then(study, mine)
    if then is not None and not _differing(was, then, trained):
        return True
    if differ == [SUPERNET]:
        said = _differences({SUPERNET: was.get(SUPERNET)}, {SUPERNET: mine[SUPERNET]})
        gone = " and ".join(one_line(path, 200) for path in _supernet_files(study))
        raise ConfigError(
            f"study '{name}' trained its supernet with other settings: "
            f"{'; '.join(one_line(s, 200) for s in said[:6])}; its {ARCHITECTURE_FILE} is that "
            f"supernet's: run it with those supernet.* keys, give another study=, or delete "
            f"{gone} to train the supernet again with these"
        )
    said = _differences({k: was.get(k) for k in differ}, {k: mine[k] for k in differ})
    more = f"; and {len(said) - 6} more" if len(said) > 6 else ""
    raise ConfigError(
        f"study '{name}' was made with other settings: "
        f"{'; '.join(one_line(s, 200) for s in said[:6])}{more}; its trials would not "
        "compare with these: run it with those settings, or give another study="
    )


def _supernet_files(study: Study) -> list[Path]:
    """What the study folder holds of a supernet run (its preference, its run folder)."""
    paths = (study.directory / ARCHITECTURE_FILE, study.directory / SUPERNET_RUN)
    return [path for path in paths if _holds(path)]


# how each kind of identity entry shows a config key's setting in a refusal
_SETTINGS = {"space": "searched over {}", "fixed": "fixed to {}", "base": "{} in the base"}


def _differences(was: dict[str, Any], mine: dict[str, Any]) -> list[str]:
    """Each differing setting as `NAME: THEN then, NOW now`: each config key searched, fixed
    or set by the base on its own, the other entries (plugin, objective, storage...) whole."""
    sides: tuple[dict[str, dict[str, str]], ...] = ({}, {})
    said = []
    for entry in mine:
        old, new = _by_key(entry, was.get(entry)), _by_key(entry, mine[entry])
        if entry == SUPERNET and old is not None and new is not None:  # its own keys
            for key in sorted(old.keys() | new.keys()):
                if old.get(key) != new.get(key):
                    was_set, now_set = (side.get(key, "not set") for side in (old, new))
                    said.append(f"supernet.{key}: {was_set} then, {now_set} now")
            continue
        if old is None or new is None:  # a whole value (or an edited record's)
            said.append(f"{entry}: {_text(was.get(entry))} then, {_text(mine[entry])} now")
            continue
        for side, settings in zip(sides, (old, new), strict=True):
            for key, value in settings.items():
                side.setdefault(key, {})[entry] = _SETTINGS[entry].format(value)
    then, now = ({k: _setting(v) for k, v in side.items()} for side in sides)
    for key in sorted(then.keys() | now.keys()):
        before, after = then.get(key), now.get(key)
        if before != after:
            unset = "not searched" if "searched" in f"{before} {after}" else "not set"
            said.append(f"{key}: {before or unset} then, {after or unset} now")
    return said


def _setting(settings: dict[str, str]) -> str:
    """A key's setting on one side: searched, else fixed (which its base value then equals)."""
    return settings.get("space") or settings.get("fixed") or settings["base"]


def _by_key(entry: str, value: Any) -> dict[str, str] | None:
    """A `space`, `fixed`, `base` or `supernet` entry as {config key: its setting}, else None."""
    if entry not in (*_SETTINGS, SUPERNET) or not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        return None
    if entry != "space":
        return dict(item.partition("=")[::2] for item in value)
    return {item.partition(" ")[0]: _range(item.partition(" ")[2]) for item in value}


def _range(text: str) -> str:
    """A searched param as `identity` records it (`float 1e-05 0.001 True None [] []`, ...)
    in words: `1e-05..0.001 (log)`, `[hinge, lsgan]`, with its condition and tied keys."""
    found = re.fullmatch(r"(\w+) (\S+) (\S+) (True|False) (\S+) (.*)", text)
    if found is None:
        return text
    kind, low, high, log, step, rest = found.groups()
    rest, _, also = rest.partition(" also ")
    when = re.search(r" (\[\(.*\])$", rest)
    choices = rest[: when.start()] if when else rest.removesuffix(" []")
    if kind == "categorical":
        shown = choices.replace("'", "")
    else:
        shown = f"{kind} {low}..{high}" + (" (log)" if log == "True" else "")
        shown += f" step {step}" if step != "None" else ""
    if when:
        shown += f" when {when[1]}".replace("'", "")
    return shown + (f" also {also}".replace("'", "") if also else "")


def _text(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value) if len(value) != 1 else value[0]
    return one_line(value, 200)


def _check_folder(name: str, study: Study, mine: dict[str, Any], new: bool) -> None:
    """The storage alone cannot tell that the folder is another study's: a second storage (or
    an emptied study.db) opens a new study there, whose trials would overwrite its outputs."""
    folder = study.directory
    if new and any(_holds(folder / entry) for entry in OUTPUTS):
        raise ConfigError(
            f"study folder {one_line(folder, 200)} holds the outputs of a study its storage "
            f"{one_line(storage_text(study), 200)} does not hold: give another study= or out=, "
            "or remove the folder"
        )
    path = folder / RECORD
    if not path.is_file():  # a new folder, or a study from before the record was kept
        return
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        record = None
    if not isinstance(record, dict):  # an edited record: nothing known to compare with
        record = {}
    _refuse_other(name, record, {"storage": storage_text(study), **mine}, study)


def _holds(path: Path) -> bool:
    return path.is_file() or (path.is_dir() and any(path.iterdir()))


def _write_record(study: Study, mine: dict[str, Any]) -> None:
    from ganhub.engine.checkpoint import write_text_atomic

    record = {"storage": storage_text(study), **mine, **strategy(study)}
    text = json.dumps(record, indent=2, sort_keys=True)
    path = study.directory / RECORD
    if not path.is_file() or path.read_text(errors="replace") != text:
        write_text_atomic(path, text)


def storage_text(study: Study) -> str:
    """The storage as the folder records it: the folder's own study.db (wherever the folder
    is moved), a journal file's absolute path, or a URL without its password."""
    url = study.options.storage
    if url is None:
        return "study.db"
    if url.endswith((".log", ".journal")):
        return str(Path(url).expanduser().resolve())
    from sqlalchemy.engine import make_url

    return str(make_url(url).render_as_string(hide_password=True))
