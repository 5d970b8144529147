"""The model card (README.md) of an exported generator, rendered by an escaping template.

Everything that comes from the run directory (its name, config values, class names, metric
names and values) is untrusted. Each value reaches the Markdown as plain inline text: on one
line, its Markdown punctuation backslash-escaped and its HTML escaped, so no value can open a
link, an image, raw HTML, emphasis or a new table cell. Code blocks (the config, the loading
snippets, a text sample) are fenced with more backticks than the text in them holds, so
nothing inside can close them; Markdown shows a fenced block as it is. The run's metrics are
read by `ganhub.metrics.rundata`, which bounds and checks every file and value.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from ganhub.errors import one_line

_PUNCTUATION = re.compile(r"([\\`*_\[\]|~])")
MAX_TEXT = 300  # characters of one value in the card
MAX_LAST = 30  # last logged training values shown
SAMPLE_LINES = 20  # lines of a text sample shown
N = 16  # samples in the loading snippets
# the names of an input's sides after its channels, by their number
_SIDES = {1: ["L"], 2: ["H", "W"], 3: ["D", "H", "W"]}


def markdown_text(value: Any) -> Markup:
    """`value` as inline Markdown that shows exactly its text (already safe Markup passes)."""
    if isinstance(value, Markup):
        return value
    text = one_line(" ".join(str(value).split()), MAX_TEXT)
    return Markup(html.escape(_PUNCTUATION.sub(r"\\\1", text)))


def code_block(text: str, language: str = "") -> Markup:
    """`text` in a fenced code block that nothing in it can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return Markup(f"{fence}{language}\n{text.rstrip()}\n{fence}")


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The Jinja2 environment: every {{ value }} goes through `markdown_text`."""
    return Environment(
        loader=PackageLoader("ganhub.metrics", "templates"),
        autoescape=True,
        finalize=markdown_text,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def write_card(
    folder: Path,
    name: str,
    run_dir: Path,
    manifest: dict[str, Any],
    config_text: str,
    notes: list[str],
    hidden: Sequence[tuple[str, str]] = (),
) -> Path:
    """Write folder/README.md for an export described by `manifest`, to be named `name`.
    `hidden`: (text, shown instead) pairs, longest first, for the local paths a note or
    caption may quote (an OSError names its file): the card is for sharing."""
    from ganhub.metrics.rundata import final_metrics, read_metrics

    notes = [*notes, *mode_notes(manifest)]
    # the card describes the exported weights: a damaged newest checkpoint exports the one
    # before it, and what was logged after that step is of other weights
    step = manifest["step"]
    records = [r for r in read_metrics(run_dir, notes) if r.get("step", step + 1) <= step]
    caption, rows = final_metrics(run_dir, records, notes, up_to=step)
    last_step, last_rows = _last_values(records, notes)
    notes, caption = [_hide(n, hidden) for n in notes], _hide(caption, hidden)
    text = render_card(
        manifest, folder, name, config_text, caption, rows, last_step, last_rows, notes
    )
    path = folder / "README.md"
    path.write_text(text, encoding="utf-8")
    return path


# what eval mode does to each layer `eval_mode_layers` names, and what training mode does
_EVAL = {"dropout": "dropout off", "batch norm": "batch norm on its running averages"}
_TRAIN = {"dropout": "dropout on", "batch norm": "batch norm on each image's own statistics"}


def mode_notes(manifest: dict[str, Any]) -> list[str]:
    """What the graphs compute where eval mode changes the generator (dropout, batch norm),
    and how that compares with the run's own inference (`model.inference` of a translator)."""
    graphs = [fn for fn in manifest["functions"] if fn["files"] and fn.get("eval_mode")]
    if not graphs:
        return []
    layers = [layer for layer in _EVAL if any(layer in fn["eval_mode"] for fn in graphs)]
    names = ", ".join(fn["name"] for fn in graphs)
    notes = [
        f"{'The graphs' if len(graphs) > 1 else 'The graph'} ({names}) "
        f"{'run' if len(graphs) > 1 else 'runs'} the generator in eval mode: "
        f"{', '.join(_EVAL[layer] for layer in layers)}, as kept in training."
    ]
    as_trained = ", ".join(_TRAIN[layer] for layer in layers)
    if manifest.get("inference") == "paper":
        notes.append(
            f"This run translates as in training (model.inference=paper: {as_trained}, as the "
            "pix2pix paper does at test time): ganhub.load and ganhub sample give those "
            "translations, which differ from the graph's; model.inference=eval gives the graph's."
        )
    elif manifest.get("inference") == "eval":
        notes.append(
            "This run translates in eval mode too (model.inference=eval), so ganhub.load gives "
            f"the graph's translations; the pix2pix paper's test-time mode ({as_trained}) is "
            "ganhub sample EXPORT model.inference=paper, which no graph holds."
        )
    return notes


def _hide(text: str, hidden: Sequence[tuple[str, str]]) -> str:
    """`text` with each hidden text replaced by what is shown instead."""
    for secret, shown in hidden:
        text = text.replace(secret, shown)
    return text


def _last_values(
    records: list[dict[str, Any]], notes: list[str]
) -> tuple[int, list[tuple[str, str]]]:
    """(step, rows) of the last step whose records hold training values (losses, D
    outputs...), every record of that step merged (the evaluation at the end of a run is
    logged as a line of its own, and an appended line must not hide the others); values that
    are no numbers are left out with a note."""
    from ganhub.metrics.rundata import as_number, shown_key

    def training(key: str, value: Any) -> bool:
        return key not in ("step", "time") and not key.startswith("eval/")

    def shown(value: Any) -> bool:
        return as_number(value) is not None and not isinstance(value, bool)

    steps = [r["step"] for r in records if any(training(k, v) and shown(v) for k, v in r.items())]
    if not steps:
        return 0, []
    merged: dict[str, Any] = {}
    for record in records:
        if record.get("step") == steps[-1]:
            merged.update(record)
    rows = [(shown_key(k, 80), f"{as_number(v):.4g}") for k, v in merged.items()
            if training(k, v) and shown(v)][:MAX_LAST]  # fmt: skip
    odd = [shown_key(k, 40) for k, v in merged.items() if training(k, v) and as_number(v) is None]
    if odd:
        more = f" and {len(odd) - 3} more" if len(odd) > 3 else ""
        notes.append(
            f"metrics.jsonl, step {steps[-1]}: values that are not numbers were left out "
            f"(keys {', '.join(odd[:3])}{more})"
        )
    return steps[-1], rows


def render_card(
    manifest: dict[str, Any],
    folder: Path,
    name: str,
    config_text: str,
    caption: str,
    rows: list[tuple[str, str]],
    last_step: int,
    last_rows: list[tuple[str, str]],
    notes: list[str],
) -> str:
    """The Markdown text of the model card (template model_card.md)."""
    fmt = manifest["format"]
    files = ["README.md", "export.json", "config.yaml", "requires.json", manifest["weights"]]
    files += [f for fn in manifest["functions"] for f in fn["files"].values()]
    samples = manifest["samples"]
    images = [Markup(quote(p)) for p in samples if p.endswith(".png")]
    others = [(Markup(quote(p)), p) for p in samples if not p.endswith(".png")]
    text_block = None
    for p in samples:
        if p.endswith(".txt"):
            lines = (folder / p).read_text(encoding="utf-8").splitlines()[:SAMPLE_LINES]
            text_block = code_block("\n".join(one_line(line, 500) for line in lines), "text")
    name = json.dumps(name)  # a Python string literal, whatever the folder's name
    functions = [_function_rows(fn, manifest) for fn in manifest["functions"]]
    onnx = [_onnx_snippet(fn, name) for fn in manifest["functions"] if "onnx" in fn["files"]]
    script = [
        _torchscript_snippet(fn, name)
        for fn in manifest["functions"]
        if "torchscript" in fn["files"]
    ]
    return (
        environment()
        .get_template("model_card.md")
        .render(
            plugin=manifest["plugin"],
            version=manifest["ganhub_version"],
            source=manifest["source"],
            step=manifest["step"],
            ema=manifest["ema"],
            weights=", ".join(manifest["roles"]) + (" (EMA weights)" if manifest["ema"] else ""),
            format=fmt,
            files=", ".join(files),
            labels=_labels_text(manifest["labels"]),
            functions=functions,
            refusal=manifest["refusal"],
            seed=manifest["seed"],
            images=images,
            others=others,
            text_block=text_block,
            caption=caption,
            rows=rows,
            last_step=last_step,
            last_rows=last_rows,
            ganhub_block=code_block(_ganhub_snippet(manifest, name), "python"),
            onnx_blocks=[code_block(s, "python") for s in onnx],
            torchscript_blocks=[code_block(s, "python") for s in script],
            config_block=code_block(config_text, "yaml"),
            notes=notes,
        )
    )


def _shape(shape: list[int], sides: bool = False) -> str:
    """(B, 3, 32, 32); with `sides`, the dimensions after the first by letter: (B, 3, H, W)."""
    shown = [str(s) for s in shape]
    if sides and len(shape) > 1:
        shown[1:] = _SIDES.get(len(shape) - 1, [f"S{i + 1}" for i in range(len(shape) - 1)])
    return "(" + ", ".join(["B", *shown]) + ")"


def _sizes_text(item: dict[str, Any]) -> str:
    """Which sides an input with a `spatial_step` takes, and the ones it was trained at."""
    names = _SIDES.get(len(item["shape"]) - 1, ["its sides"])
    step, least = item["spatial_step"], item["spatial_min"]
    trained = " x ".join(str(s) for s in item["shape"][1:])
    return f"{' and '.join(names)}: any multiples of {step} from {least} (trained at {trained})"


def _labels_text(labels: dict[str, Any] | None) -> str:
    if labels is None:
        return ""
    parts = []
    for k, size in enumerate(labels["sizes"]):
        names = labels["names"][k] if labels["names"] else []
        shown = f": {', '.join(str(n) for n in names[:12])}" if names else ""
        parts.append(f"{size} classes{shown}{', ...' if len(names) > 12 else ''}")
    return "; ".join(parts)


def _function_rows(function: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """The inputs-and-output table of one function."""
    values = {"noise": "standard normal", "image": "an image in [-1, 1]"}
    rows = []
    for item in function["inputs"]:
        if item.get("meaning"):
            text = str(item["meaning"])
        elif item["kind"] == "labels":
            text = " and ".join(f"0 to {c - 1}" for c in item["classes"]) + " (class index)"
        else:
            text = values[item["kind"]]
        sides = bool(item.get("spatial_step"))
        if sides:
            text = f"{text}; {_sizes_text(item)}"
        rows.append(
            {"role": "input", "name": item["name"], "shape": _shape(item["shape"], sides),
             "dtype": item["dtype"], "meaning": text}
        )  # fmt: skip
    out = function["output"]
    bounds = out["range"]
    text = f"in [{bounds[0]:g}, {bounds[1]:g}]" if bounds else "unbounded"
    follows = bool(out.get("sides_of"))  # its sides are an input's: (B, 3, H, W)
    if follows:
        text = f"{text}; the size of input {out['sides_of']}"
    rows.append(
        {"role": "output", "name": out["name"], "shape": _shape(out["shape"], follows),
         "dtype": "float32", "meaning": text}
    )  # fmt: skip
    check = ""
    if "max_abs_diff" in function:
        runtime = "onnxruntime" if "onnx" in function["files"] else "TorchScript"
        diff = function["max_abs_diff"]
        agree = "exactly" if diff == 0 else f"to {diff:.2g} (the largest absolute difference)"
        other = function.get("checked_sizes")
        also = f" and on {' x '.join(str(s) for s in other)} inputs" if other else ""
        check = (
            f"Checked at export: {runtime} and PyTorch agree {agree} on a seeded batch of 3{also}."
        )
    return {"name": function["name"], "rows": rows, "check": check}


def _ganhub_snippet(manifest: dict[str, Any], name: str) -> str:
    lines = ["import ganhub", "", f"model = ganhub.load({name})"]
    factors = len(manifest["labels"]["sizes"]) if manifest["labels"] is not None else 0
    if factors > 1:  # one class of each label factor: "0,0,0"
        first = ",".join("0" * factors)
        lines.append(
            f'samples = model.sample({N}, seed=0, labels="{first}")  # class 0 of each factor'
        )
    elif factors:
        lines.append(f"samples = model.sample({N}, seed=0, labels=0)  # {N} samples of class 0")
    else:
        lines.append(f"samples = model.sample({N}, seed=0)")
    return "\n".join(lines)


def _numpy_input(item: dict[str, Any]) -> str:
    shape = ", ".join(str(s) for s in [N, *item["shape"]])
    if item["kind"] == "labels":
        classes = item["classes"]
        high = str(classes[0]) if not item["shape"] else f"np.array({classes})"
        comma = "," if not item["shape"] else ""
        return f"rng.integers(0, {high}, size=({shape}{comma}), dtype=np.int64)"
    if item["kind"] == "image":
        return f"rng.uniform(-1, 1, size=({shape})).astype(np.float32)"
    return f"rng.standard_normal(({shape}), dtype=np.float32)"


def _onnx_snippet(function: dict[str, Any], name: str) -> str:
    path = json.dumps(function["files"]["onnx"])
    feed = [f'    "{item["name"]}": {_numpy_input(item)},' for item in function["inputs"]]
    return "\n".join(
        [
            "from pathlib import Path",
            "",
            "import numpy as np",
            "import onnxruntime as ort",
            "",
            f"graph = str(Path({name}) / {path})",
            'session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])',
            "rng = np.random.default_rng(0)",
            "inputs = {",
            *feed,
            "}",
            f"(output,) = session.run(None, inputs)  # shape {_shape(function['output']['shape'])}",
        ]
    )


def _torch_input(item: dict[str, Any]) -> str:
    shape = ", ".join(str(s) for s in [N, *item["shape"]])
    if item["kind"] == "labels":
        if not item["shape"]:
            return f"torch.randint(0, {item['classes'][0]}, ({N},))"
        return f"torch.stack([torch.randint(0, c, ({N},)) for c in {item['classes']}], 1)"
    if item["kind"] == "image":
        return f"torch.rand({shape}) * 2 - 1"
    return f"torch.randn({shape})"


def _torchscript_snippet(function: dict[str, Any], name: str) -> str:
    path = json.dumps(function["files"]["torchscript"])
    args = ", ".join(_torch_input(item) for item in function["inputs"])
    return "\n".join(
        [
            "from pathlib import Path",
            "",
            "import torch",
            "",
            f"generator = torch.jit.load(str(Path({name}) / {path}))",
            "with torch.no_grad():",
            f"    output = generator({args})  # shape {_shape(function['output']['shape'])}",
        ]
    )


__all__ = ["code_block", "environment", "markdown_text", "mode_notes", "render_card", "write_card"]
