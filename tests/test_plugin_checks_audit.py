"""What an audit of writing third-party plugins found slipping through, each now refused in one
line naming the plugin, the part and the fix: a domain's top-level default that breaks its own
rule, a metric direction ganhub cannot read, metric and logger methods ganhub never calls or
cannot call, a trick that does nothing, a domain's default metrics that name nothing, a
built-in's name taken, build() returning its class."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from pydantic import Field

import ganhub
from ganhub.errors import PluginError
from ganhub.hookspecs import hookimpl
from ganhub.loggers import Logger
from ganhub.metrics import Directions, Metric
from ganhub.plugins import Hub, get_hub
from ganhub.tricks import Trick

from .conftest import TINY_TOY

MIST_TOY = [a if a != "plugin=toy2d" else "plugin=mist" for a in TINY_TOY]


def _hub(kind: str, name: str, obj: Any) -> Hub:
    """An empty hub (no built-ins: fast) with plugin 'mist' registering `obj` as `name`."""
    hub = Hub()
    hub.add(
        "mist",
        SimpleNamespace(**{f"register_{kind}": hookimpl(lambda register: register(name, obj))}),
    )
    return hub


def _refused(hub: Hub) -> str:
    info = hub.plugins["mist"]
    assert info.status == "error" and info.registered == {}, info
    assert len(info.error.splitlines()) == 1, info.error
    return info.error


def _domain(**attributes: Any) -> Any:
    from ganhub_toy2d.domain import Toy2dDomain

    return type("MistDomain", (Toy2dDomain,), {"name": "mist", **attributes})()


# -- 1. a domain's top-level option ----------------------------------------------------------


def _config(**fields: Any) -> type:
    from ganhub_toy2d.config import Toy2dConfig

    annotations = {name: int if name != "plugin" else str for name in fields}
    return type("MistConfig", (Toy2dConfig,), {"__annotations__": annotations, **fields})


@pytest.mark.parametrize(
    ("field", "message"),
    [
        (Field(-5, ge=0), "whose config default warmup=-5 is not valid: must be at least 0"),
        (Field(ge=0), "whose config option 'warmup' has no default (every option needs one)"),
    ],
)  # fmt: skip
def test_a_domains_top_level_default_that_breaks_its_rule_is_refused_at_load(
    field: Any, message: str
) -> None:
    """It trained, then resume, sample, eval and ganhub.load refused its config.yaml over
    `warmup=-5`; without a default every run stopped at `warmup: Field required`, naming no
    plugin."""
    error = _refused(_hub("domains", "mist", _domain(config_class=_config(warmup=field))))
    assert f"plugin 'mist' registers domain 'mist' {message}" in error, error


def test_a_domain_config_whose_plugin_has_no_default_loads() -> None:
    """`plugin` is the one option without a default: every run's plugin= gives it."""
    config = _config(plugin=Field(description="the domain"), warmup=Field(5, ge=0))
    hub = _hub("domains", "mist", _domain(config_class=config))
    assert hub.plugins["mist"].status == "ok", hub.plugins["mist"].error


def test_every_builtin_domain_metric_logger_and_trick_passes_the_load_checks() -> None:
    from ganhub.plugin_checks import logger_problem, metric_problem, trick_problem

    hub = get_hub()
    assert {"toy2d", "dcgan", "medgan", "stylegan", "textgan", "cyclegan"} <= set(
        hub.domains.names()
    )
    for name in hub.metrics.names():
        assert metric_problem(hub.metrics.get(name)) is None, name
    for name in hub.loggers.names():
        assert logger_problem(hub.loggers.get(name)) is None, name
    for name in hub.tricks.names():
        assert trick_problem(hub.tricks.get(name)) is None, name


# -- 2. a metric's direction -------------------------------------------------------------------


class Smaller(Metric):
    """Declares a direction ganhub has no word for."""

    name = "mist_radius"
    better: ClassVar[Directions] = {"mist_radius": "smaller"}  # type: ignore[dict-item]

    def compute(self, system: Any, *, n_samples: int, seed: int) -> dict[str, float]:
        return {"mist_radius": float(n_samples)}


@pytest.fixture(scope="module")
def system() -> Any:
    import torch

    from ganhub.config.resolve import resolve
    from ganhub.engine.prepare import prepare_system
    from ganhub.wiring import components

    config = resolve(TINY_TOY)
    return prepare_system(config, components(config), torch.device("cpu"))[0]


def test_a_metric_direction_other_than_lower_or_higher_is_refused_at_load() -> None:
    error = _refused(_hub("metrics", "mist_radius", Smaller()))
    assert (
        "plugin 'mist' registers metric 'mist_radius' whose better['mist_radius'] is 'smaller'; "
        "use 'lower', 'higher' or None"
    ) in error


def test_check_metric_reports_a_direction_other_than_lower_or_higher(system: Any) -> None:
    from ganhub.testing import ContractError, check_metric

    with pytest.raises(ContractError, match=re.escape("better['mist_radius'] is 'smaller'")):
        check_metric(Smaller(), system, n_samples=8)


def test_keep_best_refuses_a_direction_it_would_have_to_guess(system: Any) -> None:
    """It read 'smaller' as higher-is-better and kept the worst checkpoint."""
    from ganhub.engine.best import keep_best_direction

    with pytest.raises(PluginError, match="says it improves 'smaller', neither 'lower' nor"):
        keep_best_direction("mist_radius", [Smaller()], system)


# -- 3. metric and logger methods ----------------------------------------------------------------


def _metric(**methods: Any) -> Metric:
    attrs = {"name": "mist_radius", "better": {"mist_radius": "lower"}, **methods}
    attrs.setdefault("compute", lambda self, system, *, n_samples, seed: {"mist_radius": 1.0})
    return type("MistMetric", (Metric,), attrs)()  # type: ignore[no-any-return]


def _nothing(self: Any, *args: Any) -> None:
    return None


@pytest.mark.parametrize(
    ("methods", "message"),
    [
        ({"compute": lambda self, system: {}}, "whose compute(self, system) cannot take what "
         "ganhub passes: define compute(self, system, *, n_samples, seed)"),
        ({"supports": lambda self: True}, "whose supports(self) cannot take what ganhub passes: "
         "define supports(self, caps)"),
        ({"support": _nothing}, "whose method 'support' is no metric method, so ganhub never "
         "calls it (did you mean 'supports'?)"),
        ({"chek": _nothing}, "whose method 'chek' is no metric method"),
    ],
)  # fmt: skip
def test_a_metric_method_ganhub_cannot_call_or_never_calls_is_refused(
    methods: dict[str, Any], message: str
) -> None:
    """compute(self, system) trained a whole run, then failed with a TypeError about
    n_samples; a misspelt `support` was silently ignored."""
    error = _refused(_hub("metrics", "mist_radius", _metric(**methods)))
    assert f"plugin 'mist' registers metric 'mist_radius' {message}" in error, error


@pytest.mark.parametrize(
    ("methods", "message"),
    [
        ({"log": lambda self, step: None}, "whose log(self, step) cannot take what ganhub "
         "passes: define log(self, step, metrics)"),
        ({"logg": _nothing}, "whose method 'logg' is no logger method, so ganhub never calls it "
         "(did you mean 'log'?)"),
        ({"log_artifact": _nothing}, "whose method 'log_artifact' is no logger method, so "
         "ganhub never calls it (did you mean 'log_artifacts'?)"),
        ({"close": lambda self, error: None}, "whose close(self, error) cannot take what ganhub "
         "passes: define close(self)"),
        ({"problems": lambda self, options, config: []}, "whose problems(self, options, config) "
         "cannot take what ganhub passes: define problems(cls, options, config)"),
    ],
)  # fmt: skip
def test_a_logger_method_ganhub_cannot_call_or_never_calls_is_refused(
    methods: dict[str, Any], message: str
) -> None:
    """log(self, step) failed mid-run; logg was never called."""
    error = _refused(_hub("loggers", "mist_log", type("MistLog", (Logger,), methods)))
    assert f"plugin 'mist' registers logger 'mist_log' {message}" in error, error


def test_metric_and_logger_helpers_and_flexible_signatures_load() -> None:
    metric = _metric(
        compute=lambda self, system, n_samples, seed: {},  # positional keywords take them too
        supports=lambda self, caps, *rest: True,
        score=_nothing, features=_nothing, _suport=_nothing,
    )  # fmt: skip
    assert _hub("metrics", "mist_radius", metric).plugins["mist"].status == "ok"
    logger = type("MistLog", (Logger,), {"log": lambda self, step, metrics, **kw: None,
                                         "flush": _nothing, "write_line": _nothing})  # fmt: skip
    assert _hub("loggers", "mist_log", logger).plugins["mist"].status == "ok"


# -- 5. a domain's default_metrics() -----------------------------------------------------------


@pytest.mark.parametrize(
    ("defaults", "message"),
    [
        ("mode_coverage_2d", "domain 'mist': default_metrics() returned str, not a list of "
         "metric names (plugin 'mist')"),
        (["mode_coverage_2dd"], "domain 'mist': its default_metrics() names metric "
         "'mode_coverage_2dd', which no installed plugin registers (did you mean "
         "'mode_coverage_2d'?) (plugin 'mist')"),
    ],
)  # fmt: skip
def test_a_mistake_in_default_metrics_is_the_domains_not_the_users(
    workdir: Path, defaults: Any, message: str
) -> None:
    """They read "unknown metric 'm'; available: ..." as if the user had typed a name."""

    def build(self: Any, config: Any, hints: Any) -> Any:
        system = type(self).__mro__[1].build(self, config, hints)
        system.default_metrics = lambda: defaults
        return system

    hub = Hub.discover(extra=(("mist", SimpleNamespace(register_domains=hookimpl(
        lambda register: register("mist", _domain(build=build))))),))  # fmt: skip
    with pytest.raises(PluginError) as err:
        ganhub.train(MIST_TOY, hub=hub)
    assert str(err.value).startswith(message), str(err.value)
    assert len(str(err.value).splitlines()) == 1


# -- 6. a trick that does nothing -------------------------------------------------------------


def test_a_trick_that_overrides_no_method_and_declares_nothing_is_refused() -> None:
    """Its only method, renamed `augment_input`, is too far from `d_input` for a near miss:
    it loaded and did nothing."""
    cls = type("MistAug", (Trick,), {"name": "mist_aug", "augment_input": _nothing})
    error = _refused(_hub("tricks", "mist_aug", cls))
    assert (
        "plugin 'mist' registers trick 'mist_aug' which overrides no trick method (adjust_build, "
        "setup, adjust_phases, on_optimizers, targets, real_batch, d_input, extra_loss, observe, "
        "before_optimizer_step, after_step)"
    ) in error, error
    restricted = type("MistAug", (Trick,), {"name": "mist_aug", "excludes": frozenset({"gp"})})
    assert _hub("tricks", "mist_aug", restricted).plugins["mist"].status == "ok"


# -- 8. a built-in's name; build() returning its class -------------------------------------------


def test_a_builtin_name_clash_says_to_name_the_part_after_the_plugin() -> None:
    from ganhub.losses.adversarial import HingeLoss

    hub = Hub.discover(extra=(("mist", SimpleNamespace(register_losses=hookimpl(
        lambda register: register("hinge", HingeLoss())))),))  # fmt: skip
    error = hub.plugins["mist"].error
    assert "loss 'hinge' is registered twice: by 'ganhub.losses.adversarial' and by 'mist'" in error
    assert "built-in names are never taken over: name it after the plugin ('mist_hinge'" in error


def test_build_returning_the_system_class_says_to_return_an_instance(workdir: Path) -> None:
    """It was "build() returned ABCMeta, not a GANSystem"."""

    def build(self: Any, config: Any, hints: Any) -> Any:
        return type(type(self).__mro__[1].build(self, config, hints))

    hub = Hub.discover(extra=(("mist", SimpleNamespace(register_domains=hookimpl(
        lambda register: register("mist", _domain(build=build))))),))  # fmt: skip
    with pytest.raises(PluginError) as err:
        ganhub.train(MIST_TOY, hub=hub)
    assert str(err.value) == (
        "domain 'mist': build() returned the class Toy2dSystem, not a GANSystem; return an "
        "instance of it"
    )
