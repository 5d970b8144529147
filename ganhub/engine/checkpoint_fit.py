"""Whether a checkpoint's weights fit a model: names, shapes and kinds of number, said in one
line (`ganhub.engine.checkpoint` re-exports `mismatch` and `load_fitting`)."""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import Tensor

from ganhub.plural import counted


def mismatch(
    saved: dict[str, Tensor],
    expected: dict[str, Tensor],
    resized: set[str] | None = None,
    names: tuple[set[str], set[str]] | None = None,
) -> str:
    """What differs between a checkpoint's weights and a model's ('' when they fit), shapes
    first (a changed setting shows there); `resized`: the tensors whose shape torch refused (a
    module may take others at any size, as textgan's tokenizer buffer does); `names`: the
    (missing, unexpected) names torch refused (a module may take names its state dict lacks
    until it holds them, as cyclegan's kept sample inputs, loaded by its own
    `_load_from_state_dict`); None: every name one side has and the other lacks."""
    if names is None:
        names = set(expected) - set(saved), set(saved) - set(expected)
    missing, extra = sorted(names[0]), sorted(names[1])
    shapes = [
        f"{k} is {tuple(saved[k].shape)} in the checkpoint, {tuple(expected[k].shape)} in the model"
        for k in expected
        if k in saved and saved[k].shape != expected[k].shape and (resized is None or k in resized)
    ]
    # a float weight read from int, bool or complex values would be silently cast (complex
    # NaNs even pass the finiteness check); float32 <-> float16/bfloat16 is a precision choice
    kinds = _kind_differences(saved, expected)
    parts = []
    if shapes:
        parts.append(f"{len(shapes)} differ in shape ({shapes[0]})")
    if kinds:
        parts.append(f"{len(kinds)} differ in kind of number ({kinds[0]})")
    if missing:
        parts.append(
            f"the model has {counted(len(missing), 'tensors')} the checkpoint lacks "
            f"({_few(missing)})"
        )
    if extra:
        parts.append(f"the checkpoint has {len(extra)} the model lacks ({_few(extra)})")
    return "; ".join(parts)


def load_fitting(
    module: torch.nn.Module, state: dict[str, Tensor], device: Any = None, *, partial: bool = False
) -> str:
    """Load `state` into `module` when every name, shape and kind of number fits (`partial`:
    the names `state` has, for init_from); else return what differs in one line ('' when
    loaded; the caller discards a module that did not load)."""
    expected = module.state_dict()
    if partial:
        expected = {k: v for k, v in expected.items() if k in state}
    kinds = _kind_differences(state, expected)
    if kinds:  # load_state_dict would cast them
        return f"{len(kinds)} differ in kind of number ({kinds[0]})"
    # names and shapes are torch's to judge: a module may resize a buffer as it loads, or
    # take a buffer it creates lazily (its `_load_from_state_dict`), so no name it took is
    # a difference
    try:
        module.load_state_dict(
            {k: v.to(device) if device is not None else v for k, v in state.items()},
            strict=not partial,
        )
    except RuntimeError as exc:  # torch's 40-line list: what differs, in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        resized = set(re.findall(r"size mismatch for ([^:\s]+):", str(exc))) or None
        return mismatch(state, expected, resized, _refused_names(str(exc))) or first
    return ""


def _refused_names(message: str) -> tuple[set[str], set[str]] | None:
    """The (missing, unexpected) names in torch's load_state_dict error, both empty where it
    names none; None when the error is not torch's list (a module's own RuntimeError)."""
    if not message.startswith("Error(s) in loading state_dict"):
        return None
    found = []
    for which in ("Missing", "Unexpected"):
        listed = re.search(rf"{which} key\(s\) in state_dict: ([^\n]*)", message)
        found.append(set(re.findall(r'"([^"]+)"', listed.group(1))) if listed else set())
    return found[0], found[1]


def _kind_differences(saved: dict[str, Tensor], expected: dict[str, Tensor]) -> list[str]:
    return [
        f"{k} is {str(saved[k].dtype).removeprefix('torch.')} in the checkpoint, "
        f"{str(expected[k].dtype).removeprefix('torch.')} in the model"
        for k in expected
        if k in saved and _kind(saved[k]) != _kind(expected[k])
    ]


def _kind(tensor: Tensor) -> str:
    if tensor.is_floating_point():
        return "float"
    if tensor.is_complex():
        return "complex"
    return "bool" if tensor.dtype == torch.bool else "integer"


def _few(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (", ..." if len(names) > n else "")


__all__ = ["load_fitting", "mismatch"]
