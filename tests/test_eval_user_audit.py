"""Evaluation as a user meets it: refusals before work, honest notes, eval.json kept across
scorings, feature-network training on imperfect folders, and the data check's size notes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import ganhub.metrics
from ganhub.errors import ConfigError
from ganhub.metrics import Evaluation, features, store

from .conftest import TINY_DCGAN, TINY_TOY

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ganhub cache, no Inception weights on disk, fid-helper's copy "installed"
    (pool features, no class logits): what the user had."""
    monkeypatch.setenv(store.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    helper = tmp_path / "default_1.pt"
    helper.write_bytes(b"not loaded by the checks")
    monkeypatch.setattr(features, "fidhelper_file", lambda: helper)
    return tmp_path / "cache"


NO_LOGITS = "metric 'inception_score' needs class logits; eval.features=['inception'] has none"


def test_inception_score_without_logits_is_refused_before_training(
    cli: Any, workdir: Path, cache: Path
) -> None:
    """It trained to the first evaluation and failed there (the steps lost)."""
    code, _, err = cli("run", *TINY_DCGAN, "trainer.eval_every=1", "eval.n_samples=20",
                       "eval.metrics=[inception_score]", "eval.features=[inception]",
                       "name=is")  # fmt: skip
    assert code == 2 and NO_LOGITS in err and "eval.inception_weights=PATH" in err, err
    assert not list(workdir.glob("runs/is/checkpoints/step_*"))


def test_inception_score_without_logits_is_refused_before_any_metric_is_scored(
    cli: Any, workdir: Path, cache: Path
) -> None:
    """fid and kid were scored first, then the run failed, writing no eval.json."""
    code, _, err = cli("run", *TINY_DCGAN, "name=d")
    assert code == 0, err
    code, _, err = cli("eval", "runs/d", "eval.metrics=[fid,kid,inception_score]", "--n", "20",
                       "eval.n_real=20", "eval.features=[inception]")  # fmt: skip
    assert code == 2 and NO_LOGITS in err, err
    assert "fid" not in err.split(NO_LOGITS)[0]  # no metric's progress before the refusal
    assert not (workdir / "runs/d/eval.json").exists()


def test_which_feature_networks_give_class_logits(cache: Path, tmp_path: Path) -> None:
    from ganhub.config.resolve import resolve
    from ganhub.metrics.builtin import gives_logits

    cfg = resolve(["plugin=dcgan"]).eval
    assert not gives_logits("inception", cfg)  # fid-helper's copy only
    assert gives_logits("inception", cfg.model_copy(update={"allow_download": True}))
    assert gives_logits("digits", cfg) and gives_logits("shapes", cfg)
    assert not gives_logits("rotnet", cfg)
    (tmp_path / "rot.json").write_text(json.dumps({"kind": "rotation"}))
    (tmp_path / "cls.json").write_text(json.dumps({"kind": "classifier"}))
    assert not gives_logits(str(tmp_path / "rot.json"), cfg)
    assert gives_logits(str(tmp_path / "cls.json"), cfg)


def _folder(root: Path, n: int, side: int = 8) -> Path:
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        pixels = rng.integers(0, 255, (side, side, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"{i:03d}.png")
    (root / "bad.png").write_bytes(b"\x89PNG not really")
    return root


def test_features_train_takes_the_data_skip_bad_it_suggests(
    cli: Any, workdir: Path, cache: Path
) -> None:
    _folder(workdir / "imgs", 80)
    args = ["features", "train", "data=folder", "data.path=imgs", "name=myf", "size=8",
            "channels=3", "epochs=1", "width=4", "out=nets"]  # fmt: skip
    code, _, err = cli(*args)
    assert code == 2 and "bad.png" in err and "data.skip_bad=true" in err
    code, out, err = cli(*args, "data.skip_bad=true")
    assert code == 0 and "trained feature network 'myf'" in out, err
    assert "ganhub: warning: skipped (data.skip_bad=true)" in err and "bad.png" in err
    spec = json.loads((workdir / "nets/myf.json").read_text())
    assert spec["dataset"]["n"] == 80
    code, _, err = cli(*args, "data.skip_bad=maybe")
    assert code == 2 and "data.skip_bad=maybe: must be true or false" in err


def _fake_evaluate(values: dict[str, dict[str, float]]) -> Any:
    """`evaluate` giving fixed scores per metric (the seed added where a key ends in `+`)."""

    def evaluate(system: Any, metrics: Any, *, n_samples: int, seed: int) -> Evaluation:
        out = Evaluation(values={"n_samples": float(n_samples)})
        for metric in metrics:
            for key, value in values[metric.name].items():
                out.values[key.rstrip("+")] = value + (seed if key.endswith("+") else 0)
        return out

    return evaluate


def test_same_scores_for_every_seed_do_not_claim_the_same_samples(
    cli: Any, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A collapsed generator's precision 1 / recall 0 on every seed was explained as the
    metrics having scored the same samples whatever the seed."""
    code, _, err = cli("run", *TINY_DCGAN, "name=d")
    assert code == 0, err
    saturated = {"precision_digits": 1.0, "recall_digits": 0.0, "n_real": 50.0}
    monkeypatch.setattr(ganhub.metrics, "evaluate", _fake_evaluate({"precision_recall": saturated}))
    code, out, err = cli("eval", "runs/d", "--seeds", "2", "--n", "10",
                         "eval.metrics=[precision_recall]")  # fmt: skip
    assert code == 0, err
    note = next(line for line in out.splitlines() if "every score is the same" in line)
    assert "scored the same samples whatever the seed" not in note
    assert "may score the same samples" in note and "precision 1 or recall 0" in note


def test_kid_std_is_left_out_when_every_subset_is_the_whole_set(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """It was reported as 3e-16, a "std over 100 subsets" of identical subsets."""
    pytest.importorskip("torch_fidelity")
    from ganhub.metrics.builtin import KID

    class Net(features.Extractor):
        name = label = "net"

        def run(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"features": images}

    gen = torch.Generator().manual_seed(0)
    fake, real = torch.randn(20, 8, generator=gen), torch.randn(30, 8, generator=gen) + 1
    same = KID().score(Net(), {"features": fake}, {"features": real[:20]}, seed=0)
    assert set(same) == {"kd_net"}
    assert "kd_net_std left out: 20 generated and 20 real samples" in capsys.readouterr().err
    more = KID().score(Net(), {"features": fake}, {"features": real}, seed=0)
    assert set(more) == {"kd_net", "kd_net_std"} and more["kd_net_std"] > 1e-6


def test_data_check_notes_upscaled_images_and_sizes_left_out(cli: Any, workdir: Path) -> None:
    root = workdir / "imgs"
    root.mkdir()
    rng = np.random.default_rng(0)
    for side in (4, 20, 32, 40, 48, 50, 60, 64):
        pixels = rng.integers(0, 255, (side, side, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"s{side}.png")
    code, out, err = cli("data", "check", "imgs", "plugin=dcgan")
    assert code == 0, err  # a note: the report stays clean
    assert '"and 3 more": 3}' in out
    rows = [line for line in out.splitlines() if "upscaled" in line]
    assert (
        len(rows) == 1 and "s4.png" in rows[0] and "upscaled 8x on load" in rows[0]
    )  # 20 px: 1.6x
    code, out, _ = cli("data", "check", "imgs", "plugin=dcgan", "--json")
    summary = json.loads(out)["summary"]
    assert sum(summary["sizes"].values()) == 8 and len(summary["sizes"]) == 6


def test_eval_keeps_the_earlier_scores_of_other_metrics(
    cli: Any, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scoring [fid] then [ssim_diversity] left only SSIM in eval.json and the report."""
    from ganhub.metrics.rundata import final_metrics

    code, _, err = cli("run", *TINY_DCGAN, "name=d")
    assert code == 0, err
    scores = {
        "fid": {"fd_digits+": 100.0, "n_real": 50.0},
        "ssim_diversity": {"ssim+": 0.5, "ms_ssim": 0.4, "ssim_real": 0.2, "ms_ssim_real": 0.1},
    }
    monkeypatch.setattr(ganhub.metrics, "evaluate", _fake_evaluate(scores))
    run = ["eval", "runs/d", "--seeds", "2", "--n", "10"]
    assert cli(*run, "eval.metrics=[fid]")[0] == 0
    code, out, err = cli(*run, "eval.metrics=[ssim_diversity]")
    assert code == 0, err
    assert "note: kept from the earlier eval.json of step 2" in out and "fid (fd_digits)" in out
    saved = json.loads((workdir / "runs/d/eval.json").read_text())
    assert saved["metrics"] == ["ssim_diversity", "fid"]
    assert saved["results"]["fd_digits"]["values"] == [100.0, 101.0]
    assert saved["results"]["n_real"]["mean"] == 50.0 and "ssim" in saved["results"]
    _, rows = final_metrics(workdir / "runs/d", [])
    assert {"fd_digits", "ssim"} <= {key for key, _ in rows}
    # fid again: its own scores replaced, ssim kept
    scores["fid"]["fd_digits+"] = 7.0
    assert cli(*run, "eval.metrics=[fid]")[0] == 0
    saved = json.loads((workdir / "runs/d/eval.json").read_text())
    assert saved["results"]["fd_digits"]["values"] == [7.0, 8.0] and "ssim" in saved["results"]
    # other samples per seed: nothing earlier is kept, and a note says so
    code, out, _ = cli("eval", "runs/d", "--seeds", "2", "--n", "12", "eval.metrics=[fid]")
    assert code == 0 and "earlier scores of ssim_diversity (step 2) were replaced" in out
    saved = json.loads((workdir / "runs/d/eval.json").read_text())
    assert "ssim" not in saved["results"] and saved["metrics"] == ["fid"]


def test_a_named_metric_that_cannot_score_the_run_is_refused_before_training(
    workdir: Path,
) -> None:
    """`eval.metrics=[mode_coverage_2d,digit_modes]` on toy2d trained to the end and then
    left digit_modes out with a warning: the run is refused before its directory exists,
    naming the metric and what it applies to (one sentence of its supports() docstring)."""
    with pytest.raises(ConfigError) as e:
        ganhub.train([*TINY_TOY, "eval.metrics=[mode_coverage_2d,digit_modes]", "name=m"])
    message = str(e.value)
    assert message.startswith("eval.metrics: digit_modes cannot score this run (")
    assert "they apply to: digit_modes: Image systems that declare MNIST digits" in message
    assert "\n" not in message and not (workdir / "runs" / "m").exists()
