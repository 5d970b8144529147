"""`ganhub sample` as a user meets it: how many samples it draws without --n, and with --label."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import ganhub

TINY_CONDITIONAL = [
    "plugin=stylegan", "preset=tiny", "data=digits", "model.conditional=true",
    "trainer.steps=2", "trainer.progress=false", "eval.metrics=[]", "loggers=[]",
]  # fmt: skip


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A conditional stylegan run whose preset sets sample.grid=16."""
    out = tmp_path_factory.mktemp("runs")
    summary = ganhub.train([*TINY_CONDITIONAL, f"out_dir={out}", "name=sgc"])
    return Path(summary["run_dir"])


def _size(path: str | Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def test_sample_without_n_draws_the_runs_own_grid(cli: Any, conditional_run: Path) -> None:
    """`--n` defaulted to 64, so `ganhub sample RUN` never drew the grid the run's sample.grid
    (16: ten rows of two) sets, the one its training samples show: it drew ten rows of seven."""
    code, out, err = cli("sample", str(conditional_run), "--out", "o")
    assert code == 0, err
    paths = [Path(p) for p in out.split()]
    assert paths[0].name == "sample_seed0.png"  # named without a count it was not given
    assert [p.name for p in paths[1:]] == ["sample_seed0_mixing.png", "sample_seed0_interp.gif"]
    preview = next((conditional_run / "samples").glob("step_*.png"))
    assert _size(paths[0]) == _size(preview)
    code, out, err = cli("sample", str(conditional_run), "--n", "64", "--out", "o")
    assert code == 0, err
    assert Path(out.split()[0]).name == "sample_seed0_n64.png"
    assert _size(out.split()[0]) != _size(preview)


def test_label_without_n_draws_the_runs_grid_size(cli: Any, conditional_run: Path) -> None:
    """`--label 3` drew 64 images of the class whatever the run's sample.grid (16) said."""
    code, out, err = cli("sample", str(conditional_run), "--label", "3", "--out", "o")
    assert code == 0, err
    assert [Path(p).name for p in out.split()] == ["sample_label3_seed0_n16.png"]
    first = Image.open(out.strip()).tobytes()
    code, out, err = cli("sample", str(conditional_run), "--label", "3", "--n", "16", "--out", "p")
    assert code == 0, err
    assert Image.open(out.strip()).tobytes() == first


def test_sample_help_states_the_defaults_it_uses(cli: Any) -> None:
    """The help said `[default: 64]`, which no stylegan run with another sample.grid drew."""
    code, out, _ = cli("sample", "--help")
    assert code == 0 and "default: 64;" not in out
    assert "sample.grid" in " ".join(out.split())
    assert "stylegan explore RUN_DIR --label L" in " ".join(out.split())


def test_run_help_with_resume_lists_the_runs_keys(cli: Any, conditional_run: Path) -> None:
    """`ganhub run resume=RUN --help` showed the generic help, as if no run had been named."""
    code, out, err = cli("run", f"resume={conditional_run}", "trainer.steps=7", "--help")
    assert code == 0, err
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines() if " = " in line}
    assert rows["trainer.steps"] == "7" and rows["model.conditional"] == "True"
    assert out.startswith(f"ganhub run resume={conditional_run} ")
    code, _, err = cli("run", "resume=nowhere", "--help")
    assert code == 2 and "'nowhere'" in err and len(err.strip().splitlines()) == 1


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every command under `group` with its path of names (groups' commands too)."""
    import click

    found = []
    for name, command in group.commands.items():
        found.append(((*path, name), command))
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
    return found


def test_every_device_option_is_checked_naming_the_option() -> None:
    """`ganhub sample RUN --device cuda` without CUDA said `device=cuda: ... use device=cpu`, a
    config key the command has not; every command's --device is the checked one."""
    from ganhub.cli import build_cli
    from ganhub.clikit import device_option

    checked = device_option()(lambda device: None).__click_params__[0].callback
    with_device = [
        (path, param)
        for path, command in _commands(build_cli())
        for param in command.params
        if param.name == "device"
    ]
    assert len(with_device) >= 10  # sample, eval, export, and the domains' commands
    unchecked = [" ".join(path) for path, param in with_device if param.callback is not checked]
    assert not unchecked, unchecked


def test_an_unavailable_device_of_sample_names_the_option(workdir: Path, cli: Any) -> None:
    (workdir / "r").mkdir()
    code, out, err = cli("sample", "r", "--device", "cuda:99")
    assert code == 2 and not out and err.count("\n") == 1, err
    assert err.startswith("ganhub: error: --device cuda:99: ") and "available here: cpu" in err


def test_stylegan_explore_draws_the_runs_grid_size(cli: Any, conditional_run: Path) -> None:
    """Its --n defaulted to 64 where `ganhub sample` draws the run's sample.grid (16)."""
    code, out, err = cli("stylegan", "explore", str(conditional_run), "--label", "3", "--out", "e")
    assert code == 0, err
    grid = next(Path(p) for p in out.split() if p.endswith("_grid.png"))
    code, out, err = cli("sample", str(conditional_run), "--label", "3", "--out", "s")
    assert code == 0, err
    assert _size(grid) == _size(out.strip())
