"""The real-sample counts recorded with scores: a feature metric's over its extractors, and an
earlier eval.json's scores kept or replaced each on its own metric's counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from ganhub.config.resolve import resolve
from ganhub.engine.run import prepare_system
from ganhub.metrics import Metric, features
from ganhub.metrics.earlier import keep_earlier
from ganhub.metrics.featurenet import FeatureNet, FeatureNetSpec, save_feature_net
from ganhub.plugins import get_hub
from ganhub.wiring import components

from .conftest import TINY_DCGAN

SCORES = {"fid": "fd_digits", "precision_recall": "precision_digits", "kid": "kd_digits"}


def _evaluation(run: Path, real: dict[str, float], **scores: float) -> dict[str, Any]:
    """An eval.json of step 2, one seed of 20 samples, `real`: each metric's n_real."""
    entry = lambda v: {"mean": v, "std": None, "values": [v]}  # noqa: E731
    return {
        "run_dir": str(run), "step": 2, "seeds": [0], "n_samples": 20,
        "metrics": list(real), "features": ["digits"], "notes": [], "warnings": [],
        "better": {SCORES[m]: "lower" for m in real},
        "counts": {m: {"n_samples": 20.0, "n_real": n} for m, n in real.items()},
        "results": {
            **{SCORES[m]: entry(scores[m]) for m in real},
            "n_samples": entry(20.0), "n_real": entry(min(real.values())),
        },
    }  # fmt: skip


def _kept(tmp_path: Path, earlier: dict[str, float], now: float) -> tuple[list[str], Any]:
    """eval.json scored fid and precision_recall on `earlier` real samples each; kid on
    `now` is written over it: the notes, and what is written."""
    hub = get_hub()
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(_evaluation(tmp_path, earlier, fid=3.0, precision_recall=0.5)))
    result = _evaluation(tmp_path, {"kid": now}, kid=0.1)
    scored: list[Metric] = [hub.metrics.get("kid")]
    notes = keep_earlier(path, result, scored, lambda n: hub.metrics.get(n))
    return notes, result


@pytest.mark.parametrize(("fid", "pr", "now"), [(500.0, 10_000.0, 10_000.0), (10_000, 500, 500)])
def test_earlier_scores_are_kept_or_replaced_on_their_own_metrics_counts(
    tmp_path: Path, fid: float, pr: float, now: float
) -> None:
    """Only the fewest real count of the earlier file (over all its metrics) was compared: a
    precision_recall on 10,000 real samples was replaced beside a kid on 10,000 because an
    fid of the same file read 500; and with the counts the other way round both were kept,
    fid on 10,000 shown beside kid on 500 as resting on the same real samples."""
    notes, result = _kept(tmp_path, {"fid": fid, "precision_recall": pr}, now)
    assert result["metrics"] == ["kid", "precision_recall"]
    assert set(result["results"]) == {"kd_digits", "precision_digits", "n_samples", "n_real"}
    assert result["results"]["n_real"]["values"] == [now]
    assert result["counts"]["precision_recall"] == {"n_samples": 20, "n_real": pr}
    assert "fid" not in result["counts"] and "fd_digits" not in result["better"]
    assert notes[0].startswith(
        f"eval.json's earlier scores of fid (step 2) were replaced (n_real {fid:,.0f} then, "
        f"{now:,.0f} now)"
    )
    assert notes[1].startswith("kept from the earlier eval.json of step 2")
    assert "precision_recall (precision_digits)" in notes[1] and len(notes) == 2


def test_a_feature_metric_records_the_fewest_real_samples_of_its_extractors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fid on two feature networks recorded the last one's n_real, whatever the first's
    score rested on. No network of ganhub's compares with fewer real samples than another
    today; one that does (a plugin's) is stood in for by cutting network a's real set."""
    paths = []
    for name in ("a", "b"):  # two tiny untrained networks: features, not good ones
        torch.manual_seed(0)
        spec = FeatureNetSpec(name, "classifier", 1, 8, 2, width=4, feat_dim=4)
        paths.append(save_feature_net(FeatureNet(spec), spec, tmp_path))
    config = resolve([*TINY_DCGAN, f"eval.features=[{paths[0]},{paths[1]}]", "eval.n_real=16"])
    system = prepare_system(config, components(config), torch.device("cpu"))[0]
    real_features = features.real_features

    def fewer_for_a(system: Any, extractor: Any, n_real: int) -> dict[str, torch.Tensor]:
        real = real_features(system, extractor, n_real)
        return {**real, "features": real["features"][:6]} if extractor.name == "a" else real

    monkeypatch.setattr(features, "real_features", fewer_for_a)
    values = get_hub().metrics.get("fid").compute(system, n_samples=8, seed=0)
    assert {"fd_a", "fd_b"} <= set(values) and values["n_samples"] == 8
    assert values["n_real"] == 6
