"""A plugin's mistake met while a config resolves is one line naming the part, its method and
its plugin: a validator or defaults_for() that raises, a problems() that returns a str, a typo
in a trick's suits_losses; a logger's options reach it whether or not its class sets `name`;
a metric's error names its plugin as a trick's does."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from pydantic import Field, field_validator, model_validator

import ganhub
from ganhub.config.resolve import resolve
from ganhub.config.schema import Section
from ganhub.errors import ConfigError, PluginError
from ganhub.hookspecs import hookimpl
from ganhub.loggers import Logger
from ganhub.metrics import Metric, evaluate, supported
from ganhub.plugins import Hub
from ganhub.tricks import Trick

from .conftest import TINY_TOY

ODD = [a if a != "plugin=toy2d" else "plugin=odd2d" for a in TINY_TOY]


def _hub(**hooks: Any) -> Hub:
    """A hub with plugin 'odd' registering `kind=(name, obj)` (a list of them for several)."""
    listed = {k: v if isinstance(v, list) else [v] for k, v in hooks.items()}

    def hook(entries: list[tuple[str, Any]]) -> Any:
        return hookimpl(lambda register: [register(*e) for e in entries] and None)

    plugin = SimpleNamespace(**{f"register_{k}": hook(v) for k, v in listed.items()})
    return Hub.discover(extra=(("odd", plugin),))


def _domain(broken: str) -> Any:
    """toy2d as domain 'odd2d', with the method or validator `broken` raising."""
    from ganhub_toy2d.config import Toy2dConfig
    from ganhub_toy2d.domain import Toy2dDomain

    class OddConfig(Toy2dConfig):
        @model_validator(mode="after")
        def _check(self) -> Any:
            if broken == "validator":
                raise KeyError("missing")
            if broken == "refusal" and self.seed == 7:
                raise ValueError("seed 7 is unlucky")
            return self

    class Odd(Toy2dDomain):
        name = "odd2d"
        config_class = OddConfig  # type: ignore[assignment]

        def defaults_for(self, chosen: dict[str, Any]) -> dict[str, Any]:
            if broken == "defaults_for":
                raise RuntimeError("defaults broke")
            return super().defaults_for(chosen)

        def conditioning(self, config: Any) -> Any:
            if broken == "conditioning":
                raise AttributeError("no labels here")
            return "cbn" if broken == "conditioning_str" else super().conditioning(config)

        def check(self, config: Any) -> Any:
            if broken == "check":
                raise OSError("no such data")
            return "bad data" if broken == "check_str" else super().check(config)

        def modality_for(self, config: Any) -> str:
            if broken == "modality_for":
                raise TypeError("no modality")
            return super().modality_for(config)

    return Odd()


class Levelled(Trick):
    """A trick whose Config validator has a bug at level 3 and refuses level 4."""

    name = "odd_trick"

    class Config(Section):
        level: int = Field(1, description="a level")

        @field_validator("level")
        @classmethod
        def _level(cls, value: int) -> int:
            if value == 3:
                raise RuntimeError("validator bug")
            if value == 4:
                raise ValueError("level 4 is not allowed")
            return value


class Texty(Trick):
    """problems() returns one string, not a list of them."""

    name = "odd_trick"

    @classmethod
    def problems(cls, options: Any, config: Any, domain: Any) -> Any:
        return "a string"


class Raising(Trick):
    """problems() raises."""

    name = "odd_trick"

    @classmethod
    def problems(cls, options: Any, config: Any, domain: Any) -> Any:
        raise KeyError("k")


class TextyLog(Logger):
    """problems() returns one string."""

    name = "odd_log"

    @classmethod
    def problems(cls, options: Any, config: Any) -> Any:
        return "a string"


class RaisingLog(Logger):
    """problems() raises."""

    name = "odd_log"

    @classmethod
    def problems(cls, options: Any, config: Any) -> Any:
        raise IndexError("oops")


def _one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(err.value)
    assert len(text.splitlines()) == 1, text
    return text


# -- 1. a logger's options reach it whatever its class's `name` ------------------------------


class Prefixed(Logger):
    """Options, and no `name`: they were silently the defaults."""

    seen: ClassVar[list[Any]] = []

    class Config(Section):
        prefix: str = Field("x", description="a prefix")

    def __init__(self, run_dir: Path, config: Any) -> None:
        super().__init__(run_dir, config)
        self.seen.append(self.options)


def test_a_logger_without_a_name_gets_the_options_the_user_gave(workdir: Path) -> None:
    hub = _hub(loggers=("odd_prefixed", Prefixed))
    args = [a for a in TINY_TOY if not a.startswith("loggers=")]
    ganhub.train([*args, "loggers=[jsonl,odd_prefixed]", "logger.odd_prefixed.prefix=hello"],
                 hub=hub)  # fmt: skip
    assert [options.prefix for options in Prefixed.seen] == ["hello"]


def test_a_logger_whose_name_is_not_its_registered_name_is_refused() -> None:
    class Named(Prefixed):
        name = "other"

    hub = _hub(loggers=("odd_named", Named))
    info = hub.plugins["odd"]
    assert info.status == "error" and "whose name attribute is 'other'" in info.error
    assert "odd_named" not in hub.loggers


# -- 2. plugin code that raises while the config resolves ------------------------------------


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("validator", "domain 'odd2d': its OddConfig._check() raised KeyError: 'missing' ("),
        ("defaults_for", "domain 'odd2d': its defaults_for() raised RuntimeError: defaults br"),
        ("conditioning", "domain 'odd2d': its conditioning() raised AttributeError: no labels"),
        ("check", "domain 'odd2d': its check() raised OSError: no such data ("),
        ("modality_for", "domain 'odd2d': its modality_for() raised TypeError: no modality ("),
    ],
)
def test_a_domain_that_raises_while_its_config_resolves_is_named(broken: str, message: str) -> None:
    """A raw traceback (a validator, defaults_for, conditioning; modality_for, which a trick's
    problems() asks, was blamed on no one), or check()'s line without its plugin."""
    hub = _hub(domains=("odd2d", _domain(broken)))
    with pytest.raises(PluginError) as err:
        resolve([*ODD, "tricks=[init]"], hub=hub)
    text = _one_line(err)
    assert text.startswith(message) and "(plugin 'odd'; GANHUB_DEBUG=1 shows" in text


def test_a_validator_refusing_a_value_stays_the_users_config_error() -> None:
    """ValueError is how a validator refuses a value: the user's to change, not a bug."""
    hub = _hub(domains=("odd2d", _domain("refusal")), tricks=("odd_trick", Levelled))
    with pytest.raises(ConfigError, match=r"^seed 7 is unlucky$") as err:
        resolve([*ODD, "seed=7"], hub=hub)
    assert not isinstance(err.value, PluginError)
    with pytest.raises(ConfigError, match=r"^trick\.odd_trick\.level=4: level 4 is not allowed"):
        resolve([*ODD, "tricks=[odd_trick]", "trick.odd_trick.level=4"], hub=hub)


@pytest.mark.parametrize(
    ("hooks", "args", "message"),
    [
        ({"tricks": ("odd_trick", Levelled)}, ["tricks=[odd_trick]", "trick.odd_trick.level=3"],
         "trick 'odd_trick': its Config._level() raised RuntimeError: validator bug (plugin "
         "'odd'"),
        ({"tricks": ("odd_trick", Raising)}, ["tricks=[odd_trick]"],
         "trick 'odd_trick': its problems() raised KeyError: 'k' (plugin 'odd'"),
        ({"loggers": ("odd_log", RaisingLog)}, ["loggers=[jsonl,odd_log]"],
         "logger 'odd_log': its problems() raised IndexError: oops (plugin 'odd'"),
    ],
)  # fmt: skip
def test_a_trick_or_logger_that_raises_while_the_config_resolves_is_named(
    hooks: dict[str, Any], args: list[str], message: str
) -> None:
    hub = _hub(**hooks)
    base = [a for a in TINY_TOY if not a.startswith(("tricks=", "loggers="))]
    with pytest.raises(PluginError) as err:
        resolve([*base, *args], hub=hub)
    assert _one_line(err).startswith(message)


def test_ganhubs_own_error_while_resolving_is_not_blamed_on_a_plugin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An exception no plugin's code raised stays as it is (a bug of ganhub's)."""
    import functools

    from ganhub.config import resolve as module

    # code of no plugin's module (a function of this one would count as the odd plugin's)
    monkeypatch.setattr(module, "section_defaults", functools.partial(dict.__getitem__, {}))
    with pytest.raises(KeyError, match="Toy2dConfig"):
        resolve(TINY_TOY, hub=_hub(tricks=("odd_trick", Raising)))


# -- 3. a list of reasons that is no list ----------------------------------------------------


@pytest.mark.parametrize(
    ("hooks", "args", "message"),
    [
        ({"tricks": ("odd_trick", Texty)}, ["plugin=toy2d", "tricks=[odd_trick]"],
         "trick 'odd_trick': its problems() returned str, not a list of str (plugin 'odd')"),
        ({"loggers": ("odd_log", TextyLog)}, ["plugin=toy2d", "loggers=[jsonl,odd_log]"],
         "logger 'odd_log': its problems() returned str, not a list of str (plugin 'odd')"),
        ({"domains": ("odd2d", _domain("check_str"))}, ["plugin=odd2d"],
         "domain 'odd2d': its check() returned str, not a list of str (plugin 'odd')"),
        ({"domains": ("odd2d", _domain("conditioning_str"))}, ["plugin=odd2d"],
         "domain 'odd2d': its conditioning() returned str, not a "
         "ganhub.conditioning.ConditionRequest or None (plugin 'odd')"),
    ],
)  # fmt: skip
def test_reasons_returned_as_a_string_are_named_not_spelled_out(
    hooks: dict[str, Any], args: list[str], message: str
) -> None:
    """It was `ganhub: error: a;  ; s; t; r; i; n; g`."""
    hub = _hub(**hooks)
    base = [a for a in TINY_TOY if not a.startswith(("tricks=", "loggers=", "plugin="))]
    with pytest.raises(PluginError) as err:
        resolve([*base, *args], hub=hub)
    assert _one_line(err) == message


# -- 4. suits_losses and excludes that name nothing ------------------------------------------


def _restricted(suits: Any = None, excludes: Any = frozenset()) -> type[Trick]:
    attrs = {"name": "odd_trick", "suits_losses": suits, "excludes": excludes}
    return type("Restricted", (Trick,), attrs)


def test_a_typo_in_suits_losses_is_its_plugins_mistake_not_the_users() -> None:
    """It was: trick 'odd_trick' does not suit loss 'wasserstein' (it suits: wassersten)."""
    hub = _hub(tricks=("odd_trick", _restricted(frozenset({"hinge", "wassersten"}))))
    base = [a for a in TINY_TOY if not a.startswith("tricks=")]
    with pytest.raises(PluginError) as err:
        resolve([*base, "tricks=[odd_trick]", "loss=wasserstein"], hub=hub)
    assert _one_line(err) == (
        "trick 'odd_trick': its suits_losses names 'wassersten', which no installed plugin "
        "registers (did you mean 'wasserstein'?), so it refuses loss 'wasserstein': a mistake "
        "of its plugin, not of your config (plugin 'odd')"
    )
    resolve([*base, "tricks=[odd_trick]", "loss=hinge"], hub=hub)  # a loss it suits: it runs
    with pytest.raises(ConfigError, match=r"does not suit loss 'lsgan' \(it suits: hinge, wass"):
        resolve([*base, "tricks=[odd_trick]", "loss=lsgan"], hub=hub)  # no typo of lsgan


def test_suits_losses_naming_no_installed_loss_and_an_excludes_typo_are_named() -> None:
    base = [a for a in TINY_TOY if not a.startswith("tricks=")]
    hub = _hub(tricks=("odd_trick", _restricted(frozenset({"spiral_hinge"}))))
    with pytest.raises(PluginError) as err:
        resolve([*base, "tricks=[odd_trick]", "loss=hinge"], hub=hub)
    assert _one_line(err).startswith(
        "trick 'odd_trick': its suits_losses names only losses no installed plugin registers "
        "(spiral_hinge), so it refuses every loss"
    )
    hub = _hub(tricks=("odd_trick", _restricted(excludes=frozenset({"spectral_nrom"}))))
    with pytest.raises(PluginError) as err:
        resolve([*base, "tricks=[odd_trick,spectral_norm]"], hub=hub)
    assert _one_line(err).startswith(
        "trick 'odd_trick': its excludes names 'spectral_nrom', which no installed plugin "
        "registers (did you mean 'spectral_norm'?), so it does not exclude 'spectral_norm' of "
        "this run: a mistake of its plugin"
    )
    resolve([*base, "tricks=[odd_trick]"], hub=hub)  # without spectral_norm: nothing to say


@pytest.mark.parametrize(
    ("cls", "problem"),
    [
        (_restricted(suits="hinge"), "whose suits_losses is str; it must be a frozenset of loss"),
        (_restricted(excludes=["ema"]), "whose excludes is list; it must be a frozenset of trick"),
        (_restricted(excludes=frozenset({"spectral-norm"})),
         "whose excludes names 'spectral-norm', which is no trick name"),
    ],
)  # fmt: skip
def test_a_restriction_that_is_no_set_of_names_refuses_the_plugin(cls: Any, problem: str) -> None:
    """A str suits_losses suited 'hinge' and 'in'; a list of excludes failed at resolve."""
    hub = _hub(tricks=("odd_trick", cls))
    info = hub.plugins["odd"]
    assert info.status == "error" and problem in info.error and "odd_trick" not in hub.tricks


# -- 5. a metric's error names its plugin ----------------------------------------------------


class Exploding(Metric):
    """Raises in compute, as a plugin's bug would."""

    name = "odd_exploding"

    def compute(self, system: Any, *, n_samples: int, seed: int) -> Any:
        raise RuntimeError("metric exploded")


class Picky(Exploding):
    """Raises in supports."""

    name = "odd_picky"

    def supports(self, caps: Any) -> bool:
        raise RuntimeError("no idea")


def test_a_metric_error_names_its_plugin() -> None:
    """It said only `see ganhub list metrics for its plugin`, where a trick's names its own."""
    exploding, picky = Exploding(), Picky()
    _hub(metrics=[("odd_exploding", exploding), ("odd_picky", picky)])
    system = SimpleNamespace(capabilities=lambda: None, training=False, eval=lambda: None,
                             train=lambda mode: None)  # fmt: skip
    with pytest.raises(PluginError) as err:
        evaluate(system, [exploding], n_samples=4, seed=0)  # type: ignore[arg-type]
    assert _one_line(err).startswith(
        "metric 'odd_exploding' raised RuntimeError: metric exploded (see `ganhub list "
        "metrics`: plugin 'odd'; GANHUB_DEBUG=1"
    )
    with pytest.raises(PluginError, match=r"its supports\(\) raised .*: plugin 'odd'; GANHUB"):
        supported([picky], None)  # type: ignore[arg-type]


def test_an_installed_plugins_hint_names_its_distribution() -> None:
    import importlib.metadata as md

    from ganhub.plugin_guard import registered_hint

    hub = Hub.discover()
    plugin = hub.metrics.entry("mode_coverage_2d").plugin
    expected = f"plugin '{plugin}' from ganhub {md.version('ganhub')}"
    assert registered_hint(hub.metrics.get("mode_coverage_2d")) == expected
    assert registered_hint(Exploding()) == ""  # registered by no plugin
    assert re.fullmatch(r"plugin 'toy2d' from ganhub \S+", expected)
