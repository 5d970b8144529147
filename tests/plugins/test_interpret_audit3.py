"""`ganhub interpret`: a page written with --out keeps its figures in its own folder (never over
the user's files beside it), and probes refused on data of unknown factors leave nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import ganhub

from ..conftest import TINY_DCGAN
from .test_interpret_directions import TINY_STYLEGAN

pytestmark = pytest.mark.usefixtures("one_thread")

CLI = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny dcgan trained for two steps on shapes."""
    root = tmp_path_factory.mktemp("interpret-audit3")
    ganhub.train([*TINY_DCGAN, "data=shapes", "data.n=256", "name=dc", f"out_dir={root}",
                  "trainer.sample_every=0"])  # fmt: skip
    return root / "dc"


def _args(command: str) -> list[str]:
    return (
        ["--samples", "16", "--directions", "2"] if command == "directions" else ["--images", "1"]
    )


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("command", ["directions", "features"])
def test_out_never_replaces_the_users_pngs_beside_the_page(
    cli: CLI, dcgan_run: Path, tmp_path: Path, command: str
) -> None:
    """--out PAGE.html wrote PAGE-walk0.png, PAGE-samples.png, ... beside it, silently over
    the user's own files of those names."""
    page = tmp_path / "page.html"
    mine = {f"page-{name}.png": f"mine {name}".encode()
            for name in ("walk0", "walk1", "spectrum", "samples", "layer-00", "attribution")}  # fmt: skip
    for name, data in mine.items():
        (tmp_path / name).write_bytes(data)
    code, out, err = cli("interpret", command, str(dcgan_run), *_args(command), "--out", str(page))
    assert code == 0 and Path(out.strip()) == page, err
    assert {name: (tmp_path / name).read_bytes() for name in mine} == mine  # untouched
    figures = sorted(p.name for p in (tmp_path / "page_files").iterdir())
    assert figures and all(n.startswith("page-") and n.endswith(".png") for n in figures)
    # the same command again replaces its own figures folder whole (no stale PNG stays)
    (tmp_path / "page_files" / "page-walk9.png").write_bytes(b"stale")
    code, _, err = cli("interpret", command, str(dcgan_run), *_args(command), "--out", str(page))
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "page_files").iterdir()) == figures


def test_a_figures_folder_of_the_users_is_refused_before_any_work(
    cli: CLI, dcgan_run: Path, tmp_path: Path
) -> None:
    (tmp_path / "notes_files").mkdir()
    (tmp_path / "notes_files" / "todo.txt").write_text("mine")
    before = _tree(tmp_path)
    code, _, err = cli("interpret", "features", str(dcgan_run), "--out",
                         str(tmp_path / "notes.html"))  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "notes_files exists and holds no figures of a page ganhub wrote" in err
    assert _tree(tmp_path) == before and not (tmp_path / "notes.html").exists()


def test_probes_on_data_of_unknown_factors_leave_no_interpret_folder(
    cli: CLI, tmp_path: Path
) -> None:
    """The refusal left an empty RUN_DIR/interpret/ behind."""
    ganhub.train([*TINY_STYLEGAN, "name=faces", f"out_dir={tmp_path}"])  # data=faces
    run = tmp_path / "faces"
    code, _, err = cli("interpret", "probes", str(run), "--samples", "40")
    assert code == 2 and "has no factor estimator" in err and len(err.strip().splitlines()) == 1
    assert not (run / "interpret").exists()


def test_out_naming_the_default_page_keeps_the_default_layout(cli: CLI, dcgan_run: Path) -> None:
    """The run's own interpret/ folder holds each page with its PNGs beside it, --out naming
    that folder (or that page) included: no second layout inside it."""
    folder = dcgan_run / "interpret"
    for out in (f"{folder}/", str(folder / "features.html")):
        code, stdout, err = cli("interpret", "features", str(dcgan_run), "--images", "1",
                                "--out", out)  # fmt: skip
        assert code == 0 and Path(stdout.strip()) == folder / "features.html", err
        assert (folder / "features-samples.png").is_file()
        assert not (folder / "features_files").exists()
