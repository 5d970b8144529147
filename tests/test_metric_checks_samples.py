"""Scores resting on too few samples: intra_fid scored its class covariances from 2 samples
each without a word (`ganhub eval RUN eval.metrics=[intra_fid] --n 5` on 10 classes raised the
count to 2 per class behind the user's back), and fid from fewer samples than feature
dimensions. Below 2 per class it is refused (as min_samples refuses for every metric);
between that and a full-rank covariance it scores with one warning line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import ganhub
import ganhub.metrics as metrics_module
from ganhub.errors import ConfigError
from ganhub.metrics import evaluate
from ganhub.plugins import get_hub

from .conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")

COND = [*TINY_DCGAN, "model.conditional=true", "eval.metrics=[]"]
PER_CLASS = "intra_fd_digits rests on 2 generated samples per class in 128 feature dimensions"


@pytest.fixture
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Warnings print once per process: each test starts with none printed."""
    monkeypatch.setattr(metrics_module, "_WARNED", set(), raising=False)


@pytest.fixture(scope="module")
def cond_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cond")
    summary = ganhub.train([*COND, f"out_dir={out}", "name=c"])
    return Path(summary["run_dir"])


def test_eval_refuses_fewer_than_two_samples_per_class_for_intra_fid(cli: Any, cond_run: Path) -> None:  # fmt: skip
    code, out, err = cli("eval", str(cond_run), "eval.metrics=[intra_fid,class_accuracy]",
                         "--n", "5")  # fmt: skip
    assert (code, out) == (2, "")
    assert err == (
        "ganhub: error: --n 5 is too few samples to score: intra_fid needs 20 (2 per class "
        "for its 10 classes)\n"
    )


def test_a_run_refuses_them_before_training(workdir: Path) -> None:
    with pytest.raises(ConfigError, match=r"^eval\.n_samples=19 is too few .* intra_fid needs 20"):
        ganhub.train([*COND, "eval.metrics=[intra_fid]", "eval.n_samples=19", "name=r"])
    assert not (workdir / "runs" / "r" / "checkpoints").exists()


def test_two_per_class_scores_with_one_warning_kept_in_eval_json(
    cli: Any, cond_run: Path, fresh_warnings: None
) -> None:
    code, _, err = cli("eval", str(cond_run), "eval.metrics=[intra_fid]", "--n", "20",
                         "--seeds", "2")  # fmt: skip
    assert code == 0, err
    warned = [line for line in err.splitlines() if line.startswith("ganhub: warning:")]
    assert len(warned) == 1 and PER_CLASS in warned[0]  # once, not once per seed
    assert "1,290 for 10 classes" in warned[0] and "rank 1 at most" in warned[0]
    saved = json.loads((cond_run / "eval.json").read_text())
    assert saved["warnings"] == warned and saved["n_samples"] == 20
    # enough per class for a full-rank covariance: no warning (digits: 128 dimensions)
    code, _, err = cli("eval", str(cond_run), "eval.metrics=[intra_fid]", "--n", "1290")
    assert code == 0 and "warning" not in err, err
    assert "warnings" not in json.loads((cond_run / "eval.json").read_text())


def test_fid_from_fewer_samples_than_dimensions_warns(cond_run: Path, fresh_warnings: None) -> None:
    system = ganhub.load(cond_run).system
    fid = get_hub().metrics.get("fid")
    result = evaluate(system, [fid], n_samples=50, seed=0)
    assert len(result.warnings) == 1
    assert "metric 'fid': fd_digits rests on 50 generated samples in 128 feature dimensions, a " \
           "singular covariance (rank 49 at most)" in result.warnings[0]  # fmt: skip
    assert evaluate(system, [fid], n_samples=129, seed=0).warnings == []


def test_intra_fid_with_no_class_of_two_real_images_is_refused_not_zero(cond_run: Path) -> None:
    """Two real images of two classes: every class was left out and the mean of nothing read
    0.0, a perfect score."""
    system = ganhub.load(cond_run, overrides=["eval.n_real=2"]).system
    with pytest.raises(ConfigError, match=r"^metric 'intra_fid': no class has 2 real images "
                                          r"among the 2 compared \(eval\.n_real=2\)"):  # fmt: skip
        get_hub().metrics.get("intra_fid").compute(system, n_samples=20, seed=0)


def test_a_class_with_one_real_image_is_left_out_with_a_warning(
    capsys: pytest.CaptureFixture[str], fresh_warnings: None
) -> None:
    from ganhub.metrics.conditional import _check_real_classes

    scored = _check_real_classes("intra_fid", torch.tensor([0, 1, 5]), 6, 6)
    err = capsys.readouterr().err
    assert scored == [2]  # a class absent from the compared images: left out, no warning
    assert err.count("\n") == 1 and "1 of 3 classes have 1 real image" in err
