"""`ganhub interpret`: the hue of colour shapes is compared around the colour wheel, and
`--method boundary` fits no boundary to a factor the data does not vary in (one it would fit
to the estimator's misreadings alone, named as if it were a direction of the data)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from ganhub_interpret.directions_page import _left_out, find_directions
from ganhub_interpret.probes import probe_scores
from ganhub_interpret.scoring import KnownFactors, difference, known_factors

import ganhub
from ganhub.data.shapes import FACTOR_INFO, render, sample_factors
from ganhub.errors import UsageError
from ganhub.latent import LatentSpace

from ..conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")


def _space(dim: int) -> LatentSpace:
    """Codes N(0, I) of `dim` dimensions, decoded to themselves."""

    def sample(n: int, seed: int) -> torch.Tensor:
        return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))

    return LatentSpace("z", dim, sample, decode=lambda c: c)


def test_two_reds_either_side_of_hue_zero_are_one_colour(tmp_path: Path) -> None:
    """Hue in [0, 1) was scored as a continuous factor: two red shapes of hue 0.98 and 0.02
    differed by 0.96, three times the spread of two random training shapes (0.33), and a
    probe could not read red at both ends of a line (R^2 0.19 where (cos, sin) read 0.94)."""
    ganhub.train([*TINY_DCGAN, "trainer.steps=1", "data=shapes", "data.colour=true",
                  "data.n=200", "name=colour", f"out_dir={tmp_path}"])  # fmt: skip
    known = known_factors(ganhub.load(tmp_path / "colour").system, n=200)
    assert known is not None and known.info["hue"].kind == "circular"
    factors = sample_factors(3, seed=0, colour=True)
    factors[1:, :5] = factors[0, :5]  # one shape in three colours
    factors[:, 5] = torch.tensor([0.98, 0.02, 0.5])  # red, red, cyan
    hue = known.estimate(render(factors, 32, colour=True))["hue"]
    kind, turn = known.info["hue"].kind, 2 * math.pi
    assert float(difference(hue[:1], hue[1:2], kind)[0]) == pytest.approx(0.04 * turn, abs=0.02)
    assert float(difference(hue[:1], hue[2:], kind)[0]) == pytest.approx(0.48 * turn, abs=0.02)
    # the real shapes' hues are spread evenly round the wheel: a mean distance near pi/2
    spread = float(difference(known.reference["hue"], known.reference["hue"].roll(1), kind).mean())
    assert spread == pytest.approx(math.pi / 2, rel=0.15)
    # a probe reads a hue that wraps (the codes hold its cosine and sine) as the angle it is
    gen = torch.Generator().manual_seed(0)
    angle = torch.rand(400, generator=gen) * 2 * math.pi
    codes = torch.stack([angle.cos(), angle.sin(), torch.randn(400, generator=gen)], 1)
    table = probe_scores({"code": codes}, {"hue": angle}, known.info)
    assert table.scores["code"]["hue"] > 0.99


def _one_shape_known() -> KnownFactors:
    """Factors of data with one shape (spread 0) and a varying x, whose estimator misreads the
    shape of about half the decoded codes (the sign of their first coordinate)."""

    def estimate(images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"shape": (images[:, 0] > 0).long(), "x": images[:, 1]}

    gen = torch.Generator().manual_seed(1)
    reference = {"shape": torch.zeros(500, dtype=torch.long),
                 "x": 0.5 + 0.2 * torch.rand(500, generator=gen)}  # fmt: skip
    info = {"shape": FACTOR_INFO["shape"], "x": FACTOR_INFO["x"]}
    return KnownFactors("shapes", estimate, info, reference)


def test_boundary_fits_no_boundary_to_a_factor_the_data_does_not_vary_in() -> None:
    """A squares-only run (shape spread 0.000) got directions named 'shape=square',
    'shape=ellipse' and 'shape=triangle', fitted to the shape classifier's misreadings."""
    space, known = _space(4), _one_shape_known()
    codes = space.sample(200, 0)
    _, names, _, _ = find_directions(space, "boundary", 8, codes, 200, 0, known)
    assert names == ["x"]
    (note,) = _left_out(known, "boundary")
    assert note.startswith("not scored nor given a boundary, as barely varying") and "shape" in note
    (note,) = _left_out(known, "sefa")  # the other methods fit no boundary
    assert note.startswith("not scored, as barely varying")


def test_boundary_on_data_whose_factors_do_not_vary_says_so() -> None:
    """A run on one digit class fitted boundaries to the classifier's misreadings when its
    samples had a few, and otherwise blamed a collapsed generator and asked for more
    --samples, which cannot help."""
    space, known = _space(4), _one_shape_known()
    flat = KnownFactors("digits", known.estimate, {"shape": known.info["shape"]},
                        {"shape": known.reference["shape"]})  # fmt: skip
    codes = space.sample(200, 0)
    with pytest.raises(UsageError) as err:
        find_directions(space, "boundary", 8, codes, 200, 0, flat)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("--method boundary: no known factor of this run's data (digits)")
    assert "shape spread 0.000, under the 0.067 that counts as varying" in message
    assert "collapsed" not in message and "--samples" not in message
    assert "use --method sefa or ganspace" in message


def test_the_features_page_writes_percentages_without_exponents() -> None:
    """The |delta| / |change| column read "1.2e+02 %" where integrated gradients had not
    converged (and "1e-05 %" where they had)."""
    from ganhub_interpret.features_page import _percent

    shown = [_percent(v) for v in (123.4, 99.5, 5.123, 0.05, 0.00001, 0.0)]
    assert shown == ["123 %", "100 %", "5.1 %", "0.05 %", "< 0.01 %", "0 %"]
