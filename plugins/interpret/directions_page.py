"""`ganhub interpret directions`: find a generator's latent directions, walk them, score them.

The page shows, for the chosen method, the spectrum (SeFa's eigenvalues, GANSpace's explained
variance), one traversal grid per base code (a row per direction, columns from -3σ to +3σ
along it) and, when the run's data has known factors (`data=shapes`, or digits' classes),
the direction-factor table of `ganhub_interpret.scoring`. Images are written into
RUN_DIR/interpret/ and embedded in the page.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from ganhub_interpret.cli import METHODS
from ganhub_interpret.directions import boundaries, ganspace, sefa
from ganhub_interpret.page import (
    Staged,
    data_uri,
    latent_space_of,
    run_facts,
    save_grid,
    staged_page,
    write_page,
)
from ganhub_interpret.scoring import (
    BATCH,
    CHANCE_SDS,
    KnownFactors,
    ScoreTable,
    decode_batched,
    decode_factors,
    direction_sigma,
    factor_spreads,
    known_factors,
    score_directions,
    spread_floors,
    walk,
)
from torch import Tensor

from ganhub.errors import UsageError
from ganhub.figures import new_figure, save_figure
from ganhub.plural import counted

if TYPE_CHECKING:
    from ganhub.api import TrainedGAN
    from ganhub.latent import LatentSpace

STEPS = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)  # in σ_d, the codes' spread along the direction
BASE_CODES = 3  # traversal grids: one per base code
SCORE_BASE = 64  # base codes walked per direction to score it
SCORE_ALPHA = 2.0  # scoring walks to ±2σ_d: far enough to move a factor, short of the tails
REFERENCE = 2000  # real samples whose factors give each factor's spread
CHANCE = 8  # random unit directions walked as the scored ones: each factor's chance level
# boundaries are walked from a second draw of codes, of the seed `seed ^ HELD_OUT` (a 32-bit
# seed again, as torch's generators read only 32 bits of one; never `seed` itself), so the
# codes they are fitted on are never the codes that judge them
HELD_OUT = 0x9E3779B9


def held_out_codes(space: LatentSpace, n: int, seed: int) -> Tensor:
    """`n` codes of another draw than `space.sample(n, seed)`: where boundaries fitted on the
    codes of `seed` are walked and scored (scored on their own codes, a boundary looks better
    than it is)."""
    return space.sample(n, seed ^ HELD_OUT).detach()


def scoring_codes(space: LatentSpace, method: str, codes: Tensor, seed: int) -> Tensor:
    """The codes a page walks `method`'s directions from and scores them on: the sampled
    `codes` (of `seed`), except for boundaries, fitted to those codes' labels: as many
    `held_out_codes`."""
    return held_out_codes(space, len(codes), seed) if method == "boundary" else codes


METHOD_NOTES = {
    "sefa": "SeFa (Shen & Zhou 2021): the unit directions the first layer(s) reading the codes "
    "stretch most, the eigenvectors of AᵀA of their weight A (rows scaled to unit length, as "
    "the authors' code does); no sampling, no training.",
    "ganspace": "GANSpace (Härkönen et al. 2020): principal components of early activations "
    "over sampled codes, mapped back to the codes by linear regression (or, in w, of the codes "
    "themselves).",
    "boundary": "InterFaceGAN-style boundaries (Shen et al. 2020): one linear SVM per factor on "
    "sampled codes labelled by their images' factors (continuous factors: top vs bottom 30 %; "
    "angles: cosine and sine; categories: one vs rest); the direction is the unit normal.",
}


def find_directions(
    space: LatentSpace, method: str, k: int, codes: Tensor, n: int, seed: int,
    known: KnownFactors | None,
) -> tuple[Tensor, list[str], Tensor | None, list[str]]:  # fmt: skip
    """Directions of `space` by `method`: (directions, their names, the method's spectrum or
    None, notes); `k` SeFa or GANSpace directions (fewer, with a note, when there are fewer),
    and one boundary per factor (per class of a categorical one) whatever `k`, `known`
    factors labelling the sampled `codes`."""
    notes: list[str] = []
    if method == "sefa":
        if space.projection is None:
            raise UsageError(
                f"--method sefa: this {space.name} space is not read by a linear layer "
                "(no projection); use --method ganspace"
            )
        directions, values = sefa(space.projection, space.dim)
        names = [f"direction {i}" for i in range(min(k, len(directions)))]
        if len(names) < k:
            notes.append(
                f"--directions {k}: SeFa finds at most {len(names)} directions in this "
                f"{space.dim}-dimensional {space.name} space; walking {len(names)}"
            )
        return directions[: len(names)], names, values, notes
    if method == "ganspace":
        directions, ratios = ganspace(space, k, n, seed)
        if len(directions) < k:
            count = len(directions)
            why = (
                f"{n} centred samples span at most {n - 1} dimensions (more --samples find more)"
                if count == n - 1
                else f"this {space.name} space has {space.dim} dimensions"
                if count == space.dim
                else f"the sampled activations span only {counted(count, 'dimensions')}"
            )
            notes.append(
                f"--directions {k}: GANSpace finds {counted(count, 'components')}, as {why}"
            )
        return directions, [f"direction {i}" for i in range(len(directions))], ratios, notes
    assert known is not None
    # a factor that does not vary among the real samples (a run on one digit class, or on
    # squares only) varies among the samples by the estimator's misreadings alone: a boundary
    # fitted to them would be named "shape=ellipse" and mean nothing
    varying = factor_spreads(known.info, known.reference)
    if not varying:
        raise UsageError(
            f"--method boundary: no known factor of this run's data ({known.source}) varies "
            f"among its real samples ({_floors(known)}), so there is nothing to fit a boundary "
            "to; use --method sefa or ganspace"
        )
    labels = decode_factors(space, codes, known.estimate, BATCH)  # 512 images held at a time
    found = boundaries(codes, labels, {k: f for k, f in known.info.items() if k in varying})
    if not found:
        raise UsageError(
            f"--method boundary: no factor of the {len(codes)} samples varies enough to fit a "
            "boundary (the generator may have collapsed); try more --samples or another method"
        )
    return torch.stack([d for _, d in found]), [name for name, _ in found], None, notes


def _spectrum_figure(values: Tensor, walked: int, method: str, path: Path) -> Path:
    """A bar chart of SeFa's eigenvalues or GANSpace's explained variance, the walked ones dark."""
    shown = values[: max(walked, min(len(values), 32))].tolist()
    fig = new_figure(7, 2.8)
    ax = fig.subplots()
    colours = ["tab:blue" if i < walked else "tab:gray" for i in range(len(shown))]
    ax.bar(range(len(shown)), shown, color=colours)
    if method == "ganspace":
        ax.set_ylabel("explained variance ratio")
        ax2 = ax.twinx()
        ax2.plot(range(len(shown)), torch.tensor(shown).cumsum(0).tolist(), color="tab:orange",
                 marker=".", lw=1)  # fmt: skip
        ax2.set_ylabel("cumulative", color="tab:orange")
        ax2.set_ylim(0, 1.02)
    else:
        ax.set_ylabel("eigenvalue of AᵀA")
    ax.set_xlabel("direction (walked: blue)")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return save_figure(fig, path)


def _effects_figure(table: ScoreTable, path: Path) -> Path:
    """A heat map of every direction's effect on every factor, values written in the cells."""
    E = [[d.effects[f] for f in table.factors] for d in table.directions]
    rows, cols = len(E), len(table.factors)
    fig = new_figure(1.2 + 0.9 * cols, 0.9 + 0.32 * rows)
    ax = fig.subplots()
    image = ax.imshow(E, cmap="Blues", aspect="auto", vmin=0)
    ax.set_xticks(range(cols), [f.replace("$", r"\$") for f in table.factors], fontsize=8)
    ax.set_yticks(range(rows), [d.name.replace("$", r"\$") for d in table.directions], fontsize=8)
    top = max((v for row in E for v in row), default=0.0)
    for i, row in enumerate(E):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if v > 0.6 * top else "black")  # fmt: skip
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    return save_figure(fig, path)


def _table_rows(table: ScoreTable) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The score table as formatted text cells (the template escapes them)."""
    directions = []
    for d in table.directions:
        directions.append(
            {
                "name": d.name,
                "sigma": f"{d.sigma:.3f}",
                "effects": [
                    {"value": f"{d.effects[f]:.2f}", "top": f == d.top} for f in table.factors
                ],
                "top": d.top or "-",
                "exclusivity": f"{d.exclusivity:.2f}",
                "disentanglement": f"{d.disentanglement:.2f}",
            }
        )
    factors = [
        {
            "factor": f.factor,
            "direction": table.directions[f.direction].name if f.direction is not None else "-",
            "effect": f"{f.effect:.2f}",
            "exclusivity": f"{f.exclusivity:.2f}",
            "completeness": f"{f.completeness:.2f}",
            "chance": f"{table.chance[f.factor]:.2f}" if f.factor in table.chance else "-",
            "above": "no" if f in table.at_chance() else "yes",
        }
        for f in table.per_factor
    ]
    return directions, factors


def _chance_notes(table: ScoreTable) -> list[str]:
    """A note per factor that no walked direction moves beyond its chance level (one that none
    moves at all, every effect 0, has its `-` in the table already)."""
    return [
        f"{f.factor}: no direction moves it beyond what {table.n_chance} random directions "
        f"walked the same way do (best {f.effect:.2f}"
        + (f" by {table.directions[f.direction].name}" if f.direction is not None else "")
        + f", chance level {table.chance[f.factor]:.2f}): its best direction is chance, the "
        "estimator's response to any change of these images"
        for f in table.at_chance()
        if f.direction is not None
    ]


def write_directions_page(
    trained: TrainedGAN,
    run_dir: Path,
    *,
    method: str,
    n_directions: int,
    n_samples: int,
    seed: int,
    out: Path | None,
    say: Callable[[str], None] | None = None,
) -> Path:
    """Find `n_directions` latent directions of a run's generator by `method` (boundaries: one
    per factor), write their traversal grids and (on data with known factors) their scores
    into RUN_DIR/interpret/, and an HTML page (default RUN_DIR/interpret/directions-METHOD.html);
    its path. `say` gets each of the page's notes (the command line prints them too)."""
    if method not in METHODS:
        raise UsageError(f"--method {method}: not one of {', '.join(METHODS)}")
    if n_directions < 1 or n_samples < 16:
        raise UsageError(
            f"--directions {n_directions} --samples {n_samples}: need 1+ directions, 16+ samples"
        )
    system = trained.system
    capabilities = system.capabilities()
    space = latent_space_of(trained, run_dir)
    with staged_page(run_dir, out, f"directions-{method}") as staged:  # a planted link: now
        system.eval()
        known = known_factors(system, n=REFERENCE, seed=seed)
        if method == "boundary" and known is None:
            source = capabilities.dataset or "your own images"
            raise UsageError(
                f"--method boundary needs factor labels, and this run's data ({source}) has no "
                "factor estimator; train on data=shapes or digits, or use --method sefa|ganspace"
            )
        codes = space.sample(n_samples, seed).detach()
        directions, names, spectrum, notes = find_directions(
            space, method, n_directions, codes, n_samples, seed, known
        )
        held_out = method == "boundary"  # fitted to labelled codes: judged on others
        codes = scoring_codes(space, method, codes, seed)
        varies = known is not None and bool(factor_spreads(known.info, known.reference))
        scored = known if varies else None  # a run on one digit class: no factor varies
        if scored is not None:
            notes += _left_out(scored, method)
        for note in notes:
            if say is not None:
                say(note)
        context = _figures(space, method, directions, names, spectrum, codes, scored, seed, staged)
        if context["table"] is not None:  # a verdict of the scores: on the page, with the table
            notes = [*notes, *_chance_notes(context["table"])]
        write_page(
            "directions.html",
            staged.page,
            **run_facts(trained, run_dir),
            method=method,
            method_note=METHOD_NOTES[method],
            space_name=space.name,
            space_dim=space.dim,
            n_samples=n_samples,
            seed=seed,
            held_out=held_out,
            names=names,
            steps=", ".join(f"{s:+g}σ" for s in STEPS),
            unscored=None if scored is not None else _unscored(known, capabilities.dataset),
            notes=notes,
            **context,
        )
    return staged.destination


def _figures(
    space: LatentSpace, method: str, directions: Tensor, names: list[str],
    spectrum: Tensor | None, codes: Tensor, known: KnownFactors | None, seed: int, staged: Staged,
) -> dict[str, Any]:  # fmt: skip
    """The spectrum, the traversal grids and, with `known` factors, the scores: written as
    PNGs into the staging folder; the page's context for them."""
    folder, stem = staged.folder, staged.stem
    spectrum_uri = None
    if spectrum is not None:
        spectrum_uri = data_uri(
            _spectrum_figure(spectrum, len(directions), method, folder / f"{stem}-spectrum.png")
        )

    sigmas = [direction_sigma(codes, d) for d in directions]
    bases = codes[:BASE_CODES]
    # every base code's walks decoded at once: (directions, steps, bases) in walk's step-major
    # order, then one grid per base code (a row per direction, a column per step)
    walked = torch.cat([walk(bases, d, STEPS, s) for d, s in zip(directions, sigmas)])
    decoded = decode_batched(space, walked, BATCH)
    per_base = decoded.unflatten(0, (len(directions), len(STEPS), len(bases)))
    grids = []
    for j in range(len(bases)):
        images = per_base[:, :, j].flatten(0, 1)
        path = save_grid(images, folder / f"{stem}-walk{j}.png", nrow=len(STEPS))
        drawn = f"seed {seed}" if method != "boundary" else "held-out draw"
        grids.append({"uri": data_uri(path), "caption": f"base code {j} ({drawn}, sample {j})"})

    table = effects_uri = None
    direction_rows: list[dict[str, Any]] = []
    factor_rows: list[dict[str, str]] = []
    if known is not None:
        table = score_directions(
            space, directions, codes, estimate=known.estimate, info=known.info,
            reference=known.reference, names=names, n_base=SCORE_BASE, alpha=SCORE_ALPHA,
            n_chance=CHANCE, seed=seed,
        )  # fmt: skip
        direction_rows, factor_rows = _table_rows(table)
        effects_uri = data_uri(_effects_figure(table, folder / f"{stem}-effects.png"))
    return {
        "sigmas": [f"{s:.3f}" for s in sigmas],
        "spectrum_uri": spectrum_uri,
        "grids": grids,
        "table": table,
        "factors": list(table.factors) if table is not None else [],
        "spreads": [f"{f} {table.spreads[f]:.3f}" for f in table.factors] if table else [],
        "direction_rows": direction_rows,
        "factor_rows": factor_rows,
        "effects_uri": effects_uri,
        "source": known.source if known is not None else None,
        "score_base": table.n_base if table is not None else 0,  # < SCORE_BASE: fewer sampled
        "score_alpha": f"{SCORE_ALPHA:g}",
        "n_chance": CHANCE,
        "chance_sds": f"{CHANCE_SDS:g}",
    }


def _floors(known: KnownFactors, keys: list[str] | None = None) -> str:
    """'digit spread 0.012, under the 0.090 that counts as varying' for each factor (of
    `keys`): its spread among the real samples and the least that counts as varying."""
    floors = spread_floors(known.info, known.reference)
    return "; ".join(
        f"{key} spread {s:.3f}, under the {floor:.3f} that counts as varying"
        for key, (s, floor) in floors.items()
        if keys is None or key in keys
    )


def _left_out(known: KnownFactors, method: str) -> list[str]:
    """A note naming the known factors that do not vary, and so are not scored (data.shapes=
    [square]: the shape) nor, by `--method boundary`, given a boundary, when others are."""
    kept = factor_spreads(known.info, known.reference)
    dropped = [key for key in known.info if key in known.reference and key not in kept]
    if not dropped:
        return []
    fitted = "" if method != "boundary" else " nor given a boundary"
    return [
        f"not scored{fitted}, as barely varying among the real samples: {_floors(known, dropped)}"
    ]


def _unscored(known: KnownFactors | None, dataset: str | None) -> str:
    """Why the page has no score table: the run's data has no known factors, or none of them
    varies in it (a run on one digit class, as `ganhub adapt` trains)."""
    source = dataset or "your own images"
    if known is None:
        return (
            f"These directions are unscored: this run's data ({source}) has no known factors, "
            "so nothing says what a direction should move; judge the grids by eye. Runs on "
            "data=shapes (shape, scale, rotation, position) or digits (the digit class) get a "
            "table of which factor each direction moves and how exclusively."
        )
    return (
        f"These directions are unscored: no known factor of this run's data ({source}) "
        f"varies among its real samples, as in a run on one digit class ({_floors(known)}; "
        "a tenth of the spread of evenly spread values), so no effect can be measured against "
        "its spread; judge the grids by eye."
    )


__all__ = [
    "HELD_OUT",
    "METHODS",
    "find_directions",
    "held_out_codes",
    "scoring_codes",
    "write_directions_page",
]
