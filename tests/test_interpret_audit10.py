"""interpret, audit 10: boundaries are scored on codes they were not fitted on; the boundary
labels and the scoring walks are decoded in batches, with the one-pass results; probes skip a
factor that barely varies among the generated samples (a 50-step dcgan's "scale R^2 1.000")."""

from __future__ import annotations

import pytest
import torch
from ganhub_interpret import probes
from ganhub_interpret.directions_page import find_directions, held_out_codes, scoring_codes
from ganhub_interpret.scoring import KnownFactors, direction_sigma, score_directions
from torch import Tensor, nn

from ganhub.data.shapes import FactorInfo
from ganhub.latent import LatentSpace

pytestmark = pytest.mark.usefixtures("one_thread")

INFO = {"bright": FactorInfo("bright", "continuous")}


def _space(seen: list[int]) -> LatentSpace:
    """A tiny real generator whose decode notes how many codes it got at once."""
    torch.manual_seed(0)
    G = nn.Sequential(nn.ConvTranspose2d(4, 6, 4), nn.ReLU(), nn.Conv2d(6, 1, 3, padding=1),
                      nn.Tanh()).eval()  # fmt: skip

    @torch.no_grad()
    def decode(codes: Tensor) -> Tensor:
        seen.append(len(codes))
        out: Tensor = G(codes.view(len(codes), 4, 1, 1))
        return out

    def sample(n: int, seed: int) -> Tensor:
        return torch.randn(n, 4, generator=torch.Generator().manual_seed(seed))

    return LatentSpace(name="z", dim=4, sample=sample, decode=decode,
                       feature_layers=[("1: ReLU", G[1])])  # fmt: skip


def _known(scale: float) -> KnownFactors:
    """A factor "bright" read as 0.5 + `scale` x the image's mean, real values spread evenly."""

    def estimate(images: Tensor) -> dict[str, Tensor]:
        return {"bright": 0.5 + scale * images.mean((1, 2, 3))}

    return KnownFactors("test", estimate, INFO, {"bright": torch.linspace(0.0, 1.0, 200)})


def test_probes_skip_a_factor_the_generated_samples_barely_vary() -> None:
    """A 50-step dcgan on shapes draws one blob: its "scale" wobbled by 0.5 %, and the last
    layer's probe predicted the wobble (its brightness) to R^2 0.997, printed as 1.000."""
    wobble = probes.probe_layers(_space([]), _known(0.001), 200, seed=0)
    why = wobble.skipped["bright"]
    assert why.startswith("barely varying among the 200 generated samples (spread 0.0")
    assert "under the 0.033 that counts as varying among real ones" in why
    assert all(torch.tensor(row["bright"]).isnan() for row in wobble.scores.values())
    # the same generator read with a factor that varies as much as the real one: probed
    varies = probes.probe_layers(_space([]), _known(10.0), 200, seed=0)
    assert varies.skipped == {} and varies.scores["1: ReLU"]["bright"] > 0.5


def test_boundary_labels_and_walks_decode_in_batches_with_the_one_pass_results() -> None:
    seen: list[int] = []
    space = _space(seen)
    known = _known(10.0)
    codes = space.sample(1200, 3)  # more than two batches of 512, not a multiple of it
    directions, names, _, _ = find_directions(space, "boundary", 8, codes, 1200, 3, known)
    assert names == ["bright"] and max(seen) <= 512 and sum(seen) == 1200
    # the one-pass labels give the same boundary
    one_pass = KnownFactors("test", known.estimate, INFO, known.reference)
    labels = known.estimate(space.decode(codes))["bright"]
    from ganhub_interpret.directions import boundaries

    ((_, normal),) = boundaries(codes, {"bright": labels}, INFO)
    assert torch.equal(normal, directions[0])
    seen.clear()
    table = score_directions(space, directions, codes, estimate=one_pass.estimate, info=INFO,
                             reference=known.reference, n_base=400, n_chance=2)  # fmt: skip
    assert max(seen) <= 512 and table.n_base == 400  # walks of 800 codes, in two batches
    sigma = direction_sigma(codes, directions[0])
    base = codes[:400]
    ends = [known.estimate(space.decode(base + s * sigma * directions[0]))["bright"]
            for s in (-2.0, 2.0)]  # fmt: skip
    spread = table.spreads["bright"]
    assert table.directions[0].effects["bright"] == float((ends[0] - ends[1]).abs().double()
                                                          .mean()) / spread  # fmt: skip


def test_boundaries_are_walked_and_scored_on_codes_they_were_not_fitted_on() -> None:
    """The page measured each boundary's σ and started its scoring walks on the very codes
    its SVM was fitted on: an optimistic score (a 600-step dcgan on shapes, 200 codes: each
    boundary's effect on its own factor 1.5-2.4 held out, 0.1-0.5 less than on its codes)."""
    space = _space([])
    codes = space.sample(300, 5)
    walked = scoring_codes(space, "boundary", codes, 5)
    assert walked.shape == codes.shape and torch.equal(walked, held_out_codes(space, 300, 5))
    assert not torch.isin(walked, codes).any()  # another draw, not a reshuffle
    for method in ("sefa", "ganspace"):  # fitted to no labels: walked from the sampled codes
        assert scoring_codes(space, method, codes, 5) is codes
