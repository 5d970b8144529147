"""Tensor shards: a data set decoded once into one safetensors file with a JSON manifest.

`ganhub data convert DATA plugin=X --to shard --out data.safetensors` writes one; pointing a
domain's `data.path` at it (dcgan, stylegan) trains from memory instead of decoding files:
fast, and the same bytes on every machine. Images in [-1, 1] are stored as 8-bit (what the
files held when they were 8-bit) unless `encoding="float16"`; other samples as they are.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganhub.console import warn
from ganhub.errors import ConfigError, UsageError, one_line, writing

if TYPE_CHECKING:
    from torch import Tensor

SHARD_SUFFIX = ".safetensors"
MANIFEST_SUFFIX = ".json"
FORMAT = "ganhub-shard/1"


def shard_outputs(out: Path, *, replace: bool) -> tuple[Path, Path]:
    """The shard `out` and its manifest beside it, checked before anything is written: a
    UsageError naming `--out` when either is a folder (or no regular file), or exists and
    `replace` (`--force`) was not given. A manifest without the shard `out` is never replaced:
    it is some other file of that name. The pair is written together or not at all, so
    neither may stand in the way halfway."""
    from ganhub.metrics.store import check_output_file

    shown = one_line(out, 200)
    if out.suffix != SHARD_SUFFIX:
        raise UsageError(f"--out {shown}: a shard is a {SHARD_SUFFIX} file")
    meta = out.with_suffix(MANIFEST_SUFFIX)
    for path, what in ((out, "--out"), (meta, f"--out {shown}: its manifest")):
        if path.is_dir() and not path.is_symlink():
            raise UsageError(f"{what} {one_line(path, 200)} is a folder; give --out a new path")
        if path.exists() and not path.is_file():
            raise UsageError(f"{what} {one_line(path, 200)} is no regular file; give --out a "
                             "new path")  # fmt: skip
    taken = meta.exists() or meta.is_symlink()
    if out.exists() or out.is_symlink():
        if not replace:
            also = " and its manifest" if taken else ""
            raise UsageError(f"--out {shown}{also} exist; give --force to replace them, or a "
                             "new path")  # fmt: skip
    elif taken:
        raise UsageError(
            f"--out {shown}: its manifest's name {one_line(meta, 200)} is taken by a file "
            "without that shard; move the file, or give --out a new path"
        )
    check_output_file(out)  # the nearest existing folder above it must take files
    return out, meta


def write_shard(
    out: Path, samples: Tensor, source: dict[str, Any], encoding: str = "auto"
) -> list[Path]:
    """Write `samples` to `out` (.safetensors) and its manifest (.json) as a pair: both made
    whole under temporary names beside them, then renamed; on any failure neither is left,
    nor a temporary file or a folder this made, and the error names `out`. An existing
    manifest is replaced only with the shard it describes (`ganhub data convert` lets an
    existing `out` through only with --force): another file of that name is refused."""
    import torch

    shard_outputs(out, replace=out.exists())
    x = samples.detach().cpu()
    if encoding == "auto":
        in_range = x.is_floating_point() and bool((x.min() >= -1) & (x.max() <= 1))
        encoding = "uint8" if in_range else "raw"
    if encoding == "uint8":
        stored = ((x.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    elif encoding == "float16":
        stored = x.half()
    else:
        stored = x.contiguous()
    manifest = {
        "format": FORMAT,
        "count": len(stored),
        "shape": list(stored.shape[1:]),
        "dtype": str(stored.dtype).removeprefix("torch."),
        "encoding": encoding,
        "source": source,
    }
    made = [f for f in reversed(out.absolute().parents) if not f.exists()]
    meta = out.with_suffix(MANIFEST_SUFFIX)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    meta_tmp = meta.with_name(f".{meta.name}.{os.getpid()}.tmp")
    renamed = False
    try:
        _write_pair(stored, manifest, out, tmp, meta_tmp)
        tmp.replace(out)
        renamed = True
        meta_tmp.replace(meta)
    except BaseException as exc:
        if renamed:  # a shard without its manifest is unusable: take it back out
            out.unlink(missing_ok=True)
        _remove(tmp, meta_tmp, made)
        if isinstance(exc, OSError):  # every path written here stands for --out
            reason = exc.strerror or one_line(exc)
            raise UsageError(f"--out {one_line(out, 200)} cannot be written: {reason}") from None
        raise
    return [out, meta]


def _write_pair(
    stored: Tensor, manifest: dict[str, Any], out: Path, tmp: Path, meta_tmp: Path
) -> None:
    """Write the shard to `tmp` and its manifest to `meta_tmp` (folders above made)."""
    from safetensors.torch import save_file

    out.parent.mkdir(parents=True, exist_ok=True)
    with writing(out):
        save_file({"samples": stored.contiguous()}, str(tmp))
    tmp.chmod(0o644)  # safetensors creates files readable by the owner only
    meta_tmp.unlink(missing_ok=True)
    with meta_tmp.open("x", encoding="utf-8") as fh:  # "x": never through a planted link
        fh.write(json.dumps(manifest, indent=1))


def _remove(tmp: Path, meta_tmp: Path, made: list[Path]) -> None:
    """Remove the temporary files and the folders `write_shard` made (innermost first; a
    folder someone filled meanwhile stays)."""
    for path in (tmp, meta_tmp):
        # a read-only folder: nothing of ours could be made there anyway
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
    for folder in reversed(made):
        try:
            folder.rmdir()
        except OSError:
            break


def is_shard(path: Path | None) -> bool:
    """Whether `data.path` names a shard (a .safetensors file, or a path of that name not yet
    there) rather than a folder: a folder is a folder whatever its name (`x.safetensors/`
    holding images is read as the folder it is, by the runs and the data commands alike)."""
    return path is not None and path.suffix == SHARD_SUFFIX and not path.is_dir()


def read_manifest(path: Path) -> dict[str, Any]:
    """The JSON manifest beside shard `path` (count, per-sample shape, encoding, source)."""
    meta_path = path.with_suffix(MANIFEST_SUFFIX)
    try:
        manifest = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"shard '{path}' is unreadable: {str(exc).splitlines()[0]}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UsageError(f"'{meta_path}' is not a ganhub shard manifest")
    shape = manifest.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d > 0 for d in shape):
        raise UsageError(f"'{meta_path}': 'shape' must be a list of positive sizes")
    return manifest


def shard_origin(path: Path) -> str | None:
    """The data path shard `path` was converted from, as its manifest names it; None when the
    manifest is unreadable or names none (embedded data)."""
    try:
        manifest = read_manifest(path)
    except UsageError:
        return None
    return _source(manifest)[0]


def _source(manifest: dict[str, Any]) -> tuple[str | None, str | None]:
    """(the data path, the plugin) a shard was converted from, as its manifest names them
    (None for what it does not name: embedded data has no path)."""
    source = manifest.get("source")
    source = source if isinstance(source, dict) else {}
    data = source.get("data")
    origin = data.get("path") if isinstance(data, dict) else None
    plugin = source.get("plugin")
    return (
        origin if isinstance(origin, str) else None,
        plugin if isinstance(plugin, str) else None,
    )


# the data keys of a folder's conversion that change what a shard holds, named again in the
# command `note_upscaled` gives when the manifest records them set (without data.skip_bad the
# command stopped at the first unreadable file that the shard had left out; without
# data.channels=1 it wrote colour images for a grey run)
_AGAIN_KEYS = ("channels", "skip_bad", "resize", "center_crop")


def _data_keys(manifest: dict[str, Any]) -> list[str]:
    """`data.KEY=VALUE` for each of _AGAIN_KEYS the manifest's source data sets (true, or a
    number of channels), in that order."""
    source = manifest.get("source")
    data = source.get("data") if isinstance(source, dict) else None
    if not isinstance(data, dict):
        return []
    found = []
    for key in _AGAIN_KEYS:
        value = data.get(key)
        if value is True:
            found.append(f"data.{key}=true")
        elif isinstance(value, int) and not isinstance(value, bool):
            found.append(f"data.{key}={value}")
    return found


def load_shard(path: Path) -> Tensor:
    """The samples of a shard, decoded back (8-bit images to float in [-1, 1]), on the CPU."""
    return _load(path)[0]


def _load(path: Path) -> tuple[Tensor, dict[str, Any]]:
    """`load_shard`'s samples and the manifest it read (read once: callers needing both, such
    as `load_image_shard`, do not read it again)."""
    from safetensors.torch import load_file

    manifest = read_manifest(path)
    try:
        tensors = load_file(str(path))
    except (OSError, ValueError) as exc:
        raise UsageError(f"shard '{path}' is unreadable: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # safetensors' own error type
        raise UsageError(f"shard '{path}' is unreadable: {str(exc).splitlines()[0]}") from None
    x = tensors.get("samples")
    if x is None or len(x) != manifest.get("count") or list(x.shape[1:]) != manifest.get("shape"):
        raise UsageError(f"shard '{path}' does not match its manifest")
    encoding = manifest.get("encoding")
    stored = {"uint8": "uint8", "float16": "float16"}.get(str(encoding))
    if stored is not None and str(x.dtype) != f"torch.{stored}":
        raise UsageError(
            f"shard '{path}': its manifest says encoding '{encoding}' but the samples are "
            f"{str(x.dtype).removeprefix('torch.')}"
        )
    if encoding == "uint8":
        return x.float().div_(127.5).sub_(1.0), manifest
    return (x.float() if encoding == "float16" else x), manifest


def image_shard_problems(
    path: Path, shape: list[int], image_size: int, channels: int, *, resize: bool
) -> list[str]:
    """Why a shard of per-sample `shape` cannot feed a run of `image_size` px `channels`-channel
    images (another size is fine when the run resizes): one line each, naming what to set."""
    if len(shape) != 3 or shape[0] not in (1, 3) or shape[1] != shape[2]:
        return [
            f"data.path='{path}': the shard holds samples of shape {tuple(shape)}, not square "
            "1- or 3-channel images"
        ]
    if shape[0] != channels:
        return [
            f"data.path='{path}': the shard holds {shape[0]}-channel images; set "
            f"data.channels={shape[0]}"
        ]
    if shape[1] != image_size and not resize:
        return [
            f"data.path='{path}': the shard holds {shape[1]}x{shape[2]} images; set "
            f"model.image_size={shape[1]}, or data.resize=true to resize them"
        ]
    return []


def check_image_shard(path: Path, image_size: int, channels: int, *, resize: bool) -> list[str]:
    """A run's problems with image shard `path`, from its manifest alone (instant): missing,
    unreadable, or holding images the run cannot use."""
    if not path.is_file():
        return [f"data.path='{path}': no such shard"]
    try:
        shape = read_manifest(path)["shape"]
    except UsageError as exc:
        return [str(exc)]
    return image_shard_problems(path, shape, image_size, channels, resize=resize)


def load_image_shard(path: Path, image_size: int, channels: int, *, resize: bool) -> Tensor:
    """A shard's images (N, C, S, S) in [-1, 1] for a run of `image_size` px `channels`-channel
    images: another size is resized (bilinear, antialiased) when `resize`, else refused."""
    from ganhub.data.images import resize_square

    x, manifest = _load(path)
    problems = image_shard_problems(path, list(x.shape[1:]), image_size, channels, resize=resize)
    if problems:
        raise ConfigError(problems[0])
    where = f"data.path='{path}': the shard's images"
    if not x.is_floating_point():  # raw integers: 0..255 or 0..65535? the file does not say
        raise ConfigError(
            f"{where} are {str(x.dtype).removeprefix('torch.')}; image shards hold floats in "
            "[-1, 1], or 8-bit values with encoding 'uint8' (`ganhub data convert` writes one)"
        )
    x = x.float()  # a raw float16 or float64 shard trains in the models' float32
    finite = x.isfinite()
    if not bool(finite.all()):
        bad = int((~finite).flatten(1).any(1).sum())
        raise ConfigError(f"{where}: {bad} hold NaN or infinite values")
    low, high = float(x.min()), float(x.max())
    if low < -1 - 1e-3 or high > 1 + 1e-3:
        raise ConfigError(
            f"{where} hold values {low:.4g}..{high:.4g}; images are stored in [-1, 1] "
            "(x / 127.5 - 1 for 8-bit values)"
        )
    if x.shape[-1] < image_size:
        note_upscaled(path, x.shape[-1], image_size, manifest)
    return resize_square(x, image_size).contiguous()


_NOTED: set[tuple[Path, int]] = set()  # (shard, size) noted in this process (once each)


def note_upscaled(
    path: Path, side: int, image_size: int, manifest: dict[str, Any] | None = None
) -> None:
    """One stderr line, once per shard and size in a process, when a shard's `side` px images
    are upscaled to a run's `image_size`: pixels stored in 8 bits at the small size are blown
    up (blurred), which the generator learns as the data's look. It says how to convert the
    shard's source again at the run's size (the manifest names it: given as the caller read
    it, or read here)."""
    import shlex

    if (path, image_size) in _NOTED:
        return
    _NOTED.add((path, image_size))
    manifest = manifest if manifest is not None else read_manifest(path)
    bits = " from their 8 bits" if manifest.get("encoding") == "uint8" else ""
    origin, plugin = _source(manifest)
    again = f"convert its source data again with model.image_size={image_size}"
    if origin is not None and plugin is not None:
        out = path.with_name(f"{path.stem}-{image_size}px{SHARD_SUFFIX}")
        keys = "".join(f" {shlex.quote(key)}" for key in _data_keys(manifest))
        again = (
            f"convert its source again at that size: ganhub data convert {shlex.quote(origin)} "
            f"plugin={shlex.quote(plugin)}{keys} model.image_size={image_size} --to shard "
            f"--out {shlex.quote(str(out))}"
        )
    line = (
        f"ganhub: note: data.path='{one_line(path, 200)}' holds {side}x{side} images, smaller "
        f"than model.image_size={image_size}: they are upscaled {image_size / side:.3g}x{bits} "
        f"(blurred); {one_line(again, 400)}"
    )
    warn(line)  # every torchrun process opens the shard: rank 0 says it


__all__ = [
    "check_image_shard",
    "image_shard_problems",
    "is_shard",
    "load_image_shard",
    "load_shard",
    "note_upscaled",
    "read_manifest",
    "shard_origin",
    "shard_outputs",
    "write_shard",
]
