"""What a tune study was made with, kept in its storage and in its folder (`study.json`), so
that running it again with other settings (another plugin, objective, space, fixed keys or
storage) is refused before any trial: their values would be ranked with trials they do not
compare with, and its outputs would be overwritten by another study's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganhub.config.overrides import parse_override
from ganhub.errors import ConfigError, one_line

if TYPE_CHECKING:
    from ganhub_tune.study import Study

IDENTITY = "ganhub_study"  # the Optuna study user attribute that records it
RECORD = "study.json"  # the same record in the study folder, with the storage it lives in
# what a study folder holds once a study has run there (besides its storage)
OUTPUTS = ("trials", "supernet", "architecture.json", "summary.json", "best.yaml", "trials.csv")
# identity keys recorded since a later version: a stored identity without them is not
# compared on them (a study made before keeps resuming)
_ADDED = ("base",)
_MISSING = object()


def identity(study: Study) -> dict[str, Any]:
    """What makes a study's trials comparable: plugin, objectives and directions, the searched
    keys with their ranges or choices (and tied keys), the fixed command-line keys and a search
    file's `base:`."""
    return {
        "plugin": study.options.plugin,
        "objective": list(study.objectives),
        "direction": list(study.directions),
        "space": sorted(
            f"{p.key} {p.type} {p.low} {p.high} {p.log} {p.step} {list(p.choices)} "
            f"{sorted(p.when.items())}" + (f" also {list(p.also)}" if p.also else "")
            for p in study.space.params
        ),
        "fixed": _fixed(study, [parse_override(o) for o in study.options.overrides]),
        "base": _fixed(study, [(k.split("."), v) for k, v in study.space.base.items()]),
    }


def _fixed(study: Study, keys: list[tuple[list[str], Any]]) -> list[str]:
    """The fixed keys as the run resolves them (`trainer.steps=20.0` is 20), so the same setting
    typed another way is the same study; a key the config does not keep stays as parsed."""
    resolved = study.base_config.model_dump(mode="json")
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
    if stored is None:  # a new study (or one from before identities were kept): adopt it
        opened.set_user_attr(IDENTITY, mine)
    else:
        if not isinstance(stored, dict):  # an edited storage: nothing known to compare with
            stored = {}
        _refuse_other(opened.study_name, stored, mine)
    _write_record(study, mine)


def _refuse_other(name: str, was: dict[str, Any], mine: dict[str, Any]) -> None:
    differ = [k for k in mine if was.get(k) != mine[k] and (k in was or k not in _ADDED)]
    if differ:
        then = "; ".join(f"{key}={was.get(key)}" for key in differ)
        now = "; ".join(f"{key}={mine[key]}" for key in differ)
        raise ConfigError(
            f"study '{name}' was made with {one_line(then, 300)}, not "
            f"{one_line(now, 300)}; its trials would not compare "
            "with these: run it with those settings, or give another study="
        )


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
    _refuse_other(name, record, {"storage": storage_text(study), **mine})


def _holds(path: Path) -> bool:
    return path.is_file() or (path.is_dir() and any(path.iterdir()))


def _write_record(study: Study, mine: dict[str, Any]) -> None:
    from ganhub.engine.checkpoint import write_text_atomic

    record = {"storage": storage_text(study), **mine}
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
