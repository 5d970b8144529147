"""Interpretation scores on factors that some images leave undefined (NaN: the rotation of a
round blob, `ganhub.data.shapes.estimate_factors`): those images are left out, not read as an
angle, and a factor undefined for most generated samples is not probed."""

from __future__ import annotations

import math

import torch
from ganhub_interpret.directions import boundaries
from ganhub_interpret.probes import probe_scores
from ganhub_interpret.scoring import spread

from ganhub.data.shapes import FACTOR_INFO


def test_spread_leaves_undefined_values_out() -> None:
    values = torch.tensor([0.1, 0.2, math.nan, 0.3, math.nan])
    assert spread(values, "circular") == spread(values[~values.isnan()], "circular")
    assert spread(torch.full((6,), math.nan), "circular") == 0.0


def test_boundaries_fit_on_the_samples_that_define_the_angle() -> None:
    gen = torch.Generator().manual_seed(0)
    codes = torch.randn(200, 4, generator=gen)
    angle = torch.atan2(codes[:, 1], codes[:, 0]) % (2 * math.pi)
    angle[::3] = math.nan  # a third are blobs
    info = {"rotation": FACTOR_INFO["rotation"]}
    found = dict(boundaries(codes, {"rotation": angle}, info))
    ok = ~angle.isnan()
    alone = dict(boundaries(codes[ok], {"rotation": angle[ok]}, info))
    assert set(found) == set(alone) == {"rotation·cos", "rotation·sin"}
    assert all(torch.allclose(found[k], alone[k]) for k in alone)
    assert found["rotation·cos"][0] > 0.9 and found["rotation·sin"][1] > 0.9


def test_probes_skip_a_mostly_undefined_factor_and_fit_the_rest() -> None:
    gen = torch.Generator().manual_seed(1)
    codes = torch.randn(400, 6, generator=gen)
    info = {"rotation": FACTOR_INFO["rotation"], "x": FACTOR_INFO["x"]}
    blobs = {"rotation": torch.full((400,), math.nan), "x": codes[:, 2]}
    table = probe_scores({"code": codes}, blobs, info, shuffles=4)
    assert "undefined for 400 of the 400" in table.skipped["rotation"]
    assert math.isnan(table.scores["code"]["rotation"]) and table.scores["code"]["x"] > 0.9
    angle = torch.atan2(codes[:, 1], codes[:, 0]) % (2 * math.pi)
    angle[::4] = math.nan  # a quarter are blobs: probed on the others
    table = probe_scores({"code": codes}, {"rotation": angle}, info, shuffles=4)
    assert not table.skipped and 0 < table.scores["code"]["rotation"] <= 1
