"""A metric's reported keys must be declared in its `better` table: an undeclared key was
accepted silently, and then had no direction for trainer.keep_best and tuning. Where the
results are collected (`evaluate`) one warning names the metric, its plugin, the key and the
declared ones (the scores are kept: a run of an older plugin still finishes); every built-in
metric keeps the rule."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

import ganhub
from ganhub.hookspecs import hookimpl
from ganhub.metrics import Directions, Metric, evaluate
from ganhub.plugins import Hub, get_hub

from .conftest import TINY_DCGAN, TINY_TOY

pytestmark = pytest.mark.usefixtures("one_thread")


class Loose(Metric):
    """Declares `spiral_gap`, reports it and `spiral_width` too (a forgotten declaration)."""

    name = "spiral_gap"
    better: ClassVar[Directions] = {"spiral_gap": "lower", "spiral_n*": None}

    def compute(self, system: Any, *, n_samples: int, seed: int) -> dict[str, float]:
        return {"spiral_gap": 0.5, "spiral_width": 2.0, "spiral_n_arms": 2.0, "n_samples": 4.0}


def _hub() -> Hub:
    hub = Hub.discover()
    plugin = SimpleNamespace(register_metrics=hookimpl(lambda register: register("spiral_gap",
                                                                                 Loose())))  # fmt: skip
    hub.add("spiral", plugin, dist="ganhub-spiral", version="0.1.0")
    return hub


def test_an_undeclared_key_is_named_in_one_warning(
    workdir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    summary = ganhub.train([*TINY_TOY, "eval.metrics=[spiral_gap]", "name=u"], hub=_hub())
    assert summary["metrics"]["spiral_width"] == 2.0  # kept
    warned = [line for line in capfd.readouterr().err.splitlines() if "spiral_width" in line]
    assert warned == [
        "ganhub: warning: metric 'spiral_gap' (plugin 'spiral') returned 'spiral_width', which "
        "its `better` does not declare (declared: spiral_gap, spiral_n*), so trainer.keep_best "
        "and tuning cannot use it; its plugin should declare each key (or pattern) there as "
        "'lower', 'higher' or None (not a score)"
    ]


def test_a_metric_declaring_nothing_is_named_too() -> None:
    class Bare(Metric):
        name = "bare"

        def compute(self, system: Any, *, n_samples: int, seed: int) -> dict[str, float]:
            return {"score": 1.0, "n_real": 3.0}  # the counts need no declaration

    system = SimpleNamespace(capabilities=lambda: None, training=False, eval=lambda: None,
                             train=lambda mode: None)  # fmt: skip
    result = evaluate(system, [Bare()], n_samples=4, seed=0)  # type: ignore[arg-type]
    assert len(result.warnings) == 1
    assert "metric 'bare' returned 'score', which" in result.warnings[0]
    assert "(declared: none)" in result.warnings[0]


def test_the_builtin_image_metrics_declare_every_key(workdir: Path) -> None:
    """Every built-in image metric on a conditional digits run (fairness, on attribute data,
    and the domains' metrics are evaluated by their own tests, through the same check)."""
    names = ["fid", "kid", "inception_score", "precision_recall", "density_coverage",
             "ssim_diversity", "digit_modes", "class_accuracy", "intra_fid"]  # fmt: skip
    summary = ganhub.train([*TINY_DCGAN, "model.conditional=true", "eval.metrics=[]", "name=b"])
    system = ganhub.load(summary["run_dir"]).system
    hub = get_hub()
    result = evaluate(system, [hub.metrics.get(n) for n in names], n_samples=40, seed=0)
    assert result.skipped == [] and all(math.isfinite(v) for v in result.values.values())
    assert not [line for line in result.warnings if "does not declare" in line]
    assert {"fd_digits", "kd_digits", "is_digits", "precision_digits", "density_digits",
            "ssim", "digit_kl", "class_acc", "intra_fd_digits"} <= set(result.values)  # fmt: skip
