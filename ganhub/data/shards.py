"""Tensor shards: a data set decoded once into one safetensors file with a JSON manifest.

`ganhub data convert DATA plugin=X --to shard --out data.safetensors` writes one; pointing a
domain's `data.path` at it (dcgan, stylegan) trains from memory instead of decoding files:
fast, and the same bytes on every machine. Images in [-1, 1] are stored as 8-bit (what the
files held when they were 8-bit) unless `encoding="float16"`; other samples as they are.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganhub.errors import UsageError

if TYPE_CHECKING:
    from torch import Tensor

SHARD_SUFFIX = ".safetensors"
MANIFEST_SUFFIX = ".json"
FORMAT = "ganhub-shard/1"


def write_shard(
    out: Path, samples: Tensor, source: dict[str, Any], encoding: str = "auto"
) -> list[Path]:
    """Write `samples` to `out` (.safetensors) and its manifest (.json) atomically."""
    import torch
    from safetensors.torch import save_file

    if out.suffix != SHARD_SUFFIX:
        raise UsageError(f"--out {out}: a shard is a {SHARD_SUFFIX} file")
    if out.exists() and not out.is_file():
        raise UsageError(f"--out {out} is a folder")
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
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    save_file({"samples": stored.contiguous()}, str(tmp))
    tmp.replace(out)
    manifest = {
        "format": FORMAT,
        "count": len(stored),
        "shape": list(stored.shape[1:]),
        "dtype": str(stored.dtype).removeprefix("torch."),
        "encoding": encoding,
        "source": source,
    }
    meta = out.with_suffix(MANIFEST_SUFFIX)
    meta_tmp = meta.with_name(f".{meta.name}.{os.getpid()}.tmp")
    meta_tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    meta_tmp.replace(meta)
    return [out, meta]


def is_shard(path: Path | None) -> bool:
    """Whether `data.path` names a shard (a .safetensors file) rather than a folder."""
    return path is not None and path.suffix == SHARD_SUFFIX


def load_shard(path: Path) -> Tensor:
    """The samples of a shard, decoded back (8-bit images to float in [-1, 1]), on the CPU."""
    from safetensors.torch import load_file

    meta_path = path.with_suffix(MANIFEST_SUFFIX)
    try:
        manifest = json.loads(meta_path.read_text(encoding="utf-8"))
        tensors = load_file(str(path))
    except (OSError, ValueError) as exc:
        raise UsageError(f"shard '{path}' is unreadable: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # safetensors' own error type
        raise UsageError(f"shard '{path}' is unreadable: {str(exc).splitlines()[0]}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UsageError(f"'{meta_path}' is not a ganhub shard manifest")
    x = tensors.get("samples")
    if x is None or len(x) != manifest.get("count") or list(x.shape[1:]) != manifest.get("shape"):
        raise UsageError(f"shard '{path}' does not match its manifest")
    if manifest.get("encoding") == "uint8":
        return x.float().div_(127.5).sub_(1.0)
    return x.float() if manifest.get("encoding") == "float16" else x


__all__ = ["is_shard", "load_shard", "write_shard"]
