"""`Domain.warnings(config)`: a domain's config-time warnings, from one place.

textgan warned before a run's start banner about a key of the adversarial estimator the run
does not train (`preset=relgan adversarial.rollouts=16`), from its system's
`before_training`; `ganhub config` with the same keys, which prints what a run would use,
said nothing. The hook gives both the same lines: the run before its banner, `ganhub config`
on stderr (the YAML alone on stdout), and a hook that raises or returns no list is one line
naming the domain."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from ganhub_textgan.checks import other_estimator_keys
from ganhub_toy2d.domain import Toy2dDomain

import ganhub
from ganhub.config.given import chosen_by_user
from ganhub.config.resolve import resolve
from ganhub.hookspecs import hookimpl
from ganhub.plugins import Hub

RELGAN = ["plugin=textgan", "preset=relgan", "adversarial.rollouts=16"]
# what the domain below says: a line built from the config, so each caller shows its own
SAID = "toy2d_said: warning: trainer.steps={} is short for a ring of 8 modes"


class SaysSteps(Toy2dDomain):
    """toy2d that warns when the user chose trainer.steps (not when its preset did)."""

    name = "toy2d_said"
    answer: Any = None  # what warnings() returns instead of its line, when set

    def warnings(self, config: Any) -> list[str]:
        if self.answer is not None:
            return self.answer  # type: ignore[no-any-return]
        if not chosen_by_user(config, "trainer.steps", self.presets.get(config.preset, {})):
            return []
        return [SAID.format(config.trainer.steps)]


class Raises(Toy2dDomain):
    name = "toy2d_raises"

    def warnings(self, config: Any) -> list[str]:
        raise KeyError("steps")


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Hub:
    """The installed plugins and the two domains above, as the CLI's hub."""

    def register(register: Any) -> None:
        register("toy2d_said", SaysSteps())
        register("toy2d_raises", Raises())

    plugin = SimpleNamespace(register_domains=hookimpl(register))
    found = Hub.discover(extra=(("said", plugin),))
    monkeypatch.setattr("ganhub.plugins.get_hub", lambda: found)
    return found


def test_config_prints_textgans_warning_on_stderr(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("config", *RELGAN)
    assert code == 0, err
    config = resolve(RELGAN)
    assert err.splitlines() == other_estimator_keys(config)  # type: ignore[arg-type]
    assert err.startswith("textgan: warning: adversarial.rollouts=16 is read only by the rollout")
    assert yaml.safe_load(out)["adversarial"]["rollouts"] == 16
    # a preset's own value is no choice of the user's: nothing on stderr
    code, _, err = cli("config", "plugin=textgan", "preset=tiny")
    assert (code, err) == (0, "")


def test_a_domains_warnings_come_from_config_and_from_a_run_alike(
    hub: Hub,
    cli,
    workdir: Path,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    keys = ["plugin=toy2d_said", "preset=tiny", "loggers=[]", "eval.metrics=[]"]
    code, _, err = cli("config", *keys, "trainer.steps=3")
    assert (code, err.splitlines()) == (0, [SAID.format(3)]), err
    assert cli("config", *keys)[2] == ""  # preset=tiny's steps: not the user's
    ganhub.train([*keys, "trainer.steps=3"], hub=hub)
    out, err = capsys.readouterr()
    assert out.startswith("ganhub: training toy2d_said"), out  # the start banner, on stdout
    assert err.splitlines().count(SAID.format(3)) == 1, err  # once, on stderr, as a warning


@pytest.mark.parametrize(
    ("plugin", "answer", "reason"),
    [
        ("toy2d_raises", None, "its warnings() raised KeyError: 'steps'"),
        ("toy2d_said", "trainer.steps is short", "its warnings() returned str, not a list of str"),
        ("toy2d_said", [3], "its warnings() returned a list holding int, not a list of str"),
    ],
)
def test_a_broken_warnings_hook_is_one_line_naming_the_domain(
    hub: Hub,
    cli,
    plugin: str,
    answer: Any,
    reason: str,  # type: ignore[no-untyped-def]
) -> None:
    domain = hub.require_domain(plugin)
    domain.answer = answer  # type: ignore[attr-defined]
    code, out, err = cli("config", f"plugin={plugin}", "preset=tiny")
    assert code != 0 and out == "", out
    (line,) = err.strip().splitlines()
    assert f"domain '{plugin}': {reason}" in line, line
    assert "Traceback" not in err
