"""The graphs of `ganhub export`: each declared function traced as ONNX or TorchScript, then run
once against PyTorch before the folder is kept.

A function's inputs are declared per sample (`ExportInput`). The batch dimension of every graph
is dynamic, and so are the sides of an input that declares a `spatial_step` (a fully
convolutional translator takes images of other sizes than it trained at): each may be any
multiple of the step from the input's smallest side up. Each graph is checked on a fresh batch
of another size and, where its sides are dynamic, on an image of other sides, one per
dimension, so that a graph fixing any of them fails the export instead of reaching a user.

Imports no torch at import time (`ganhub --help` registers the export command).
"""

from __future__ import annotations

import errno
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganhub.errors import GanhubError, one_line
from ganhub.interrupts import interruption

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn

    from ganhub.engine.system import ExportFunction, ExportInput

# a write that fails for want of room (a full disk, a file size limit, a quota): the export
# stops with the file system's own one line, not as a graph the exporter could not make
DISK_FULL = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
# float32 rounding between runtimes is ~1e-6 on outputs in [-1, 1]; beyond this a graph is wrong
TOLERANCE = 1e-3
# above this, ONNX keeps the weights in a .onnx.data file beside the graph (protobuf stops at 2 GiB)
ONNX_INLINE_BYTES = 1 << 30
# terminal escape sequences (torch's exporter colours its messages): CSI, OSC, any other
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-_])?")


# -- inputs whose sides may vary -----------------------------------------------------------


def spatial_inputs(function: ExportFunction) -> list[ExportInput]:
    """The inputs of `function` that declare a `spatial_step`."""
    return [item for item in function.inputs if item.spatial_step]


def smallest_side(item: ExportInput) -> int:
    """The smallest side an input with a `spatial_step` takes."""
    return item.spatial_min or item.spatial_step


def spatial_problem(function: ExportFunction) -> str:
    """What is wrong with the spatial declaration of `function`'s inputs ("" when nothing)."""
    spatial = spatial_inputs(function)
    for item in function.inputs:
        where = f"input '{item.name}' of '{function.name}'"
        if item.spatial_min and not item.spatial_step:
            return f"{where} gives spatial_min without spatial_step"
        if not item.spatial_step:
            continue
        step, least = item.spatial_step, smallest_side(item)
        if step < 1 or least < step or least % step:
            return f"{where}: spatial_min {least} is no positive multiple of spatial_step {step}"
        if item.dtype != "float32" or item.kind == "labels" or len(item.shape) < 2:
            return f"{where}: only float inputs with sides after their channels have a step"
        if any(side < least or side % step for side in item.shape[1:]):
            return f"{where}: its shape {tuple(item.shape)} has a side that is no valid size"
        if _sides(item) != _sides(spatial[0]):
            return f"{where}: inputs with a spatial_step must share it and their sides"
    return ""


def _sides(item: ExportInput) -> tuple[int, int, tuple[int, ...]]:
    return item.spatial_step, smallest_side(item), tuple(item.shape[1:])


def spatial_sizes(function: ExportFunction) -> tuple[int, ...] | None:
    """The sides the function was declared with (trained at), or None when they are fixed."""
    spatial = spatial_inputs(function)
    return tuple(spatial[0].shape[1:]) if spatial else None


def other_sizes(function: ExportFunction) -> tuple[int, ...] | None:
    """Sides other than the declared ones and than each other (dimension i grows by i + 1
    steps), at which the graphs are checked; None when the sides are fixed."""
    sizes = spatial_sizes(function)
    if sizes is None:
        return None
    step = spatial_inputs(function)[0].spatial_step
    return tuple(side + step * (i + 1) for i, side in enumerate(sizes))


def example_inputs(
    function: ExportFunction, n: int, seed: int = 0, sizes: tuple[int, ...] | None = None
) -> tuple[Tensor, ...]:
    """`n` seeded CPU inputs of the kinds a function declares (noise, labels, images);
    `sizes`: the sides of the inputs with a `spatial_step` (default: their declared shape)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    out = []
    for item in function.inputs:
        shape = item.shape
        if item.spatial_step and sizes is not None:
            shape = (shape[0], *sizes)
        if item.kind == "labels":
            columns = [torch.randint(0, size, (n,), generator=gen) for size in item.classes]
            out.append(columns[0] if not item.shape else torch.stack(columns, 1))
        elif item.kind == "image":
            out.append(torch.rand((n, *shape), generator=gen) * 2 - 1)
        else:
            out.append(torch.randn((n, *shape), generator=gen))
    return tuple(out)


# -- what export.json says of a function --------------------------------------------------


def follows_input(module: nn.Module, function: ExportFunction, shape: list[int], seed: int) -> bool:
    """Whether the output's sides are its spatial inputs' (at the declared sides and at
    others), so the card can say the output has the size of the input."""
    import torch

    sizes, other = spatial_sizes(function), other_sizes(function)
    if sizes is None or other is None or tuple(shape[1:]) != sizes:
        return False
    with torch.no_grad():
        out = module(*example_inputs(function, 1, seed, other))
    return tuple(out.shape[2:]) == other


def describe_function(function: ExportFunction, shape: list[int], follows: bool) -> dict[str, Any]:
    """A function's entry in export.json: its inputs and its output, per sample; sides that
    may vary as `spatial_step` and `spatial_min` (the smallest), and an output whose sides
    are its input's as `sides_of` (that input's name)."""
    inputs = []
    for item in function.inputs:
        entry: dict[str, Any] = {
            "name": item.name, "shape": list(item.shape), "dtype": item.dtype, "kind": item.kind,
        }  # fmt: skip
        if item.classes:
            entry["classes"] = list(item.classes)
        if item.meaning:
            entry["meaning"] = item.meaning
        if item.spatial_step:
            entry["spatial_step"] = item.spatial_step
            entry["spatial_min"] = item.spatial_min or item.spatial_step
        inputs.append(entry)
    low_high = None if function.output_range is None else list(function.output_range)
    output = {"name": "output", "shape": shape, "dtype": "float32", "range": low_high}
    if follows:
        output["sides_of"] = next(item.name for item in function.inputs if item.spatial_step)
    return {"name": function.name, "inputs": inputs, "output": output, "files": {}}


def eval_mode_layers(module: nn.Module) -> list[str]:
    """The layers of `module` that eval mode changes, as the card names them: "dropout" (off)
    and "batch norm" (on its running averages instead of the batch's statistics)."""
    from torch import nn

    found = []
    if any(isinstance(m, nn.modules.dropout._DropoutNd) for m in module.modules()):
        found.append("dropout")
    norms = (m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
    if any(m.track_running_stats for m in norms):
        found.append("batch norm")
    return found


# -- writing and checking a graph ----------------------------------------------------------


def to_graph(
    fmt: str, module: nn.Module, function: ExportFunction, path: Path, seed: int, plugin: str
) -> float:
    """Write one function as an ONNX or TorchScript graph; its largest difference from
    PyTorch on a fresh batch of another size (so the batch dimension is checked too) and, for
    sides that may vary, on an image of other sides."""
    import contextlib
    import io
    import warnings

    import torch

    sizes, other = spatial_sizes(function), other_sizes(function)
    if sizes is not None:  # traced at two steps or more a side: a side of 1 step would be
        step = spatial_inputs(function)[0].spatial_step  # taken as a constant (torch.export)
        sizes = tuple(max(side, 2 * step) for side in sizes)
    inputs = example_inputs(function, 2, seed, sizes)
    checks = [("a batch of 3", "batch size", example_inputs(function, 3, seed + 1))]
    if other is not None:
        shown = " x ".join(str(side) for side in other)
        checks.append(
            (f"{shown} inputs", "input size", example_inputs(function, 1, seed + 2, other))
        )
    diff = 0.0
    try:
        # the exporters report progress on stdout and warn about what they trace
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            if fmt == "onnx":
                _to_onnx(module, inputs, function, path)
                _without_sources(path)  # for sharing: no file name of this machine
            else:
                _save_script(torch.jit.trace(module, inputs, check_trace=False), path)
            graph, results = _load_graph(fmt, path, function), []
            for what, fixed, check in checks:
                with torch.no_grad():
                    want = module(*check).float()
                results.append((what, fixed, want, graph(check)))
    except Exception as exc:  # the exporters raise many kinds; the user gets one line
        if (stopped := interruption(exc)) is not None:  # a wrapped Ctrl-C/SIGTERM: no failure
            raise stopped from None
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:  # the disk, not the graph
            raise OSError(exc.errno, exc.strerror, str(exc.filename or path)) from None
        reason = " ".join(_ANSI.sub("", str(exc)).split()) or type(exc).__name__
        raise GanhubError(
            f"the '{plugin}' generator could not be exported as {fmt}: {one_line(reason, 300)}"
        ) from None
    for what, fixed, want, got in results:
        if got.shape != want.shape:
            raise GanhubError(
                f"the {fmt} graph of '{plugin}' gives shape {tuple(got.shape)} for {what}, "
                f"PyTorch {tuple(want.shape)}: its {fixed} is fixed in the graph"
            )
        diff = max(diff, float((got - want).abs().max()))
        if not diff <= TOLERANCE:  # NaN fails too
            raise GanhubError(
                f"the {fmt} graph of '{plugin}' differs from PyTorch by {diff:.3g} (more than "
                f"{TOLERANCE}); it was not written"
            )
    return diff


def _to_onnx(module: nn.Module, inputs: tuple[Tensor, ...], function: ExportFunction,
             path: Path) -> None:  # fmt: skip
    import torch

    batch = torch.export.Dim("batch")
    sides: dict[int, object] = {}
    spatial = spatial_inputs(function)
    if spatial:  # each side a multiple of the step: step * k, k from the smallest side's
        step, least = spatial[0].spatial_step, smallest_side(spatial[0])
        for i in range(len(spatial[0].shape) - 1):
            k = torch.export.Dim(f"side{i}_steps", min=least // step)
            sides[i + 2] = k * step if step > 1 else k
    size = sum(t.numel() * t.element_size() for t in module.state_dict().values())
    torch.onnx.export(
        module,
        inputs,
        str(path),
        input_names=[item.name for item in function.inputs],
        output_names=["output"],
        dynamic_shapes=tuple(
            {0: batch, **(sides if item.spatial_step else {})} for item in function.inputs
        ),
        dynamo=True,
        external_data=size > ONNX_INLINE_BYTES,
        verbose=False,
    )


# where the ONNX exporter says each node was traced from: file names of this machine
# (site-packages in a home folder), which a graph made for sharing leaves out
_STACK_TRACE = "pkg.torch.onnx.stack_trace"


def _without_sources(path: Path) -> None:
    """Rewrite the ONNX graph at `path` without the source file names its exporter recorded
    (nodes' stack traces). The operations and weights are untouched, and checked after."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)  # a .data file stays as it is
    graphs = [model.graph.node, *(f.node for f in model.functions)]
    while graphs:
        for node in graphs.pop():
            kept = [p for p in node.metadata_props if p.key != _STACK_TRACE]
            del node.metadata_props[:]
            node.metadata_props.extend(kept)
            graphs += [a.g.node for a in node.attribute if a.HasField("g")]
            graphs += [g.node for a in node.attribute for g in a.graphs]
    onnx.save(model, str(path))


def _save_script(traced: torch.jit.ScriptModule, path: Path) -> None:
    """Write a TorchScript graph without its debug records (`*.debug_pkl`, which name this
    machine's source files and which torch.jit.load does without). Saved in memory first and
    written by Python: torch's own file writer ends the process (a C++ abort, status 134)
    when a write fails, a full disk say, and leaves a half file behind; Python raises."""
    import io
    import zipfile

    import torch

    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    with zipfile.ZipFile(buffer) as old, zipfile.ZipFile(path, "w") as new:
        for info in old.infolist():
            if not info.filename.endswith(".debug_pkl"):
                new.writestr(info, old.read(info.filename))


def _load_graph(
    fmt: str, path: Path, function: ExportFunction
) -> Callable[[tuple[Tensor, ...]], Tensor]:
    """The written graph as a function of the inputs, giving a CPU tensor."""
    import torch

    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

        def run_onnx(inputs: tuple[Tensor, ...]) -> Tensor:
            feed = {item.name: t.numpy() for item, t in zip(function.inputs, inputs)}
            return torch.from_numpy(session.run(None, feed)[0]).float()

        return run_onnx
    graph = torch.jit.load(str(path))  # the file this export just wrote, nothing else

    def run_script(inputs: tuple[Tensor, ...]) -> Tensor:
        with torch.no_grad():
            out: Tensor = graph(*inputs).float()
        return out

    return run_script


__all__ = [
    "DISK_FULL",
    "TOLERANCE",
    "describe_function",
    "eval_mode_layers",
    "example_inputs",
    "follows_input",
    "other_sizes",
    "smallest_side",
    "spatial_inputs",
    "spatial_problem",
    "spatial_sizes",
    "to_graph",
]
