"""Tricks, a fourth audit: warnings about defaults the user never set, refusals that say why,
and `ganhub config` showing the warnings `ganhub run` gives at its start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError, PluginError
from ganhub.plugins import get_hub
from ganhub.tricks import Trick, config_warnings, trick_warnings
from ganhub.wiring import make_run

from .conftest import TINY_TOY

pytestmark = pytest.mark.usefixtures("one_thread")


def _warnings(*keys: str) -> list[str]:
    """What a run of TINY_TOY (4 steps) plus `keys` warns of as it starts."""
    run = make_run(resolve([*TINY_TOY, *keys]))
    try:
        return [w for w in run.preflight() if w.startswith("ganhub: warning: ")]
    finally:
        run.close()


def test_balance_default_interval_is_not_warned_of_in_a_short_run(workdir: Path) -> None:
    """tricks=[balance] on any run under 50 steps warned of check_every=50, a value the user
    never set: noise on every test run and quick try. A value the user sets is still warned
    of, the default's value included."""
    assert _warnings("tricks=[balance]") == []
    for value in (50, 40):
        said = _warnings("tricks=[balance]", f"trick.balance.check_every={value}")
        assert len(said) == 1 and f"trick.balance.check_every={value}" in said[0]


def _run_dir(workdir: Path) -> Path:
    (found,) = [p for p in (workdir / "runs").iterdir() if (p / "checkpoints").is_dir()]
    return found


@pytest.mark.parametrize(
    ("given", "warned"), [([], False), (["trick.balance.check_every=40"], True)]
)
def test_a_resumed_run_warns_of_the_interval_the_user_set_only(
    cli: Any, workdir: Path, given: list[str], warned: bool
) -> None:
    """A saved config lists every value: a resume of a run left at the default interval does
    not warn of it; one of a run that set it does."""
    code, _, err = cli("run", *TINY_TOY, "tricks=[balance]", *given)
    assert code == 0, err
    code, _, err = cli("run", f"resume={_run_dir(workdir)}", "trainer.steps=6")
    assert code == 0, err
    assert ("trick.balance.check_every=" in err) is warned, err


@pytest.mark.parametrize(
    ("keys", "key", "accepted"),
    [
        (["tricks=[balance]", "trick.balance.max_repeat=1"], "trick.balance.max_repeat=1",
         "trick.balance.max_repeat=2"),
        (["tricks=[balance]", "trick.balance.max_repeat=0"], "trick.balance.max_repeat=0", None),
        (["tricks=[n_critic]", "trick.n_critic.n=0"], "trick.n_critic.n=0",
         "trick.n_critic.n=2"),
        (["tricks=[pacgan]", "trick.pacgan.pack=1"], "trick.pacgan.pack=1",
         "trick.pacgan.pack=2"),
        (["tricks=[instance_noise]", "trick.instance_noise.std=0"],
         "trick.instance_noise.std=0", "trick.instance_noise.std=0.01"),
        (["tricks=[lr_schedule]", "trick.lr_schedule.start=1"], "trick.lr_schedule.start=1",
         "trick.lr_schedule.start=0.99"),
        (["tricks=[freeze_d]", "trick.freeze_d.layers=0", "init_from=somewhere"],
         "trick.freeze_d.layers=0", None),
        (["plugin=dcgan", "preset=tiny", "tricks=[rotation_head]",
          "trick.rotation_head.share=5"], "trick.rotation_head.share=5",
         "trick.rotation_head.share=4"),
    ],
)  # fmt: skip
def test_a_bound_refusal_says_why_and_what_is_valid(
    keys: list[str], key: str, accepted: str | None
) -> None:
    """max_repeat=1 (and the other values at a bound where the trick would do nothing) was
    refused with pydantic's "Input should be greater than or equal to 2": what, not why. One
    line naming the key, the reason and the valid values; the bound itself still resolves."""
    base = TINY_TOY if not keys[0].startswith("plugin=") else []
    with pytest.raises(ConfigError) as refused:
        resolve([*base, *keys])
    message = str(refused.value)
    assert message.startswith(key + ":") and "\n" not in message
    assert "Input should" not in message and "give " in message
    if accepted is not None:
        config = resolve([*base, *keys[:-1], accepted])
        name, option, value = accepted.removeprefix("trick.").replace("=", ".").split(".", 2)
        assert getattr(getattr(config.trick, name), option) == float(value)


def test_config_prints_the_warnings_run_gives_on_stderr(cli: Any, workdir: Path) -> None:
    """`ganhub config` of a config `ganhub run` would warn about printed the YAML alone: the
    user checking a config before a long run saw nothing. The same lines now go to stderr,
    stdout stays the YAML (it is piped into files), and nothing is written."""
    keys = ["tricks=[lr_schedule]", "trick.lr_schedule.warmup_steps=100", "loss=wasserstein"]
    code, out, err = cli("config", *TINY_TOY, *keys)
    assert code == 0, err
    assert yaml.safe_load(out)["trick"]["lr_schedule"]["warmup_steps"] == 100
    assert "warning" not in out
    assert not (workdir / "runs").exists()
    shown = [line for line in err.splitlines() if line.startswith("ganhub: warning: ")]
    assert shown == _warnings(*keys) and len(shown) == 2
    code, out, err = cli("config", *TINY_TOY, "tricks=[balance]")
    assert code == 0 and "warning" not in err


def test_config_with_its_warnings_loads_no_torch(workdir: Path) -> None:
    """The warnings come from the tricks made with their options, no model built: the
    command stays as fast as it was."""
    args = ["config", *TINY_TOY, "tricks=[lr_schedule]", "trick.lr_schedule.warmup_steps=100"]
    probe = subprocess.run(
        [sys.executable, "-c", "import sys\nfrom ganhub.cli import main\ntry:\n"
         f"    main({args!r})\nexcept SystemExit:\n    pass\n"
         "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')"],
        cwd=workdir, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert probe.stdout.strip().endswith("NO-TORCH"), probe.stdout + probe.stderr
    assert "warmup_steps=100" in probe.stderr


class _SetUpOnly(Trick):
    """A plugin's trick whose warnings() reads what its setup() made."""

    name = "set_up_only"

    def warnings(self) -> list[str]:  # type: ignore[override]
        return [f"{self.system}"]  # type: ignore[attr-defined]


def test_a_tricks_warnings_that_raise_are_one_line_naming_it() -> None:
    """A plugin's warnings() that reads what setup() made (not there for `ganhub config`,
    which sets no trick up) raised its AttributeError with a traceback: one line naming the
    trick and its method, at a run's start and in `ganhub config` alike."""
    cfg = resolve(TINY_TOY)
    loss = get_hub().losses.get(cfg.loss)
    with pytest.raises(PluginError, match=r"^trick 'set_up_only': its warnings\(\) raised Attr"):
        trick_warnings(loss, [_SetUpOnly(Trick.Config(), cfg)])
    with pytest.raises(PluginError, match=r"^trick 'set_up_only': its warnings\(\) raised Attr"):
        config_warnings(
            cfg.model_copy(update={"trick": _Options()}), loss, {"set_up_only": _SetUpOnly}
        )


class _Options(Trick.Config):
    set_up_only: Trick.Config = Trick.Config()
