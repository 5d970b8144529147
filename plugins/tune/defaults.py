"""Built-in search spaces: hyperparameters for any domain, tuned bases for the built-in ones.

Architecture spaces (`space=arch`) are not here: each domain declares its own
`Domain.arch_space`, because only the domain knows what its builders accept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ganhub_tune.space import Space, parse_space

from ganhub.metrics import direction_of as metric_direction

if TYPE_CHECKING:
    from ganhub.metrics import Metric

# Any domain: both learning rates, Adam's betas (one choice for G and D), the adversarial loss.
HPARAMS: dict[str, Any] = {
    "params": {
        "optim.G.lr": {"type": "float", "low": 5e-5, "high": 5e-3, "log": True},
        "optim.D.lr": {"type": "float", "low": 5e-5, "high": 5e-3, "log": True},
        "optim.G.betas": {
            "type": "categorical",
            "choices": [[0.5, 0.999], [0.0, 0.99], [0.9, 0.999]],
            "also": ["optim.D.betas"],
        },
        "loss": {"type": "categorical", "choices": ["nonsaturating", "hinge", "lsgan"]},
    }
}

# Per built-in domain: what a study runs on (objective, data, trial length) and extra params.
DOMAINS: dict[str, dict[str, Any]] = {
    "toy2d": {
        # the grid of 25 is the hard case; balanced_hq scores coverage and sharpness together
        # (high-quality samples, each mode counted up to its fair share), so a trial cannot win
        # on modes alone with blurred samples, nor on sharpness alone with dropped modes
        "objective": "balanced_hq",
        "base": {"data.dataset": "grid", "trainer.steps": 2000, "trainer.eval_every": 250},
        "params": {
            "trainer.batch_size": {"type": "categorical", "choices": [128, 256, 512]},
            "model.g_hidden": {"type": "categorical", "choices": [64, 128, 256]},
            "model.d_hidden": {"type": "categorical", "choices": [64, 128, 256]},
            # R1 and a fast EMA sharpen the modes, PacGAN guards against dropped ones, a
            # decaying LR tightens them at the end
            "tricks": {
                "type": "categorical",
                "choices": [
                    [],
                    ["r1", "ema"],
                    ["r1", "ema", "lr_schedule"],
                    ["pacgan"],
                    ["r1", "ema", "pacgan"],
                    ["lr_schedule", "pacgan"],
                ],
            },
            "trick.r1.gamma": {
                "type": "float",
                "low": 0.001,
                "high": 1.0,
                "log": True,
                "when": {
                    "tricks": [["r1", "ema"], ["r1", "ema", "lr_schedule"], ["r1", "ema", "pacgan"]]
                },
            },
            "trick.lr_schedule.start": {
                "type": "float",
                "low": 0.0,
                "high": 0.8,
                "when": {"tricks": [["r1", "ema", "lr_schedule"], ["lr_schedule", "pacgan"]]},
            },
        },
    },
    "dcgan": {
        "objective": "fd_digits",
        "base": {"trainer.steps": 300, "trainer.eval_every": 100, "eval.n_samples": 500},
        "params": {},
    },
}

# Keys every trial gets unless the user sets them: quiet, light runs that evaluate as they go.
TRIAL_BASE: dict[str, Any] = {
    "trainer.progress": False,
    "trainer.sample_every": 0,
    "trainer.checkpoint_every": 0,
    "loggers": ["jsonl"],
}

# Objectives the loop measures in every run, besides the values its metrics report.
TIMING_DIRECTIONS = {"step_time": "minimize", "steps_per_s": "maximize"}


def default_space(plugin: str, kind: str, arch: dict[str, Any]) -> Space:
    """The built-in space of a domain: `hparams` (optimiser and loss) or `arch` (its G/D shape)."""
    domain = DOMAINS.get(plugin, {})
    base = {k: v for k, v in domain.items() if k != "params"}
    if kind == "arch":
        return parse_space({**base, "params": arch}, f"{plugin} arch_space")
    params = {**HPARAMS["params"], **domain.get("params", {})}
    return parse_space({**base, "params": params}, f"built-in {plugin} space")


def direction_of(objective: str, metrics: Sequence[Metric]) -> str | None:
    """maximize / minimize for a timing objective or a value the metrics declare a score
    (`Metric.better`), else None."""
    name = objective.removeprefix("eval/")
    if name in TIMING_DIRECTIONS:
        return TIMING_DIRECTIONS[name]
    way = metric_direction(name, metrics)
    return None if way is None else ("maximize" if way == "higher" else "minimize")


def known_objectives(metrics: Sequence[Metric]) -> list[str]:
    """Every objective name with a known direction (for did-you-mean hints)."""
    declared = {key for m in metrics for key, way in m.better.items() if way and "*" not in key}
    return sorted(declared | set(TIMING_DIRECTIONS))
