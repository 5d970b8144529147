"""medgan after a review of its metrics and data notes: `med_diversity.mmd` was a linear-kernel
MMD (the distance between mean images) that ranked a generator outputting the mean image best;
it is now the unbiased Gaussian-kernel MMD^2 with a median-heuristic bandwidth. And
`data.fit=crop_pad` showed anisotropic voxels as square pixels without the note that
`data.fit=resize` gives when it changes the aspect ratio.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

pytest.importorskip("monai")
nib = pytest.importorskip("nibabel")

from ganhub_medgan.mmd import rbf_mmd  # noqa: E402
from ganhub_medgan.splits import build_split  # noqa: E402

from ganhub.config.resolve import resolve  # noqa: E402
from ganhub.plugins import get_hub  # noqa: E402

# -- med_diversity.mmd ------------------------------------------------------------------------


def _double_loop_mmd(x: list[list[float]], y: list[list[float]]) -> float:
    """Gretton et al. (2012), Lemma 6, term by term, with the median pooled distance (pairs of
    distinct points) as the Gaussian kernel's bandwidth."""
    pooled = x + y
    dist = [math.dist(a, b) for i, a in enumerate(pooled) for b in pooled[i + 1 :]]
    positive = sorted(d for d in dist if d > 0)
    sigma = positive[(len(positive) - 1) // 2]  # the lower median, as torch's

    def k(a: list[float], b: list[float]) -> float:
        return math.exp(-(math.dist(a, b) ** 2) / (2 * sigma**2))

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(a, b) for a in x for b in y) / (m * n)
    return xx + yy - 2 * xy


def test_mmd_is_the_unbiased_gaussian_kernel_estimate() -> None:
    """x = {0, 1}, y = {0, 2}: pooled distances 1, 2, 1, 1, 2 (the 0 of the two zeros left
    out), median 1; MMD^2 = e^-0.5 + e^-2 - (1 + e^-2 + 2 e^-0.5) / 2 (negative: unbiased)."""
    value, sigma = rbf_mmd(torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0], [2.0]]))
    by_hand = math.exp(-0.5) + math.exp(-2) - (1 + math.exp(-2) + 2 * math.exp(-0.5)) / 2
    assert sigma == 1.0
    assert value == pytest.approx(by_hand, abs=1e-12) and value < 0
    # images of other sizes and sample counts: the same as the double loop
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(5, 1, 3, 3, generator=gen)
    y = torch.randn(4, 1, 3, 3, generator=gen) * 1.5 + 0.3
    expected = _double_loop_mmd(x.flatten(1).tolist(), y.flatten(1).tolist())
    assert rbf_mmd(x, y)[0] == pytest.approx(expected, rel=1e-9, abs=1e-12)


class _Sampler:
    """What `med_diversity` uses of a generate system: held-out images, and samples."""

    def __init__(self, real: torch.Tensor, fake: torch.Tensor) -> None:
        self.real, self.fake = real, fake

    def eval_batch(self, n: int) -> Any:
        return SimpleNamespace(images=self.real[:n])

    def sample(self, n: int, *, seed: int) -> torch.Tensor:
        return self.fake[:n]


def test_a_collapsed_generator_scores_worse_than_one_sampling_the_real_images() -> None:
    """A generator that outputs the mean real image every time scored mmd ~0 or below (the
    linear kernel sees the mean only), better than one drawing phantoms from the real
    distribution. Now it scores clearly higher ("lower is better" holds), and two samples of
    one distribution score ~0."""
    config = resolve(["plugin=medgan", "task=generate", "preset=tiny", "model.image_size=32"])
    real = build_split(config, "train").images  # 80 phantoms
    held_out, drawn = real[:40], real[40:80]  # two samples of the phantom distribution
    collapsed = held_out.mean(0, keepdim=True).expand_as(drawn).clone()
    metric = get_hub().metrics.get("med_diversity")
    assert metric.direction("mmd") == "lower"
    good = metric.compute(_Sampler(held_out, drawn), n_samples=40, seed=0)
    bad = metric.compute(_Sampler(held_out, collapsed), n_samples=40, seed=0)
    assert good["n_samples"] == bad["n_samples"] == 40
    assert abs(good["mmd"]) < 0.02, good
    assert bad["mmd"] > 0.1 and bad["mmd"] > 5 * abs(good["mmd"]), (good, bad)
    assert bad["ms_ssim"] == pytest.approx(1.0)  # the other sign of the collapse, as before
    # identical sets, and identical images everywhere: ~0 and 0
    assert abs(rbf_mmd(held_out, held_out.clone())[0]) < 0.05
    assert rbf_mmd(collapsed, collapsed) == (0.0, 0.0)


def test_mmd_runs_batched_on_volumes() -> None:
    """3D generate scores 32^3 volumes: one pass of matrix products, float64 distances."""
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(16, 1, 32, 32, 32, generator=gen) * 2 - 1
    y = torch.rand(16, 1, 32, 32, 32, generator=gen) * 2 - 1
    value, sigma = rbf_mmd(x, y)
    assert abs(value) < 0.05 and sigma > 0
    with pytest.raises(ValueError, match="two samples"):
        rbf_mmd(x[:1], y)


# -- data.fit=crop_pad and anisotropic voxels --------------------------------------------------


def _folder(root: Path, shape: tuple[int, ...], zooms: list[float]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(2):
        data = np.random.default_rng(i).uniform(0, 9, shape).astype(np.float32)
        nib.save(nib.Nifti1Image(data, np.diag([*zooms, 1.0])), str(root / f"c{i}.nii.gz"))
    return root


def _note(root: Path, *args: str) -> list[str]:
    config = resolve(["plugin=medgan", "task=generate", "preset=tiny", "model.image_size=16",
                      f"data.path={root}", *args])  # fmt: skip
    report = get_hub().require_domain("medgan").inspect_data(config)
    return [f.problem for f in report.findings if f.item == "c0.nii.gz" and f.severity == "note"]


def test_crop_pad_says_when_anisotropic_voxels_change_the_aspect_ratio(tmp_path: Path) -> None:
    """crop_pad keeps each voxel one pixel (cube), so 2x2x3 mm voxels are shown 1.5x flatter
    in z than they are; its note said only "cropped/padded to 16x16x16". It now says what
    changes and which data.pixdim keeps the proportions, as resize's note does."""
    volumes = _folder(tmp_path / "vol", (20, 18, 12), [2.0, 2.0, 3.0])
    (note,) = _note(volumes, "spatial_dims=3", "data.fit=crop_pad")
    assert note == ("20x18x12 cropped/padded to 16x16x16 (its 2x2x3 mm voxels shown as cubes, "
                    "the aspect ratio changed: x stretched 1.5x, y stretched 1.5x; "
                    "data.pixdim=[2, 2, 2] (isotropic voxels) keeps the proportions)")  # fmt: skip
    # in 2D the slices' in-plane voxels count (these volumes' are square: no note)
    (note,) = _note(volumes, "spatial_dims=2", "data.fit=crop_pad")
    assert "aspect" not in note and "cropped/padded to 16x16" in note
    slices = _folder(tmp_path / "2d", (20, 18), [0.5, 0.7, 1.0])
    (note,) = _note(slices, "data.fit=crop_pad")
    assert "x stretched 1.4x" in note and "data.pixdim=[0.5, 0.5]" in note
    # resampled to isotropic voxels as the note says: no note
    (note,) = _note(slices, "data.fit=crop_pad", "data.pixdim=[0.5,0.5]")
    assert "resampled" in note and "aspect" not in note
    # a grid already at model.image_size is neither resized nor cropped, but its voxels are
    # still shown square, whichever data.fit
    exact = _folder(tmp_path / "exact", (16, 16), [0.5, 0.7, 1.0])
    for fit in ("resize", "crop_pad"):
        (note,) = _note(exact, f"data.fit={fit}")
        assert note.startswith("0.5x0.7 mm voxels shown as square pixels") and "1.4x" in note
    assert "with data.fit=crop_pad keeps" in _note(exact, "data.fit=resize")[0]
    # isotropic voxels: no such words
    iso = _folder(tmp_path / "iso", (20, 18), [1.0, 1.0, 1.0])
    assert not any("aspect" in n for n in _note(iso, "data.fit=crop_pad"))


def test_the_crop_pad_note_is_in_the_json_report(tmp_path: Path, cli: Any) -> None:
    """What `ganhub data check DIR plugin=medgan data.fit=crop_pad --json` prints (a note:
    exit 0, the folder is clean otherwise)."""
    root = _folder(tmp_path / "vol", (20, 18, 12), [2.0, 2.0, 3.0])
    args = ("task=generate", "spatial_dims=3", "model.image_size=16", "data.fit=crop_pad")
    code, out, err = cli("data", "check", str(root), "plugin=medgan", *args, "--json")
    assert code == 0, out + err
    notes = [f["problem"] for f in json.loads(out)["findings"] if f["item"] == "c0.nii.gz"]
    assert any("2x2x3 mm voxels shown as cubes" in n for n in notes), notes
