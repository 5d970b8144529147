"""Opening a folder written by `ganhub export` (what `ganhub.load` calls): the folder is
untrusted, so its manifest is size-limited and checked, its weights are read with safetensors
(nothing is unpickled) and every tensor must fit the model its config.yaml builds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganhub.errors import UsageError, one_line

if TYPE_CHECKING:
    from torch import Tensor

    from ganhub.engine.system import ExportSpec

MANIFEST = "export.json"  # its presence makes a folder an export for `ganhub.load`
WEIGHTS = "generator.safetensors"
EXPORT_VERSION = 1
MAX_MANIFEST_BYTES = 1 << 20


def shown_path(path: Path) -> str:
    """A path as one line of an error message."""
    return one_line(path, 200)


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
            f"'{shown_path(path)}' holds {len(stray)} tensor(s) this '{plugin}' model has no place "
            f"for ({shown})"
        )
    for role, module in spec.state.items():
        mismatch = checkpoint.load_fitting(module, by_role[role])
        if mismatch:
            raise UsageError(
                f"'{shown_path(path)}' does not fit its config.yaml: {role}: {mismatch}"
            )
