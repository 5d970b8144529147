"""What `ganhub data check` finds: per-item findings, and the reusable checks domains compose.

A finding says what is wrong with one item (a file, or sample N of in-memory data), what the
loader or `ganhub data clean` does about it, and how serious it is:

* error   the item cannot be used as it is (unreadable, NaN, wrong size): `clean` drops it
* warning the data is probably not what you meant (duplicates, constant images, empty masks,
          unbalanced classes): `clean` drops duplicates' later copies, keeps the rest
* note    the loader converts it on purpose (16-bit depth, palette, EXIF orientation...)

A report is clean when it has no error and no warning; `ganhub data check` exits 1 otherwise.
Domains build their report from these checks in `Domain.inspect_data`.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ganhub.data.fingerprints import (
    compared,
    dhash,
    native_thumbnail,
    pixel_key,
    thumbnail,
)
from ganhub.errors import UsageError, one_line
from ganhub.plural import agreeing, counted

Severity = Literal["error", "warning", "note"]
DROP, KEEP, CONVERT = "drop", "keep", "convert"

# Exact duplicates have the same decoded pixels (hashed in full, with their shape): a
# thumbnail stands in only where a caller has nothing else, since different images (colours,
# fine detail) share thumbnails. Near duplicates: 64-bit difference hashes at most this far
# apart (in bits) are candidates, confirmed when their 16x16 colour thumbnails (every
# channel, so a recoloured image is not a copy) differ by at most NEAR_MEAN on average and
# NEAR_MAX anywhere (of 1): a re-encoded or resized copy passes, two different thin strokes
# do not
EXACT = "duplicate of "  # an exact copy's finding ("near duplicate of" is not); two_labels reads it
NEAR_BITS = 3
NEAR_MEAN = 0.02
NEAR_MAX = 0.12
# A plain or nearly plain image (every channel's thumbnail range under FLAT_RANGE) has no
# structure to compare once stretched: it is a near duplicate only of one whose level in
# each channel and range are within NEAR_LEVEL (plain images of different shades or colours
# are not copies). Images with
# structure are compared on it alone, so a brightened copy of a photo is still found.
FLAT_RANGE = 0.1
NEAR_LEVEL = 0.05


@dataclass(frozen=True)
class Finding:
    """One problem with one item, and what is done about it."""

    item: str
    problem: str
    action: str
    severity: Severity


@dataclass
class DataReport:
    """Findings on one data set, with a summary (counts, sizes, classes)."""

    source: str
    kind: str
    items: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """No error and no warning (notes are conversions the loader makes on purpose)."""
        return not any(f.severity != "note" for f in self.findings)

    def dropped(self) -> set[str]:
        """Items `ganhub data clean` leaves out."""
        return {f.item for f in self.findings if f.action == DROP}

    def add(self, item: str, problem: str, action: str, severity: Severity) -> None:
        """Record one finding."""
        self.findings.append(Finding(item, problem, action, severity))

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-able data (`ganhub data check --json`)."""
        return {
            "source": self.source,
            "kind": self.kind,
            "items": len(self.items),
            "clean": self.clean,
            "summary": self.summary,
            "findings": [asdict(f) for f in self.findings],
        }

    def table(self, limit: int = 40) -> str:
        """The report as text: a head line, then one row per finding (errors first). Items
        and problems name files, which may hold any character: each row stays one line
        (`one_line`), as `--json` keeps them as they are."""
        counts = Counter(f.severity for f in self.findings)
        state = "clean" if self.clean else "NOT clean"
        found = ", ".join(counted(counts[s], f"{s}s") for s in ("error", "warning", "note"))
        head = f"{quoted_name(shown_name(self.source))}: {counted(len(self.items), self.kind)}"
        lines = [f"{head}, {state} ({found})"]
        lines += [f"  {one_line(k)}: {_short(v)}" for k, v in self.summary.items()]
        order = {"error": 0, "warning": 1, "note": 2}
        rows = sorted(self.findings, key=lambda f: (order[f.severity], _natural(f.item)))
        if rows:
            items = [quoted_name(shown_name(f.item)) for f in rows[:limit]]
            width = min(48, max(len(item) for item in items))
            lines.append(f"  {'severity':<8}  {'item':<{width}}  problem -> action")
            lines += [
                f"  {f.severity:<8}  {item:<{width}}  {shown_name(f.problem)} -> {f.action}"
                for f, item in zip(rows, items, strict=False)
            ]
            if len(rows) > limit:
                lines.append(f"  ... {len(rows) - limit} more (--json lists all)")
        return "\n".join(lines)


# names of files as one line: `one_line`, which shows bytes that are not UTF-8 as such (`\xe9`)
shown_name = one_line


def quoted_name(name: str) -> str:
    """`name` as the check names a file: in quotes (`' lead space.png'`) where a space at
    either end would not show (in the table's padded column, or after `duplicate of`)."""
    return f"'{name}'" if name != name.strip(" ") or not name else name


def _natural(text: str) -> list[Any]:
    """Sort key that orders 'lines.txt:4' before 'lines.txt:10'."""
    return [
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text)
    ]


def _short(value: Any) -> str:
    # a count per size (five and "and N more") must fit: --json has any longer value whole
    limit = 400 if isinstance(value, dict) else 200  # class names as spelled: `ünï`, not `\\u00fc`
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
    text = shown_name(text)
    return text if len(text) < limit else text[: limit - 3] + "..."


# -- image files ------------------------------------------------------------------------------


def inspect_image_files(
    report: DataReport,
    files: Sequence[tuple[str, Callable[[], Any]]],
    *,
    channels: int,
    size: int | None = None,
    resize: bool = True,
    square: bool = False,
) -> None:
    """Decode every file (`(name, opener)` pairs; an opener returns a path or a binary file):
    unreadable, oversized, conversions, size problems, exact and near duplicates. With `size`
    and `resize`, the summary says what the loaders make of each size (`load_change`: a
    non-square image, unless `square` refuses it, is centre-cropped, then resized)."""
    from ganhub.data.decode import read_native

    thumbs: dict[str, np.ndarray] = {}
    keys: dict[str, bytes] = {}
    sizes: Counter[str] = Counter()
    resized: Counter[str] = Counter()
    for name, opener in files:
        report.items.append(name)
        try:
            # the pixels' own type (8-bit for most files): a 9000x9000 image took 3.4 GB and
            # 20 s as float32 (C, H, W) copies, for a constant test, a hash and a thumbnail
            pixels, facts = read_native(opener(), channels, name)
        except UsageError as exc:  # the row names the file: the reason alone
            report.add(name, getattr(exc, "reason", str(exc).split(": ", 1)[-1]), DROP, "error")
            continue
        sizes[f"{facts.width}x{facts.height}"] += 1
        for note in facts.notes:
            report.add(name, note, CONVERT, "note")
        if facts.channels != channels:
            what = "grey" if facts.channels == 1 else "colour"
            report.add(name, f"{what} image in {channels}-channel data", CONVERT, "note")
        if square and facts.width != facts.height:
            report.add(name, f"not square ({facts.width}x{facts.height})", DROP, "error")
        elif size is not None and (facts.width, facts.height) != (size, size):
            if resize:  # routine: counted in the summary, not one row per file
                resized[load_change(facts.width, facts.height, size)] += 1
                cropped(report, name, facts.width, facts.height)
                upscaled(report, name, facts.width, facts.height, size)
            else:
                report.add(name, f"{facts.width}x{facts.height}, not {size}x{size}", DROP, "error")
        depth = 255.0 if pixels.dtype == np.uint8 else 1.0
        if (float(pixels.max()) - float(pixels.min())) / depth < 1e-6:
            report.add(name, "constant image (one value everywhere)", KEEP, "warning")
        keys[name] = pixel_key(pixels)
        thumbs[name] = native_thumbnail(pixels)
        del pixels  # one large image's pixels at a time
    report.summary["sizes"] = most_common(sizes)
    if resized:
        report.summary["resized on load"] = most_common(resized)
    find_duplicates(report, thumbs, keys)


def load_change(width: int, height: int, size: int) -> str:
    """What the image loaders make of a `width`x`height` image at `size` px, as the check's
    summary says it: a square one is resized; another has its centre square of the short side
    cut out first (the share of the image left out said), which is then resized to `size`
    (`load_image`; stylegan's `data.center_crop`)."""
    change = f"{width}x{height} -> {size}x{size}"
    if width == height:
        return change
    side = min(width, height)
    first = f" to {side}x{side} first:" if side != size else ":"
    return f"{change} (centre-cropped{first} {cut_share(width, height)} cut)"


def cut_share(width: int, height: int) -> str:
    """The share of a `width`x`height` image the centre crop leaves out, in words ("20%"; a
    sliver's "99.9%", never a rounded "100%")."""
    share = 1 - min(width, height) / max(width, height)
    return f"{share:.0%}" if round(share * 100) < 100 else f"{min(share, 0.999):.1%}"


# a crop leaving out more than this share of an image gets a note of its own: most of the
# picture (a panorama's sides, a long scan) is never trained on
MAX_CUT = 0.5


# an image whose short side the loader stretches more than this many times gets a note: its
# pixels are blown up into blocks or blur that the generator then learns as the data's look
MAX_UPSCALE = 2.0


def cropped(report: DataReport, name: str, width: int, height: int) -> None:
    """A note on an image whose centre crop leaves out more than MAX_CUT of it."""
    side = min(width, height)
    if 1 - side / max(width, height) > MAX_CUT:
        report.add(
            name,
            f"{width}x{height}: centre-cropped to {side}x{side} on load, {cut_share(width, height)}"
            " of it never trained on; crop or split it yourself to keep what matters",
            CONVERT,
            "note",
        )


def upscaled(report: DataReport, name: str, width: int, height: int, size: int) -> None:
    """A note on an image much smaller than the training size `size`: the loader scales its
    short side up more than MAX_UPSCALE times (a 4x4 icon to 32 px is 8x)."""
    factor = size / min(width, height)
    if factor > MAX_UPSCALE:
        report.add(
            name,
            f"{width}x{height}, much smaller than {size}x{size}: upscaled {factor:.3g}x on load "
            "(blurred); use images of at least the training size",
            CONVERT,
            "note",
        )


def most_common(counts: Counter[str], shown: int = 5) -> dict[str, int]:
    """The `shown` most common entries of `counts` (a summary line: sizes and their images),
    then, when there are more, one entry `and N more` holding the images of the rest."""
    top = dict(counts.most_common(shown))
    rest = len(counts) - len(top)
    if rest > 0:
        top[f"and {rest} more"] = sum(counts.values()) - sum(top.values())
    return top


def report_unread_images(report: DataReport, root: Path, under: Path | None = None) -> None:
    """A warning for each file under `under` (default `root`; named relative to `root`, the
    data folder its links must stay in) that Pillow would open but training skips for its
    suffix (.jfif, .ppm...), an error for each image symlink that leads nowhere (the
    loaders find no file there), and one for each folder that cannot be read (the loaders
    list nothing from it): never silent."""
    from ganhub.data.links import dead_link
    from ganhub.data.listing import (
        IMAGE_SUFFIXES,
        broken_links,
        unread_images,
        unreadable_folders,
    )

    for path, reason in unreadable_folders(under or root, within=root):
        report.add(
            path.relative_to(root).as_posix() + "/",
            f"folder cannot be read ({reason}): its files are not trained on; make it "
            "readable, or move it out of the data folder",
            DROP,
            "error",
        )

    for path in unread_images(under or root, within=root):
        report.add(
            path.relative_to(root).as_posix(),
            f"{path.suffix} is not a suffix training reads ({', '.join(IMAGE_SUFFIXES)}); "
            "convert the file to PNG to train on it",
            DROP,
            "warning",
        )
    for path in broken_links(under or root, within=root):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            report.add(
                path.relative_to(root).as_posix(),
                f"{dead_link(path) or 'broken symlink'}: no file to read; fix the link or "
                "remove it",
                DROP,
                "error",
            )


def find_duplicates(
    report: DataReport, thumbs: dict[str, np.ndarray], keys: Mapping[str, bytes] | None = None
) -> None:
    """Exact duplicates (same `keys`, digests of the decoded pixels) and near ones (hashes
    within NEAR_BITS, contrast-stretched thumbnails within NEAR_MEAN/NEAR_MAX in every channel;
    a plain one's levels within NEAR_LEVEL): the later copy is dropped. Without `keys` the
    thumbnails stand in for the pixels (callers that have only those). Candidate pairs come
    from hash buckets (pigeonhole over four 16-bit chunks), so the search is near linear, not
    quadratic. Stretches `thumbs` in place after hashing."""
    names = list(thumbs)
    exact: dict[bytes, str] = {}
    hashes: dict[str, int] = {}
    tones: dict[str, np.ndarray] = {}
    marked: set[str] = set()
    # near duplicates compare structure: stretched thumbnails and their hashes, for all at once
    prepared = compared([thumbs[name] for name in names])
    for name, tone, stretched, hashed in zip(names, *prepared, strict=True):
        if keys is not None:
            key = keys[name]
        else:
            key = pixel_key(np.round(thumbs[name] * 4095).astype(np.uint16))
        tones[name] = tone
        thumbs[name] = stretched
        if key in exact:
            report.add(name, f"{EXACT}{quoted_name(exact[key])}", DROP, "warning")
            marked.add(name)
        else:
            exact[key] = name
            hashes[name] = hashed
    buckets: dict[tuple[int, int], list[str]] = defaultdict(list)
    for name, h in hashes.items():
        for chunk in range(4):
            buckets[(chunk, (h >> (16 * chunk)) & 0xFFFF)].append(name)
    order = {name: i for i, name in enumerate(names)}
    for group in buckets.values():
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                later = b if order[b] > order[a] else a
                first = a if later == b else b
                if later in marked or first in marked:
                    continue
                if bin(hashes[a] ^ hashes[b]).count("1") > NEAR_BITS:
                    continue
                if thumbs[a].shape != thumbs[b].shape:  # other channels: not comparable
                    continue
                flat = min(tones[a][-1], tones[b][-1]) < FLAT_RANGE
                if flat and float(np.abs(tones[a] - tones[b]).max()) > NEAR_LEVEL:
                    continue
                diff = np.abs(thumbs[a] - thumbs[b])
                if float(diff.mean()) <= NEAR_MEAN and float(diff.max()) <= NEAR_MAX:
                    report.add(later, f"near duplicate of {quoted_name(first)}", DROP, "warning")
                    marked.add(later)


# -- tensors in memory (embedded data) ---------------------------------------------------------


def inspect_samples(report: DataReport, samples: Any, *, images: bool) -> None:
    """In-memory samples (a tensor, first dimension = samples): NaN/Inf, exact duplicates,
    and for images (and volumes) constant images and near duplicates."""
    import torch

    x = samples.detach().float().cpu()
    n = len(x)
    report.items.extend(f"sample {i}" for i in range(n))
    flat = x.reshape(n, -1)
    bad = (~torch.isfinite(flat)).any(1).nonzero().flatten().tolist()
    for i in bad:
        report.add(f"sample {i}", "NaN or Inf values", DROP, "error")
    if images:
        spread = flat.amax(1) - flat.amin(1)
        for i in (spread < 1e-6).nonzero().flatten().tolist():
            report.add(f"sample {i}", "constant image (one value everywhere)", KEEP, "warning")
        finite = flat[torch.isfinite(flat)]
        lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
        planes = x[:, :, x.shape[2] // 2] if x.ndim == 5 else x  # volumes: the middle slice
        planes = torch.nan_to_num(planes, nan=lo, posinf=hi, neginf=lo)
        scaled = (planes - lo) / max(hi - lo, 1e-12)  # every channel: colour tells images apart
        small = torch.nn.functional.adaptive_avg_pool2d(scaled, 16).numpy()
        skip = set(bad)
        kept = [i for i in range(n) if i not in skip]
        thumbs = {f"sample {i}": small[i] for i in kept}
        keys = {f"sample {i}": pixel_key(x[i].numpy()) for i in kept}
        find_duplicates(report, thumbs, keys)
        return
    seen: dict[bytes, int] = {}
    for i in range(n):
        key = hashlib.sha256(flat[i].numpy().tobytes()).digest()
        if key in seen:
            report.add(f"sample {i}", f"duplicate of sample {seen[key]}", DROP, "warning")
        else:
            seen[key] = i


def class_balance(report: DataReport, labels: Iterable[Any], *, tolerance: float = 0.5) -> None:
    """Count labels; warn when the rarest class has less than `tolerance` of a uniform share."""
    counts = Counter(str(label) for label in labels)
    if not counts:
        return
    report.summary["classes"] = dict(sorted(counts.items()))
    uniform = sum(counts.values()) / len(counts)
    rare = [c for c, k in counts.items() if k < tolerance * uniform]
    if rare:
        report.add(
            "(labels)",
            f"unbalanced: {agreeing(len(rare), 'classes')} {', '.join(sorted(rare))} below "
            f"{tolerance:.0%} of an even share",
            KEEP,
            "warning",
        )


# -- text ------------------------------------------------------------------------------------


def normalise_text(text: str) -> str:
    """Unicode NFKC, lower case, whitespace collapsed: what 'the same sentence' means here."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).lower()).strip()


def inspect_texts(
    report: DataReport,
    lines: Sequence[tuple[str, str]],
    *,
    max_tokens: int | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> None:
    """(name, text) items: empty ones, ones longer than `max_tokens`, duplicates."""
    seen: dict[str, str] = {}
    for name, text in lines:
        report.items.append(name)
        norm = normalise_text(text)
        if not norm:
            report.add(name, "empty", DROP, "error")
            continue
        if max_tokens is not None and count_tokens is not None:
            n = count_tokens(text)
            if n > max_tokens:
                truncated = f"{counted(n, 'tokens')}, over {max_tokens}: truncated"
                report.add(name, truncated, CONVERT, "note")
        digest = hashlib.sha256(norm.encode()).hexdigest()
        if digest in seen:
            report.add(name, f"duplicate of {quoted_name(seen[digest])}", DROP, "warning")
        else:
            seen[digest] = name


def read_report(path: Path) -> dict[str, Any]:
    """A report written with --json (for tools and tests)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise UsageError(f"'{one_line(path)}' is not a ganhub data report")
    return data


__all__ = [
    "CONVERT",
    "DROP",
    "EXACT",
    "KEEP",
    "DataReport",
    "Finding",
    "Severity",
    "class_balance",
    "dhash",
    "find_duplicates",
    "inspect_image_files",
    "inspect_samples",
    "inspect_texts",
    "load_change",
    "normalise_text",
    "pixel_key",
    "quoted_name",
    "read_report",
    "report_unread_images",
    "shown_name",
    "thumbnail",
]
