"""Opening a folder written by `ganhub export` (what `ganhub.load` calls): the folder is
untrusted, so its manifest is size-limited and checked, its weights are read with safetensors
(nothing is unpickled) and every tensor must fit the model its config.yaml builds.

What such a folder leaves out of its run's config is decided here too (`shareable_config`):
an export is made for sharing, so its config.yaml holds no path of the machine the run trained
on, and a command given one back (`data.path=FOLDER`) reads the data as the run did."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganhub.errors import UsageError, one_line
from ganhub.plural import counted

if TYPE_CHECKING:
    from pydantic import BaseModel
    from torch import Tensor

    from ganhub.engine.system import ExportSpec

MANIFEST = "export.json"  # its presence makes a folder an export for `ganhub.load`
WEIGHTS = "generator.safetensors"
EXPORT_VERSION = 1
MAX_MANIFEST_BYTES = 1 << 20
# What an export's config.yaml holds where the run had a local path: not null, which means the
# built-in data to most domains (a cyclegan run without data.path trains on digits), but a
# value that says a path was there and, where a command reads it, fails as a missing file
# naming the key, so the command says to give it (`data.path=FOLDER`)
NOT_EXPORTED = "<not exported>"
# text that names a place on a machine: an absolute or home path (POSIX or Windows), a
# file: or sqlite: URI
_LOCAL = re.compile(r"^([/~]|[A-Za-z]:[\\/]|\\\\|(file|sqlite):)", re.IGNORECASE)


def shown_path(path: Path) -> str:
    """A path as one line of an error message."""
    return one_line(path, 200)


def is_local_path(text: str) -> bool:
    """Whether `text` names a place on a machine (an absolute path, ~, a file: URI...)."""
    return bool(_LOCAL.match(text))


def shareable_config(config: BaseModel) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(the config as an export's config.yaml holds it, {dotted key: the texts left out}).

    Every value of a path-typed key (`holds_path`: data.path, data.labels,
    eval.inception_weights, init_from, and whatever key a domain, trick or logger types as a
    path) becomes NOT_EXPORTED, and so does any other text that names a local place (an
    absolute subfolder, a sqlite: URI, a path inside a dict such as a language model's
    config.json); lists of names (classes, tricks) are left as they are. out_dir and resume
    say where this machine keeps runs, not what the model is: they get their defaults. None
    stays None. A key its source export left out already is listed with no texts."""
    data = config.model_dump(mode="json")
    left: dict[str, list[str]] = {}
    _leave_out(config, data, "", left)
    return data, left


def _leave_out(
    model: BaseModel, data: dict[str, Any], prefix: str, left: dict[str, list[str]]
) -> None:
    from pydantic import BaseModel
    from pydantic_core import to_jsonable_python

    from ganhub.config.schema import KEPT_AS_TYPED, holds_path

    for name, field in type(model).model_fields.items():
        value, dumped, key = getattr(model, name, None), data.get(name), prefix + name
        if isinstance(value, BaseModel) and isinstance(dumped, dict):
            _leave_out(value, dumped, f"{key}.", left)
        elif dumped is None:
            continue
        elif not prefix and name in KEPT_AS_TYPED:
            default = to_jsonable_python(field.get_default(call_default_factory=True))
            if dumped != default:
                data[name], left[key] = default, [str(dumped)]
        elif holds_path(field.annotation):
            data[name] = mark_local(dumped, key, left, every=True)
        elif isinstance(dumped, str | dict):  # typed lists (class names) hold names
            data[name] = mark_local(dumped, key, left, every=False)


def mark_local(value: Any, key: str, left: dict[str, list[str]], every: bool = False) -> Any:
    """`value` (JSON data) with NOT_EXPORTED for each text in it that names a local place
    (`every`: for each text, as a path key holds paths), its key and text noted in `left`."""
    if isinstance(value, dict):
        return {k: mark_local(v, f"{key}.{k}", left, every) for k, v in value.items()}
    if isinstance(value, list):
        return [mark_local(v, key, left, every) for v in value]
    if value == NOT_EXPORTED:
        left.setdefault(key, [])
    elif isinstance(value, str) and (every or is_local_path(value)):
        left.setdefault(key, []).append(value)
        return NOT_EXPORTED
    return value


def read_manifest(folder: Path) -> dict[str, Any]:
    """export.json of an exported folder, checked (untrusted): a one-line error when it is not
    what `ganhub export` writes."""
    path = folder / MANIFEST
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"'{shown_path(path)}' cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise UsageError(f"'{shown_path(path)}' is larger than {MAX_MANIFEST_BYTES >> 20} MiB")
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError):
        raise UsageError(f"'{shown_path(path)}' is not valid JSON") from None
    version = manifest.get("ganhub_export") if isinstance(manifest, dict) else None
    if type(version) is not int or version != EXPORT_VERSION:
        raise UsageError(
            f"'{shown_path(path)}' is not a ganhub export manifest of version {EXPORT_VERSION}"
        )
    step, plugin = manifest.get("step"), manifest.get("plugin")
    if type(step) is not int or step < 0 or not isinstance(plugin, str):
        raise UsageError(f"'{shown_path(path)}' has no whole-number 'step' or no 'plugin'")
    return manifest


def read_weights(folder: Path, plugin: str) -> tuple[Path, dict[str, Tensor], int]:
    """(path, tensors, step) of an exported folder whose config names `plugin`: the manifest
    must agree, and generator.safetensors must load and hold only finite values. Nothing is
    unpickled; the caller builds the system and `restore`s the tensors into it."""
    from safetensors.torch import load_file

    from ganhub.engine import checkpoint

    manifest = read_manifest(folder)
    if manifest["plugin"] != plugin:
        raise UsageError(
            f"'{shown_path(folder / MANIFEST)}' names plugin '{one_line(manifest['plugin'], 60)}' "
            f"but its config.yaml '{plugin}'"
        )
    path = folder / WEIGHTS
    try:
        tensors = load_file(str(path))
    except Exception as exc:  # SafetensorError, OSError...: one line whatever it was
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"'{shown_path(path)}' is unreadable: {one_line(reason, 200)}") from None
    bad = checkpoint.nonfinite(tensors)
    if bad:
        raise UsageError(
            f"'{shown_path(path)}' holds non-finite weights ({one_line(bad[0], 80)}...)"
        )
    return path, tensors, manifest["step"]


def restore(spec: ExportSpec, tensors: dict[str, Tensor], path: Path, plugin: str) -> None:
    """Load `<role>.<key>` tensors into the declared modules; every module must get all of its
    tensors and every tensor must have a place."""
    from ganhub.engine import checkpoint

    by_role: dict[str, dict[str, Tensor]] = {role: {} for role in spec.state}
    stray = []
    for key, value in tensors.items():
        role, _, rest = key.partition(".")
        if role in by_role and rest:
            by_role[role][rest] = value
        else:
            stray.append(key)
    if stray:
        shown = ", ".join(one_line(k, 60) for k in stray[:3])
        raise UsageError(
            f"'{shown_path(path)}' holds {counted(len(stray), 'tensors')} this '{plugin}' model "
            "has no place "
            f"for ({shown})"
        )
    for role, module in spec.state.items():
        mismatch = checkpoint.load_fitting(module, by_role[role])
        if mismatch:
            raise UsageError(
                f"'{shown_path(path)}' does not fit its config.yaml: {role}: {mismatch}"
            )


__all__ = [
    "MANIFEST",
    "NOT_EXPORTED",
    "WEIGHTS",
    "is_local_path",
    "mark_local",
    "read_manifest",
    "read_weights",
    "restore",
    "shareable_config",
    "shown_path",
]
