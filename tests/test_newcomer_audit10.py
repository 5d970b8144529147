"""What a newcomer types from the quick start: `ganhub help` forwards a plugin's keys; an
override typed with spaces around `=` and a plugin name in capitals get a line that says it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def test_help_run_with_a_plugin_shows_its_keys(cli: Any) -> None:
    """`ganhub help run plugin=toy2d` is `ganhub run plugin=toy2d --help`, not an error."""
    code, out, err = cli("help", "run", "plugin=toy2d")
    direct_code, direct_out, _ = cli("run", "plugin=toy2d", "--help")
    assert (code, err) == (0, "") and direct_code == 0
    assert out == direct_out and "toy2d keys:" in out


def test_help_run_with_a_mistyped_plugin_is_one_line(cli: Any) -> None:
    code, out, err = cli("help", "run", "plugin=toy2dd")
    assert code == 2 and not out
    assert err.splitlines() == [err.strip()] and "unknown domain 'toy2dd'" in err


def test_help_still_refuses_a_name_that_is_no_command(cli: Any) -> None:
    code, _, err = cli("help", "data", "plugin=toy2d")
    assert code == 2 and "'ganhub data' has no command 'plugin=toy2d'" in err


@pytest.mark.parametrize(
    "typed", [["trainer.steps", "=", "5"], ["trainer.steps", "=5"], ["trainer.steps=", "5"]]
)
def test_spaces_around_equals_name_the_override(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, typed: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("run", "plugin=toy2d", *typed)
    assert code == 2 and not out and not (tmp_path / "runs").exists()
    assert err == (
        f"ganhub: error: '{' '.join(typed)}': no spaces around '=' (the shell splits there); "
        "write trainer.steps=5\n"
    )


def test_a_plugin_in_capitals_gets_its_name(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("run", "plugin=DCGAN")
    assert code == 2 and "unknown domain 'DCGAN' (did you mean 'dcgan'?)" in err


def test_did_you_mean_prefers_the_same_word_in_another_case() -> None:
    from ganhub.errors import did_you_mean

    assert did_you_mean("TOY2D", ["dcgan", "toy2d"]) == " (did you mean 'toy2d'?)"
    assert did_you_mean("emma", ["ema", "r1"]) == " (did you mean 'ema'?)"
    assert did_you_mean("zzz", ["ema"]) == ""


def test_list_takes_a_kind_in_any_case(cli: Any) -> None:
    """`ganhub list Tricks` was refused ("'Tricks' is not one of ...")."""
    code, out, _ = cli("list", "Tricks")
    assert code == 0 and out == cli("list", "tricks")[1] and "ema" in out
