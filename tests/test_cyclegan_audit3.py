"""cyclegan audit 3: what a user meets translating, training and comparing with the original."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganhub
from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError
from ganhub.wiring import make_run

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = [
    "plugin=cyclegan", "model.image_size=16", "model.ngf=4", "model.ndf=4", "model.n_layers_d=2",
    "trainer.batch_size=2", "trainer.steps=2", "trainer.log_every=1", "trainer.sample_every=0",
    "trainer.progress=false", "loggers=[jsonl]", "eval.metrics=[]",
]  # fmt: skip


def _png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)
    return path


def _pairs(root: Path, n: int = 3, height: int = 20) -> Path:
    """A pix2pix folder: train/ and test/ hold A|B pairs (noise left, its negative right)."""
    rng = np.random.default_rng(0)
    for folder in ("train", "test"):
        for i in range(n):
            a = rng.integers(0, 256, (height, height, 3))
            _png(root / folder / f"p{i}.png", np.concatenate([a, 255 - a], axis=1))
    return root


def _paired_run(workdir: Path, *extra: str) -> Path:
    data = _pairs(workdir / "data")
    summary = ganhub.train([*TINY, "task=paired", f"data.path={data}", *extra])
    return Path(summary["run_dir"])


def _halves(src: Path, out: Path) -> tuple[Path, Path]:
    """Each pair of `src` cut into left/ and right/ files of its own."""
    for f in sorted(src.iterdir()):
        x = np.asarray(Image.open(f))
        half = x.shape[1] // 2
        _png(out / "left" / f.name, x[:, :half])
        _png(out / "right" / f.name, x[:, half:])
    return out / "left", out / "right"


def _read(folder: Path) -> dict[str, np.ndarray]:
    return {f.name: np.asarray(Image.open(f), dtype=np.int16) for f in sorted(folder.iterdir())}


@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
def test_translate_pairs_translates_the_input_half_of_each_pair(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
    direction: str,
) -> None:
    run = _paired_run(workdir, f"data.direction={direction}")
    left, right = _halves(workdir / "data" / "test", workdir / "halves")
    code, _, err = cli("cyclegan", "translate", str(run), "--input", str(workdir / "data" / "test"),
                       "--out", str(workdir / "pairs"), "--pairs")  # fmt: skip
    assert code == 0, err
    # the run's input half: A (left) for data.direction=AtoB, B (right) for BtoA
    alone = left if direction == "AtoB" else right
    code, _, err = cli("cyclegan", "translate", str(run), "--input", str(alone),
                       "--out", str(workdir / "alone"))  # fmt: skip
    assert code == 0, err
    got, want = _read(workdir / "pairs"), _read(workdir / "alone")
    assert got.keys() == want.keys() and len(got) == 3
    for name in got:  # the same image translated (PNG rounding of the cut halves: none)
        assert got[name].shape == (16, 16, 3)
        assert np.abs(got[name] - want[name]).max() <= 1


def test_pairs_translated_whole_are_noted_and_a_one_pixel_pair_is_refused(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    run = _paired_run(workdir)
    test = workdir / "data" / "test"
    code, _, err = cli("cyclegan", "translate", str(run), "--input", str(test),
                       "--out", str(workdir / "whole"))  # fmt: skip
    assert code == 0 and "--pairs" in err and len(list((workdir / "whole").iterdir())) == 3
    square = _png(workdir / "square" / "s.png", np.zeros((16, 16, 3)))
    code, _, err = cli("cyclegan", "translate", str(run), "--input", str(square.parent),
                       "--out", str(workdir / "sq"))  # fmt: skip
    assert code == 0 and "--pairs" not in err
    thin = _png(workdir / "odd" / "o.png", np.zeros((16, 1, 3)))
    code, _, err = cli("cyclegan", "translate", str(run), "--input", str(thin.parent),
                       "--out", str(workdir / "o"), "--pairs")  # fmt: skip
    assert code == 2 and "o.png" in err and "1 px wide" in err and "Traceback" not in err
    assert not (workdir / "o").exists()


# -- the PatchGAN's depth follows the image size -------------------------------------------------


def _patch_map(*keys: str) -> tuple[int, ...]:
    """The shape of the logit map the built discriminator gives a batch of one image."""
    cfg = resolve(["plugin=cyclegan", "model.ngf=4", "model.ndf=4", *keys])
    system = make_run(cfg).system
    paired = cfg.task == "paired"
    D = system.D if paired else system.D_A  # type: ignore[attr-defined]
    size = cfg.model.image_size
    with torch.no_grad():
        return tuple(D(torch.zeros(1, 3 * (2 if paired else 1), size, size)).shape)


@pytest.mark.parametrize("task", ["unpaired", "paired"])
def test_the_default_patchgan_judges_patches_not_the_whole_image(task: str) -> None:
    # 32 px (the embedded default): 34x34 patches, a 6x6 map; 70x70 ones gave a 2x2 map of
    # whole-image judgements, 1 dB PSNR and 0.1 SSIM worse on the embedded digits
    assert _patch_map(f"task={task}") == (1, 1, 6, 6)
    # from 128 px the original's 70x70 patches (3 layers: a 14x14 map at 128 px)
    assert _patch_map(f"task={task}", "model.image_size=128") == (1, 1, 14, 14)
    assert _patch_map(f"task={task}", "model.image_size=124") == (1, 1, 29, 29)
    # a depth given by name stands, and is still checked against the size
    assert _patch_map(f"task={task}", "model.n_layers_d=3") == (1, 1, 2, 2)
    with pytest.raises(ConfigError, match=r"model\.n_layers_d=3 leaves no patch on a 16 px"):
        resolve(["plugin=cyclegan", f"task={task}", "model.image_size=16", "model.n_layers_d=3"])


def test_small_images_train_without_giving_the_discriminator_depth(workdir: Path) -> None:
    # 16 px was refused for a depth the user never gave ("model.n_layers_d=3 leaves no patch")
    assert _patch_map("model.image_size=16") == (1, 1, 2, 2)
    assert _patch_map("model.image_size=8") == (1, 1, 2, 2)  # one layer: 8 -> 4 -> 3 -> 2
    args = [a for a in TINY if not a.startswith("model.n_layers_d")]
    summary = ganhub.train([*args, "data.n_test=16"])
    assert summary["steps"] == 2
    saved = (Path(summary["run_dir"]) / "config.yaml").read_text()
    assert "n_layers_d: null" in saved  # the rule, not a number, travels with the run
    assert ganhub.load(summary["run_dir"]).config.d_layers() == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("keys", "tricks"),
    [
        ([], []),  # given in steps (the embedded 500): constant LR
        (["task=paired"], []),
        (["epochs=1", "epochs_decay=1"], ["lr_schedule"]),  # given in epochs: the original's
        (["preset=original"], ["lr_schedule"]),  # 100 + 100 epochs
        (["decay_start=0.3"], ["lr_schedule"]),  # places the decay
        (["epochs=1", "epochs_decay=0"], []),  # no decay: constant, not refused
        (["tricks=[ema]"], ["ema"]),  # a user's list stands
        (["tricks=[lr_schedule]"], ["lr_schedule"]),
    ],
)
def test_the_default_schedule_follows_how_the_run_length_is_given(
    keys: list[str], tricks: list[str]
) -> None:
    """500 steps are under one epoch: decaying over their second half scored worse on every
    metric than a constant rate, so only a run given in epochs or decay_start decays."""
    no_steps = [k for k in TINY if not k.startswith("trainer.steps=")]
    assert resolve([*no_steps, *keys]).tricks == tricks


def test_the_default_run_trains_at_a_constant_rate(workdir: Path) -> None:
    run = make_run(resolve([*TINY, "trainer.steps=4"]))
    assert [t.name for t in run.tricks] == []
    batches = run.batches()
    from ganhub.engine.loop import train_step

    for _ in range(4):
        train_step(run, batches)
        assert [run.optimizers[g].param_groups[0]["lr"] for g in ("G", "D")] == [2e-4, 2e-4]
    run.close()
    with pytest.raises(ConfigError, match=r"trick 'lr_schedule' is not enabled \(tricks=\[\]\)"):
        resolve([*TINY, "trick.lr_schedule.start=0.2"])  # an option of it alone: enable it
