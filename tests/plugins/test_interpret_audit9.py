"""interpret audit: a direction's score is compared with what random directions score, so an
estimator that reads noise from the images (the rotation of a round blob) does not make every
direction "move rotation, 0.95 exclusive"."""

from __future__ import annotations

from pathlib import Path

import torch
from ganhub_interpret.scoring import score_directions
from torch import Tensor

from ganhub.data.shapes import FactorInfo
from ganhub.latent import LatentSpace

INFO = {"x": FactorInfo("x", "continuous"), "noise": FactorInfo("noise", "continuous")}


def _space() -> LatentSpace:
    """Codes (N, 16) decoded to 1x4x4 'images' holding the codes themselves."""

    def sample(n: int, seed: int) -> Tensor:
        return torch.randn(n, 16, generator=torch.Generator().manual_seed(seed))

    return LatentSpace("z", 16, sample, lambda codes: codes.reshape(-1, 1, 4, 4).clone())


def _estimate(images: Tensor) -> dict[str, Tensor]:
    """x: the first code, read exactly; noise: a reading that jumps with any change of the
    image (as the k-fold phase of a blob with no corners), unrelated to any one direction."""
    flat = images.flatten(1).double()
    return {"x": flat[:, 0] + 2.0, "noise": torch.remainder(flat.abs().sum(1) * 997.0, 4.0)}


def _table(n_chance: int):  # type: ignore[no-untyped-def]
    space = _space()
    codes = space.sample(400, 0)
    reference = _estimate(space.decode(space.sample(400, 1)))
    e = torch.eye(16)
    return score_directions(
        space, torch.stack([e[0], e[2]]), codes, estimate=_estimate, info=INFO,
        reference=reference, names=["e0", "e2"], n_base=64, n_chance=n_chance, seed=3,
    )  # fmt: skip


def test_random_directions_give_each_factor_its_chance_level() -> None:
    table = _table(8)
    best = {f.factor: f for f in table.per_factor}
    # the noise factor is moved by every direction, the scored ones as much as random ones
    assert best["noise"].effect > 0.5 and table.chance["noise"] > 0.5
    assert [f.factor for f in table.at_chance()] == ["noise"]
    # x is moved by e0 far beyond what a random direction does to it
    assert best["x"].direction == 0 and best["x"].effect > table.chance["x"]
    assert table.n_chance == 8 and "chance" in table.format()
    assert _table(8).chance == table.chance  # seeded: the same random directions each time


def test_the_page_says_which_best_directions_are_chance() -> None:
    from ganhub_interpret.directions_page import _chance_notes, _table_rows

    table = _table(8)
    _, factors = _table_rows(table)
    above = {row["factor"]: (row["above"], row["chance"]) for row in factors}
    assert above["x"][0] == "yes" and above["noise"][0] == "no"
    assert above["noise"][1] == f"{table.chance['noise']:.2f}"
    (note,) = _chance_notes(table)
    assert note.startswith("noise: no direction moves it beyond what 8 random directions")
    # without random directions nothing is called chance
    assert _table(0).chance == {} and _chance_notes(_table(0)) == []


def test_grids_are_laid_out_in_one_reshape_as_image_by_image(tmp_path: Path) -> None:
    # the traversal grids and channel mosaics place every image where the per-image loops did
    import numpy as np
    from ganhub_interpret.features_page import _mosaic
    from ganhub_interpret.page import save_grid
    from PIL import Image

    images = torch.rand(5, 1, 3, 4, generator=torch.Generator().manual_seed(0)) * 2 - 1
    grid = np.asarray(Image.open(save_grid(images, tmp_path / "g.png", nrow=2, padding=2)))
    assert grid.shape == (3 * 5 + 2, 2 * 6 + 2, 3)
    for i, image in enumerate(images):
        top, left = 2 + (i // 2) * 5, 2 + (i % 2) * 6
        want = image[0].add(1).div(2).mul(255).round().byte().numpy()
        assert (grid[top : top + 3, left : left + 4, 0] == want).all()
    assert (grid[2 + 2 * 5 :, 2 + 6 :] == 0).all()  # the empty sixth cell stays black
    maps = torch.rand(2, 3, 2, 5, generator=torch.Generator().manual_seed(1))
    mosaic = _mosaic(maps)
    assert mosaic.shape == (2 * 3 - 1, 3 * 6 - 1)
    for i in range(2):
        for j in range(3):
            assert (mosaic[i * 3 : i * 3 + 2, j * 6 : j * 6 + 5] == maps[i, j].numpy()).all()
    assert np.isnan(mosaic[2]).all() and np.isnan(mosaic[:, 5]).all()  # the gaps
