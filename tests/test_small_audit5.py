"""A TTUR that changes nothing is warned of; stylegan's cutoff 0 (no truncation) is taken by the
config, the CLI and the API alike; what `ganhub sample --label` writes on a stylegan run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

import ganhub

from .test_cli_audit2 import TINY_CONDITIONAL


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny conditional stylegan run on the embedded digits."""
    summary = ganhub.train([*TINY_CONDITIONAL, f"out_dir={tmp_path_factory.mktemp('runs')}"])
    return Path(summary["run_dir"])


def _pixels(path: str | Path) -> bytes:
    with Image.open(path) as image:
        return image.convert("RGB").tobytes()


def test_ttur_at_the_runs_own_rates_is_warned_of(cli: Any) -> None:
    """g_lr/d_lr equal to optim.G.lr/optim.D.lr moved no rate, and nothing said so."""
    same = ["trick.ttur.g_lr=0.0002", "trick.ttur.d_lr=0.0002"]
    lrs = ["optim.G.lr=0.0002", "optim.D.lr=0.0002"]
    code, out, err = cli("config", "plugin=dcgan", "tricks=[ttur]", *lrs, *same)
    assert code == 0, err
    assert yaml.safe_load(out)["trick"]["ttur"] == {"g_lr": 0.0002, "d_lr": 0.0002}
    lines = [line for line in err.splitlines() if "ttur" in line]
    assert len(lines) == 1 and lines[0].startswith("ganhub: warning: ")
    assert "trick.ttur.g_lr=0.0002" in lines[0] and "trick.ttur.d_lr=0.0002" in lines[0]
    assert "d_lr=4e-4" in lines[0]
    # a real TTUR setting (D faster than G, and away from the run's rates) is not warned of
    real = ["trick.ttur.g_lr=1e-4", "trick.ttur.d_lr=4e-4"]
    code, out, err = cli("config", "plugin=dcgan", "tricks=[ttur]", *lrs, *real)
    assert code == 0, err
    assert "ttur" not in err
    yaml.safe_load(out)


def test_sample_cutoff_0_is_no_truncation_everywhere(cli: Any, conditional_run: Path) -> None:
    """The API took cutoff=0 as "truncate none" while sample.cutoff=0 and --cutoff 0 were
    refused (minimum 1); now all three take it, and it draws what psi 1 draws."""
    code, out, err = cli("config", "plugin=stylegan", "preset=tiny", "sample.cutoff=0")
    assert code == 0, err
    assert yaml.safe_load(out)["sample"]["cutoff"] == 0
    # config key, through ganhub sample: psi 0.5 on no style vector is psi 1
    code, out, err = cli("sample", str(conditional_run), "--out", "a", "sample.psi=0.5",
                         "sample.cutoff=0")  # fmt: skip
    assert code == 0, err
    code, plain, err = cli("sample", str(conditional_run), "--out", "b", "sample.psi=1")
    assert code == 0, err
    assert _pixels(out.split()[0]) == _pixels(plain.split()[0])
    code, truncated, err = cli("sample", str(conditional_run), "--out", "c", "sample.psi=0")
    assert code == 0, err
    assert _pixels(truncated.split()[0]) != _pixels(plain.split()[0])
    # CLI option
    run = str(conditional_run)
    code, out, err = cli("stylegan", "mix", run, "--psi", "0", "--cutoff", "0", "--out", "m")
    assert code == 0, err
    assert Path(out.strip()).name == "seed0_psi0_cutoff0_mixing.png"
    code, plain, err = cli("stylegan", "mix", run, "--psi", "1", "--out", "m")
    assert code == 0, err
    assert _pixels(out.strip()) == _pixels(plain.strip())
    # Python API
    model = ganhub.load(conditional_run, plugin="stylegan")
    labels = model.labels_for(3, 4)
    none = model.system.sample(4, seed=0, psi=0.0, cutoff=0, labels=labels)
    assert (none == model.system.sample(4, seed=0, psi=1.0, labels=labels)).all()


def test_cutoff_above_the_generators_style_vectors_name_0_as_valid(
    cli: Any, conditional_run: Path
) -> None:
    """The refusals of a too-large cutoff say 0 is a valid choice too."""
    code, _, err = cli("config", "plugin=stylegan", "preset=tiny", "sample.cutoff=99")
    assert code == 2 and "sample.cutoff=99" in err and "or 0 to truncate none" in err
    code, _, err = cli("stylegan", "mix", str(conditional_run), "--cutoff", "99", "--out", "m")
    assert code == 2 and "--cutoff 99" in err and "or 0 to truncate none" in err
    code, _, err = cli("stylegan", "mix", str(conditional_run), "--cutoff", "-1", "--out", "m")
    assert code == 2 and "--cutoff" in err


def test_sample_label_writes_the_class_grid_and_explore_the_rest(
    cli: Any, conditional_run: Path
) -> None:
    """`ganhub sample RUN --label 3` writes the class grid only (as docs/cli.md says); the
    mixing grid and GIF of that class are `ganhub stylegan explore RUN --label 3`'s."""
    code, out, err = cli("sample", str(conditional_run), "--label", "3", "--out", "o")
    assert code == 0, err
    assert [Path(p).name for p in out.split()] == ["sample_label3_seed0_n16.png"]
    code, out, err = cli("stylegan", "explore", str(conditional_run), "--label", "3",
                         "--out", "e")  # fmt: skip
    assert code == 0, err
    names = sorted(Path(p).name for p in out.split())
    assert names == sorted(
        f"seed0_label3_{kind}"
        for kind in ("grid.png", "truncation.png", "mixing.png", "interp.gif")
    )
    # of class 3, not the run's first class
    code, first, err = cli("stylegan", "mix", str(conditional_run), "--out", "f")
    assert code == 0, err
    mixing = next(p for p in out.split() if p.endswith("_mixing.png"))
    assert _pixels(mixing) != _pixels(first.strip())
