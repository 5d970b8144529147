"""The keys the user gave, told apart from what a domain chose (`ganhub.config.given`).

A trick's warning about an option the user "set" (`ganhub.tricks.set_by_user`) read pydantic's
`model_fields_set`, which also holds what the domain's preset and `defaults_for` set: a domain
whose preset or derived defaults give `trick.balance.check_every` had every short run warned of
an interval its user never chose. Beside it: `ganhub tune`'s did-you-mean for a misspelt choice,
and a config section declared without a default told how to declare one."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from ganhub_tune.checks import check_choices
from ganhub_tune.space import parse_space
from pydantic import Field

from ganhub.config.given import given_of
from ganhub.config.resolve import resolve
from ganhub.config.schema import Section
from ganhub.errors import ConfigError
from ganhub.hookspecs import hookimpl
from ganhub.plugins import Hub
from ganhub.tricks import config_warnings

from .conftest import TINY_TOY

BALANCE = {"tricks": ["balance"], "trick": {"balance": {"check_every": 100}}}
# a 4-step toy2d run, of the domain below
SHORT = ["plugin=toy2d_paced", *(k for k in TINY_TOY if not k.startswith(("plugin=", "tricks=")))]
WARNED = "trick.balance.check_every="


@pytest.fixture(scope="module")
def hub() -> Hub:
    from ganhub_toy2d.domain import Toy2dDomain

    class Paced(Toy2dDomain):
        """toy2d with a preset that sets balance's interval, and an interval it derives."""

        name = "toy2d_paced"
        presets: ClassVar[dict[str, Any]] = {"paced": BALANCE}

        def defaults_for(self, chosen: dict[str, Any]) -> dict[str, Any]:
            tricks = chosen.get("tricks")
            on = isinstance(tricks, list) and "balance" in tricks
            return {"trick": {"balance": {"check_every": 60}}} if on else {}

    plugin = SimpleNamespace(
        register_domains=hookimpl(lambda register: register("toy2d_paced", Paced()))
    )
    return Hub.discover(extra=(("paced", plugin),))


def _warnings(hub: Hub, keys: Any, files: list[Any] | None = None) -> list[str]:
    config = resolve(keys, files or [], hub)
    classes = {name: hub.tricks.get(name) for name in config.tricks}
    return config_warnings(config, hub.losses.get(config.loss), classes)


@pytest.mark.parametrize(("keys", "value"), [(["preset=paced"], 100), (["tricks=[balance]"], 60)])
def test_an_interval_the_preset_or_the_domain_set_is_not_warned_of(
    hub: Hub, keys: list[str], value: int
) -> None:
    """A preset's (or a derived) check_every longer than a 4-step run was warned of, as if the
    user had typed it: noise on every short run of such a domain."""
    assert resolve([*SHORT, *keys], hub=hub).trick.balance.check_every == value
    assert _warnings(hub, [*SHORT, *keys]) == []


def test_an_interval_the_user_gave_is_warned_of_however_given(hub: Hub, tmp_path: Any) -> None:
    """As a key (the preset's own value too), in a YAML file or in a config dict."""
    said = _warnings(hub, [*SHORT, "preset=paced", "trick.balance.check_every=100"])
    assert len(said) == 1 and f"{WARNED}100 is longer than the run" in said[0], said
    (tmp_path / "run.yaml").write_text("trick:\n  balance:\n    check_every: 70\n")
    said = _warnings(hub, [*SHORT, "preset=paced"], [tmp_path / "run.yaml"])
    assert len(said) == 1 and f"{WARNED}70 " in said[0], said
    given = {"plugin": "toy2d_paced", "preset": "paced", "trainer.steps": 4}
    said = _warnings(hub, given | {"trick.balance.check_every": 90})
    assert len(said) == 1 and f"{WARNED}90 " in said[0], said


def test_a_config_validated_without_the_users_keys_counts_every_key_as_theirs(hub: Hub) -> None:
    config = resolve([*SHORT, "preset=paced"], hub=hub)
    assert given_of(config.trick.balance) is not None
    rebuilt = type(config).model_validate(config.model_dump())  # no context: unknown
    assert given_of(rebuilt.trick.balance) is None and rebuilt == config
    classes = {"balance": hub.tricks.get("balance")}
    said = config_warnings(rebuilt, hub.losses.get(config.loss), classes)
    assert len(said) == 1 and f"{WARNED}100 " in said[0], said


def test_a_misspelt_choice_of_a_search_space_gets_a_did_you_mean(hub: Hub) -> None:
    """`ganhub run model.g_norm=bacth` suggests 'batch'; `ganhub tune` did not."""
    space = parse_space({"params": {"model.g_norm": ["batch", "bacth"]}})
    with pytest.raises(ConfigError) as err:
        check_choices(space.params, resolve(TINY_TOY), hub)
    assert "choice 'bacth' is not valid: must be one of" in str(err.value), str(err.value)
    assert str(err.value).endswith("(did you mean 'batch'?)"), str(err.value)


class Shapes(Section):
    """A section whose options all have defaults."""

    n: int = Field(8, description="shapes")


def test_a_config_section_without_a_default_is_told_how_to_declare_one() -> None:
    """`data: Shapes` without `default_factory` got "has no default (every option needs
    one)", which does not say what a section's default is."""
    from ganhub_toy2d.config import Toy2dConfig
    from ganhub_toy2d.domain import Toy2dDomain

    config = type("OrbitConfig", (Toy2dConfig,), {"__annotations__": {"extra": Shapes}})
    domain = type("OrbitDomain", (Toy2dDomain,), {"name": "orbit", "config_class": config})()
    hub = Hub()
    hooks = {"register_domains": hookimpl(lambda register: register("orbit", domain))}
    hub.add("orbit", SimpleNamespace(**hooks))
    error = hub.plugins["orbit"].error
    assert hub.plugins["orbit"].status == "error" and len(error.splitlines()) == 1, error
    assert (
        "whose config section 'extra' has no default (every option needs one): declare it as "
        "extra: Shapes = Field(default_factory=Shapes)"
    ) in error, error
