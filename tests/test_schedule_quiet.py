"""A learning-rate schedule that does nothing in a short run is warned of only where the user
configured it: a domain's own schedule (toy2d decays over the last 30 % of its 15,000 steps)
says nothing when a smoke run only shortens trainer.steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ganhub.config.resolve import resolve

HELD = "ganhub: warning: trick.lr_schedule.start={} holds the full rate through step"


def test_a_domains_own_schedule_is_quiet_in_a_short_run(cli: Any) -> None:
    """toy2d enables lr_schedule (start=0.7) by itself: a 2-step run warned of it every time."""
    code, out, err = cli("config", "plugin=toy2d", "trainer.steps=2")
    assert code == 0 and "lr_schedule" in out, err
    assert err == ""


@pytest.mark.parametrize(
    ("keys", "start"),
    [
        (["trick.lr_schedule.start=0.95", "trainer.steps=10"], "0.95"),  # a key of its own
        (["tricks=[lr_schedule]", "trainer.steps=2"], "0.7"),  # named: toy2d's options apply
    ],
)
def test_a_schedule_the_user_configured_is_still_warned_of(
    cli: Any, keys: list[str], start: str
) -> None:
    code, _, err = cli("config", "plugin=toy2d", *keys)
    assert code == 0 and err.count("\n") == 1, err
    assert err.startswith(HELD.format(start)), err


def test_a_key_from_the_users_file_is_the_users(cli: Any, tmp_path: Path) -> None:
    given = tmp_path / "run.yaml"
    given.write_text("trick:\n  lr_schedule:\n    start: 0.95\n")
    code, _, err = cli("config", "--config", str(given), "plugin=toy2d", "trainer.steps=10")
    assert code == 0 and err.startswith(HELD.format("0.95")), err


def test_options_validated_without_the_users_keys_count_as_the_users() -> None:
    """A config rebuilt from a dict cannot tell the domain's keys from the user's: it warns."""
    from ganhub.plugins import get_hub

    config = resolve(["plugin=toy2d", "trainer.steps=2"])
    rebuilt = type(config).model_validate(config.model_dump())
    schedule = get_hub().tricks.get("lr_schedule")(rebuilt.trick.lr_schedule, rebuilt)
    (line,) = schedule.warnings()
    assert f"ganhub: warning: {line}".startswith(HELD.format("0.7")), line
