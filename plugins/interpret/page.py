"""The interpret pages: one Jinja2 environment (autoescaped), PNG figures embedded as data URIs.

Pages are written into RUN_DIR/interpret/ (PNG files beside the page, each also embedded, so
the page travels alone), in the style of `ganhub report`, or for an export, which stays as
exported, into ./interpret-EXPORT/ beside it; a page written elsewhere (`--out
PAGE.html`) keeps its PNGs in the folder PAGE_files/ beside it, as a browser saves a page, so
it never replaces files of the user's beside it. The run directory is untrusted: the output
folder must not be a link, and every write is atomic (`ganhub.metrics.store`). A page and its
PNGs are made in a hidden staging folder beside them and moved into place once all are
written, so an interrupted or failed command leaves no PNGs without their page.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import io
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment

from ganhub.api import TrainedGAN
from ganhub.errors import UsageError
from ganhub.interrupts import terminate_unwinds
from ganhub.metrics import store
from ganhub.metrics.report import html_environment
from ganhub.metrics.rundata import as_text, shown_path
from ganhub.runfiles import scratch_beside

if TYPE_CHECKING:
    from torch import Tensor

    from ganhub.latent import LatentSpace


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The Jinja2 environment of the interpret templates: every {{ value }} is escaped."""
    return html_environment("ganhub_interpret")


def default_folder(run_dir: Path) -> tuple[Path, str]:
    """(where the pages and probes.json go without --out, a note on it or ''): RUN_DIR/interpret,
    or for an export, which stays as exported (it is made for sharing), ./interpret-EXPORT
    beside it (`ganhub.clikit.default_output`)."""
    from ganhub.clikit import default_output, is_export

    return default_output(run_dir, is_export(run_dir), name="interpret", what="pages")


def output_dir(run_dir: Path, create: bool = True) -> Path:
    """RUN_DIR/interpret (`default_folder`: beside an export), created unless `create` is False
    (a command that may still refuse checks it first and makes it only to write); refused when
    it is a link or a file (a planted path)."""
    folder = default_folder(run_dir)[0]
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise UsageError(f"{shown_path(folder)}: a link or a file, not a folder; remove it first")
    if create:
        folder.mkdir(exist_ok=True)
    return folder


def figures_folder(page: Path) -> Path:
    """Where a page written elsewhere (`--out PAGE.html`) keeps its PNGs: PAGE_files/ beside
    it. Refused in one line when that path is a link or a file, or a folder that is not the
    figures of a page ganhub wrote there (a folder of the user's is never written into)."""
    folder = page.parent / f"{page.stem}_files"
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise UsageError(f"{shown_path(folder)}: a link or a file, not the folder of the page's "
                         "figures; remove it, or give --out another name")  # fmt: skip
    if folder.is_dir() and not store.ganhub_page(page):
        raise UsageError(
            f"{shown_path(folder)} exists and holds no figures of a page ganhub wrote at "
            f"{shown_path(page)}; give --out another name, or remove the folder"
        )
    return folder


@dataclasses.dataclass(frozen=True)
class Staged:
    """Where a page's files are written while it is made: the page's path inside a hidden
    staging folder, the name prefix of its PNGs (write them into `folder`), and where the page
    lands once made."""

    page: Path
    stem: str
    destination: Path
    folder: Path  # write the PNGs here


@contextlib.contextmanager
def staged_page(run_dir: Path, out: Path | None, stem: str) -> Iterator[Staged]:
    """Make a page and its PNGs in a hidden folder beside their destination, then move them
    into place (over an older page's files of the same names), the page last; on any failure,
    Ctrl-C or SIGTERM the staging folder, and any folder made for it, is removed and the
    destination left as it was.

    The default page is RUN_DIR/interpret/STEM.html (beside an export: `default_folder`) with
    STEM-*.png beside it; a page written
    elsewhere (`out`) keeps its PNGs in OUT_STEM_files/ beside it (`figures_folder`), which
    replaces that folder of an earlier page whole."""
    default = default_folder(run_dir)[0] / f"{stem}.html"
    if out is not None and os.path.abspath(out) == os.path.abspath(default):
        out = None  # --out naming the default page: the default layout, PNGs beside it
    if out is None:
        page = output_dir(run_dir, create=False) / f"{stem}.html"  # a planted link: refused
        figures = None
    else:
        page, stem = out, out.stem
        figures = figures_folder(out).name  # a folder of the user's: refused now
    made = store.new_folders(page.parent)
    with terminate_unwinds():  # SIGTERM unwinds like Ctrl-C: the staging folder is removed
        scratch = scratch_beside(page, shown_path(page))
        try:
            folder = scratch if figures is None else scratch / figures
            folder.mkdir(exist_ok=True)
            yield Staged(scratch / page.name, stem, page, folder)
            _move_into_place(scratch, page, figures)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            store.remove_empty(made)  # the folders made for the page, where still empty
            raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)  # gone already once moved into place


def _move_into_place(scratch: Path, page: Path, figures: str | None) -> None:
    """Rename the finished files from `scratch` beside `page`, the page last, with Ctrl-C and
    SIGTERM held until all have moved (a page never lands without its PNGs). A figures folder
    (`figures`) replaces an earlier one whole: its stale PNGs leave with it."""
    names = [*sorted(p.name for p in scratch.iterdir() if p.name != page.name), page.name]
    earlier = scratch / ".earlier"
    name = figures or page.name
    with _signals_held():
        try:
            if figures is not None and (page.parent / figures).is_dir():
                os.replace(page.parent / figures, earlier)
            for name in names:
                os.replace(scratch / name, page.parent / name)
        except OSError as exc:
            if earlier.is_dir() and not (page.parent / str(figures)).exists():
                os.replace(earlier, page.parent / str(figures))  # the earlier page's
            where = shown_path(page.parent / name)
            raise UsageError(f"cannot write {where}: {exc.strerror or exc}") from None
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait (delivered on leaving) in the main thread where it can."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "pthread_sigmask"
    ):
        yield
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def save_grid(images: Tensor, path: Path, nrow: int, padding: int = 2) -> Path:
    """Images in [-1, 1] (N, 1 or 3, H, W) as one PNG grid of `nrow` per row on black, encoded
    in memory and written atomically under a fresh name (`save_image_grid`'s fixed temporary
    name could be a link planted in a shared run directory; and torchvision's import alone
    takes seconds)."""
    import torch
    from PIL import Image

    x = images.detach().float().cpu().add(1).div(2).clamp(0, 1)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    n, _, h, w = x.shape
    rows = -(-n // nrow)
    # each image in a tile with its padding below and right, the tiles laid out in one reshape
    tiles = torch.zeros(rows * nrow, 3, h + padding, w + padding)
    tiles[:n, :, :h, :w] = x
    canvas = torch.zeros(3, rows * (h + padding) + padding, nrow * (w + padding) + padding)
    canvas[:, padding:, padding:] = (
        tiles.view(rows, nrow, 3, h + padding, w + padding)
        .permute(2, 0, 3, 1, 4)
        .reshape(3, rows * (h + padding), nrow * (w + padding))
    )
    array = canvas.mul(255).round().byte().permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="png")
    return store.write_bytes(path, buffer.getvalue())


def data_uri(path: Path) -> str:
    """A PNG file as a data URI (base64 text only: nothing in it needs escaping)."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def run_facts(trained: TrainedGAN, run_dir: Path) -> dict[str, str]:
    """What the page header says about the run: its name, plugin, data and step."""
    config = trained.config
    caps = trained.system.capabilities()
    source = caps.dataset or config.model_dump(mode="json").get("data", {}).get("path")
    return {
        "run_name": as_text(run_dir.name or run_dir.resolve().name),
        "plugin": as_text(config.plugin),
        "data": as_text(source) if source is not None else "-",
        "step": str(trained.step),
    }


def write_page(template: str, path: Path, **context: Any) -> Path:
    """Render `template` with `context` and write it atomically to `path`."""
    html = environment().get_template(template).render(**context)
    return store.write_bytes(path, html.encode("utf-8", "replace"))


def latent_space_of(trained: TrainedGAN, run_dir: Path) -> LatentSpace:
    """The run's latent space; one line when its system provides none, saying why where the
    run tells (a conditional generator reads labels too; a supernet mixes every architecture
    of its search), and other domains have no codes to walk."""
    from ganhub.nas import SUPERNET

    system = trained.system
    capabilities = system.capabilities()
    space = system.latent_space() if capabilities.can("latent_space") else None
    if space is None:
        why = ""
        if capabilities.can(SUPERNET):
            why = (
                " (a supernet mixes every architecture of its search: interpret a run of the "
                "architecture it found, such as its study's `ganhub run --config best.yaml`)"
            )
        elif capabilities.labels is not None:
            why = " (a conditional run's generator reads labels too)"
        raise UsageError(
            f"{shown_path(run_dir)}: this '{as_text(trained.config.plugin, 40)}' run has no "
            "latent space ('latent_space') to interpret; unconditional dcgan and stylegan runs "
            "have one" + why
        )
    if trained.exported and space.critic is not None:  # an export holds no trained D
        space = dataclasses.replace(space, critic=None)
    return space
