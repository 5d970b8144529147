"""The keys the user gave (`ganhub.config.given`): an empty section gives none, and a run
records them as it starts, so that its resume knows them again (`ganhub.config.saved`).

An empty section in a config file (`trick: {balance: {}}`) counted as a key the user gave, and
so did every key under it: a default interval was warned of as the user's. A resumed run knew
only the keys typed again at the resume: a value its domain derived when it started was
refused there as if the user had typed it, though the same run started without a word."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from ganhub.config.given import complete_keys, given_of, keys_given
from ganhub.config.resolve import resolve
from ganhub.config.saved import GIVEN_FILE, read_given
from ganhub.engine.rundir import record_user_keys
from ganhub.errors import ConfigError, UsageError
from ganhub.hookspecs import hookimpl
from ganhub.plugins import Hub
from ganhub.tricks import config_warnings

from .conftest import TINY_TOY

TINY_BALANCE = [*(k for k in TINY_TOY if not k.startswith("tricks=")), "tricks=[balance]"]
PL = "objective.pl_interval=8 is only read with path length on"


def test_an_empty_section_in_a_file_gives_no_key(tmp_path: Path) -> None:
    """`trick: {balance: {}}` made balance's default interval, longer than a 4-step run, the
    user's, and warned of it; a key given in the same file still counts."""
    from ganhub.plugins import get_hub

    hub = get_hub()

    def warned(text: str) -> list[str]:
        (tmp_path / "run.yaml").write_text(text)
        config = resolve(TINY_BALANCE, [tmp_path / "run.yaml"], hub)
        classes = {name: hub.tricks.get(name) for name in config.tricks}
        return config_warnings(config, hub.losses.get(config.loss), classes)

    assert warned("trick:\n  balance: {}\nmodel: {}\n") == []
    said = warned("trick:\n  balance: {check_every: 50}\n")
    assert len(said) == 1 and "trick.balance.check_every=50 is longer" in said[0], said
    assert keys_given({"a": {}, "b": {"c": 1, "d": {}}, "e": [1]}) == ["b.c", "e"]


@pytest.fixture(scope="module")
def hub() -> Hub:
    """stylegan whose defaults_for derives a key the run does not read (pl_interval without
    path length), as tests/test_given_plugins.py's."""
    from ganhub_stylegan.domain import StyleGANDomain

    class StyleGANDerived(StyleGANDomain):
        name = "stylegan_derived"

        def defaults_for(self, chosen: dict[str, Any]) -> dict[str, Any]:
            return {**super().defaults_for(chosen), "objective": {"pl_interval": 8}}

    plugin = SimpleNamespace(
        register_domains=hookimpl(lambda register: register("stylegan_derived", StyleGANDerived()))
    )
    return Hub.discover(extra=(("derived", plugin),))


def _started(hub: Hub, run: Path, keys: list[str]) -> Any:
    """A run directory as a run of `keys` leaves it: config.yaml and the record of its keys."""
    config = resolve(keys, hub=hub)
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json")))
    record_user_keys(run, config)
    return config


def test_a_resume_knows_the_keys_its_run_was_started_with(hub: Hub, tmp_path: Path) -> None:
    """The derived pl_interval, not the user's when the run started, was refused at its
    resume as the user's; with the record it is not, and the keys typed again are added.
    A run without the record (an earlier ganhub's) is told by the value, as before."""
    run = tmp_path / "run"
    started = _started(hub, run, ["plugin=stylegan_derived", "preset=tiny", "seed=3"])
    assert complete_keys(started) and given_of(started) == {"plugin", "preset", "seed"}
    assert json.loads((run / GIVEN_FILE).read_text()) == {"given": ["plugin", "preset", "seed"]}
    resumed = resolve([f"resume={run}", "trainer.steps=30"], hub=hub)
    assert resumed.objective.pl_interval == 8
    assert given_of(resumed.objective) == {"plugin", "preset", "seed", "trainer.steps", "resume"}
    assert complete_keys(resumed.objective)
    record_user_keys(run, resumed)  # as the resumed run starts: the keys typed again added
    assert read_given(run) == {"plugin", "preset", "seed", "trainer.steps"}
    (run / GIVEN_FILE).unlink()
    with pytest.raises(ConfigError, match=PL):
        resolve([f"resume={run}", "trainer.steps=30"], hub=hub)
    assert read_given(run) is None


@pytest.mark.parametrize(
    "text",
    ["{not json", '["plugin"]', '{"given": "plugin"}', '{"given": ["a..b"]}', '{"given": [1]}'],
)
def test_a_record_that_is_not_one_is_refused_in_one_line(tmp_path: Path, text: str) -> None:
    """The record is read from an untrusted folder: anything but a list of dotted keys."""
    (tmp_path / GIVEN_FILE).write_text(text)
    with pytest.raises(ConfigError) as err:
        read_given(tmp_path)
    said = str(err.value)
    assert "\n" not in said and f"{GIVEN_FILE} is not the record" in said and "remove it" in said


def test_a_record_that_is_a_link_or_a_fifo_is_refused(hub: Hub, tmp_path: Path) -> None:
    """Never read through a link (it may point out of the run) nor from a FIFO (it blocks)."""
    run = tmp_path / "run"
    _started(hub, run, ["plugin=stylegan_derived", "preset=tiny"])
    (run / GIVEN_FILE).unlink()
    os.symlink("/etc/hostname", run / GIVEN_FILE)
    with pytest.raises(UsageError, match=f"{GIVEN_FILE}' is a link"):
        resolve([f"resume={run}"], hub=hub)
    (run / GIVEN_FILE).unlink()
    os.mkfifo(run / GIVEN_FILE)
    with pytest.raises(UsageError, match=f"{GIVEN_FILE}' is not a regular file"):
        resolve([f"resume={run}"], hub=hub)


def test_a_run_records_its_users_keys_beside_its_config(tmp_path: Path) -> None:
    """given.json is written with config.yaml as a run starts (before its first step)."""
    from ganhub.plugins import get_hub
    from ganhub.wiring import make_run

    keys = [*TINY_TOY, f"out_dir={tmp_path}", "name=r"]
    run = make_run(resolve(keys, hub=get_hub()), get_hub())
    run.close()
    assert (tmp_path / "r" / "config.yaml").is_file()
    assert read_given(tmp_path / "r") == {k.split("=")[0] for k in keys}


def test_adas_kimg_a_preset_chose_is_not_named_as_the_users(tmp_path: Path) -> None:
    """`preset=auto trainer.steps=3000`: the preset's kimg=500 was warned of as if the user
    had typed it; typed (even as the preset's value), it is the user's."""
    from ganhub.plugins import get_hub

    hub = get_hub()
    keys = ["plugin=stylegan", "preset=auto", "trainer.steps=3000"]

    def ada(extra: list[str], files: list[Path] = ()) -> str:  # type: ignore[assignment]
        config = resolve([*keys, *extra], files, hub)
        classes = {name: hub.tricks.get(name) for name in config.tricks}
        said = config_warnings(config, hub.losses.get(config.loss), classes)
        return next(w for w in said if "ADA's p" in w)

    said = ada([])
    assert "ganhub: warning: trick.ada.kimg=500 (a value you did not give): ADA's p" in said
    (tmp_path / "run.yaml").write_text("trick:\n  ada: {}\n")
    assert ada([], [tmp_path / "run.yaml"]) == said
    assert ada(["trick.ada.kimg=500"]).startswith("ganhub: warning: trick.ada.kimg=500: ADA's p")
