"""A newcomer's audit of the CLI: an option written for a config key, a count that is no
number, a run directory that is none, a run on a read-only folder, `ganhub sample EXPORT`,
and stylegan's `ws_for` refusals naming the function called."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

import ganhub
from ganhub.errors import UsageError

from .conftest import TINY_TOY

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    return Path(ganhub.train([*TINY_TOY, "name=t", f"out_dir={root}"])["run_dir"])


def _one_line(code: int, err: str) -> str:
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    return err.strip()


@pytest.mark.parametrize(
    ("flag", "key"),
    [(["--steps", "5"], "trainer.steps=5"), (["--trainer.steps=5"], "trainer.steps=5"),
     (["--lr", "1e-3"], "optim.D.lr=1e-3 or optim.G.lr=1e-3")],
)  # fmt: skip
def test_an_option_that_is_a_config_key_names_the_key(
    cli: Cli, workdir: Path, flag: list[str], key: str
) -> None:
    """`--steps 5` said click's "No such option '--steps'. Did you mean '--help'?"."""
    line = _one_line(*cli("run", "plugin=toy2d", *flag)[::2])
    assert f"'{flag[0].partition('=')[0]}': config keys are given as key=value: {key}" in line
    assert "--help'?" not in line and not (workdir / "runs").exists()


@pytest.mark.parametrize("value", ["abc", "0", "10001", "2.5"])
def test_sample_n_that_is_no_count_is_refused_naming_the_option(
    cli: Cli, workdir: Path, value: str
) -> None:
    """`--n abc` said click's "'abc' is not a valid integer range"."""
    (workdir / "run").mkdir()
    line = _one_line(*cli("sample", "run", "--n", value)[::2])
    assert line == (
        f"ganhub: error: --n {value}: counts the samples to write: give a whole number from 1 "
        "to 10000"
    )


@pytest.mark.parametrize("command", [["sample"], ["export"], ["stylegan", "mix"]])
def test_a_run_directory_that_is_none_is_refused_in_ganhubs_words(
    cli: Cli, workdir: Path, command: list[str]
) -> None:
    """click said "Invalid value for 'RUN_DIR': Directory 'runs/nope' does not exist.", while
    `ganhub run resume=runs/nope` said "'runs/nope': no such run directory"."""
    line = _one_line(*cli(*command, "runs/nope")[::2])
    assert line == "ganhub: error: 'runs/nope': no such run directory"
    (workdir / "afile").write_text("x")
    line = _one_line(*cli(*command, "afile")[::2])
    assert line == "ganhub: error: 'afile' is a file, not a run directory; give the run's folder"


def test_resuming_a_run_that_cannot_be_written_says_to_copy_it(
    cli: Cli, toy_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run on a read-only mount failed with "RUN/.lock: Read-only file system". Not as
    root, the folder is made read-only for real; root writes anyway, so os.access says no."""
    before = sorted(p.name for p in toy_run.iterdir())
    if os.geteuid() == 0:
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, m, **k: Path(p) != toy_run and real(p, m, **k))
    else:
        toy_run.chmod(0o555)
    try:
        code, _, err = cli("run", f"resume={toy_run}", "trainer.steps=8")
    finally:
        toy_run.chmod(0o755)
    line = _one_line(code, err)
    assert f"run directory '{toy_run}' cannot be written (" in line, line
    assert f"cp -r {toy_run} COPY && ganhub run resume=COPY ..." in line
    assert sorted(p.name for p in toy_run.iterdir()) == before


def test_sample_of_an_export_writes_beside_it_not_into_it(
    cli: Cli, workdir: Path, toy_run: Path
) -> None:
    """`ganhub sample EXPORT` wrote EXPORT/samples/sample_seed0.png into the shared folder."""
    from ganhub.export import export_run

    export = export_run(toy_run, out=workdir / "shared")
    before = sorted(str(p.relative_to(export)) for p in export.rglob("*"))
    code, out, err = cli("sample", str(export), "--n", "4")
    assert code == 0, err
    assert out.split() == [str(Path("samples-shared") / "sample_seed0_n4.png")]
    assert (workdir / "samples-shared" / "sample_seed0_n4.png").is_file()
    assert sorted(str(p.relative_to(export)) for p in export.rglob("*")) == before
    assert "is an export, made for sharing: the samples are in 'samples-shared'" in err, err
    code, out, err = cli("sample", str(toy_run), "--n", "4")  # a run's go into it, as before
    assert code == 0 and out.split() == [str(toy_run / "samples" / "sample_seed0_n4.png")], err


@pytest.fixture(scope="module")
def stylegan_system():  # type: ignore[no-untyped-def]
    """A 16 px generator (6 style vectors), untrained: nothing is written."""
    from ganhub.config.resolve import resolve
    from ganhub.wiring import make_run

    return make_run(resolve(["plugin=stylegan", "preset=tiny", "loggers=[]"])).system


@pytest.mark.parametrize(
    ("call", "given", "head"),
    [("ws_for", {"cutoff": 99}, "ws_for(cutoff=99): "),
     ("ws_for", {"cutoff": "3"}, "ws_for(cutoff='3'): "),
     ("ws_for", {"psi": -1}, "ws_for(psi=-1): "),
     ("sample", {"cutoff": 7}, "sample(cutoff=7): "),
     ("sample_grid", {"cutoff": -1}, "sample_grid(cutoff=-1): ")],
)  # fmt: skip
def test_stylegan_truncation_refusals_name_the_function_called(
    stylegan_system, call: str, given: dict[str, object], head: str
) -> None:  # type: ignore[no-untyped-def]
    """`ws_for(cutoff=99)` said "cutoff=99: the number of style vectors to truncate, 0..6",
    naming no function, in words of its own, where the picture functions name themselves."""
    import torch

    s = stylegan_system
    first = s.latent(2, torch.Generator().manual_seed(0)) if call == "ws_for" else 2
    with pytest.raises(UsageError) as caught:
        getattr(s, call)(first, **given)
    line = str(caught.value)
    assert line.startswith(head), line
    if "cutoff" in given:
        assert "a 16 px generator has 6 style vectors to truncate; give " in line
        assert line.endswith("(None: the run's sample.cutoff, all when unset)")
    else:
        assert line.endswith("(0: w_avg's image, 1: no truncation; None: the run's sample.psi)")
