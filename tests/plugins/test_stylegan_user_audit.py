"""stylegan as a user meets it: the truncation cutoff in every picture of the verbs, file
names that carry every option, what an exported graph computes, batch-derived defaults on
resume, keys a run would not read, and the small refusals around them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from ganhub_stylegan.sampling import interpolation_frames, style_mixing_grid
from PIL import Image

import ganhub
from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError
from ganhub.wiring import make_run

pytestmark = pytest.mark.usefixtures("one_thread")
Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)

TINY = ["plugin=stylegan", "preset=tiny", "trainer.progress=false", "loggers=[jsonl]"]
NO_PRESET = [k for k in TINY if k != "preset=tiny"]  # a run takes one preset


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16 px run (6 style vectors) trained for two steps."""
    root = tmp_path_factory.mktemp("sg")
    ganhub.train([*TINY, "trainer.steps=2", "name=t", f"out_dir={root}"])
    return root / "t"


def _cells(path: Path, rows: int, cols: int, side: int = 16) -> list[np.ndarray]:
    """The mixed cells of a style-mixing grid PNG (without the source row and column)."""
    pixels = np.asarray(Image.open(path)).astype(int)
    pad = (pixels.shape[0] - (rows + 1) * side) // (rows + 2)  # save_image_grid's padding
    step = side + pad
    return [
        pixels[pad + i * step : pad + i * step + side, pad + j * step : pad + j * step + side]
        for i in range(1, rows + 1)
        for j in range(1, cols + 1)
    ]


# -- the cutoff in every picture -----------------------------------------------------------


def test_explore_truncates_the_mixing_grid_and_the_walk_up_to_the_cutoff(
    run_dir: Path, cli: Cli, workdir: Path
) -> None:
    """At psi 0 with --cutoff 1 the mixing grid and GIF truncated every style vector: all 20
    mixing cells were the average image, and the names left the cutoff out."""
    code, out, err = cli("stylegan", "explore", str(run_dir), "--psi", "0", "--cutoff", "1",
                         "--frames", "3", "--out", "ex")  # fmt: skip
    assert code == 0, err
    assert [Path(p).name for p in out.split()] == [
        "seed0_psi0_cutoff1_grid.png", "seed0_cutoff1_truncation.png",
        "seed0_psi0_cutoff1_mixing.png", "seed0_psi0_cutoff1_frames3_interp.gif"]  # fmt: skip
    cells = _cells(workdir / "ex" / "seed0_psi0_cutoff1_mixing.png", 4, 5)
    assert any(not np.array_equal(cells[0], cell) for cell in cells[1:])
    system = ganhub.load(run_dir).system
    frames = interpolation_frames(system, keys=4, frames=3, psi=0.0, cutoff=1)
    assert not torch.allclose(frames[0], frames[1])  # only the first style vector is w_avg
    assert torch.allclose(*interpolation_frames(system, keys=4, frames=3, psi=0.0)[:2])


def test_mix_and_interpolate_take_cutoff_as_explore_does(
    run_dir: Path, cli: Cli, workdir: Path
) -> None:
    """They had no --cutoff and silently used the run's sample.cutoff; explore's pictures of
    the same options are theirs."""
    system = ganhub.load(run_dir).system
    style_mixing_grid(system, workdir / "api.png", psi=0.0, cutoff=2)
    style_mixing_grid(system, workdir / "all.png", psi=0.0)
    assert not np.array_equal(_cells(workdir / "api.png", 4, 5)[0],
                              _cells(workdir / "api.png", 4, 5)[1])  # fmt: skip
    code, out, err = cli("stylegan", "mix", str(run_dir), "--psi", "0", "--cutoff", "2",
                         "--out", "m")  # fmt: skip
    assert code == 0 and out.strip().endswith("seed0_psi0_cutoff2_mixing.png"), err
    mixed = np.asarray(Image.open(out.strip()))
    assert np.array_equal(mixed, np.asarray(Image.open(workdir / "api.png")))
    assert not np.array_equal(mixed, np.asarray(Image.open(workdir / "all.png")))
    code, out, err = cli("stylegan", "interpolate", str(run_dir), "--psi", "0", "--cutoff", "2",
                         "--frames", "2", "--out", "i")  # fmt: skip
    assert code == 0 and out.strip().endswith("seed0_psi0_cutoff2_frames2_interp.gif"), err
    code, _, err = cli("stylegan", "interpolate", str(run_dir), "--cutoff", "7", "--out", "x")
    assert code == 2 and "--cutoff 7: a 16 px generator has 6 style vectors" in err
    assert "give 1..6" in err and not Path("x").exists()


# -- file names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verb", "first", "second"),
    [
        ("truncation", ["--n", "3"], "seed0_n3_truncation.png"),
        ("interpolate", ["--frames", "2"], "seed0_frames2_interp.gif"),
        ("interpolate", ["--keys", "3", "--frames", "2"], "seed0_frames2_keys3_interp.gif"),
        ("mix", ["--rows", "2"], "seed0_rows2_mixing.png"),
        ("mix", ["--cols", "2", "--crossover", "1"], "seed0_crossover1_cols2_mixing.png"),
    ],
)
def test_a_second_call_with_other_options_writes_another_file(
    run_dir: Path, cli: Cli, workdir: Path, verb: str, first: list[str], second: str
) -> None:
    """`truncation --n 3` and then plain `truncation` both wrote seed0_truncation.png."""
    code, out, err = cli("stylegan", verb, str(run_dir), *first, "--out", "o")
    assert code == 0 and Path(out.strip()).name == second, err
    code, out, err = cli("stylegan", verb, str(run_dir), "--out", "o")
    assert code == 0, err
    assert len(list((workdir / "o").iterdir())) == 2  # side by side, neither overwritten


def test_explore_names_the_grid_by_its_size(run_dir: Path, cli: Cli, workdir: Path) -> None:
    for n in ("4", "9"):
        code, _, err = cli("stylegan", "explore", str(run_dir), "--n", n, "--frames", "2",
                           "--out", "o")  # fmt: skip
        assert code == 0, err
    grids = sorted(p.name for p in (workdir / "o").glob("*_grid.png"))
    assert grids == ["seed0_n4_grid.png", "seed0_n9_grid.png"]


# -- export --------------------------------------------------------------------------------


def test_the_export_card_says_what_the_graph_computes(workdir: Path) -> None:
    """The docs said the graph gives what `sample` gives; with noise inputs `sample` draws
    them at random from its seed, and the graph uses the constant ones."""
    system = make_run(resolve([*TINY, "model.noise=true"])).system
    with torch.no_grad():  # the noise strengths (scalars) start at 0: let the noise show
        for p in system.G_ema.parameters():
            if p.ndim == 0:
                p.fill_(0.5)
    (function,) = system.export_spec().functions
    meaning = function.inputs[0].meaning
    assert "s.synthesize(s.ws_for(z, psi=1))" in meaning and "constant noise" in meaning
    assert "model.sample" in meaning and len(meaning) <= 300  # the card shows 300 characters
    z = torch.randn(3, system.G.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        graph = function.module(z)
    assert torch.allclose(graph, system.synthesize(system.ws_for(z, psi=1)), atol=1e-6)
    assert not torch.allclose(graph, system.sample(3, seed=0), atol=1e-3)
    plain = make_run(resolve(TINY)).system.export_spec().functions[0].inputs[0].meaning
    assert "psi=1" in plain and "noise" not in plain.replace("standard normal", "")


# -- resume --------------------------------------------------------------------------------


def test_a_resume_with_another_batch_derives_both_batch_defaults_again(workdir: Path) -> None:
    """gamma followed trainer.batch_size=16, the EMA half-life kept batch 8's 2.5 kimg."""
    ganhub.train([*TINY, "trainer.steps=1", "name=r"])
    ganhub.train([*TINY, "trainer.steps=1", "name=h", "trick.ema.half_life_kimg=7"])
    fresh = resolve([*TINY, "trainer.batch_size=16"])
    resumed = resolve(["resume=runs/r", "trainer.steps=2", "trainer.batch_size=16"])
    for config in (fresh, resumed):
        assert config.trick.ema.half_life_kimg == 5.0  # type: ignore[attr-defined]
        assert config.trick.ema.rampup == 0.05  # type: ignore[attr-defined]
        assert config.trick.r1.gamma == pytest.approx(0.0002 * 16**2 / 16)  # type: ignore[attr-defined]
    kept = resolve(["resume=runs/h", "trainer.steps=2", "trainer.batch_size=16"])
    assert kept.trick.ema.half_life_kimg == 7.0  # type: ignore[attr-defined]
    assert kept.trick.ema.rampup is None  # type: ignore[attr-defined]  # no ramp-up of yours
    assert resolve(["plugin=stylegan", "preset=paper256"]).trick.ema.rampup is None  # type: ignore[attr-defined]


def test_a_resume_that_types_a_decay_drops_the_derived_half_life(workdir: Path) -> None:
    """The saved derived half-life and its ramp-up beside a typed decay were refused as two
    averaging rates; a half-life set by hand still is (the user's two choices disagree)."""
    ganhub.train([*TINY, "trainer.steps=1", "name=d"])
    resumed = resolve(["resume=runs/d", "trainer.steps=2", "trick.ema.decay=0.99"])
    ema = resumed.trick.ema  # type: ignore[attr-defined]
    assert (ema.decay, ema.half_life_kimg, ema.rampup) == (0.99, None, None)
    ganhub.train([*TINY, "trainer.steps=1", "name=k", "trick.ema.half_life_kimg=7"])
    with pytest.raises(ConfigError, match="both set the averaging rate"):
        resolve(["resume=runs/k", "trainer.steps=2", "trick.ema.decay=0.99"])


# -- keys the run would not read -----------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (["objective.pl_interval=8"], "objective.pl_interval=8 is only read with path length "
         "on (objective.pl_weight > 0; StyleGAN2: 2), and objective.pl_weight is 0; set "
         "objective.pl_weight or leave it out"),
        (["objective.pl_decay=0.02"], "objective.pl_decay=0.02 is only read with path length"),
        (["objective.pl_batch_shrink=4"], "objective.pl_batch_shrink=4 is only read with path"),
        (["objective.lazy_correction=false"], "objective.lazy_correction=false is only read"),
        (["model.fp16_channels_last=true"], "model.fp16_channels_last=true is only read with "
         "float16 blocks (model.fp16_res=1..3, on CUDA), and model.fp16_res is 0; set "
         "model.fp16_res or leave it out"),
        (["data.channels=1"], "data.channels=1 is only read with your own images "
         "(data.path=DIR), and data=faces was given (its images have 1 channel); leave it out"),
        (["data=digits", "data.channels=1"], "data.channels=1 is only read with your own "
         "images (data.path=DIR), and data=digits was given"),
    ],
)  # fmt: skip
def test_a_key_the_run_would_not_read_is_refused(keys: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        resolve([*TINY, *keys])
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    resolve([*TINY, *keys], training=False)  # a saved run with it still opens to sample


@pytest.mark.parametrize(
    "keys",
    [
        ["objective.pl_weight=2", "objective.pl_interval=8", "objective.lazy_correction=false"],
        ["model.fp16_res=1", "model.fp16_channels_last=true"],
        ["data=shapes", "data.colour=true", "data.channels=3"],  # the default value
        ["objective.pl_interval=4"],  # the default: not told from an untyped key
        ["preset=paper256", "model.image_size=8"],  # the presets' values are never refused
        ["preset=auto", "model.image_size=8", "model.fp16_channels_last=true"],
    ],
)
def test_keys_that_apply_are_taken(keys: list[str]) -> None:
    base = TINY if not any(k.startswith("preset=") for k in keys) else NO_PRESET
    resolve([*base, *keys])


def test_float16_blocks_off_cuda_warn_that_they_train_in_float32(workdir: Path) -> None:
    run = make_run(resolve([*TINY, "model.fp16_res=2"]))
    (warning,) = run.system.before_training()
    assert "model.fp16_res=2: float16 blocks run on CUDA only" in warning
    assert "trains in float32" in warning
    assert make_run(resolve(TINY)).system.before_training() == []


# -- small refusals ------------------------------------------------------------------------


def test_cutoff_zero_truncates_nothing_and_psi_one_takes_it(run_dir: Path) -> None:
    """sample(psi=1.0, cutoff=0) raised although truncation is off (StyleGAN2-ADA's
    truncation_cutoff=0 truncates no style vector)."""
    system = ganhub.load(run_dir).system
    plain = system.sample(2, seed=1)
    assert torch.equal(system.sample(2, seed=1, psi=1.0, cutoff=0), plain)
    assert torch.equal(system.sample(2, seed=1, psi=0.0, cutoff=0), plain)


@pytest.mark.parametrize(
    ("keys", "groups"),
    [
        (["trainer.batch_size=6"], "or model.mbstd_group=1, 2 or 3 (divisors of 6; 1 makes "
         "the feature a constant) or 6 or more"),
        (["trainer.batch_size=7"], "or model.mbstd_group=1 (which makes the feature a "
         "constant) or 7 or more"),
        (["trainer.batch_size=30", "trainer.grad_accum=5"], "or model.mbstd_group=1, 2 or 3 "
         "(divisors of 6; 1 makes the feature a constant) or 6 or more"),
    ],
)  # fmt: skip
def test_the_mbstd_refusal_lists_every_group_that_fits(keys: list[str], groups: str) -> None:
    """It named the largest divisor below the group only ("3 or 6 or more" for a batch of 6)."""
    with pytest.raises(ConfigError) as err:
        resolve(["plugin=stylegan", *keys])
    assert str(err.value).endswith(groups) and "\n" not in str(err.value)
    for group in (1, 2, 3, 6):
        resolve(["plugin=stylegan", "trainer.batch_size=6", f"model.mbstd_group={group}"])
