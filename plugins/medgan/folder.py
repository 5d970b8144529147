"""Real data: a folder of NIfTI files or DICOM series, read with MONAI transforms once, in memory.

Each file is read and preprocessed by `volume.py` (reorientation, resampling, intensity
scaling, mask thresholding, slicing, resizing). Files are decoded by DataLoader workers
(`trainer.num_workers`), then served from memory.

Pairs (lesion: images/ + masks/, translate: source/ + target/, progress: baseline/ +
followup/) are matched by file name without the suffix (`case01.nii.gz` <-> `case01.nii`);
a DICOM series is a folder holding DICOM files (`.dcm`, or 'DICM' at byte 128), named by the
folder; other folders are not read. Two files of one name in a folder (`a.nii` and
`a.nii.gz`) cannot be paired: an error naming both. A file that cannot be read (or holds
NaN/Inf voxels, or whose partner has another voxel grid) stops with an error naming it, unless
`data.skip_bad=true`, which skips it (and its partner) with a warning. Warnings are one line
each on stderr, naming the file: a mask that is empty after thresholding although it held
non-zero values, a lesion the slicing or resizing loses, a constant volume, partners whose
spacing or origin differ. When every mask of a lesion folder is empty, loading stops before
training, saying why and which setting would help.
A symlink named as a scan that leads nowhere (a missing target, links that loop) is an
unreadable file. After the last sample, the loader gives the run one note when loading
changed the images' proportions (`notes.py`); notes and warnings are printed by rank 0 only
under torchrun.

A folder written by `ganhub data convert --to nifti` (`ganhub_medgan.data`) holds the volumes
as this loader gives them, with a manifest of the settings they were made with (its name,
MANIFEST, and how it is read are in `layout.py`; MANIFEST is re-exported here): it is read as
it is (no resampling, no rescaling), and refused with one line when the run's settings differ.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from ganhub_medgan.config import MedData
from ganhub_medgan.layout import (
    MANIFEST,
    check_subdirs,
    converted_for,
    is_mask,
    roles,
    subdirs,
)
from ganhub_medgan.notes import AspectNotes, note, warn
from ganhub_medgan.outputs import NIFTI_SUFFIXES
from ganhub_medgan.volume import (
    MaskFacts,
    Volume,
    dicom_readable,
    load_converted,
    load_file,
    pair_problems,
)
from torch import Tensor

from ganhub.data import worker_stops_on_sigterm
from ganhub.data.images import refuse_leaving
from ganhub.data.links import record_leaving
from ganhub.errors import ConfigError, UsageError, one_line
from ganhub.plural import counted


def item_name(path: Path) -> str:
    """The pairing key of a file or DICOM series folder: its name without the suffix."""
    for suffix in (*NIFTI_SUFFIXES, ".dcm"):
        if path.name.lower().endswith(suffix):
            return path.name[: -len(suffix)]
    return path.name


def is_dicom(path: Path) -> bool:
    """A DICOM file: named .dcm, or the 'DICM' magic after its 128-byte preamble."""
    if path.name.lower().endswith(".dcm"):
        return True
    try:
        with path.open("rb") as f:
            return f.read(132)[128:] == b"DICM"
    except OSError:
        return False


def is_item(path: Path) -> bool:
    """A NIfTI file or a DICOM series (a folder holding DICOM files)."""
    if path.name.startswith("."):
        return False
    if path.is_file():
        return path.name.lower().endswith(NIFTI_SUFFIXES)
    # any other folder (notes/, a lesion set's images/ under a generate path) is not a series
    return path.is_dir() and any(p.is_file() and is_dicom(p) for p in path.iterdir())


def broken_links(folder: Path) -> list[Path]:
    """Entries of `folder` named as NIfTI files or DICOM files that are symlinks leading to
    nothing (a missing target, or links that loop): no file to read, so not items."""
    names = (*NIFTI_SUFFIXES, ".dcm")
    return [
        path
        for path in sorted(folder.iterdir())
        if path.is_symlink() and not path.exists() and not path.name.startswith(".")
        if path.name.lower().endswith(names)
    ]


def link_target(path: Path) -> str:
    """Where symlink `path` points, as stored (one line)."""
    try:
        return one_line(os.readlink(path))
    except OSError:
        return "?"


def broken_line(path: Path) -> str:
    """The problem of a broken symlink (one line, naming it and where it points)."""
    return f"'{one_line(path)}' is a broken symlink (to '{link_target(path)}'): no file to read"


def scan_items(folder: Path, root: Path | None = None) -> dict[str, list[Path]]:
    """NIfTI files and DICOM series directly under `folder`, by name (several when files
    share one, `a.nii` and `a.nii.gz`); a symlink leading out of the data folder `root`
    (default `folder`) is refused, as in every image folder (`walk_files`): `folder` itself
    (a task folder linked elsewhere), an entry, or a file of a DICOM series (`ganhub data
    check` reports each entry or series file, skipped, and lists the rest)."""
    data = root or folder
    base = data.resolve()
    refuse_leaving(folder, data, base)
    items: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.is_symlink() and _leaves(path, data, base):
            continue
        if is_item(path):
            if path.is_dir():  # a series: its files are read too
                parts = [p for p in sorted(path.iterdir()) if p.is_symlink()]
                if any([_leaves(part, data, base) for part in parts]):  # each one reported
                    continue
            items.setdefault(item_name(path), []).append(path)
    return items


def _leaves(link: Path, data: Path, base: Path) -> bool:
    """Whether symlink `link` leads out of data folder `data` (`base` resolved) in `ganhub data
    check`/`clean`: recorded and skipped; a run refuses it (ConfigError naming the link)."""
    try:
        refuse_leaving(link, data, base)
    except ConfigError:
        if not record_leaving(link, data):
            raise
        return True
    return False


def list_items(folder: Path, root: Path | None = None) -> dict[str, Path]:
    """NIfTI files and DICOM series directly under `folder` by name, the first of each name."""
    return {name: paths[0] for name, paths in scan_items(folder, root).items()}


def clash_line(paths: list[Path]) -> str:
    """The problem of files that share a name (one line)."""
    others = " and ".join(f"'{one_line(p)}'" for p in paths[1:])
    return (
        f"'{one_line(paths[0])}' and {others} share the name '{one_line(item_name(paths[0]))}', "
        "which is how files pair up; keep one of them (or rename it)"
    )


def check_folder(task: str, cfg: MedData) -> None:
    """Config-time checks: data.path and the task's subfolders exist and hold images."""
    if cfg.path is None:
        raise ConfigError(
            "data.path is required for folder data: data=folder data.path=/path/to/dir"
        )
    shown = one_line(cfg.path)
    if not cfg.path.exists():
        raise ConfigError(f"data.path='{shown}': folder does not exist")
    if not cfg.path.is_dir():
        raise ConfigError(f"data.path='{shown}' is a file; give the folder of NIfTI volumes")
    check_subdirs(task, cfg)
    dirs = subdirs(task, cfg)
    for sub in dirs:
        if not (cfg.path / sub).is_dir():
            raise ConfigError(
                f"data.path='{shown}': task={task} needs the subfolders "
                f"{' and '.join(repr(s + '/') for s in dirs)}; '{sub}/' is missing"
            )
    for sub in dirs:
        folder = cfg.path / sub
        items = list_items(folder, cfg.path)
        if not items:
            for path in sorted(folder.iterdir()):  # only links leading out (the check skips
                if path.is_symlink():  # them): the first one is the reason, not "no files"
                    refuse_leaving(path, cfg.path)
            broken = broken_links(folder)
            if broken:  # only links leading nowhere: name one, not "holds no NIfTI files"
                raise ConfigError(
                    f"data.path: {broken_line(broken[0])}; fix the link or remove it "
                    f"('{one_line(folder)}' holds no readable scan: "
                    f"{counted(len(broken), 'broken symlinks')})"
                )
            raise ConfigError(
                f"data.path: '{one_line(folder)}' holds no NIfTI (.nii, .nii.gz) files or DICOM "
                "series" + nested_hint(folder, cfg.path)
            )
        series = [p for p in items.values() if p.is_dir()]
        if series and not dicom_readable():
            raise ConfigError(
                f"data.path: '{one_line(series[0])}' is a DICOM series; reading DICOM needs "
                "pydicom (pip install pydicom) or itk"
            )


def nested_hint(folder: Path, root: Path | None = None) -> str:
    """The error's tail when `folder` holds no files but its subfolders do (a lesion set);
    their links are judged against the data folder `root` (default `folder`)."""
    nested = sorted(
        f"'{one_line(p.name)}/'"
        for p in folder.iterdir()
        if p.is_dir() and not p.name.startswith(".") and list_items(p, root or folder)
    )
    if not nested:
        return ""
    return f"; its subfolders {', '.join(nested)} hold some, but only files directly in it are read"


class Listing(NamedTuple):
    """A folder's samples by name, and the files that cannot be paired."""

    pairs: list[tuple[str, tuple[Path, ...]]]  # (name, files in `layout` order) per sample
    lonely: list[tuple[Path, Path]]  # (file, the first folder its partner is missing from)
    clashes: list[tuple[list[Path], list[Path]]]  # (files of one name, their partners)


def pair_listing(task: str, cfg: MedData) -> Listing:
    """Samples by name, files without a partner, and files sharing a name (left out)."""
    assert cfg.path is not None
    folders = [cfg.path / sub for sub in subdirs(task, cfg)]
    listed = [scan_items(f, cfg.path) for f in folders]
    names = sorted(set.intersection(*(set(items) for items in listed)))
    lonely = [
        (items[name][0], next(f for f, other in zip(folders, listed) if name not in other))
        for items in listed
        for name in sorted(set(items) - set(names))
    ]
    clashes = []
    for items in listed:
        for name, paths in items.items():
            if len(paths) > 1:
                partners = [
                    p for other in listed if other is not items for p in other.get(name, [])
                ]
                clashes.append((paths, partners))
    shared = {item_name(paths[0]) for paths, _ in clashes}
    pairs = [(n, tuple(items[n][0] for items in listed)) for n in names if n not in shared]
    return Listing(pairs, lonely, clashes)


def pair_items(task: str, cfg: MedData) -> list[tuple[str, tuple[Path, ...]]]:
    """(name, files) per sample: one file for generate, else one in each of the task's folders."""
    assert cfg.path is not None
    broken = [p for sub in subdirs(task, cfg) for p in broken_links(cfg.path / sub)]
    if broken:  # never silent: a file the user put there that cannot be read
        message = broken_line(broken[0]) + "; fix the link or remove it"
        if len(broken) > 1:
            message += f" ({len(broken)} broken symlinks)"
        if not cfg.skip_bad:
            raise UsageError(message + "; data.skip_bad=true skips them (and their partners)")
        warn(f"skipping: {message}")
    pairs, lonely, clashes = pair_listing(task, cfg)
    if clashes:
        message = clash_line(clashes[0][0])
        if len(clashes) > 1:
            message += f" ({len(clashes)} such names)"
        if not cfg.skip_bad:
            raise UsageError(message + "; data.skip_bad=true skips them")
        warn(f"skipping files that share a name (and their partners): {message}")
    if lonely:
        path, other = lonely[0]
        message = (
            f"'{one_line(path)}' has no partner named '{one_line(item_name(path))}' in "
            f"'{one_line(other)}' "
            f"({counted(len(lonely), 'unpaired files')}); pairs are matched by file name"
        )
        if not cfg.skip_bad:
            raise UsageError(message + "; set data.skip_bad=true to skip unpaired files")
        warn(f"skipping unpaired files: {message}")
    if not pairs:
        assert cfg.path is not None
        folders = " and ".join(f"'{one_line(cfg.path / sub)}'" for sub in subdirs(task, cfg))
        raise UsageError(f"no pairs: no file name appears in all of {folders}")
    return pairs


# -- the whole folder ---------------------------------------------------------------------------


class _Items(torch.utils.data.Dataset[tuple[list[Volume], str, list[str]]]):
    """Decode each sample's files in a worker; failures and warnings come back as lines."""

    def __init__(
        self,
        items: list[tuple[str, tuple[Path, ...]]],
        cfg: MedData,
        dims: int,
        size: int,
        task: str,
        converted: bool = False,
    ) -> None:
        self.items, self.cfg, self.dims, self.size, self.task = items, cfg, dims, size, task
        self.converted = converted

    def __len__(self) -> int:
        return len(self.items)

    def load(self, path: Path, mask: bool) -> Volume:
        """One file, the way this folder is read."""
        if self.converted:
            return load_converted(path, self.dims, self.size, mask)
        return load_file(path, self.cfg, self.dims, self.size, mask)

    def __getitem__(self, i: int) -> tuple[list[Volume], str, list[str]]:
        _, paths = self.items[i]
        kinds = roles(self.task, self.cfg)
        try:
            vols = [self.load(p, mask=is_mask(role)) for p, role in zip(paths, kinds)]
        except UsageError as exc:
            return [], str(exc), []
        lines = [f"'{p}': {w}" for p, v in zip(paths, vols) for w in v.warnings]
        for path, vol in zip(paths[1:], vols[1:]):  # every partner on the first file's grid
            error, warning = pair_problems(vols[0], vol, str(paths[0]), str(path))
            if error:
                return [], error, lines
            if warning:
                lines.append(warning)
        return vols, "", lines


def scan_loader(dataset: torch.utils.data.Dataset[Any], num_workers: int) -> Iterable[Any]:
    """The items of `dataset` in order, read by `num_workers` DataLoader workers: the start-up
    scans of a folder (a run's `iter_folder`, `ganhub data check`). A worker ends on SIGTERM
    as on Ctrl-C (`worker_stops_on_sigterm`), so a job stopped mid-scan (`kill -TERM -PGID`,
    SLURM) ends with `ganhub: terminated`: a worker killed by the signal's default action
    made the DataLoader raise 'DataLoader worker ... killed by signal' in the main process.
    Its own generator: each pass draws a base seed for the workers, from torch's global one
    without it, so reading a folder moved the stream that a run's noise (and a caller's
    script, after `ganhub data check`) draws from; reading is not random, any seed serves."""
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        num_workers=num_workers,
        collate_fn=lambda x: x,
        worker_init_fn=worker_stops_on_sigterm,
        generator=torch.Generator().manual_seed(0),
    )


def iter_folder(
    task: str,
    cfg: MedData,
    spatial_dims: int,
    size: int,
    num_workers: int = 0,
    notes: list[str] | None = None,
) -> Iterator[tuple[str, list[Volume]]]:
    """Each usable sample of the folder, preprocessed, as (name, its volumes in `layout`
    order), in name order; the loader's warnings go to stderr as they come. After the last
    sample, the note on the proportions loading changed is appended to `notes` (for the run
    to say once). A lesion folder whose masks are all empty raises after the last sample
    (before any training)."""
    check_folder(task, cfg)
    converted = converted_for(task, cfg, spatial_dims, size)
    items = pair_items(task, cfg)
    loader = scan_loader(_Items(items, cfg, spatial_dims, size, task, converted), num_workers)
    masks: list[MaskFacts] = []
    count = 0
    depths: list[int] = []  # 2D runs: the depth of each volume with fewer slices than asked
    aspect = AspectNotes(spatial_dims, cfg.fit)  # what `ganhub data check` says per file
    for (name, paths), (vols, error, lines) in zip(items, loader):  # in order, with workers too
        for line in lines:
            warn(line)
        if error:
            if not cfg.skip_bad:
                raise UsageError(one_line(error) + " (set data.skip_bad=true to skip such files)")
            warn(f"skipping: {error}")
            continue
        masks += [v.mask for v in vols if v.mask is not None]
        taken = len(vols[0].image)  # 2D: the slices taken (a volume's all, when it is shallower)
        if spatial_dims == 2 and len(vols[0].shape) == 3 and taken < cfg.slices_per_volume:
            depths.append(taken)
        if not converted:  # a converted folder is read as it is
            aspect.add(paths[0], vols[0])
        count += 1
        yield name, vols
    if not count:
        raise UsageError(f"data.path='{one_line(cfg.path)}': no readable samples")
    if depths:  # one line for the folder, not one per file
        shown = f"{min(depths)}" if min(depths) == max(depths) else f"{min(depths)}-{max(depths)}"
        note(
            f"data.slices_per_volume={cfg.slices_per_volume}, but {len(depths)} "
            f"of {count} volumes have fewer axial slices ({shown}): all of their slices are taken"
        )
    if notes is not None and aspect.line(count):
        notes.append(aspect.line(count))
    if task == "lesion" and not any(m.loaded for m in masks):
        raise UsageError(all_empty(cfg, masks, size))


def load_folder(
    task: str,
    cfg: MedData,
    spatial_dims: int,
    size: int,
    num_workers: int = 0,
    notes: list[str] | None = None,
) -> tuple[list[Tensor], np.ndarray]:
    """Every sample of the folder, preprocessed: (one tensor per `layout` role, affines), and
    the loader's notes for the run in `notes` (`iter_folder`). A lesion folder whose masks
    are all empty stops here, before training."""
    columns: list[list[Tensor]] = []
    affines: list[np.ndarray] = []
    for _, vols in iter_folder(task, cfg, spatial_dims, size, num_workers, notes):
        columns = columns or [[] for _ in vols]
        for column, vol in zip(columns, vols):
            column.append(vol.image)
        affines.append(vols[0].affine)
    return [torch.cat(c) for c in columns], np.concatenate(affines)


def all_empty(cfg: MedData, masks: list[MaskFacts], size: int) -> str:
    """The one line that stops a lesion run whose masks are all empty: why, and what helps."""
    assert cfg.path is not None
    high = max((m.high for m in masks), default=0.0)
    sliced = sum(1 for m in masks if m.lesion and not m.sliced)
    resized = sum(1 for m in masks if m.sliced and not m.loaded)
    soft = sum(1 for m in masks if m.nonzero and not m.lesion)
    whys, fixes = [], []
    if sliced:  # a 2D run took slices that miss the lesions: more slices, or whole volumes
        whys.append(f"{sliced} lose their lesion outside the central axial slice(s) taken")
        fixes.append(
            f"raise data.slices_per_volume (now {cfg.slices_per_volume}) or train on volumes "
            "with spatial_dims=3"
        )
    if resized:
        whys.append(f"{resized} lose their lesion when resized to {size}")
        fixes.append("raise model.image_size or keep the spacing with data.fit=crop_pad")
    if soft:
        whys.append(
            f"{soft} are soft masks with no value >= data.mask_threshold={cfg.mask_threshold:g}, "
            f"the largest mask value is {high:g}"
        )
        fixes.append("lower data.mask_threshold")
    return (
        f"every lesion mask under '{one_line(cfg.path / cfg.mask_dir)}' is empty "
        f"({counted(len(masks), 'masks')}; {'; '.join(whys) or 'none has a non-zero voxel'}): "
        f"training would see no lesion; {' or '.join(fixes) or 'check the masks'}"
    )


__all__ = [
    "MANIFEST",
    "Listing",
    "all_empty",
    "broken_line",
    "broken_links",
    "check_folder",
    "clash_line",
    "is_dicom",
    "is_item",
    "item_name",
    "iter_folder",
    "link_target",
    "list_items",
    "load_folder",
    "nested_hint",
    "pair_items",
    "pair_listing",
    "scan_items",
    "scan_loader",
]
