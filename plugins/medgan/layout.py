"""Where a sample's files lie under data.path (the task's subfolders and what each holds), and the
manifest of a folder `ganhub data convert --to nifti` wrote (the settings it was made with).

Both depend on the config alone: the folder loader (`folder.py`), `ganhub data check`
(`checks.py`) and `ganhub data convert` (`data.py`) share them.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePath
from typing import Any

from ganhub_medgan.config import LAYOUT_KEYS, MedData
from ganhub_medgan.volume import first_line

from ganhub.errors import ConfigError, UsageError, one_line

MANIFEST = "ganhub_medgan.json"  # written by `ganhub data convert --to nifti`
FORMAT = "ganhub-medgan-nifti/1"


def layout(task: str, cfg: MedData) -> tuple[tuple[str, str], ...]:
    """(role, subfolder under data.path) of each file a sample has, in order; generate reads
    data.path itself (""). A role ending in "mask" is a lesion mask."""
    if task == "lesion":
        return (("image", cfg.image_dir), ("mask", cfg.mask_dir))
    if task == "translate":
        return (("source", cfg.source_dir), ("target", cfg.target_dir))
    if task == "progress":
        scans = (("baseline", cfg.baseline_dir), ("followup", cfg.followup_dir))
        if cfg.baseline_mask_dir is None or cfg.followup_mask_dir is None:
            return scans
        masks = (("baseline_mask", cfg.baseline_mask_dir), ("followup_mask", cfg.followup_mask_dir))
        return scans + masks
    return (("image", ""),)


def layout_keys(task: str, cfg: MedData) -> tuple[str, ...]:
    """The data.* keys naming the task's subfolders, in `layout` order (generate: none)."""
    keys = LAYOUT_KEYS.get(task, ())
    if task == "progress" and cfg.baseline_mask_dir is not None:
        keys += ("baseline_mask_dir", "followup_mask_dir")
    return keys


def check_subdirs(task: str, cfg: MedData) -> None:
    """The subfolder keys name distinct folders inside data.path: no absolute path, no '..',
    no two keys naming one folder (one line naming the keys)."""
    assert cfg.path is not None
    given = cfg.model_dump()
    seen: dict[Path, str] = {}
    for key in layout_keys(task, cfg):
        sub = given[key]
        shown = f"data.{key}='{one_line(sub)}'"
        if PurePath(sub).is_absolute() or ".." in PurePath(sub).parts:
            raise ConfigError(
                f"{shown}: name a subfolder of data.path, relative to it and without '..' "
                f"(e.g. {MedData.model_fields[key].default}); training reads files inside "
                "data.path only: copy the files in, or point data.path at their parent"
            )
        # a symlink leading out of data.path: refused by `scan_items`, naming the link
        target = (cfg.path / sub).resolve()
        if target in seen:
            raise ConfigError(
                f"data.{seen[target]}='{one_line(given[seen[target]])}' and {shown} name the "
                f"same folder; the task's files must be in different subfolders"
            )
        seen[target] = key


def subdirs(task: str, cfg: MedData) -> tuple[str, ...]:
    """The task's subfolders under data.path, in `layout` order."""
    return tuple(sub for _, sub in layout(task, cfg))


def roles(task: str, cfg: MedData) -> tuple[str, ...]:
    """What each of the task's files holds, in `layout` order."""
    return tuple(role for role, _ in layout(task, cfg))


def is_mask(role: str) -> bool:
    """Whether files of this role are lesion masks (read with the mask rule)."""
    return role.endswith("mask")


# -- converted folders --------------------------------------------------------------------------


def loader_settings(task: str, cfg: MedData, spatial_dims: int, size: int) -> dict[str, Any]:
    """The settings that decide what the loader gives (a converted folder records them)."""
    settings: dict[str, Any] = {
        "task": task,
        "spatial_dims": spatial_dims,
        "model.image_size": size,
        "data.orientation": cfg.orientation,
        "data.pixdim": cfg.pixdim,
        "data.percentiles": list(cfg.percentiles),
        "data.fit": cfg.fit,
    }
    if spatial_dims == 2:
        settings["data.slices_per_volume"] = cfg.slices_per_volume
    if any(is_mask(role) for role in roles(task, cfg)):
        settings["data.mask_threshold"] = cfg.mask_threshold
    return json.loads(json.dumps(settings))  # as a manifest holds them (lists, floats)


def read_manifest(root: Path) -> dict[str, Any] | None:
    """The manifest of a folder `ganhub data convert --to nifti` wrote, or None."""
    path = root / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"'{one_line(path)}' is unreadable: {one_line(first_line(exc))}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UsageError(f"'{one_line(path)}' is not a manifest of ganhub data convert --to nifti")
    return manifest


def converted_for(task: str, cfg: MedData, spatial_dims: int, size: int) -> bool:
    """Whether data.path holds volumes converted for these settings (read as they are);
    raises, naming the first setting that differs, when it holds them for others."""
    assert cfg.path is not None
    manifest = read_manifest(cfg.path)
    if manifest is None:
        return False
    made = manifest.get("settings")
    made = made if isinstance(made, dict) else {}
    for key, value in loader_settings(task, cfg, spatial_dims, size).items():
        if made.get(key) != value:
            was = json.dumps(made.get(key))
            raise UsageError(
                f"data.path='{one_line(cfg.path)}' holds volumes converted for {key}={was} "
                f"(ganhub data convert); this run has {key}={json.dumps(value)}: set "
                f"{key}={was}, or convert the original data with this run's settings"
            )
    return True


__all__ = [
    "FORMAT",
    "MANIFEST",
    "check_subdirs",
    "converted_for",
    "is_mask",
    "layout",
    "layout_keys",
    "loader_settings",
    "read_manifest",
    "roles",
    "subdirs",
]
