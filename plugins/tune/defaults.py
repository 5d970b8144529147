"""Built-in search spaces: hyperparameters for any domain, tuned bases for the built-in ones.

Architecture spaces (`space=arch`) are not here: each domain declares its own
`Domain.arch_space`, because only the domain knows what its builders accept.
"""

from __future__ import annotations

from typing import Any

from ganhub_tune.space import Space, parse_space

# Any domain: both learning rates, Adam's beta1, the adversarial loss.
HPARAMS: dict[str, Any] = {
    "params": {
        "optim.G.lr": {"type": "float", "low": 5e-5, "high": 5e-3, "log": True},
        "optim.D.lr": {"type": "float", "low": 5e-5, "high": 5e-3, "log": True},
        "optim.G.betas": {
            "type": "categorical",
            "choices": [[0.5, 0.999], [0.0, 0.99], [0.9, 0.999]],
        },
        "loss": {"type": "categorical", "choices": ["nonsaturating", "hinge", "lsgan"]},
    }
}

# Per built-in domain: what a study runs on (objective, data, trial length) and extra params.
DOMAINS: dict[str, dict[str, Any]] = {
    "toy2d": {
        # the grid of 25 is the hard case: the default config captures only some of its modes
        "objective": "modes",
        "base": {"data.dataset": "grid", "trainer.steps": 2000, "trainer.eval_every": 250},
        "params": {
            "trainer.batch_size": {"type": "categorical", "choices": [128, 256, 512]},
            "model.g_hidden": {"type": "categorical", "choices": [64, 128, 256]},
            "model.d_hidden": {"type": "categorical", "choices": [64, 128, 256]},
            # PacGAN against dropped modes; a decaying LR sharpens the modes at the end
            "tricks": {
                "type": "categorical",
                "choices": [[], ["lr_schedule"], ["pacgan"], ["lr_schedule", "pacgan"]],
            },
            "trick.lr_schedule.start": {
                "type": "float",
                "low": 0.0,
                "high": 0.8,
                "when": {"tricks": [["lr_schedule"], ["lr_schedule", "pacgan"]]},
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

# Direction of well-known metrics (anything else needs direction=...).
MAXIMIZE = {"modes", "hq_percent", "digit_classes", "digit_confidence", "stacked_modes",
            "precision", "recall", "density", "coverage", "ssim_real", "steps_per_s", "psnr", "ssim"}  # fmt: skip
MINIMIZE = {"reverse_kl", "fid", "fd_digits", "fd_rotnet", "kid", "digit_kl", "stacked_kl",
            "ms_ssim", "step_time", "cycle_l1"}  # fmt: skip


def default_space(plugin: str, kind: str, arch: dict[str, Any]) -> Space:
    """The built-in space of a domain: `hparams` (optimiser and loss) or `arch` (its G/D shape)."""
    domain = DOMAINS.get(plugin, {})
    base = {k: v for k, v in domain.items() if k != "params"}
    if kind == "arch":
        return parse_space({**base, "params": arch}, f"{plugin} arch_space")
    params = {**HPARAMS["params"], **domain.get("params", {})}
    return parse_space({**base, "params": params}, f"built-in {plugin} space")


def direction_of(metric: str) -> str | None:
    """maximize / minimize for a well-known metric name, else None."""
    name = metric.removeprefix("eval/")
    if name in MAXIMIZE or name.endswith("_modes"):
        return "maximize"
    if name in MINIMIZE or name.startswith(("fid_", "fd_", "kid_")):
        return "minimize"
    return None
