"""`ganhub interpret probes` and GANSpace decode their codes in fixed-size batches (at 100,000
codes one pass held gigabytes of images and activations), with the one-pass results."""

from __future__ import annotations

import pytest
import torch
from ganhub_interpret import directions, probes
from ganhub_interpret.scoring import KnownFactors
from torch import Tensor, nn

from ganhub.data.shapes import FactorInfo
from ganhub.latent import LatentSpace

pytestmark = pytest.mark.usefixtures("one_thread")

N = 1200  # more than two batches of 512, and not a multiple of it
INFO = {"bright": FactorInfo("bright", "continuous")}


def _space(seen: list[int]) -> LatentSpace:
    """A tiny real generator whose decode and early features note how many codes they got
    at once (neither splits them itself)."""
    torch.manual_seed(0)
    G = nn.Sequential(nn.ConvTranspose2d(4, 6, 4), nn.ReLU(), nn.Conv2d(6, 1, 3, padding=1),
                      nn.Tanh()).eval()  # fmt: skip

    @torch.no_grad()
    def decode(codes: Tensor) -> Tensor:
        seen.append(len(codes))
        out: Tensor = G(codes.view(len(codes), 4, 1, 1))
        return out

    @torch.no_grad()
    def early(codes: Tensor) -> Tensor:
        seen.append(len(codes))
        out: Tensor = G[:2](codes.view(len(codes), 4, 1, 1)).flatten(1)
        return out

    def sample(n: int, seed: int) -> Tensor:
        return torch.randn(n, 4, generator=torch.Generator().manual_seed(seed))

    return LatentSpace(name="z", dim=4, sample=sample, decode=decode, early_features=early,
                       feature_layers=[("1: ReLU", G[1])])  # fmt: skip


def _bright(images: Tensor) -> dict[str, Tensor]:
    return {"bright": images.mean((1, 2, 3))}


def test_probes_decode_in_batches_with_the_one_pass_features_and_factors() -> None:
    seen: list[int] = []
    space = _space(seen)
    # a factor flat among the real samples is not probed: no probe is fitted, the test is fast
    flat = KnownFactors("test", _bright, INFO, {"bright": torch.zeros(50)})
    table = probes.probe_layers(space, flat, N, seed=3)
    assert max(seen) <= 512 and sum(seen) == N  # never all 1200 at once
    assert table.layers == ["code", "1: ReLU"] and "bright" in table.skipped
    codes = space.sample(N, 3)
    features, values = probes.batched_features(space, codes, flat)
    one_pass, images = probes.layer_features(space, codes)
    assert features.keys() == one_pass.keys()
    for key, joined in features.items():
        assert torch.allclose(joined, one_pass[key], rtol=1e-6, atol=1e-7)
    assert torch.allclose(values["bright"], _bright(images)["bright"], rtol=1e-6, atol=1e-7)


def test_ganspace_computes_early_features_in_batches_with_one_pass_directions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[int] = []
    found, ratios = directions.ganspace(_space(seen), 3, N, seed=1)
    assert max(seen) <= 512 and sum(seen) == N
    monkeypatch.setattr(directions, "BATCH", N)  # one pass
    one_pass, one_pass_ratios = directions.ganspace(_space([]), 3, N, seed=1)
    assert torch.allclose(found, one_pass, atol=1e-6) and torch.allclose(ratios, one_pass_ratios)


def test_probes_judge_a_varying_factor_from_as_many_real_samples_as_directions() -> None:
    from ganhub_interpret.directions_page import REFERENCE

    assert probes.FACTOR_REFERENCE == REFERENCE
