"""`ganhub stylegan mix|truncation|interpolate|explore|check`; torch is imported only when they run.

Every command that reads a run opens it with `ganhub.load(RUN_DIR, plugin="stylegan")`, so a
run of another domain is refused with one line. `ganhub stylegan-sample` and
`ganhub stylegan-check` still work for one release (deprecated names of `explore`, `check`).
`ganhub stylegan check` is `ganhub data check DATA plugin=stylegan model.image_size=N`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import click
from ganhub_stylegan.bounds import (
    COUNTS,
    as_number,
    check_count,
    check_frames,
    check_grid,
    check_psi,
    crossover_problem,
    cutoff_problem,
    number_refusal,
)

from ganhub.clikit import (
    HELP,
    RUN_DIR,
    SEED,
    KeyValueCommand,
    WholeNumber,
    default_output,
    deprecated_alias,
    device_option,
    domain_group,
)

if TYPE_CHECKING:
    from ganhub_stylegan.system import StyleGANSystem
    from torch import Tensor


def _bounded(
    check: Callable[..., Any], *args: Any
) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A count option's callback refusing a value out of bounds, why then what to give
    (`--rows 0: counts the row sources of the grid: give 1 or more ...`), one line, exit 2."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        from ganhub.errors import UsageError

        if value is None:
            return None
        try:
            return check(value, *args)
        except ValueError as exc:
            raise UsageError(f"{param.opts[0]} {value:g}: {exc}") from None

    return callback


class _Number(click.ParamType):
    """An option's number that refuses text that is no number of its kind (`--frames abc`,
    `--n 1.5`) in the words of its bounds, as the `sample.*` key it stands for does, instead of
    click's "is not a valid integer": one line, exit 2. Numbers are read as config keys are."""

    def __init__(self, kind: type[int] | type[float], refusal: str) -> None:
        self.kind, self.refusal = kind, refusal
        self.name = "integer" if kind is int else "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from ganhub.errors import UsageError, one_line

        number = as_number(value, self.kind)
        if number is None:
            option = param.opts[0] if param is not None else self.name
            raise UsageError(f"{option} {one_line(str(value), 40)}: {self.refusal}")
        return number


def _run_value(key: str, option: str) -> _Number:
    """The number type of an option defaulting to the run's `sample.<key>`: its refusal ends
    with what leaving the option out gives, not the key's "leave it unset"."""
    kind = float if key == "psi" else int
    return _Number(kind, number_refusal(key, f"leave {option} out for the run's sample.{key}"))


def _count(name: str) -> _Number:
    """The number type of a count option with no config key (`--rows`, `--keys`)."""
    least, what, default = COUNTS[name]
    return _Number(int, f"counts {what}: give a whole number, {least} or more (default {default})")


_OUT = click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
                    help="Output folder  [default: RUN_DIR/samples; for an export, "
                    "./samples-EXPORT, as ganhub sample]")  # fmt: skip
_DEVICE = device_option()
_SEED = click.option("--seed", type=SEED, default=0, show_default=True, help="Latent seed.")
_CROSSOVER_GIVE = (
    "is the style index where the columns' styles take over: give a whole number from 1 to "
    "one less than the generator's style vectors (leave --crossover out for half)"
)
# --psi, --frames and explore's --n default to the run's sample.* keys: their bounds are
# checked once the run is open (`_open`), so a refusal can name the run's own value
_PSI = click.option("--psi", type=_run_value("psi", "--psi"), default=None,
                    help="Truncation psi  [default: the run's sample.psi]")  # fmt: skip
_CUTOFF = click.option("--cutoff", type=_run_value("cutoff", "--cutoff"), default=None,
                       help="Truncate only the first k style vectors (0: none)  [default: the "
                       "run's sample.cutoff, all when unset]")  # fmt: skip
_CROSSOVER = click.option("--crossover", type=_Number(int, _CROSSOVER_GIVE), default=None,
                          help="Style index where the column styles take over  [default: half]")  # fmt: skip
_LABEL = click.option("--label", default=None,
                      help="Conditional runs: this class (its name, or its index where names "
                      "are not numbers; 1,2,3 for several label factors)  [default: the first "
                      "class; explore's grid: one row per class]")  # fmt: skip
_FRAMES = click.option("--frames", type=_run_value("frames", "--frames"), default=None,
                       help="Frames of the GIF  [default: the run's sample.frames]")  # fmt: skip
# the counts no `sample.*` key has, in the same words: why, then what to give
_ROWS = _bounded(check_count, *COUNTS["rows"])
_COLS = _bounded(check_count, *COUNTS["cols"])
_LATENTS = _bounded(check_count, *COUNTS["n"])
_KEYS = _bounded(check_count, *COUNTS["keys"])


def _folder(run_dir: Path, out: Path | None) -> Path | None:
    """--out, refused in one line inside the run's checkpoints/ (a resume would read a step
    folder there, pruning removes it) before the run is read; None: the default, which `_open`
    picks once it knows whether RUN_DIR is an export."""
    from ganhub.runfiles import check_run_destination

    if out is not None:
        check_run_destination(out, run_dir, into=True)
    return out


class _Opened(NamedTuple):
    """What `_open` gives a command: the run's system, the class `--label` asks for and its
    name, the folder to write to and the note to print once written ('' for none)."""

    system: StyleGANSystem
    one: Tensor | None
    name: str | None
    folder: Path
    note: str


def _open(
    run_dir: Path,
    out: Path | None,
    device: str,
    cutoff: int | None = None,
    crossover: int | None = None,
    label: str | None = None,
    **sample: float | None,
) -> _Opened:
    """The run's system (G_ema weights), the class `--label` asks for (one label) and its name
    for file names, refusing runs of other domains, a label an unconditional run has not, a
    cutoff or crossover its generator does not have, and `sample` options (`psi=`, `frames=`,
    `n=`) out of bounds, before anything is written; and where to write: --out, else
    RUN_DIR/samples, or ./samples-EXPORT for an export, as `ganhub sample` writes."""
    import ganhub
    from ganhub.errors import UsageError
    from ganhub.export import SAMPLES_FROM_DATA

    model = ganhub.load(run_dir, device=device, plugin="stylegan")
    system: StyleGANSystem = model.system
    _check_sample_options(system, **sample)
    one, name = None, None
    if label is not None:
        one = model.labels_for(label, 1)
        spec = system.capabilities().labels
        assert spec is not None  # labels_for refuses an unconditional run
        name = spec.describe(one.reshape(-1).tolist())
    n_ws = system.G.num_ws
    size = system.config.model.image_size
    # in the words of `sample.cutoff`, whose bounds depend on the generator too
    problem = None if crossover is None else crossover_problem(crossover, size, n_ws)
    if problem:
        raise UsageError(f"--crossover {crossover}: {problem}")
    problem = None if cutoff is None else cutoff_problem(cutoff, size, n_ws)
    if problem:  # leaving --cutoff out gives the run's sample.cutoff, not always all
        own = system.config.sample.cutoff
        run = "unset: truncate all" if own is None else own
        raise UsageError(
            f"--cutoff {cutoff}: {problem} (leave --cutoff out for the run's sample.cutoff, {run})"
        )
    data = model.exported and system.capabilities().can(SAMPLES_FROM_DATA)  # as sample says
    folder, note = (
        (out, "") if out is not None else default_output(run_dir, model.exported, from_data=data)
    )
    return _Opened(system, one, name, folder, note)


def _written(paths: list[Path], note: str) -> None:
    """Print the paths written, after the note on where they went (on stderr), if any."""
    if note:
        click.echo(note, err=True)
    click.echo("\n".join(str(p) for p in paths))


def _check_sample_options(
    system: StyleGANSystem,
    psi: float | None = None,
    frames: float | None = None,
    n: float | None = None,
) -> None:
    """--psi, --frames and explore's --n out of bounds, refused in the words of the `sample.*`
    key each stands for, naming the run's own value that leaving the option out gives."""
    from ganhub.errors import UsageError

    run = system.config.sample
    options: tuple[tuple[str, float | None, Callable[[Any, str], Any], str, float], ...] = (
        ("--psi", psi, check_psi, "psi", run.psi),
        ("--frames", frames, check_frames, "frames", run.frames),
        ("--n", n, check_grid, "grid", run.grid),
    )
    for option, value, check, key, own in options:
        if value is None:
            continue
        try:
            check(value, f"leave {option} out for the run's sample.{key}, {own:g}")
        except ValueError as exc:
            raise UsageError(f"{option} {value:g}: {exc}") from None


def _stem(seed: int, label: str | None = None, **options: float | None) -> str:
    """A file name's stem naming the seed and every option given that changes the image, in
    the order given (`seed0_psi0.7_cutoff8`): outputs of other settings sit side by side
    instead of overwriting each other. Options left at their default (None) are left out."""
    # + 0 names --psi -0 as --psi 0 (psi0): one picture, one name
    given = "".join(f"_{key}{value + 0:g}" for key, value in options.items() if value is not None)
    stem = f"seed{seed}{given}"
    if label is None:
        return stem
    return stem + "_label" + "".join(c if c.isalnum() or c in "-_" else "_" for c in label)[:40]


@click.command(name="mix", context_settings=HELP)
@click.argument("run_dir", type=RUN_DIR)
@_SEED
@_PSI
@_CUTOFF
@_CROSSOVER
@_LABEL
@click.option("--rows", type=_count("rows"), default=None, callback=_ROWS,
              help="Row sources (their coarse styles)  [default: 4]")  # fmt: skip
@click.option("--cols", type=_count("cols"), default=None, callback=_COLS,
              help="Column sources (their fine styles)  [default: 5]")  # fmt: skip
@_OUT
@_DEVICE
def mix(run_dir: Path, seed: int, psi: float | None, cutoff: int | None, crossover: int | None,
        label: str | None, rows: int | None, cols: int | None, out: Path | None,
        device: str) -> None:  # fmt: skip
    """Style-mixing grid: each cell takes its row's coarse and its column's fine styles.

    \b
    ganhub stylegan mix RUN_DIR [--crossover 4] [--psi 0.7] [--cutoff 8] [--rows 4 --cols 5]
    Writes seed0[_psi.._cutoff.._crossover.._rows.._cols..]_mixing.png: the options given.
    """
    from ganhub_stylegan.sampling import style_mixing_grid

    run = _open(run_dir, _folder(run_dir, out), device, cutoff, crossover, label, psi=psi)
    stem = _stem(seed, run.name, psi=psi, cutoff=cutoff, crossover=crossover, rows=rows,
                 cols=cols)  # fmt: skip
    path = run.folder / f"{stem}_mixing.png"
    _written([style_mixing_grid(run.system, path, rows=rows or 4, cols=cols or 5,
                                crossover=crossover, seed=seed, psi=psi, cutoff=cutoff,
                                label=run.one)], run.note)  # fmt: skip


@click.command(name="truncation", context_settings=HELP)
@click.argument("run_dir", type=RUN_DIR)
@_SEED
@_CUTOFF
@_LABEL
@click.option("--n", type=_count("n"), default=None, callback=_LATENTS,
              help="Latents (columns)  [default: 8]")  # fmt: skip
@_OUT
@_DEVICE
def truncation(run_dir: Path, seed: int, cutoff: int | None, label: str | None, n: int | None,
               out: Path | None, device: str) -> None:  # fmt: skip
    """Truncation rows: the same latents at psi 1, 0.7, 0.5 and 0 (the average image).

    \b
    ganhub stylegan truncation RUN_DIR [--cutoff 8] [--n 8]
    Writes seed0[_cutoff.._n..]_truncation.png: the options given.
    """
    from ganhub_stylegan.sampling import truncation_grid

    run = _open(run_dir, _folder(run_dir, out), device, cutoff, label=label)
    path = run.folder / f"{_stem(seed, run.name, cutoff=cutoff, n=n)}_truncation.png"
    _written([truncation_grid(run.system, path, n=n or 8, seed=seed, cutoff=cutoff,
                              label=run.one)], run.note)  # fmt: skip


@click.command(name="interpolate", context_settings=HELP)
@click.argument("run_dir", type=RUN_DIR)
@_SEED
@_PSI
@_CUTOFF
@_FRAMES
@_LABEL
@click.option("--keys", type=_count("keys"), default=None, callback=_KEYS,
              help="Random w points the loop passes through  [default: 4]")  # fmt: skip
@_OUT
@_DEVICE
def interpolate(run_dir: Path, seed: int, psi: float | None, cutoff: int | None,
                frames: int | None, label: str | None, keys: int | None, out: Path | None,
                device: str) -> None:  # fmt: skip
    """A looping GIF along a closed path through random style vectors.

    \b
    ganhub stylegan interpolate RUN_DIR [--frames 60] [--keys 4] [--psi 0.7] [--cutoff 8]
    Writes seed0[_psi.._cutoff.._frames.._keys..]_interp.gif: the options given.
    """
    from ganhub_stylegan.sampling import interpolation_gif

    run = _open(run_dir, _folder(run_dir, out), device, cutoff, label=label, psi=psi,
                frames=frames)  # fmt: skip
    stem = _stem(seed, run.name, psi=psi, cutoff=cutoff, frames=frames, keys=keys)
    path = run.folder / f"{stem}_interp.gif"
    _written([interpolation_gif(run.system, path, keys=keys or 4, seed=seed, psi=psi,
                                cutoff=cutoff, frames=frames or run.system.config.sample.frames,
                                label=run.one)], run.note)  # fmt: skip


@click.command(name="explore", context_settings=HELP)
@click.argument("run_dir", type=RUN_DIR)
@click.option("--n", type=_run_value("grid", "--n"), default=None,
              help="Images in the grid  [default: the run's sample.grid]")  # fmt: skip
@_SEED
@_PSI
@_CUTOFF
@_CROSSOVER
@_FRAMES
@_LABEL
@_OUT
@_DEVICE
def explore(run_dir: Path, n: int | None, seed: int, psi: float | None, cutoff: int | None,
            crossover: int | None, frames: int | None, label: str | None, out: Path | None,
            device: str) -> None:  # fmt: skip
    """All four: sample grid, truncation rows, style-mixing grid, interpolation GIF.

    \b
    ganhub stylegan explore RUN_DIR [--psi 0.7] [--cutoff 8] [--n N] [--seed 0] [--label 3]
    Writes *_grid.png, *_truncation.png, *_mixing.png and *_interp.gif, each named by the
    seed and the options given that change it (seed0_psi0.7_cutoff8_grid.png; --cutoff
    applies to all four); plain `ganhub sample RUN_DIR` writes the grid, mixing grid and GIF
    with the run's own sample.psi and sample.cutoff. A conditional run's grid has one row per
    class and the other three show its first class; --label draws all four of one class.
    """
    from ganhub_stylegan.sampling import interpolation_gif, style_mixing_grid, truncation_grid

    from ganhub.data.images import save_image_grid
    from ganhub.metrics.store import check_output_file

    system, one, name, out, note = _open(run_dir, _folder(run_dir, out), device, cutoff,
                                         crossover, label, psi=psi, frames=frames, n=n)  # fmt: skip
    names = [f"{_stem(seed, name, psi=psi, cutoff=cutoff, n=n)}_grid.png",
             f"{_stem(seed, name, cutoff=cutoff)}_truncation.png",
             f"{_stem(seed, name, psi=psi, cutoff=cutoff, crossover=crossover)}_mixing.png",
             f"{_stem(seed, name, psi=psi, cutoff=cutoff, frames=frames)}_interp.gif"]  # fmt: skip
    frames = frames or system.config.sample.frames
    n = n or system.config.sample.grid  # the grid `ganhub sample` and the previews draw
    for file in names:  # all four can be written, before any is
        check_output_file(out / file)
    if one is None:  # a conditional run's grid: one row per class
        grid, columns = system.sample_grid(n, seed=seed, psi=psi, cutoff=cutoff)
    else:
        labels = one.repeat_interleave(n, dim=0)
        if psi is None and cutoff is None:  # the run's own pictures: `ganhub sample --label`'s
            grid = system.display_samples(n, seed=seed, labels=labels)
        else:  # the constant noise inputs, as every grid and walk (`sample_grid`) draws them
            grid = system.sample(
                n, seed=seed, psi=psi, cutoff=cutoff, labels=labels, noise_mode="const"
            )
        columns = None
    paths = [
        save_image_grid(grid, out / names[0], nrow=columns),
        truncation_grid(system, out / names[1], seed=seed, cutoff=cutoff, label=one),
        style_mixing_grid(system, out / names[2], seed=seed, psi=psi, cutoff=cutoff,
                          crossover=crossover, label=one),
        interpolation_gif(system, out / names[3], seed=seed, psi=psi, cutoff=cutoff,
                          frames=frames, label=one),
    ]  # fmt: skip
    _written(paths, note)


# model.image_size's range; the config refuses a side that is no power of two in its words
_IMAGE_SIZE = WholeNumber(8, 1024, "is the model.image_size to check the images for")


@click.command(
    name="check", cls=KeyValueCommand, context_settings={**HELP, "ignore_unknown_options": True}
)
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--image-size", "image_size", type=_IMAGE_SIZE, default=None,
              help="The model.image_size to train at  [default: the config's (32)]")  # fmt: skip
@click.option("--resolution", type=_IMAGE_SIZE, default=None, hidden=True,
              help="Deprecated name of --image-size.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def check(path: Path, image_size: int | None, resolution: int | None, as_json: bool,
          overrides: tuple[str, ...]) -> None:  # fmt: skip
    """Check a folder, zip or shard of training images: `ganhub data check` with stylegan.

    \b
    ganhub stylegan check DIR_OR_ZIP --image-size 64 [key=value ...]
    is  ganhub data check DIR_OR_ZIP plugin=stylegan model.image_size=64 [key=value ...]
    Exits 0 when clean, 1 when any file is unusable or duplicated.
    """
    from ganhub.data_commands import check_command
    from ganhub.errors import UsageError

    if resolution is not None:
        if image_size is not None:
            raise UsageError("give --image-size only (--resolution is its old name)")
        click.echo("ganhub: --resolution is deprecated; write --image-size", err=True)
        image_size = resolution
    typed = [o.split("=", 1)[1] for o in overrides if o.startswith("model.image_size=")]
    if image_size is not None and any(value != str(image_size) for value in typed):
        raise UsageError(
            f"--image-size {image_size} and model.image_size={typed[-1]} disagree; give one"
        )
    size = () if image_size is None else (f"model.image_size={image_size}",)
    args = (str(path), "plugin=stylegan", *size, *overrides)
    click.get_current_context().invoke(check_command, as_json=as_json, args=args)


COMMANDS = (mix, truncation, interpolate, explore, check)


def register(cli: click.Group) -> Any:
    """Add `ganhub stylegan <verb>` and the deprecated `stylegan-sample`/`stylegan-check`."""
    group = domain_group(cli, "stylegan", "StyleGAN2: explore a trained run, check image data.")
    for command in COMMANDS:
        group.add_command(command)
    deprecated_alias(cli, "stylegan-sample", explore, "stylegan explore")
    deprecated_alias(cli, "stylegan-check", check, "stylegan check")
    return group
