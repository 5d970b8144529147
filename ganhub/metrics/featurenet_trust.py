"""Whether a saved feature network can be read, whether it learned anything, and whether a
name can be given to a new one.

A feature network's `.json` comes from a cache or a folder that may have travelled: it is read as
JSON and each field checked (type, range) before a network is built from it, so a damaged or
foreign file is one error line naming the file and the field, never a traceback.

A network whose held-out accuracy is near chance (1 / classes: 25 % on the four rotations)
learned nothing its features could carry: distances on them (`fd_<name>`, `kd_<name>`) and a
class_accuracy judged by it measure nothing. "Near" is within a tenth of the way from chance to
100 %, or within two standard errors of guessing on the held-out images it was scored on (where
the file records how many), whichever is wider: a rotation network on images without an upright
orientation (noise, textures, symmetric shapes) lands there.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ganhub.errors import UsageError, one_line

# field: (types, lowest value or None); `name`, `kind` and `spatial_dims` are checked apart
_FIELDS: dict[str, tuple[tuple[type, ...], float | None]] = {
    "in_channels": ((int,), 1),
    "size": ((int,), 1),
    "classes": ((int,), 2),
    "width": ((int,), 1),
    "feat_dim": ((int,), 1),
    "dataset": ((dict,), None),
    "accuracy": ((int, float, type(None)), None),
    "steps": ((int,), 0),
    "seed": ((int,), None),
    "recipe": ((dict,), None),
    "sha256": ((str,), None),
    "created": ((str,), None),
    "held_out": ((int,), 0),
}
_REQUIRED = ("name", "kind", "in_channels", "size", "classes")
KINDS = ("classifier", "rotation")
# a network below this share of the way from chance to 100 % learned (next to) nothing
CHANCE_GAP_SHARE = 0.1
CHANCE_STANDARD_ERRORS = 2


def read_spec_fields(meta: Path) -> dict[str, Any]:
    """The fields of a feature network's `.json`, checked; UsageError (one line) otherwise."""
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _bad(meta, f"not readable JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise _bad(meta, f"holds a JSON {type(data).__name__}, not an object")
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise _bad(meta, f"no {', '.join(missing)}")
    known = {"name", "kind", "spatial_dims", *_FIELDS}
    unknown = sorted(str(key) for key in data if key not in known)
    if unknown:
        raise _bad(meta, f"unknown field {_shown(unknown[0])}; fields: {', '.join(sorted(known))}")
    if not isinstance(data["name"], str) or not data["name"].isidentifier():
        raise _bad(meta, f"name={_shown(data['name'])}: letters, digits and underscores")
    if data["kind"] not in KINDS:
        raise _bad(meta, f"kind={_shown(data['kind'])}: one of {', '.join(KINDS)}")
    if data.get("spatial_dims", 2) not in (2, 3) or isinstance(data.get("spatial_dims"), bool):
        raise _bad(meta, f"spatial_dims={_shown(data['spatial_dims'])}: 2 (images) or 3 (volumes)")
    for key, (types, low) in _FIELDS.items():
        if key not in data:
            continue
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, types):
            want = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise _bad(meta, f"{key}={_shown(value)}: must be {want}")
        if low is not None and data[key] < low:
            raise _bad(meta, f"{key}={_shown(value)}: must be >= {low:g}")
    if data.get("accuracy", 0) is None:  # not measured: written as null (JSON has no NaN)
        data["accuracy"] = math.nan
    if data["kind"] == "rotation" and data["classes"] != 4:
        raise _bad(meta, f"classes={data['classes']}: a rotation network has 4")
    return data


def _shown(value: Any) -> str:
    return one_line(repr(value), 60)


def _bad(meta: Path, why: str) -> UsageError:
    return UsageError(f"feature network '{one_line(meta)}' is not a ganhub feature network: {why}")


# names eval.features reads as another network: in the cache, one saved so is never used (or
# replaces a built-in classifier, retrained by its recipe the next time a metric needs it)
RESERVED_NAMES = {"digits": "classifier (its fixed recipe)", "shapes": "classifier (its fixed "
                  "recipe)", "inception": "Inception network", "rotnet": "rotation network of "
                  "each run's data"}  # fmt: skip


def check_name(
    name: str, opts: dict[str, Any], *, builtin: bool, folder: bool = False, given: str = ""
) -> None:
    """Refuse, before any image is read, a name that eval.features could not reach."""
    if not name.isidentifier():
        typed = f"the folder's name '{name}'" if folder else f"name={name}"
        raise UsageError(
            f"{typed}: a feature network's name is letters, digits and underscores (it becomes "
            "fd_NAME); give name=NAME"
        )
    if name in RESERVED_NAMES and "out" not in opts and not builtin:
        raise UsageError(
            f"{given or f'name={name}'}: name={name} in the cache is the built-in "
            f"{RESERVED_NAMES[name]}; give this network its own name=NAME, or out=DIR"
        )


def chance(spec: Any) -> float:
    """The accuracy of guessing: 1 / classes (a quarter for the four rotations)."""
    return 1 / spec.classes


def near_chance(spec: Any) -> bool:
    """Whether the held-out accuracy is too close to guessing for the network to have learned
    anything (see the module's note); an unrecorded (NaN) accuracy is not judged."""
    acc, c = float(spec.accuracy), chance(spec)
    if not math.isfinite(acc):
        return False
    n = int(getattr(spec, "held_out", 0) or 0)
    noise = CHANCE_STANDARD_ERRORS * math.sqrt(c * (1 - c) / n) if n else 0.0
    return acc < c + max(CHANCE_GAP_SHARE * (1 - c), noise)


def chance_warning(spec: Any, where: str, uses: str = "") -> str:
    """One line saying that the network `spec` (found at `where`) measures nothing (`uses`: what
    is read from it; else its fd_ and kd_ distances), and what to do instead: the line that
    `warn_once` prints and an evaluation keeps."""
    acc = f"{spec.accuracy:.1%} held-out accuracy, chance is {chance(spec):.1%}"
    if spec.kind == "rotation":
        task = "telling the 4 rotations of an image apart"
        fix = (
            "images without an upright orientation (noise, textures, symmetric shapes) defeat "
            "it; use eval.features=[inception]"
        )
        if spec.name != "rotnet":
            fix += " or retrain it (ganhub features train: more images, more epochs)"
    else:
        task = f"telling its {spec.classes} classes apart"
        fix = "retrain it on more labelled images, or more epochs"
    uses = uses or f"fd_{spec.name} and kd_{spec.name} on its features"
    return (
        f"feature network '{spec.name}' ({where}) is near chance at {task} ({acc}): {uses} "
        f"measure nothing; {fix}"
    )


def warn_near_chance(spec: Any, where: str, uses: str = "") -> None:
    """`chance_warning` through `warn_once` when the network is near chance; else nothing."""
    if near_chance(spec):
        from ganhub.metrics import warn_once

        warn_once(chance_warning(spec, where, uses))


def checked(extractor: Any, path: Path) -> Any:
    """A local feature network's extractor (read from `path`), after warning
    (`warn_near_chance`) when it is near chance: called each time an evaluation gets it, so
    every evaluation's result keeps the line (stderr shows it once)."""
    warn_near_chance(extractor.spec, str(path.with_suffix(".json")))
    return extractor


__all__ = [
    "RESERVED_NAMES",
    "chance",
    "chance_warning",
    "check_name",
    "checked",
    "near_chance",
    "read_spec_fields",
]
