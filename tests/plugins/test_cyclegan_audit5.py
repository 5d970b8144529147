"""cyclegan folder data as the original reads it: images of any size are resized to load_size
before the crop, a run given in epochs lasts the batches its loader deals, and the real images
metrics learn from are prepared as the images they score."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ganhub_cyclegan.data import DomainData
from PIL import Image

import ganhub
from ganhub.config.resolve import resolve
from ganhub.wiring import make_run

from .test_cyclegan import TINY, TINY_FOLDER

pytestmark = pytest.mark.usefixtures("one_thread")

FOLDER_NO_STEPS = [a for a in TINY_FOLDER if not a.startswith("trainer.steps=")]
CHECK = ["plugin=cyclegan", "model.image_size=16", "model.n_layers_d=2"]


def _png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)
    return path


def _noise(seed: int, h: int, w: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def _mixed(root: Path) -> Path:
    """trainA/ and trainB/ of mixed sizes: each side has images smaller than the 16 px crop
    (a 5x7 thumbnail, a 12x10 one) beside larger ones; testA/ and testB/ hold small ones too."""
    for side, offset in (("A", 0), ("B", 50)):
        for i, (h, w) in enumerate([(5, 7), (10, 12), (20, 24), (40, 30), (16, 16)]):
            _png(root / f"train{side}" / f"{i}.png", _noise(offset + i, h, w))
        for i, (h, w) in enumerate([(6, 6), (24, 24), (9, 14)]):
            _png(root / f"test{side}" / f"{i}.png", _noise(offset + 20 + i, h, w))
    return root


# -- 1. images smaller than the crop train, resized to load_size first (resize_and_crop) -------


def test_a_folder_of_mixed_sizes_with_small_images_trains_and_samples(
    workdir: Path,
) -> None:
    """Images under the 16 px crop were refused ("12x10 is smaller than the 16 px crop"), where
    the original resizes every image to load_size before its random crop."""
    root = _mixed(workdir / "data")
    args = [*TINY_FOLDER, f"data.path={root}", "trainer.steps=3", "trainer.sample_every=2"]
    summary = ganhub.train(args)
    assert summary["steps"] == 3 and summary["samples"]
    grid = Image.open(summary["samples"][-1])
    assert grid.size == (2 + 6 * 18, 2 + 8 * 18)  # 16 px images: small test images resized


@pytest.mark.parametrize("shape", [(5, 7), (1, 1), (10, 12)])
def test_a_small_image_gives_crops_of_the_image_resized_to_load_size(
    workdir: Path, shape: tuple[int, int]
) -> None:
    """A solid image smaller than the crop becomes a crop of that colour (the whole crop lies
    inside the load resize of the image, as in the original's resize_and_crop)."""
    root = workdir / "data"
    _png(root / "trainA" / "small.png", np.full((*shape, 3), (200, 30, 90), np.uint8))
    _png(root / "trainB" / "big.png", _noise(1, 40, 40))
    config = resolve([*TINY_FOLDER, f"data.path={root}", "data.load_size=18"])
    dataset = DomainData(config).training().dataset
    for seed in range(4):
        a, b = dataset[(0, 0, seed)]
        assert a.shape == b.shape == (3, 16, 16)
        want = torch.tensor([200, 30, 90]).float().div(127.5).sub(1).view(3, 1, 1)
        assert torch.allclose(a, want.expand(3, 16, 16), atol=2e-2)


def test_pairs_with_halves_smaller_than_the_crop_train(workdir: Path) -> None:
    root = workdir / "pairs"
    for i in range(3):  # 12x10 pairs: 6x10 halves under the 16 px crop
        _png(root / "train" / f"{i}.png", _noise(i, 10, 12))
    _png(root / "test" / "t.png", _noise(9, 8, 8))
    summary = ganhub.train([*TINY_FOLDER, f"data.path={root}", "task=paired", "eval.metrics=[]"])
    assert summary["steps"] == 2
    system = make_run(resolve([*TINY_FOLDER, f"data.path={root}", "task=paired"])).system
    a, b = system.heldout_pairs()  # type: ignore[attr-defined, misc]
    assert a.shape == b.shape == (1, 3, 16, 16)


def test_data_check_notes_small_images_and_clean_keeps_them(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """`ganhub data check` reported them as errors (and `clean` dropped them): now a note says
    they are upscaled on load, and the check passes."""
    root = _mixed(workdir / "data")
    code, out, err = cli("data", "check", str(root), *CHECK, "--json")
    assert code == 0, out + err
    report = json.loads(out)
    found = {(f["item"], f["severity"], f["action"]) for f in report["findings"]}
    assert ("trainA/0.png", "note", "keep") in found
    assert not any(f["severity"] == "error" for f in report["findings"])
    small = [f["problem"] for f in report["findings"] if f["item"] == "trainA/1.png"]
    assert "smaller than the 16 px crop (12x10): upscaled 1.8x to 18x18 on load" in small[0]
    larger = [f["problem"] for f in report["findings"] if f["item"] == "trainA/2.png"]
    assert larger == ["not square (24x20): stretched to 18x18"]  # no note on its size
    code, out, err = cli("data", "clean", str(root), *CHECK, "--out", str(workdir / "clean"))
    assert code == 0, out + err
    assert len(list((workdir / "clean" / "trainA").iterdir())) == 5  # every image kept


def test_a_pair_too_narrow_to_split_is_refused_in_one_line(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    root = workdir / "pairs"
    for i in range(3):
        _png(root / "train" / f"{i}.png", _noise(i, 10, 12))
    _png(root / "train" / "thin.png", _noise(5, 10, 1))
    code, _, err = cli("run", *TINY_FOLDER, f"data.path={root}", "task=paired", "name=o")
    assert code == 2 and "thin.png': 1 px wide" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


# -- 2. a run given in epochs lasts as many steps as its loader deals batches ------------------


def test_epochs_count_the_batches_the_folder_loader_deals(workdir: Path) -> None:
    """5 images at batch 2 make 2 batches an epoch (the last partial batch is dropped, as in
    every ganhub loader); epochs were counted as 5 / 2 = 2.5 steps, so epochs=1 epochs_decay=1
    trained 5 steps: 2.5 passes, and the decay started mid-epoch."""
    root = _mixed(workdir / "data")
    config = resolve([*FOLDER_NO_STEPS, f"data.path={root}", "epochs=1", "epochs_decay=1"])
    source = DomainData(config).training()
    batches = source.batches(2, torch.device("cpu"), seed=config.seed)
    for _ in range(config.trainer.steps):
        next(batches)
    # two whole epochs taken: the position rests at the end of the second (epoch 1, batch 2)
    assert (source.position.epoch, source.position.index) == (1, 2)
    assert config.trainer.steps == 4


def test_epochs_count_the_batches_of_the_embedded_digits() -> None:
    tiny = [a for a in TINY if not a.startswith("trainer.steps=")]
    config = resolve([*tiny, "trainer.batch_size=5", "epochs=1", "epochs_decay=1"])
    per_epoch = DomainData(config).training().check_batch_size(5, 1)  # the loader's count
    assert per_epoch == 4984 // 5 and config.trainer.steps == 2 * per_epoch  # not 2 * 996.8


# -- 3. real_samples are prepared as the images metrics score and samples show -----------------


def test_real_samples_are_prepared_as_eval_images(workdir: Path) -> None:
    """real_samples (what the rotnet features learn from) centre-cropped a load_size resize,
    while eval_images (what translation_fd scores) and the sample inputs are whole images
    resized to the crop size: the same file gave two different images."""
    root = workdir / "data"
    _png(root / "trainA" / "a.png", _noise(0, 20, 24))
    _png(root / "trainB" / "b.png", _noise(1, 30, 22))  # the only B image
    run = make_run(resolve([*TINY_FOLDER, f"data.path={root}"]))
    real = run.system.real_samples(1)
    _, b = run.system.eval_images(1)  # type: ignore[attr-defined]
    assert real.shape == b.shape == (1, 3, 16, 16)
    torch.testing.assert_close(real, b)
    run.system.keep_sample_inputs()  # type: ignore[attr-defined]
    _, kept = run.system.preview(1, 0)  # type: ignore[attr-defined]
    assert (kept - real).abs().max() <= 1 / 127.5  # the kept uint8 copy of the same image
