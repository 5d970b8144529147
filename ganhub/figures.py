"""The figures ganhub draws (report plots, toy2d scatter plots, interpretation pages), made
without pyplot.

pyplot belongs to the process: importing it picks a backend, `matplotlib.use("Agg")` switches
it, and a notebook that called `ganhub.train` would have lost its inline plots. A
`matplotlib.figure.Figure` made directly needs no backend until it is saved (PNG renders with
Agg), is never registered with pyplot, and is freed like any object.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ganhub.metrics import store

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(
    width: float,
    height: float,
    dpi: int = 100,
    layout: Literal["constrained", "tight"] | None = None,
) -> Figure:
    """A figure of `width` x `height` inches, outside pyplot (add axes with `.subplots()`);
    `layout` as matplotlib's ("constrained", "tight")."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=dpi, layout=layout)


def save_figure(fig: Figure, path: Path) -> Path:
    """Render `fig` as PNG in memory, then write it atomically under a fresh temporary name (a
    fixed name could be a link planted in a shared run directory, and savefig would write
    through it); the path written."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return store.write_bytes(path, buffer.getvalue())


__all__ = ["new_figure", "save_figure"]
