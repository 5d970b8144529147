"""`ganhub interpret directions|features`: a one-class run gets an unscored page, a page and its
PNGs land together or not at all, the page states the codes it walked, and --out may name a
folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import ganhub_interpret.directions_page as directions_page
import ganhub_interpret.features_page as features_page
import pytest

import ganhub

from ..conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")

CLI = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny dcgan trained for two steps on shapes."""
    root = tmp_path_factory.mktemp("interpret-fixes")
    ganhub.train([*TINY_DCGAN, "data=shapes", "data.n=256", "name=dc", f"out_dir={root}",
                  "trainer.sample_every=0"])  # fmt: skip
    return root / "dc"


def _files(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Each file's inode (a file replaced, even by the same bytes, has a new one) and bytes."""
    if not folder.exists():
        return {}
    return {p.name: (p.stat().st_ino, p.read_bytes()) for p in folder.iterdir()}


def test_a_run_on_one_digit_class_gets_an_unscored_page(cli: CLI, workdir: Path) -> None:
    """No factor varies in a one-class few-shot run (what `ganhub adapt` trains): scoring
    raised a ValueError, a traceback after the traversal PNGs were written."""
    code, _, err = cli("run", *TINY_DCGAN, "data.classes=[8]", "data.n_shots=10",
                       "trainer.sample_every=0", "eval.metrics=[]", "name=eight")  # fmt: skip
    assert code == 0, err
    run = workdir / "runs" / "eight"
    code, out, err = cli("interpret", "directions", str(run), "--samples", "16",
                         "--directions", "2")  # fmt: skip
    assert code == 0, err
    text = Path(out.strip()).read_text()
    assert "id='unscored'" in text and "varies among its real samples" in text
    assert "id='scores'" not in text
    assert sorted(_files(run / "interpret")) == [
        "directions-sefa-spectrum.png", "directions-sefa-walk0.png", "directions-sefa-walk1.png",
        "directions-sefa-walk2.png", "directions-sefa.html",
    ]  # fmt: skip


def test_the_page_states_how_many_base_codes_each_direction_walked(
    cli: CLI, dcgan_run: Path, tmp_path: Path
) -> None:
    """It said 64 (the most scored) when --samples 16 sampled only 16 codes to walk."""
    page = tmp_path / "p.html"
    code, _, err = cli("interpret", "directions", str(dcgan_run), "--samples", "16",
                       "--directions", "2", "--out", str(page))  # fmt: skip
    assert code == 0, err
    text = page.read_text()
    assert "id='scores'" in text and "walked from 16 base codes" in text


def _failing_after_one(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, error: BaseException
) -> None:
    """`module.name` works once (a PNG is written), then raises `error`."""
    real = getattr(module, name)
    calls = []

    def writer(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) > 1:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, writer)


def _write(command: str, run: Path, out: Path | None) -> Path:
    trained = ganhub.load(run)
    if command == "features":
        return features_page.write_features_page(trained, run, seed=0, n_images=2, out=out)
    return directions_page.write_directions_page(
        trained, run, method="sefa", n_directions=2, n_samples=16, seed=0, out=out
    )


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("disk full")])
@pytest.mark.parametrize("command", ["directions", "features"])
def test_an_interrupted_or_failed_page_leaves_the_folder_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
    dcgan_run: Path,
    tmp_path: Path,
    command: str,
    error: BaseException,
) -> None:
    """Each PNG was written in place as it was made: Ctrl-C or an error left PNGs without a
    page (beside --out), or over an older page's own (in RUN_DIR/interpret/)."""
    default = _write(command, dcgan_run, None)  # an older page and its PNGs
    assert default.parent == dcgan_run / "interpret"
    older = _files(default.parent)
    module, name = (
        (features_page, "_layer_figure")
        if command == "features"
        else (directions_page, "save_grid")
    )
    for out in (None, tmp_path / "elsewhere" / "page.html"):
        _failing_after_one(monkeypatch, module, name, error)
        with pytest.raises(type(error)):
            _write(command, dcgan_run, out)
        monkeypatch.undo()
        assert _files(default.parent) == older  # the older page and its PNGs, untouched
        assert not list((tmp_path / "elsewhere").glob("*"))  # no PNGs, no staging folder
    page = _write(command, dcgan_run, tmp_path / "elsewhere" / "page.html")
    names = sorted(p.name for p in page.parent.iterdir())
    assert names == ["page.html", "page_files"], names  # the figures in the page's folder


@pytest.mark.parametrize("command", ["directions", "features"])
def test_out_naming_a_folder_takes_the_default_page_name(
    cli: CLI, dcgan_run: Path, workdir: Path, command: str
) -> None:
    """`--out somedir/` wrote a FILE named somedir and somedir-*.png in the current folder;
    an existing folder was refused by click."""
    extra = ["--samples", "16", "--directions", "2"] if command == "directions" else []
    name = "directions-sefa.html" if command == "directions" else "features.html"
    (workdir / "there").mkdir()
    for out in ("somedir/", "there"):
        code, stdout, err = cli("interpret", command, str(dcgan_run), *extra, "--out", out)
        assert code == 0, err
        page = workdir / out / name
        assert Path(stdout.strip()) == Path(out) / name and page.is_file()
        assert any((page.parent / f"{page.stem}_files").glob(f"{page.stem}-*.png"))
    assert sorted(p.name for p in workdir.iterdir()) == ["somedir", "there"]
    code, _, err = cli("interpret", command, str(dcgan_run), "--out", "")
    assert code == 2 and "--out is empty" in err and len(err.strip().splitlines()) == 1, err
    code, help_text, _ = cli("interpret", command, "--help")
    assert "ending in /" in " ".join(help_text.split())
