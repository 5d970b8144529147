"""The phase plan both tasks share: MLE (or reconstruction), then D alone, then the adversarial G.

A run's phase boundaries are fixed once it has passed them. The config keeps them on resume
(`adversarial.pretrain_steps` and `adversarial.d_pretrain_steps` are `KEPT_ON_RESUME`), and
every checkpoint records them (`phase_plan`), so a resume that types another value for a
boundary the run has passed is refused in one line (`refuse_moved_phases`): a run resumed
with more steps had gone back to MLE after its adversarial steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch.nn.functional as F
from ganhub_textgan.vocab import PAD
from torch import Tensor

from ganhub.anneal import Anchor, anneal_progress
from ganhub.errors import ConfigError

if TYPE_CHECKING:
    from ganhub_textgan.config import TextGANConfig


def mle_loss(logits: Tensor, x: Tensor) -> Tensor:
    """Token cross-entropy of G's logits (B, L, V) against x (B, L), ignoring padding."""
    return F.cross_entropy(logits.flatten(0, 1).float(), x.flatten(), ignore_index=PAD)


def beta_at(
    step: int,
    start: int,
    end: int,
    beta_max: float,
    anneal: str,
    anchor: Anchor | None = None,
) -> float:
    """RelGAN's inverse temperature at `step` of the adversarial stretch [start, end).

    `anchor` = (step, progress reached): from that step on, the anneal continues from that
    progress to the end (a run resumed with more steps does not jump back to a hotter beta).
    """
    p = anneal_progress(step, start, end, anchor)
    if anneal == "exp":
        return beta_max**p
    if anneal == "linear":
        return 1 + (beta_max - 1) * p
    return beta_max


def phase_plan(config: TextGANConfig) -> dict[str, int]:
    """The phase boundaries a checkpoint records: the pretraining and D-alone stretches."""
    adv = config.adversarial
    return {"pretrain_steps": adv.pretrain_steps, "d_pretrain_steps": adv.d_pretrain_steps}


def refuse_moved_phases(saved: Any, config: TextGANConfig, step: int) -> None:
    """A resume at `step` whose config moves a boundary of `saved` (a checkpoint's
    `phase_plan`; absent in older checkpoints) that the run has passed: refused in one line
    naming the key, the saved value and the step. A boundary still ahead may move."""
    if saved is None:
        return
    if not isinstance(saved, dict):
        raise ValueError(f"phase plan {saved!r}")  # a damaged checkpoint: the engine names it
    old = {key: saved.get(key, 0) for key in ("pretrain_steps", "d_pretrain_steps")}
    if not all(type(v) is int and v >= 0 for v in old.values()):
        raise ValueError(f"phase plan {saved!r}")
    new = phase_plan(config)
    first = "MLE phase" if config.task == "generate" else "reconstruction phase"
    # (key, the step its stretch ended at, the step it would end at now, the stretch)
    checks = [("pretrain_steps", old["pretrain_steps"], new["pretrain_steps"], first)]
    if config.task == "generate":
        end_before = old["pretrain_steps"] + old["d_pretrain_steps"]
        end_now = new["pretrain_steps"] + new["d_pretrain_steps"]
        checks.append(("d_pretrain_steps", end_before, end_now, "D pretraining"))
    for name, before, now, stretch in checks:
        if before < step and now != before:  # the phases after it have run
            key = f"adversarial.{name}"
            raise ConfigError(
                f"{key}={new[name]}: this run is at step {step} and its {stretch} ended at "
                f"step {before} (saved {key}={old[name]}); a resume cannot move a phase "
                f"boundary the run has passed: leave {key} out (or give {old[name]})"
            )
