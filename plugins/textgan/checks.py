"""What a textgan run warns about as it starts: keys of the adversarial estimator it does not train.

task=generate trains G's adversarial phase with one of two gradient estimators
(`adversarial.estimator`): gumbel (RelGAN's Gumbel-softmax) reads the inverse temperature and
its schedule, rollout (SeqGAN's REINFORCE) the Monte-Carlo rollouts per prefix. A key of the
other estimator changes nothing; it is not refused, since a sweep may set one value for both
estimators, but the user who gave it hears so in one line (`TextGANDomain.warnings`: before
a run's start banner, and from `ganhub config`).
Only keys the user chose count (`ganhub.config.given.chosen_by_user`): not a default, a
preset's value (preset=tiny's rollouts) or what `defaults_for` derives. Imports no torch.
"""

from __future__ import annotations

from ganhub_textgan.config import TextGANConfig
from ganhub_textgan.domain import TextGANDomain

from ganhub.config.given import chosen_by_user

# each estimator as the literature names it, and how a run selects it
ESTIMATORS: dict[str, tuple[str, str]] = {
    "gumbel": ("RelGAN's Gumbel-softmax", "adversarial.estimator=gumbel (the default)"),
    "rollout": ("SeqGAN's REINFORCE", "adversarial.estimator=rollout or preset=seqgan"),
}
# the estimator that reads each key, and what the key is to it
ESTIMATOR_KEYS: dict[str, tuple[str, str]] = {
    "adversarial.temperature_max": ("gumbel", "the final inverse temperature"),
    "adversarial.anneal": ("gumbel", "the temperature's schedule"),
    "adversarial.anneal_steps": ("gumbel", "the temperature's schedule"),
    "adversarial.rollouts": ("rollout", "the Monte-Carlo rollouts per prefix"),
}


def other_estimator_keys(config: TextGANConfig) -> list[str]:
    """One warning per key of `ESTIMATOR_KEYS` the user chose (away from its default and its
    preset's value) that the estimator of `config` does not read; none for task=transfer (it
    refuses them, `config.TASK_KEYS`)."""
    if config.task != "generate":
        return []
    preset = TextGANDomain.presets.get(config.preset or "", {})
    estimator = config.adversarial.estimator
    warnings = []
    for key, (reader, what) in ESTIMATOR_KEYS.items():
        if reader == estimator or not chosen_by_user(config, key, preset):
            continue
        value = getattr(config.adversarial, key.split(".")[1])
        shown = "null" if value is None else f"{value:g}" if isinstance(value, float) else value
        name, select = ESTIMATORS[reader]
        warnings.append(
            f"textgan: warning: {key}={shown} is read only by the {reader} estimator ({name}: "
            f"{what}), and this run trains with adversarial.estimator={estimator}, so it "
            f"changes nothing; select that estimator with {select}, or leave the key out"
        )
    return warnings


__all__ = ["ESTIMATORS", "ESTIMATOR_KEYS", "other_estimator_keys"]
