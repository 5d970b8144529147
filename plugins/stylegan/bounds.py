"""The bounds of stylegan's sampling options, one wording for a config key and a command option.

`sample.psi=-1` and `ganhub stylegan explore RUN_DIR --psi -1` are the same mistake and are
refused with the same line, after the key (`sample.psi=-1: `) or the option (`--psi -1: `):
why the bound is there, then what to give. `StyleGANSample` is the `sample` section of
`StyleGANConfig`; `sample.cutoff`'s upper bound depends on the image size (`cutoff_problem`).
Imports no torch: registration and `ganhub --help` read this module.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

from pydantic import Field, TypeAdapter, ValidationError, ValidationInfo, field_validator

from ganhub.config.schema import Section
from ganhub.tricks import bounded

_PSI_WHY = "is the share of w's distance from w_avg that a sample keeps"
_GRID_WHY = "counts the images of a grid"
_FRAMES_WHY = "counts the frames of an interpolation, which has two ends"
_CUTOFF_WHY = "counts the style vectors truncated, from the first"
_CUTOFF_GIVE = (
    "a whole number from 0 (none) to the generator's style vectors (2 per resolution from "
    "4 px: 8 at 32 px)"
)
_CUTOFF_UNSET = "leave it unset to truncate all"
# the counts no `sample.*` key has, an option (`--rows`) and a picture's argument (`rows=`)
# each: name -> (least, what it counts, default)
COUNTS: dict[str, tuple[int, str, int]] = {
    "rows": (1, "the row sources of the grid", 4),
    "cols": (1, "the column sources of the grid", 5),
    "n": (1, "the latents of each row", 8),
    "keys": (2, "the w points a closed loop passes through", 4),
}


def _psi_give(default: str | None) -> str:
    said = f"; {default}" if default else ""
    return f"a psi of 0 or more (0: w_avg's image, 1: no truncation{said})"


def _least(least: int, default: str | None) -> str:
    return f"{least} or more" + (f" ({default})" if default else "")


def psi_refusal(default: str | None) -> str:
    """Why psi is bounded and what to give, after `psi=<value>: ` or `--psi <value>: `."""
    return f"{_PSI_WHY}: give {_psi_give(default)}"


def check_psi(psi: float, default: str | None = "default 0.7") -> float:
    """`psi` if it is a finite number of 0 or more, else ValueError with why and what to give;
    `default` says what leaving it out gives (a command's option: the run's `sample.psi`;
    None for the `sample.*` key, whose preset may set another value than the class's)."""
    return bounded(psi, math.isfinite(psi) and psi >= 0, _PSI_WHY, _psi_give(default))


def check_grid(grid: int, default: str | None = "default 64") -> int:
    """`grid` (`sample.grid`, explore's `--n`) if 1 or more, else ValueError."""
    return bounded(grid, grid >= 1, _GRID_WHY, _least(1, default))


def check_frames(frames: int, default: str | None = "default 48") -> int:
    """`frames` (`sample.frames`, `--frames`) if 2 or more, else ValueError."""
    return bounded(frames, frames >= 2, _FRAMES_WHY, _least(2, default))


def number_refusal(key: str, default: str | None = None) -> str:
    """Why `sample.<key>` (psi, grid, frames, cutoff) or the option standing for it is a
    number, and what to give, for a value that is no number of its kind ('abc', 2.5 for a
    count); put after `sample.frames='abc': ` or `--frames abc: `. `default` says what leaving
    it out gives (None: not said, a key's preset may set another value than the class's; for
    `sample.cutoff`, unset truncates all)."""
    if key == "psi":
        return psi_refusal(default)
    if key == "cutoff":
        return f"{_CUTOFF_WHY}: give {_CUTOFF_GIVE}, or {default or _CUTOFF_UNSET}"
    why, least = {"grid": (_GRID_WHY, 1), "frames": (_FRAMES_WHY, 2)}[key]
    return f"{why}: give a whole number, {_least(least, default)}"


def as_number(value: Any, kind: type[int] | type[float]) -> Any:
    """`value` read as a number of `kind` the way a config key reads it ('3', '3.0' for an
    int; '0.5', 'inf' for a float); None when it is none (see `not_a_number`)."""
    return None if not_a_number(value, kind) else _adapter(kind is int).validate_python(value)


def check_count(count: int, least: int, what: str, default: int | str) -> int:
    """A count with no config key (`--rows`, `rows=`; see `COUNTS`): `count` if at least
    `least`, else ValueError; `default` is the value leaving it out gives (`(default 4)`), or
    the words for it (`(leave rows out for 4)`)."""
    said = f"default {default}" if isinstance(default, int) else default
    return bounded(count, count >= least, f"counts {what}", _least(least, said))


@cache
def _adapter(whole: bool) -> TypeAdapter[Any]:
    return TypeAdapter(int if whole else float)


def not_a_number(value: Any, kind: type[int] | type[float]) -> bool:
    """Whether pydantic would refuse `value` for a field of type `kind` as no number of that
    kind ('abc', 2.5 for an int, true, a list), rather than as out of bounds; None (a key typed
    empty, or left unset) is not this question."""
    if value is None:
        return False
    if isinstance(value, bool):
        return True
    try:
        _adapter(kind is int).validate_python(value)
    except ValidationError:
        return True
    return False


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
    def _psi_number(cls, psi: Any) -> Any:
        # pydantic's "Input should be a valid number" and its finite check (allow_inf_nan=False,
        # "Input should be a finite number") run before the "after" validators: the same line
        # as a psi out of bounds instead
        if not_a_number(psi, float):
            raise ValueError(number_refusal("psi"))
        if isinstance(psi, str | float):
            try:
                number = float(psi)
            except ValueError:
                return psi  # a text pydantic reads as a number and Python does not: its line
            if not math.isfinite(number):
                check_psi(number, None)
        return psi

    @field_validator("grid", "frames", "cutoff", mode="before")
    @classmethod
    def _whole(cls, value: Any, info: ValidationInfo) -> Any:
        # 'abc', 2.5 or true: why the key counts, then what to give, as for a bound
        # (no default said: a preset may set another value than the class's, tiny frames 8)
        if not_a_number(value, int):
            raise ValueError(number_refusal(info.field_name or ""))
        return value

    @field_validator("psi")
    @classmethod
    def _psi(cls, psi: float) -> float:
        return check_psi(psi, None)

    @field_validator("grid")
    @classmethod
    def _grid(cls, grid: int) -> int:
        return check_grid(grid, None)

    @field_validator("frames")
    @classmethod
    def _frames(cls, frames: int) -> int:
        return check_frames(frames, None)


__all__ = [
    "COUNTS",
    "StyleGANSample",
    "as_number",
    "check_count",
    "check_frames",
    "check_grid",
    "check_psi",
    "crossover_problem",
    "cutoff_problem",
    "not_a_number",
    "number_refusal",
    "psi_refusal",
]
