"""The bounds of stylegan's sampling options, one wording for a config key and a command option.

`sample.psi=-1` and `ganhub stylegan explore RUN_DIR --psi -1` are the same mistake and are
refused with the same line, after the key (`sample.psi=-1: `) or the option (`--psi -1: `):
why the bound is there, then what to give. `StyleGANSample` is the `sample` section of
`StyleGANConfig`; `sample.cutoff`'s upper bound depends on the image size (`cutoff_problem`).
Imports no torch: registration and `ganhub --help` read this module.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, field_validator

from ganhub.config.schema import Section
from ganhub.tricks import bounded

_PSI_WHY = "is the share of w's distance from w_avg that a sample keeps"
_PSI_GIVE = "a psi of 0 or more (0: w_avg's image, 1: no truncation; default 0.7)"


def check_psi(psi: float) -> float:
    """`psi` if it is a finite number of 0 or more, else ValueError with why and what to give."""
    return bounded(psi, math.isfinite(psi) and psi >= 0, _PSI_WHY, _PSI_GIVE)


def check_grid(grid: int) -> int:
    """`grid` (`sample.grid`, explore's `--n`) if 1 or more, else ValueError."""
    return bounded(grid, grid >= 1, "counts the images of a grid", "1 or more (default 64)")


def check_frames(frames: int) -> int:
    """`frames` (`sample.frames`, `--frames`) if 2 or more, else ValueError."""
    why = "counts the frames of an interpolation, which has two ends"
    return bounded(frames, frames >= 2, why, "2 or more (default 48)")


def check_count(count: int, least: int, what: str, default: int) -> int:
    """A count option with no config key (`--rows`, `--keys`): `count` if at least `least`."""
    return bounded(count, count >= least, f"counts {what}", f"{least} or more (default {default})")


def cutoff_problem(cutoff: int, image_size: int, n_ws: int) -> str | None:
    """Why `cutoff` does not fit a generator of `image_size` px with `n_ws` style vectors, and
    what to give (None when it fits); the key or option is put before it, what leaving it out
    means after it."""
    if 0 <= cutoff <= n_ws:
        return None
    return (
        f"a {image_size} px generator has {n_ws} style vectors to truncate; give 1..{n_ws}, "
        "or 0 to truncate none"
    )


def crossover_problem(crossover: int, image_size: int, n_ws: int) -> str | None:
    """Why `crossover` (`--crossover`) does not fit the generator, and what to give."""
    if 1 <= crossover < n_ws:
        return None
    return (
        f"a {image_size} px generator has {n_ws} style vectors; give 1..{n_ws - 1} (the rows' "
        "styles before it, the columns' from it on)"
    )


class StyleGANSample(Section):
    """Sampling defaults for grids (`ganhub sample`, training previews). Each bound is refused
    in one line that says why and what to give (`ganhub.tricks.bounded`), not pydantic's
    "Input should be ..."; `sample.cutoff`'s upper bound depends on the image size and is
    checked with it (`StyleGANConfig`)."""

    psi: float = Field(
        0.7,
        description="truncation of sample grids and GIFs: w = w_avg + psi * (w - w_avg) "
        "(metrics always sample at psi 1)",
    )
    cutoff: int | None = Field(
        None,
        description="truncate only the first k style vectors (unset: all; 0: none, as "
        "StyleGAN2-ADA's truncation_cutoff=0)",
    )
    grid: int = Field(64, description="images in a sample grid")
    frames: int = Field(48, description="frames of the interpolation GIF")

    @field_validator("psi", mode="before")
    @classmethod
    def _psi_finite(cls, psi: Any) -> Any:
        # pydantic's finite check (allow_inf_nan=False) runs before the "after" validators and
        # would say "Input should be a finite number"
        if isinstance(psi, str | float) and not isinstance(psi, bool):
            try:
                number = float(psi)
            except ValueError:
                return psi  # not a number: pydantic's own line
            if not math.isfinite(number):
                check_psi(number)
        return psi

    @field_validator("psi")
    @classmethod
    def _psi(cls, psi: float) -> float:
        return check_psi(psi)

    @field_validator("grid")
    @classmethod
    def _grid(cls, grid: int) -> int:
        return check_grid(grid)

    @field_validator("frames")
    @classmethod
    def _frames(cls, frames: int) -> int:
        return check_frames(frames)


__all__ = [
    "StyleGANSample",
    "check_count",
    "check_frames",
    "check_grid",
    "check_psi",
    "crossover_problem",
    "cutoff_problem",
]
