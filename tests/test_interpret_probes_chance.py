"""`ganhub interpret probes` gave no chance level: a 50-step generator's "rotation" (the phase
the estimator reads from a round blob) scored R^2 0.30-0.38, and a reader could not tell that
from what a probe fits on noise. Each score now stands beside a permutation baseline (the same
probe on shuffles of the factor's values), and a score not clearly above it is marked "*"."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn")
from ganhub_interpret.probes import probe_scores
from ganhub_interpret.scoring import CHANCE_SDS
from sklearn.linear_model import LogisticRegression, RidgeCV

from ganhub.data.shapes import FactorInfo

INFO = {
    "kind": FactorInfo("kind", "categorical", ("a", "b", "c")),
    "size": FactorInfo("size", "continuous"),
    "angle": FactorInfo("angle", "circular"),
}


def _data(n: int = 400, seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    # 90 % of one class: a probe of noise is "90 % accurate"
    kind = (torch.rand(n, generator=gen) < 0.1).long() * torch.randint(1, 3, (n,), generator=gen)
    size = torch.rand(n, generator=gen)
    angle = torch.rand(n, generator=gen) * 2 * math.pi
    noise = torch.randn(n, 40, generator=gen)
    planted = torch.cat(
        [torch.nn.functional.one_hot(kind, 3).float(), 3 * size[:, None] - 1,
         torch.stack([angle.cos(), angle.sin()], 1), 0.3 * noise[:, :10]], 1,
    )  # fmt: skip
    return {"planted": planted, "noise": noise}, {"kind": kind, "size": size, "angle": angle}


def test_scores_stand_beside_a_permutation_baseline_and_noise_is_marked() -> None:
    features, values = _data()
    table = probe_scores(features, values, INFO, seed=0)
    text = table.text()
    row = next(line for line in text.splitlines() if line.startswith("noise"))
    # noise "predicts" a class 90 % of codes hold 89 % of the time: marked, not a finding
    assert f"{table.scores['noise']['kind']:.3f}*" in row.split()
    assert "permutation baseline" in text and "20 shuffles" in text
    assert table.shuffles == 20
    for f in INFO:  # a planted factor is far above its baseline
        mean, sd = table.baseline["planted"][f]
        assert table.scores["planted"][f] > mean + CHANCE_SDS * sd and table.clear("planted", f)
    # noise: R^2 of the shuffles about 0 (held out: at most a little below), accuracy about
    # the majority share; the probe's own score on noise is not clearly above them
    for f in ("size", "angle"):
        mean, sd = table.baseline["noise"][f]
        assert -0.2 < mean < 0.02 and 0 < sd < 0.1
    assert abs(table.baseline["noise"]["kind"][0] - table.chance["kind"]) < 0.05
    assert table.scores["noise"]["kind"] > 0.8  # "accurate" on noise: the baseline says why
    assert not table.clear("noise", "kind")
    m, s = table.baseline["noise"]["kind"]
    assert f"{m:.3f}±{s:.3f}" in text and "* not clearly above its baseline" in text
    saved = table.as_dict()
    noise_row = next(r for r in saved["layers"] if r["name"] == "noise")
    assert noise_row["baseline"]["kind"] == {"mean": m, "sd": s, "clear": False}
    assert saved["shuffles"] == 20


def test_the_baseline_is_deterministic_for_a_seed_and_can_be_turned_off() -> None:
    features, values = _data(200)
    one = probe_scores(features, values, INFO, seed=3)
    assert one.baseline == probe_scores(features, values, INFO, seed=3).baseline
    assert one.baseline != probe_scores(features, values, INFO, seed=4).baseline
    none = probe_scores(features, values, INFO, seed=3, shuffles=0)
    for layer, scores in none.scores.items():  # the shuffles leave the probe's own score
        assert scores == pytest.approx(one.scores[layer], abs=1e-9)
    assert not any(none.baseline.values()) and "permutation" not in none.text()
    with pytest.raises(ValueError, match="0 or at least 2 shuffles"):
        probe_scores(features, values, INFO, shuffles=1)


def test_the_probes_are_scikit_learns_models() -> None:
    """The batched torch fits give RidgeCV's and LogisticRegression's held-out scores."""
    features, values = _data(300, seed=1)
    x = features["planted"].double()
    table = probe_scores({"x": features["planted"]}, values, INFO, seed=0, shuffles=0)
    order = torch.randperm(300, generator=torch.Generator().manual_seed(0))
    tr, te = order[:225].numpy(), order[225:].numpy()
    xs = ((x - x[tr].mean(0)) / x[tr].std(0)).numpy()
    kind = values["kind"].numpy()
    model = LogisticRegression(max_iter=2000).fit(xs[tr], kind[tr])
    assert table.scores["x"]["kind"] == pytest.approx(model.score(xs[te], kind[te]), abs=0.014)
    for f in ("size", "angle"):
        v = values[f].double().numpy()
        y = np.stack([np.cos(v), np.sin(v)], 1) if f == "angle" else v[:, None]
        ridge = RidgeCV(alphas=np.logspace(-3, 3, 7)).fit(xs[tr], y[tr])
        error = ((ridge.predict(xs[te]).reshape(y[te].shape) - y[te]) ** 2).sum()
        r2 = 1 - error / ((y[te] - y[tr].mean(0)) ** 2).sum()
        assert table.scores["x"][f] == pytest.approx(r2, abs=1e-9)
