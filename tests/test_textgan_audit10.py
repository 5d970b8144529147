"""textgan: a key of the adversarial estimator a run does not train is said at its start.

`preset=relgan adversarial.rollouts=16` trained exactly as `preset=relgan` without a word
(rollouts are read by SeqGAN's REINFORCE only), as did the Gumbel temperature's keys with
`preset=seqgan`. A refusal would break sweeps that set one value for both estimators, so the
run warns, naming the key the user gave; never a default's or a preset's value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ganhub.config.overrides import dump_yaml
from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError
from ganhub.plugins import get_hub

pytestmark = pytest.mark.usefixtures("one_thread")

BASE = ["plugin=textgan", "trainer.steps=4", "eval.metrics=[]", "loggers=[]"]


def _warnings(keys: list[str], files: tuple[Path, ...] = ()) -> list[str]:
    """What the textgan domain warns about as a run of these keys starts (the engine shows
    `Domain.warnings`'s lines before the start banner, `ganhub config` on stderr)."""
    hub = get_hub()
    config = resolve([*BASE, *keys], files, hub=hub)
    return hub.require_domain("textgan").warnings(config)


def test_a_key_of_the_other_estimator_the_user_gave_is_said_once() -> None:
    said = _warnings(["preset=relgan", "adversarial.rollouts=16"])
    assert said == [
        "textgan: warning: adversarial.rollouts=16 is read only by the rollout estimator "
        "(SeqGAN's REINFORCE: the Monte-Carlo rollouts per prefix), and this run trains with "
        "adversarial.estimator=gumbel, so it changes nothing; select that estimator with "
        "adversarial.estimator=rollout or preset=seqgan, or leave the key out"
    ]
    said = _warnings(["preset=seqgan", "adversarial.temperature_max=1000",
                      "adversarial.anneal=linear", "adversarial.rollouts=8"])  # fmt: skip
    assert [line.split(" is read")[0] for line in said] == [
        "textgan: warning: adversarial.temperature_max=1000",
        "textgan: warning: adversarial.anneal=linear",
    ]  # rollouts=8 is the rollout estimator's own
    assert "adversarial.estimator=gumbel (the default)" in said[0]


def test_a_key_written_in_a_file_is_the_users_too(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("adversarial:\n  estimator: rollout\n  anneal_steps: 300\n")
    said = _warnings([], (path,))
    assert len(said) == 1 and "adversarial.anneal_steps=300 is read only by the gumbel" in said[0]


def test_defaults_and_presets_values_are_not_the_users(tmp_path: Path) -> None:
    # the defaults hold every key of both estimators; preset=tiny gives rollouts=2 to gumbel
    assert _warnings([]) == []
    assert _warnings(["preset=seqgan"]) == []
    assert _warnings(["preset=tiny"]) == []
    # a config written out by `ganhub config` gives every key again, at the values it had
    dumped = resolve([*BASE, "preset=relgan"], hub=get_hub()).model_dump(mode="json")
    path = tmp_path / "run.yaml"
    path.write_text(dump_yaml(dumped, sort_keys=False))
    assert _warnings([], (path,)) == []


def test_task_transfer_keeps_refusing_them() -> None:
    """task=transfer reads neither estimator's keys: `TASK_KEYS` refuses them, as before."""
    with pytest.raises(
        ConfigError, match=re.escape("adversarial.rollouts=16 is for task=generate")
    ):
        resolve([*BASE, "preset=transfer", "adversarial.rollouts=16"], hub=get_hub())
