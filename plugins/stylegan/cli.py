"""`ganhub stylegan-sample` and `ganhub stylegan-check`; torch is imported only when they run."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(name="stylegan-sample", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--n", type=click.IntRange(min=1), default=64, show_default=True, help="Images in the grid."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Latent seed.")
@click.option("--psi", type=click.FloatRange(min=0), default=None,
              help="Truncation psi  [default: the run's sample.psi]")  # fmt: skip
@click.option("--cutoff", type=click.IntRange(min=1), default=None,
              help="Truncate only the first k style vectors  [default: all]")  # fmt: skip
@click.option("--crossover", type=click.IntRange(min=1), default=None,
              help="Style-mixing grid: style index where column styles take over  [default: half]")  # fmt: skip
@click.option("--frames", type=click.IntRange(min=2), default=48, show_default=True,
              help="Frames of the interpolation GIF.")  # fmt: skip
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder  [default: RUN_DIR/samples]")  # fmt: skip
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N, mps or auto.")
def sample_command(
    run_dir: Path, n: int, seed: int, psi: float | None, cutoff: int | None,
    crossover: int | None, frames: int, out: Path | None, device: str,
) -> None:  # fmt: skip
    """Sample a trained stylegan run: grid, truncation rows, style mixing, interpolation GIF.

    \b
    ganhub stylegan-sample RUN_DIR [--psi 0.7] [--cutoff 8] [--n 64] [--seed 0]
    Writes grid.png, truncation.png, mixing.png and interp.gif (plain `ganhub sample RUN_DIR`
    writes the grid, mixing grid and GIF with the run's own sample.psi).
    """
    from ganhub_stylegan.sampling import interpolation_gif, style_mixing_grid, truncation_grid
    from ganhub_stylegan.system import StyleGANSystem

    import ganhub
    from ganhub.data.images import save_image_grid
    from ganhub.errors import UsageError

    model = ganhub.load(run_dir, device=device)
    system = model.system
    if not isinstance(system, StyleGANSystem):
        raise UsageError(f"'{run_dir}' is a '{model.config.plugin}' run, not a stylegan run")
    if cutoff is not None and cutoff > system.G.num_ws:
        raise UsageError(f"--cutoff {cutoff}: this generator has {system.G.num_ws} style vectors")
    out = out or run_dir / "samples"
    stem = f"seed{seed}" + (f"_psi{psi:g}" if psi is not None else "")
    paths = [
        save_image_grid(system.sample(n, seed=seed, psi=psi, cutoff=cutoff), out / f"{stem}_grid.png"),
        truncation_grid(system, out / f"seed{seed}_truncation.png", seed=seed, cutoff=cutoff),
        style_mixing_grid(system, out / f"{stem}_mixing.png", seed=seed, psi=psi, crossover=crossover),
        interpolation_gif(system, out / f"{stem}_interp.gif", seed=seed, psi=psi, frames=frames),
    ]  # fmt: skip
    click.echo("\n".join(str(p) for p in paths))


@click.command(name="stylegan-check", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--resolution", type=int, required=True, help="The model.resolution to train at.")
def check_command(path: Path, resolution: int) -> None:
    """Check a folder or zip of training images: unreadable, non-square, wrongly sized files.

    \b
    ganhub stylegan-check DIR_OR_ZIP --resolution 64
    Exits with status 1 when any file would stop `data.path=DIR_OR_ZIP` training.
    """
    from ganhub_stylegan.data import scan_dataset

    from ganhub.errors import UsageError

    if resolution < 8 or resolution > 1024 or resolution & (resolution - 1):
        raise UsageError(f"--resolution {resolution}: must be a power of two from 8 to 1024")
    report = scan_dataset(path, resolution)
    click.echo("\n".join(report.lines()))
    problems = report.problems()
    if problems:
        click.echo(f"problems: {problems}", err=True)
        raise SystemExit(1)
    click.echo("ok")
