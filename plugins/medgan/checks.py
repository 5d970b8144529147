"""What `ganhub data check plugin=medgan` finds: `Domain.inspect_data` on a folder or the phantoms.

`inspect_data` reads a NIfTI/DICOM folder with the loader's own rules (`folder.py`: pairing by
file name; `volume.py`: the mask rule, reorientation, resampling, slicing, resizing) and
says per file what is wrong and what the loader does about it; item names are paths relative to
data.path, so `ganhub data clean` copies the kept ones (a pair is kept or dropped as a whole).
The embedded phantoms are checked as the samples a run trains on (images, and masks for lesion).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from ganhub_medgan.config import MedGANConfig, inapplicable
from ganhub_medgan.folder import (
    all_empty,
    broken_links,
    check_folder,
    is_item,
    item_name,
    link_target,
    pair_listing,
    scan_loader,
)
from ganhub_medgan.layout import MANIFEST, converted_for, is_mask, roles, subdirs
from ganhub_medgan.notes import voxel_aspect
from ganhub_medgan.outputs import LESION_RULE
from ganhub_medgan.sniff import OWN_REASONS
from ganhub_medgan.volume import (
    LABELS_SHOWN,
    MaskFacts,
    Volume,
    axcodes,
    load_converted,
    nonfinite,
    pair_problems,
    prepare,
    read_file,
    spacing,
)

from ganhub.data.images import refuse_leaving
from ganhub.data.inspect import (
    CONVERT,
    DROP,
    KEEP,
    DataReport,
    Finding,
    Severity,
    find_duplicates,
    thumbnail,
)
from ganhub.errors import ConfigError, UsageError
from ganhub.plural import counted

if TYPE_CHECKING:
    from ganhub_medgan.system import MedDataset

STOP = "training stops"
TOP = 3  # header facts the summary lists by name (the rest are counted in one entry)


def inspect_data(config: MedGANConfig) -> DataReport:
    """The report `ganhub data check` prints: the folder's files, or the embedded phantoms."""
    problems = inapplicable(config)  # the run would refuse them: check what it would read
    if problems:
        raise ConfigError("; ".join(problems))
    if config.data.source == "folder":
        return inspect_folder(config)
    return inspect_phantoms(config)


def inspect_phantoms(config: MedGANConfig) -> DataReport:
    """The training split the run makes: images (both of each pair for translate and
    progress) for NaN/Inf, constant images and duplicates; lesion masks for values outside
    {0, 1} and emptiness."""
    from ganhub_medgan.system import build_split

    from ganhub.data.inspect import inspect_samples

    train = build_split(config, "train")
    dims, task = config.spatial_dims, config.task
    report = DataReport(f"medgan phantoms (task={task}, {dims}D)", f"{task} samples")
    columns: dict[str, torch.Tensor | None] = {"image": train.images}
    if task == "translate":
        columns = {"target": train.images, "source": train.conditions}
    if task == "progress":
        columns = {"follow-up": train.images, "baseline": train.conditions}
    for label, tensor in columns.items():
        assert tensor is not None
        sub = DataReport("", "")
        inspect_samples(sub, tensor, images=True)
        if not report.items:
            report.items = sub.items
        for f in sub.findings:
            problem = f"{label}: {f.problem}" if len(columns) > 1 else f.problem
            report.add(f.item, problem, f.action, f.severity)
    contrasts = (
        f"{config.data.source_contrast} -> {config.data.target_contrast}"
        if task == "translate"
        else config.data.contrast
    )
    report.summary = {
        "samples": len(train.images),
        "shape": list(train.images.shape[2:]),
        "contrast": contrasts,
        "made": "in memory from fixed seeds (data.n_samples, data.noise"
        + (", data.growth)" if task == "progress" else ")"),
    }
    if task == "lesion":
        assert train.masks is not None
        _phantom_masks(report, train)
    if task == "progress":
        assert train.masks is not None and train.prior_masks is not None
        before, after = float(train.prior_masks.mean()), float(train.masks.mean())
        report.summary["lesion voxels"] = f"{before:.2%} baseline, {after:.2%} follow-up"
    return report


def _phantom_masks(report: DataReport, train: MedDataset) -> None:
    assert train.masks is not None
    flat = train.masks.flatten(1)
    odd = ((flat != 0) & (flat != 1)).any(1)
    lesion = flat.sum(1)
    for i in odd.nonzero().flatten().tolist():
        report.add(f"sample {i}", "mask values outside {0, 1}", CONVERT, "note")
    for i in (lesion == 0).nonzero().flatten().tolist():
        report.add(f"sample {i}", "empty mask (no lesion)", KEEP, "warning")
    share = f"{float(flat.mean()):.2%}"
    report.summary["lesion voxels"] = share + (
        " (every mask has one)" if (lesion > 0).all() else ""
    )


def inspect_folder(config: MedGANConfig) -> DataReport:
    """Every file under data.path, read as the loader reads it (module doc)."""
    cfg, task, dims, size = config.data, config.task, config.spatial_dims, config.model.image_size
    assert cfg.path is not None
    root = cfg.path
    check_folder(task, cfg)
    masked = any(is_mask(role) for role in roles(task, cfg))
    kind = {
        "lesion": "files (image/mask pairs)",
        "translate": "files (source/target pairs)",
        "progress": "files (baseline/follow-up scans and their masks)"
        if masked
        else "files (baseline/follow-up pairs)",
    }
    report = DataReport(str(root), kind.get(task, "files"))
    try:
        converted = converted_for(task, cfg, dims, size)
    except UsageError as exc:
        report.items.append(MANIFEST)
        report.add(MANIFEST, str(exc), STOP, "error")
        return report
    if converted:
        report.items.append(MANIFEST)  # `data clean` copies it with the volumes
    pairs, lonely, clashes = pair_listing(task, cfg)

    def rel(path: Path) -> str:
        return path.relative_to(root).as_posix()

    for path, other in lonely:
        report.items.append(rel(path))
        where = f"{rel(other)}/" if other != root else "data.path"
        link = _leaving_partner(other, item_name(path), root)
        dead = [p for p in broken_links(other) if item_name(p) == item_name(path)]
        why = f"no partner named '{item_name(path)}' in {where}"
        if link is not None:
            why = f"its partner {rel(link)} is dropped (a symlink leading outside the data folder)"
        elif dead:
            why = f"its partner {rel(dead[0])} is dropped (a broken symlink)"
        report.add(rel(path), why, DROP, "error")
    for paths, partners in clashes:  # the loader cannot tell which file is meant: an error
        shared = " and ".join(rel(p) for p in paths)
        for path in paths:
            others = ", ".join(rel(p) for p in paths if p != path)
            why = f"shares the name '{item_name(path)}' with {others} (files pair up by name)"
            report.add(rel(path), why, DROP, "error")
        for path in partners:
            report.add(rel(path), f"its partner's name is shared by {shared}", DROP, "error")
        report.items += [rel(p) for p in (*paths, *partners) if rel(p) not in report.items]
    for sub in subdirs(task, cfg):
        broken = broken_links(root / sub)
        for path in broken:  # the loader stops on them (data.skip_bad=true: skips them)
            why = f"broken symlink (to '{link_target(path)}'): no file to read; fix or remove it"
            report.add(rel(path), why, DROP, "error")
        for path in sorted((root / sub).iterdir()):
            if path in broken:
                continue
            if not is_item(path) and not path.name.startswith(".") and path.name != MANIFEST:
                what = (
                    "a folder without DICOM files (not a series)"
                    if path.is_dir()
                    else "not a NIfTI file or DICOM series"
                )
                report.add(rel(path), f"{what}: not read", "ignore", "note")
    facts = _Facts()
    samples: list[list[str]] = []  # each sample's files (to count those a run trains on)
    thumbs: dict[str, np.ndarray] = {}
    groups: list[list[str]] = []  # each sample's files: dropping one drops its partners
    masks: list[MaskFacts] = []
    checks = scan_loader(_PairChecks(pairs, config, converted), config.trainer.num_workers)
    for done in checks:  # in name order, also with workers
        report.items += done.names
        samples.append(done.names)
        report.findings += done.findings
        for shape, affine in done.headers:
            facts.add(shape, affine)
        if len(done.names) > 1:
            groups.append(done.names)
        if done.thumb is not None:
            thumbs[done.names[0]] = done.thumb
        if done.mask is not None:
            masks.append(done.mask)
    find_duplicates(report, thumbs)
    # a partner goes with a dropped file, as seriously as it: an error when the loader stops
    # on (or skips) that file, a warning when only `data clean` drops it (a duplicate)
    worst: dict[str, Severity] = {}
    for f in report.findings:
        if f.action == DROP and worst.get(f.item) != "error":
            worst[f.item] = f.severity
    for names in groups:
        gone = [name for name in names if name in worst]
        severity: Severity = "error" if any(worst[n] == "error" for n in gone) else "warning"
        for member in names if gone else ():
            if member not in worst:
                first = next(n for n in gone if worst[n] == severity)
                report.add(member, f"its partner {first} is dropped", DROP, severity)
    if task == "lesion" and masks and not any(m.loaded for m in masks):
        report.add("(masks)", all_empty(cfg, masks, size), STOP, "error")
    # a run trains on the samples none of whose files is dropped for an error (it stops on
    # them, or skips them with data.skip_bad=true); a duplicate `data clean` drops is trained on
    usable = sum(1 for names in samples if not any(worst.get(n) == "error" for n in names))
    report.summary = facts.summary(config, usable, converted, masks)
    unusable = len(pairs) - usable
    if unusable:
        report.summary[f"{_noun(config)} dropped for errors (not counted above)"] = unusable
    return report


def _noun(config: MedGANConfig) -> str:
    """What the summary counts: samples (generate) or pairs."""
    return "samples" if config.task == "generate" else "pairs"


def _leaving_partner(folder: Path, name: str, root: Path) -> Path | None:
    """The entry of `folder` named `name` that is a symlink leading out of the data folder
    `root` (the check reports it and skips it), or None."""
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return None
    for path in entries:
        if path.is_symlink() and item_name(path) == name:
            try:
                refuse_leaving(path, root)
            except ConfigError:
                return path
    return None


@dataclass
class _Checked:
    """One sample's files checked (in a worker): what comes back to the report."""

    names: list[str]
    findings: list[Finding]
    headers: list[tuple[tuple[int, ...], np.ndarray]]  # (shape, affine) of each readable file
    thumb: np.ndarray | None  # of the image (source), for duplicates
    mask: MaskFacts | None  # of a usable sample's (last) mask


class _PairChecks(torch.utils.data.Dataset[_Checked]):
    """Check each sample's files as the loader decodes them, in DataLoader workers
    (`trainer.num_workers`): a large folder is read as fast as for training."""

    def __init__(
        self, pairs: list[tuple[str, tuple[Path, ...]]], config: MedGANConfig, converted: bool
    ) -> None:
        self.pairs, self.config, self.converted = pairs, config, converted

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> _Checked:
        _, paths = self.pairs[i]
        root = self.config.data.path
        assert root is not None
        names = [p.relative_to(root).as_posix() for p in paths]
        sub = DataReport("", "")
        headers: list[tuple[tuple[int, ...], np.ndarray]] = []
        kinds = roles(self.config.task, self.config.data)
        vols = []
        for j, (path, name, role) in enumerate(zip(paths, names, kinds)):
            mask_role, first = is_mask(role), j == 0
            vols.append(
                _check_file(sub, headers, name, path, self.config, mask_role, self.converted, first)
            )
        mask = None
        usable = [vol for vol in vols if vol is not None]
        if len(vols) > 1 and len(usable) == len(vols):
            failed = False
            for name, vol in zip(names[1:], usable[1:]):  # every partner on the first's grid
                error, warning = pair_problems(usable[0], vol, names[0], name)
                # the first file is named once, whichever partners disagree with it
                for each in ([name] if failed else [names[0], name]) if error else []:
                    sub.add(each, error, DROP, "error")
                if warning:
                    sub.add(name, warning, KEEP, "warning")
                failed = failed or bool(error)
            mask = None if failed else usable[-1].mask
        thumb = None if vols[0] is None else _thumb(vols[0].image)
        return _Checked(names, sub.findings, headers, thumb, mask)


class _Facts:
    """Header facts counted over the files, for the report's summary."""

    def __init__(self) -> None:
        self.shapes: Counter[str] = Counter()
        self.spacings: Counter[str] = Counter()
        self.orientations: Counter[str] = Counter()

    def add(self, shape: tuple[int, ...], affine: np.ndarray) -> None:
        self.shapes["x".join(map(str, shape))] += 1
        self.spacings["x".join(f"{v:.3g}" for v in spacing(affine, len(shape)))] += 1
        self.orientations[axcodes(affine, len(shape))] += 1

    def summary(
        self, config: MedGANConfig, n: int, converted: bool, masks: list[MaskFacts]
    ) -> dict[str, Any]:
        cfg, dims, size = config.data, config.spatial_dims, config.model.image_size
        out: dict[str, Any] = {
            "samples" if config.task == "generate" else "pairs (matched by name)": n,
            "shapes": _top(self.shapes),
            "spacings (mm)": _top(self.spacings),
            "orientations": _top(self.orientations),
        }
        if converted:
            out["loader"] = "converted by ganhub data convert: read as it is"
        else:
            steps = [f"reorient to {cfg.orientation}"]
            if cfg.pixdim:
                steps.append(f"resample to {'x'.join(f'{v:g}' for v in cfg.pixdim)} mm")
            if dims == 2:
                steps.append(f"central {counted(cfg.slices_per_volume, 'axial slices')} of volumes")
            steps.append(f"{cfg.fit} to {'x'.join([str(size)] * dims)}")
            steps.append(f"percentiles {cfg.percentiles[0]:g}-{cfg.percentiles[1]:g} to [-1, 1]")
            out["loader"] = ", ".join(steps)
        if any(is_mask(role) for role in roles(config.task, cfg)):
            out["mask rule"] = LESION_RULE.replace("data.mask_threshold", f"{cfg.mask_threshold:g}")
            out["lesion voxels (loaded)"] = sum(m.loaded for m in masks)
        return out


def _top(counts: Counter[str]) -> dict[str, int]:
    """The TOP most common values with their file counts, and how many others there are."""
    out = dict(counts.most_common(TOP))
    rest = counts.most_common()[TOP:]
    if rest:
        out[f"... and {len(rest)} more"] = sum(n for _, n in rest)
    return out


def _check_file(
    report: DataReport,
    headers: list[tuple[tuple[int, ...], np.ndarray]],
    name: str,
    path: Path,
    config: MedGANConfig,
    mask: bool,
    converted: bool,
    first: bool,
) -> Volume | None:
    """One file's findings; the volume the loader would give, or None when it gives none."""
    cfg, dims, size = config.data, config.spatial_dims, config.model.image_size
    try:
        if converted:
            vol = load_converted(path, dims, size, mask)
            headers.append((vol.shape, vol.grid))
        else:
            x = read_file(path, dims)
            values = np.asarray(x)
            headers.append((tuple(int(s) for s in x.shape), np.asarray(x.affine)))
            bad = nonfinite(values)
            if bad:
                report.add(name, f"{bad:,} NaN/Inf voxels (of {values.size:,})", DROP, "error")
                return None
            vol = prepare(x, cfg, dims, size, mask)
    except UsageError as exc:
        report.add(name, _problem(str(exc), path), DROP, "error")
        return None
    except Exception as exc:  # a transform failing on what the header says
        report.add(name, f"unusable: {str(exc).strip().splitlines()[0]}", DROP, "error")
        return None
    # the first file's note says what the loader does to the sample; a partner's (a mask)
    # says what its own header makes the loader do (its slicing and resizing are the first's)
    done = [step for step in vol.done if first or " reoriented to " in step or "resampled" in step]
    if first and not converted:
        done = voxel_aspect(done, vol, dims, cfg.fit)
    if done and not converted:
        report.add(name, "; ".join(done), CONVERT, "note")
    for line in vol.warnings:
        report.add(name, line, KEEP, "warning")
    m = vol.mask
    if m is not None:
        if m.nonzero == 0:
            report.add(name, "empty mask (every voxel 0)", KEEP, "warning")
        elif m.labels is not None and not m.binary:  # whole numbers: non-zero is lesion
            shown = ", ".join(f"{v:g}" for v in m.labels[:LABELS_SHOWN])
            shown += ", ..." if len(m.labels) > LABELS_SHOWN else ""
            kind = "label mask" if sum(1 for v in m.labels if v) > 1 else "mask"
            report.add(
                name,
                f"{kind} with values {{{shown}}}, not {{0, 1}}: every non-zero voxel is "
                f"lesion ({m.lesion:,} voxels)",
                CONVERT,
                "note",
            )
        elif m.lesion and not m.binary:
            scaled = f"divided by its max {m.high:g}, then " if m.scale != 1 else ""
            report.add(
                name,
                f"mask values in [{m.low:g}, {m.high:g}], not {{0, 1}}: {scaled}voxels >= "
                f"data.mask_threshold={cfg.mask_threshold:g} are lesion "
                f"({m.lesion:,} of {m.nonzero:,} non-zero voxels)",
                CONVERT,
                "note",
            )
    return vol


def _problem(message: str, path: Path) -> str:
    """A loader error as a report problem (the item column already names the file)."""
    head = f"cannot read medical image '{path}': "
    if message.startswith(head):
        rest = message[len(head) :]
        if rest.startswith(OWN_REASONS):  # the loader said what the file is
            return "unreadable: " + rest
        return "unreadable or truncated: " + rest
    return message.replace(f"'{path}' ", "", 1)


def _thumb(image: torch.Tensor) -> np.ndarray:
    """A duplicate-finding thumbnail of a loaded item in [-1, 1]: the 16x16 thumbnails of its
    2D slices, or of a volume's three mid slices, side by side."""
    x = image[:, 0].add(1).div(2).clamp(0, 1).numpy()
    if x.ndim == 4:  # one volume (1, X, Y, Z)
        v = x[0]
        planes = [v[:, :, v.shape[2] // 2], v[:, v.shape[1] // 2, :], v[v.shape[0] // 2]]
    else:
        planes = list(x)
    return np.hstack([thumbnail(np.ascontiguousarray(p)) for p in planes])


__all__ = ["inspect_data"]
