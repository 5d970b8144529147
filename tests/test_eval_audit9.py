"""`ganhub eval` as a researcher comparing runs uses it: a diverged generator's NaN scores over
several seeds, an unreadable eval.json written over, and the rotation task's batched turns."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from ganhub.config.resolve import resolve
from ganhub.engine.run import prepare_system
from ganhub.metrics import features
from ganhub.metrics.earlier import seed_spread
from ganhub.metrics.featurenet import rotations
from ganhub.metrics.features import Extractor, real_features
from ganhub.wiring import components

from .conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")


def _diverge(run: Path) -> None:
    """Scale the generator's weights so far up that its activations overflow: inf - inf in the
    next layer, NaN pixels out (the checkpoint itself stays finite, as a diverged run's can)."""
    (path,) = run.glob("checkpoints/step_*/model.safetensors")
    state = load_file(path)
    big = {
        k: v * 1e30 if k.startswith("G") and k.endswith("weight") else v for k, v in state.items()
    }
    save_file(big, path)


def test_nan_scores_over_several_seeds_and_an_unreadable_eval_json(cli, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    """--seeds 2 on a generator with NaN samples stopped with statistics.stdev's traceback
    ('float' object has no attribute 'numerator'); a corrupt eval.json was written over
    without a word, its earlier scores lost unseen."""
    code, _, err = cli("run", *TINY_DCGAN, "name=nan")
    assert code == 0, err
    _diverge(workdir / "runs/nan")
    (workdir / "runs/nan/eval.json").write_text('{"step": 2, "results": {')  # cut off
    code, out, err = cli(
        "eval", "runs/nan", "--seeds", "2", "--n", "4", "eval.metrics=[ssim_diversity]"
    )
    assert code == 0, err
    assert "metric 'ssim_diversity': 4 of 4 generated samples are not finite" in err
    row = next(ln.split() for ln in out.splitlines() if ln.startswith("ssim "))
    assert row == ["ssim", "nan", "nan"]
    assert "every score is the same" not in out  # a NaN has no std of 0 to explain
    assert "runs/nan/eval.json: not valid JSON; written anew" in out
    result = json.loads((workdir / "runs/nan/eval.json").read_text())
    assert result["results"]["ssim"] == {"mean": None, "std": None, "values": [None, None]}
    real = result["results"]["ssim_real"]
    assert real["std"] == pytest.approx(statistics.stdev(real["values"]))  # ddof 1


def test_seed_spread_is_the_sample_std_and_nan_where_a_seed_is_not_finite() -> None:
    assert seed_spread([1.0, 2.0, 4.0]) == (7 / 3, pytest.approx(math.sqrt(7 / 3)))
    assert seed_spread([3.0]) == (3.0, None)  # one seed: no spread seen, not 0
    mean, std = seed_spread([math.inf, 1.0])
    assert mean == math.inf and std is not None and math.isnan(std)
    mean, std = seed_spread([1e308, 1e308, -1e308])  # finite, but their sum overflows
    assert mean == pytest.approx(1e308 / 3) and std == pytest.approx(1e308 * math.sqrt(4 / 3))


def test_rotations_turn_each_image_by_its_quarter_turns() -> None:
    """The rotation task's turns, batched per quarter turn: each image as rot90 turns it."""
    for shape in ((9, 2, 5, 5), (6, 1, 4, 4, 3)):  # images, and volumes in their first plane
        x = torch.randn(shape)
        out, k = rotations(x)
        assert k.tolist() == [i % 4 for i in range(len(x))]
        for img, turned, r in zip(x, out, k.tolist(), strict=True):
            assert torch.equal(turned, torch.rot90(img, r, dims=(1, 2)))


class _MeanColour(Extractor):
    """A cheap feature network: each image's mean per channel and row; counts the images seen."""

    name = label = ident = "mean-colour-audit9"
    seen = 0

    def run(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        self.seen += len(images)
        return {"features": images.mean(-1).flatten(1)}


def test_real_features_asked_past_the_data_are_computed_once(ganhub_cache: Path) -> None:
    """eval.n_real=10000 (the default) and 50000 on the 5,000 digits compare with the same
    5,000 images: their features were cached under each count asked for, so computed again."""
    config = resolve(["plugin=dcgan", "preset=tiny"])
    system = prepare_system(config, components(config), torch.device("cpu"))[0]
    ex = _MeanColour()
    first = real_features(system, ex, 10_000)
    features._MEMO.clear()  # a later `ganhub eval`: a new process, with the disk cache only
    again = real_features(system, ex, 50_000)
    assert len(first["features"]) == system.real_count() == ex.seen == 5000
    assert torch.equal(first["mu"], again["mu"])
