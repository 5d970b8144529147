"""The built-in plugins' checks of keys a run would not read tell the keys the user gave apart
from the preset's and from what `defaults_for` derives (`ganhub.config.given`).

dcgan blamed the user for a data source its preset chose (`preset=stacked data.path=DIR`:
"data=stacked_digits was given"); stylegan and textgan refused a value `defaults_for` derived
for a key the run does not read, as if the user had typed it. A config file that gives every
key again (`ganhub config ... > run.yaml`) still runs, and a config whose keys are unknown or
that stands on a saved run (resume=) keeps telling "given" by the value."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from ganhub.config.given import given_context
from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError
from ganhub.hookspecs import hookimpl
from ganhub.plugins import Hub

STYLEGAN = ["plugin=stylegan_derived", "preset=tiny"]
TEXTGAN = ["plugin=textgan_derived", "task=transfer"]
PL = "objective.pl_interval=8 is only read with path length on"
VOCAB = "data.vocab_size=100 is for task=generate"


@pytest.fixture(scope="module")
def hub() -> Hub:
    """stylegan and textgan whose defaults_for derive a key the run does not read."""
    from ganhub_stylegan.domain import StyleGANDomain
    from ganhub_textgan.domain import TextGANDomain

    class StyleGANDerived(StyleGANDomain):
        name = "stylegan_derived"

        def defaults_for(self, chosen: dict[str, Any]) -> dict[str, Any]:
            # not read with objective.pl_weight=0 (the tiny preset's)
            return {**super().defaults_for(chosen), "objective": {"pl_interval": 8}}

    class TextGANDerived(TextGANDomain):
        name = "textgan_derived"

        def defaults_for(self, chosen: dict[str, Any]) -> dict[str, Any]:
            out = super().defaults_for(chosen)
            out["data"] = {**out.get("data", {}), "vocab_size": 100}  # task=generate's
            return out

    def register(register: Any) -> None:
        register("stylegan_derived", StyleGANDerived())
        register("textgan_derived", TextGANDerived())

    plugin = SimpleNamespace(register_domains=hookimpl(register))
    return Hub.discover(extra=(("derived", plugin),))


def test_dcgan_names_the_preset_that_chose_the_data_beside_a_path(tmp_path: Path) -> None:
    """`preset=stacked data.path=DIR` said "data=stacked_digits was given": the user gave
    no data source, the preset did."""
    with pytest.raises(ConfigError) as err:
        resolve(["plugin=dcgan", "preset=stacked", f"data.path={tmp_path}"])
    said = str(err.value)
    assert "and preset=stacked sets data=stacked_digits; give data=folder" in said, said
    assert "was given" not in said, said
    with pytest.raises(ConfigError, match="and data=stacked_digits was given; drop one"):
        resolve(["plugin=dcgan", "preset=stacked", "data=stacked_digits", f"data.path={tmp_path}"])


@pytest.mark.parametrize(("keys", "refused"), [(STYLEGAN, PL), (TEXTGAN, VOCAB)])
def test_a_derived_value_of_a_key_the_run_does_not_read_is_not_the_users(
    hub: Hub, keys: list[str], refused: str
) -> None:
    """Refused as the user's before; refused only when the user gives it."""
    key = refused.split(" is ")[0]
    resolve(keys, hub=hub)
    with pytest.raises(ConfigError, match=refused):
        resolve([*keys, key], hub=hub)


def test_a_config_file_giving_every_key_again_still_runs(tmp_path: Path) -> None:
    """`ganhub config ... > run.yaml` holds the preset's value of a key the task does not read
    (the tiny preset's data.vocab_size with task=transfer): a value that changes nothing."""
    config = resolve(["plugin=textgan", "preset=tiny", "task=transfer"])
    assert config.data.vocab_size == 20
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json")))
    assert resolve([], [tmp_path / "run.yaml"]).data.vocab_size == 20


def test_a_resumed_config_tells_given_by_the_value(tmp_path: Path) -> None:
    """A resume's saved config holds every key, and only those typed again are known as the
    user's: a value away from the default is refused there, as before."""
    from ganhub_textgan.config import TextGANConfig, other_task_keys

    raw = {"task": "transfer", "data": {"vocab_size": 100}, "resume": str(tmp_path)}
    config = TextGANConfig.model_validate(raw, context=given_context(["resume"]))
    assert [p.split(" (")[0] for p in other_task_keys(config, {})] == [VOCAB], config
