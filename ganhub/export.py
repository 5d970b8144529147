"""`ganhub export`: a trained run's generator as a self-contained folder, and reading one back.

    FOLDER/
      export.json            what the folder holds: plugin, step, each function's inputs and
                             output, the labels of a conditional run, the files, the checks
      generator.safetensors  the weights ganhub.load(FOLDER) restores, as <role>.<key> tensors
      generator.onnx         --format onnx: one graph per declared function (a CycleGAN's
      generator.pt           translate_AtoB and translate_BtoA); --format torchscript: .pt
      config.yaml            the run's resolved config, less its local paths (below);
                             requires.json: the plugins it needs
      samples/               the domain's sample artifact, drawn from the exported weights
                             (left out where it shows the training data: SAMPLES_FROM_DATA)
      README.md              the model card (ganhub.export_card)

What leaves the run is what its system declares (`GANSystem.export_spec`): the modules whose
weights sampling needs and, where sampling is one call, the functions onnx and torchscript
trace. Nothing here knows a domain by name. The graphs are traced from a CPU copy, so they run
anywhere, and each is run once against PyTorch before the folder is kept (`ganhub.export_graph`:
a dynamic batch, and dynamic sides where an input declares a `spatial_step`).

The folder is built beside its destination and renamed into place, so it appears whole or not
at all, and a folder that exists and is not empty is replaced only with `force`. Reading one
back (`read_weights`, called by `ganhub.load`) trusts nothing in it: JSON and safetensors only,
the config validated like a run's, every tensor checked against the model it must fit.

An export is made for sharing, so it holds no training data: a system whose sample artifact
(`write_samples`) shows its training data or is computed from it (a translator of the user's
own scans shows them beside its outputs) declares the named interface `SAMPLES_FROM_DATA` in
`capabilities().provides`, and the export then writes no samples and says why, in the model
card and on stderr. Nor does it hold the run's local paths (`shareable_config`): data.path,
data.labels, eval.inception_weights, init_from and every other path-typed key read
`<not exported>` in its config.yaml, a command given one back (`ganhub sample EXPORT
data.path=FOLDER`) reads the data as the run did, and the card's notes say which were left out.

This module imports no torch at import time: `ganhub --help` registers its command.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ganhub.clikit import HELP, RUN_DIR, SEED, default_output, device_option
from ganhub.closed_output import say
from ganhub.config.schema import MAX_SEED
from ganhub.errors import GanhubError, UsageError, did_you_mean, one_line, writing
from ganhub.export_graph import (
    DISK_FULL,
    describe_function,
    eval_mode_layers,
    example_inputs,
    follows_input,
    other_sizes,
    spatial_problem,
    to_graph,
)
from ganhub.exported import (
    EXPORT_VERSION,
    MANIFEST,
    NOT_EXPORTED,
    WEIGHTS,
    mark_local,
    read_manifest,
    read_weights,
    restore,
    shareable_config,
)
from ganhub.exported import shown_path as _shown
from ganhub.interrupts import terminate_unwinds
from ganhub.metrics import store
from ganhub.runfiles import check_run_destination, scratch_beside

if TYPE_CHECKING:
    from ganhub.api import TrainedGAN
    from ganhub.engine.system import ExportSpec

FORMATS = ("safetensors", "onnx", "torchscript")
# The named interface (`Capabilities.provides`) of a system whose sample artifact shows its
# training data or is computed from it (real inputs translated, real images beside outputs):
# its export leaves the samples out (module doc). Declare it for the user's own data only.
SAMPLES_FROM_DATA = "samples_from_data"
SAMPLES_LEFT_OUT = (
    "no samples: this run's samples show its training data or are made from it (its own "
    "data files), and an export is made for sharing, so it holds none; draw them where the "
    "data is: `ganhub sample EXPORT data.path=FOLDER` (the export holds no data path), or "
    "`ganhub sample RUN_DIR` with the run"
)
CARD = "README.md"
SUFFIX = {"onnx": ".onnx", "torchscript": ".pt"}
# role and function names become tensor-name prefixes and file names
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


# -- the command ------------------------------------------------------------------------


class _FormatChoice(click.Choice):
    """click's Choice of --format, in any case (ONNX), refusing a typo in one ganhub line
    naming the option, with a did-you-mean (`--format onxx: 'onxx' is not one of ...`), not
    in click's "Invalid value for '--format'" words."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if str(value).lower() in FORMATS:
            return str(value).lower()
        shown = one_line(str(value), 40)
        raise UsageError(
            f"--format {shown or repr(value)}: '{shown}' is not one of {', '.join(FORMATS)}"
            f"{did_you_mean(str(value), FORMATS)}"
        )


@click.command(name="export", context_settings=HELP)
@click.argument("run_dir", type=RUN_DIR)
@click.option("--format", "fmt", type=_FormatChoice(FORMATS), default="safetensors",
              show_default=True,
              help="safetensors: the weights, for ganhub.load (every domain); onnx or "
              "torchscript: also the generator as a graph (domains whose generator is one "
              "call: not textgan).")  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder to write  [default: RUN_DIR/export-FORMAT; for an export, "
              "./export-FORMAT-EXPORT]")  # fmt: skip
@click.option("--force", is_flag=True,
              help="Replace --out when it is an earlier export (a folder with export.json).")  # fmt: skip
@device_option("Where the run is loaded and the samples drawn: cpu, cuda, cuda:N, mps or "
               "auto (graphs are always traced on the CPU).")  # fmt: skip
@click.option("--seed", type=SEED, default=0, show_default=True,
              help=f"Seed of the samples (0 to {MAX_SEED}).")  # fmt: skip
def export_command(
    run_dir: Path, fmt: str, out: Path | None, force: bool, device: str, seed: int
) -> None:
    """Write a run's generator as a self-contained folder: ganhub export RUN_DIR --format onnx.

    \b
    The folder holds the generator's weights (its EMA copy when the run used ema) as
    generator.safetensors; with --format onnx or torchscript also the generator as a graph,
    checked against PyTorch (generator.onnx or generator.pt; a translator's
    translate_AtoB.onnx...); export.json (inputs, output, labels), the resolved config.yaml,
    samples and a model card README.md. ganhub.load(FOLDER) opens it like a run. It is
    built beside --out and renamed into place; an existing non-empty --out is left alone
    unless it is an earlier export and --force is given. Prints the folder.
    """
    click.echo(export_run(run_dir, fmt, out=out, force=force, device=device, seed=seed))


# -- writing an export -------------------------------------------------------------------


def export_run(
    run_dir: str | Path,
    fmt: str = "safetensors",
    *,
    out: str | Path | None = None,
    force: bool = False,
    device: str = "cpu",
    seed: int = 0,
) -> Path:
    """Write the generator of a run (or of an exported folder) to a new folder; return its path."""
    from ganhub.api import check_seed, load

    seed = check_seed(seed)  # a seed torch cannot take stopped the export halfway
    if fmt not in FORMATS:
        raise UsageError(
            f"format '{one_line(fmt, 40)}' is not one of {', '.join(FORMATS)}"
            f"{did_you_mean(fmt, FORMATS)}"
        )
    run_dir = Path(run_dir)
    # an export is made for sharing (and may sit on a read-only share): an export of it
    # goes beside it, as every command's output does (`default_output`), not into it
    exported = (run_dir / MANIFEST).is_file()
    where, said = default_output(run_dir, exported, name=f"export-{fmt}", what="exported files")
    dest = Path(os.path.abspath(out if out is not None else where))
    _check_destination(dest, run_dir, force)
    if fmt == "onnx":
        _require_onnx()
    model = load(run_dir, device=device)
    spec = model.system.export_spec()
    plugin = model.config.plugin
    if fmt != "safetensors" and not spec.functions:
        raise UsageError(
            f"cannot export this '{plugin}' run as {fmt}: {spec.refusal}; "
            "--format safetensors works for every domain"
        )
    _check_spec(spec, plugin)
    made = store.new_folders(dest.parent)  # a failed export removes them again
    with terminate_unwinds():  # SIGTERM unwinds like Ctrl-C: the scratch folder is removed
        tmp = scratch_beside(dest, f"'{_shown(dest)}'")
        try:
            try:
                notes = _write(model, spec, fmt, tmp, dest.name, run_dir, seed)
            except OSError as exc:  # a full disk, say: one line naming the destination
                raise _at_destination(exc, tmp, dest) from None
            _commit(tmp, dest, force)
            made = []  # the export is in place: the folders it made stay
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # gone already once renamed into place
            store.remove_empty(made)
    for note in notes:  # what the card says of what the folder leaves out
        say(f"ganhub: note: {note}")
    if said and out is None:  # where an export of an export went
        say(said)
    return dest


def _at_destination(exc: OSError, tmp: Path, dest: Path) -> OSError:
    """A scratch folder's write error as that of the file it was to become in `dest`, or of
    `dest` where it names none (a write failed at its flush): the command says one line."""
    named = dest
    if exc.filename is not None:
        filename = Path(os.fsdecode(exc.filename))
        if not filename.is_relative_to(tmp):
            return exc  # a file of the run or of its data: its own name
        named = dest / filename.relative_to(tmp)
    return OSError(exc.errno, exc.strerror or str(exc), str(named))


def _check_destination(dest: Path, run_dir: Path, force: bool) -> None:
    """Refuse a destination that is a file or link, not empty (without force), or the run's."""
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise UsageError(f"--out '{_shown(dest)}' is a file or a link; give a folder")
    check_run_destination(dest, run_dir)
    run, target = run_dir.resolve(), dest.resolve()
    if target.is_relative_to(run) and not (
        target.parent == run and target.name.startswith("export-")
    ):  # --force would replace the run's checkpoints, samples or config
        raise UsageError(
            f"--out '{_shown(dest)}' is inside the run directory; inside it only an "
            "export-* folder is a destination (the default), or give a folder outside it"
        )
    if dest.is_dir() and any(dest.iterdir()):
        if not force:
            raise UsageError(
                f"'{_shown(dest)}' exists and is not empty; choose another --out or pass "
                "--force to replace it if it is an earlier export"
            )
        # --force replaces an earlier export, never a folder of anything else (another run's
        # checkpoints, the working directory): it is removed whole
        if not (dest / MANIFEST).is_file() or (dest / MANIFEST).is_symlink():
            raise UsageError(
                f"'{_shown(dest)}' is not a ganhub export (no {MANIFEST} in it), and --force "
                "replaces only an earlier export; choose another --out"
            )


def _require_onnx() -> None:
    import importlib.util

    missing = [m for m in ("onnx", "onnxscript", "onnxruntime") if not importlib.util.find_spec(m)]
    if missing:
        raise UsageError(f"--format onnx needs {', '.join(missing)}: pip install 'ganhub[export]'")


def _check_spec(spec: ExportSpec, plugin: str) -> None:
    """A system's roles and function names become tensor prefixes and file names: plain ones;
    inputs whose sides may vary say which sides (`spatial_problem`)."""
    names = [*spec.state, *(f.name for f in spec.functions)]
    bad = [n for n in names if not _NAME.match(n)]
    functions = [f.name for f in spec.functions]
    spatial = [problem for f in spec.functions if (problem := spatial_problem(f))]
    if bad or len(set(functions)) != len(functions) or spatial:
        shown = (
            one_line(bad[0], 60) if bad else spatial[0] if spatial else "a repeated function name"
        )
        raise GanhubError(f"the '{plugin}' system declares an export it cannot write ({shown})")


def _commit(tmp: Path, dest: Path, force: bool) -> None:
    """Rename the finished folder into place; with force, the old one goes only once it has."""
    for path in tmp.rglob("*"):
        if path.is_file():
            _fsync(path)
    if dest.is_dir() and (not any(dest.iterdir()) or (force and _is_cwd(dest))):
        # filled, not replaced: it may be the shell's working folder (`--out .`, an earlier
        # export replaced from inside it), which a rename would leave it in deleted, or a
        # mount point; an earlier export's entries go aside first, and back if the new fail
        aside = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.old"
        aside.mkdir()
        _move_into(dest, aside)
        try:
            _move_into(tmp, dest)
        except BaseException:
            _move_into(aside, dest)
            raise
        shutil.rmtree(aside, ignore_errors=True)
        return
    if not dest.exists():
        try:
            os.rename(tmp, dest)  # fails when a folder appeared meanwhile: it is not clobbered
        except OSError as exc:
            raise UsageError(f"cannot create '{_shown(dest)}': {exc.strerror or exc}") from None
        return
    if not force:
        raise UsageError(f"'{_shown(dest)}' appeared while exporting; it was left alone")
    aside = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.old"
    os.rename(dest, aside)
    try:
        os.rename(tmp, dest)
    except BaseException:  # an error, or Ctrl-C between the two renames
        if not dest.exists():
            os.rename(aside, dest)  # put the old export back: never lose both
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _is_cwd(path: Path) -> bool:
    try:
        return os.path.samefile(path, os.getcwd())
    except OSError:  # the working folder is gone
        return False


def _move_into(tmp: Path, dest: Path) -> None:
    """Move the entries of `tmp` into the empty folder `dest`, all or none."""
    moved: list[str] = []
    try:
        for entry in sorted(tmp.iterdir()):
            os.rename(entry, dest / entry.name)
            moved.append(entry.name)
    except BaseException:  # an error, or Ctrl-C part-way: `dest` is left empty again
        for name in moved:
            os.rename(dest / name, tmp / name)
        raise


def _fsync(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def _write(
    model: TrainedGAN,
    spec: ExportSpec,
    fmt: str,
    folder: Path,
    name: str,
    run_dir: Path,
    seed: int,
) -> list[str]:
    """Everything an export holds, written into `folder` (to be renamed `name`); returns the
    notes of the card the console should show too (samples left out)."""
    import copy

    import torch
    from safetensors.torch import save_file

    from ganhub import __version__
    from ganhub.config.overrides import dump_yaml
    from ganhub.export_card import write_card
    from ganhub.wiring import components

    config, plugin, step = model.config, model.config.plugin, model.step
    tensors = {
        f"{role}.{key}": value.detach().to("cpu", copy=True).contiguous()
        for role, module in spec.state.items()
        for key, value in module.state_dict().items()
    }
    meta = {"format": "pt", "ganhub_export": str(EXPORT_VERSION), "plugin": plugin}
    with writing(folder / WEIGHTS):
        save_file(tensors, str(folder / WEIGHTS), metadata={**meta, "step": str(step)})
    data, left = shareable_config(config)  # made for sharing: no local path
    config_text = dump_yaml(data, sort_keys=False)
    (folder / "config.yaml").write_text(config_text, encoding="utf-8")
    # safetensors writes its file owner-only; the folder is for sharing: the umask decides
    os.chmod(folder / WEIGHTS, (folder / "config.yaml").stat().st_mode & 0o777)
    provenance = mark_local(components(config, training=False).provenance, "requires", {})
    (folder / "requires.json").write_text(json.dumps(provenance, indent=1, sort_keys=True))

    functions = []
    for function in spec.functions:
        # a CPU copy in eval mode: graphs that run anywhere, and the model itself untouched
        module = copy.deepcopy(function.module).to("cpu").eval()
        with torch.no_grad():
            shape = list(module(*example_inputs(function, 2, seed)).shape[1:])
        entry = describe_function(function, shape, follows_input(module, function, shape, seed))
        if layers := eval_mode_layers(module):  # the graph's mode: the card says what it means
            entry["eval_mode"] = layers
        if fmt in SUFFIX:
            path = folder / f"{function.name}{SUFFIX[fmt]}"
            diff = to_graph(fmt, module, function, path, seed, plugin)
            if (checked := other_sizes(function)) is not None:
                entry["checked_sizes"] = list(checked)
            entry["files"] = {fmt: path.name}
            if path.with_name(f"{path.name}.data").is_file():  # a large ONNX graph's weights
                entry["files"]["onnx_data"] = f"{path.name}.data"
            entry["max_abs_diff"] = diff
        functions.append(entry)

    notes = [_paths_note(list(left), name)] if left else []
    samples: list[str] = []
    said: list[str] = []
    system = model.system
    if system.capabilities().can(SAMPLES_FROM_DATA):  # real data stays with the run
        said.append(SAMPLES_LEFT_OUT)
    else:
        try:
            written = model.write_samples(folder / "samples", "samples", seed=seed)
            samples = [p.relative_to(folder).as_posix() for p in written]
        except (GanhubError, OSError) as exc:  # a translator whose data folder is gone, say
            if getattr(exc, "errno", None) in DISK_FULL:  # not the run's: the export's own
                raise
            notes.append(f"no samples were drawn: {one_line(exc, 200)}")
    labels = system.capabilities().labels
    ema = any(system.generator(n) is not system.generator(n, use_ema=False)
              for n in system.generator_names)  # fmt: skip
    manifest: dict[str, Any] = {
        "ganhub_export": EXPORT_VERSION,
        "ganhub_version": __version__,
        "plugin": plugin,
        "step": step,
        "source": one_line(run_dir.resolve().name, 200),
        "format": fmt,
        "ema": ema,
        "modality": system.capabilities().modality,
        "weights": WEIGHTS,
        "roles": list(spec.state),
        "functions": functions,
        "refusal": None if spec.functions else spec.refusal,
        "labels": None
        if labels is None
        else {"sizes": list(labels.sizes), "names": [list(n) for n in labels.names]},
        "seed": seed,
        "samples": samples,
        "config": "config.yaml",
        "paths_left_out": list(left),
        # how the run's own translations run G (model.inference of a paired translator)
        "inference": _inference(data),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    hidden = _hidden(left, run_dir, folder, name)
    write_card(folder, name, run_dir, manifest, config_text, [*said, *notes], hidden)
    return said


def _inference(data: dict[str, Any]) -> str | None:
    """The config's `model.inference` (eval or paper: `ganhub.engine.paired`), or None."""
    section = data.get("model")
    value = section.get("inference") if isinstance(section, dict) else None
    return value if isinstance(value, str) else None


def _paths_note(keys: list[str], name: str) -> str:
    """The card's note on the keys `shareable_config` left out, and how to give them back."""
    from ganhub.config.schema import KEPT_AS_TYPED

    marked = [k for k in keys if k not in KEPT_AS_TYPED]
    reset = [k for k in keys if k in KEPT_AS_TYPED]
    shown = ", ".join(marked[:4]) + (f" and {len(marked) - 4} more" if len(marked) > 4 else "")
    said = [f"{shown} {'hold' if len(marked) > 1 else 'holds'} {NOT_EXPORTED}"] if marked else []
    said += [f"{' and '.join(reset)}: the default"] if reset else []
    data = [f"{k}=PATH" for k in marked if k.startswith("data.")][:3]
    give = ""
    if data:
        give = (
            ". Give them back where you have the data to sample or score with it: "
            f"ganhub sample {name} {' '.join(data)}"
        )
    elif marked:
        give = ". A command that reads one takes it as KEY=VALUE"
    return (
        "config.yaml holds no local path of the run (an export is made for sharing): "
        f"{'; '.join(said)}{give}"
    )


def _hidden(
    left: dict[str, list[str]], run_dir: Path, folder: Path, name: str
) -> list[tuple[str, str]]:
    """(text, what the card shows instead) for each local path a note may quote (an error
    reading the run's files, a sample writer's error naming data.path), longest first."""
    pairs = {t: NOT_EXPORTED for texts in left.values() for t in texts if "/" in t or "\\" in t}
    pairs |= {str(run_dir.resolve()): "RUN_DIR", os.path.abspath(run_dir): "RUN_DIR"}
    pairs[str(folder)] = name
    home = os.path.expanduser("~")
    if len(home) > 1:
        pairs.setdefault(home, "~")
    return sorted(pairs.items(), key=lambda pair: -len(pair[0]))


__all__ = [
    "FORMATS",
    "MANIFEST",
    "SAMPLES_FROM_DATA",
    "WEIGHTS",
    "check_run_destination",
    "example_inputs",
    "export_command",
    "export_run",
    "read_manifest",
    "read_weights",
    "restore",
]
