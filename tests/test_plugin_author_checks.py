"""A plugin author's mistakes in what a plugin registers are refused when it loads, in one line
naming the plugin, the object and what would be valid, instead of being silently ignored (a
misspelled trick method) or failing mid-run (a signature, a loss's name); `check_loss` and a
run say what a loss did wrong in ganhub's words, not autograd's."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import ganhub
from ganhub.errors import PluginError
from ganhub.hookspecs import hookimpl
from ganhub.losses.adversarial import HingeLoss
from ganhub.plugins import Hub
from ganhub.testing import ContractError, check_loss
from ganhub.tricks import Trick

from .conftest import TINY_TOY


def _hub(kind: str, name: str, obj: Any, plugin: str = "author") -> Hub:
    """An empty hub (no built-ins: fast) with plugin `plugin` registering `obj` as `name`."""
    hub = Hub()
    hooks = {f"register_{kind}": hookimpl(lambda register: register(name, obj))}
    hub.add(plugin, SimpleNamespace(**hooks))
    return hub


def _refused(hub: Hub, plugin: str = "author") -> str:
    info = hub.plugins[plugin]
    assert info.status == "error" and info.registered == {}, info
    assert len(info.error.splitlines()) == 1, info.error
    return info.error


def _trick(**methods: Any) -> type[Trick]:
    return type("MyTrick", (Trick,), {"name": "author_trick", "__doc__": "A trick.", **methods})


def _nothing(self: Any, *args: Any) -> None:
    return None


# -- 1. a misspelled trick method -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "hook"),
    [("extra_losses", "extra_loss"), ("afterstep", "after_step"), ("set_up", "setup"),
     ("on_optimizer", "on_optimizers"), ("load_statedict", "load_state_dict")],
)  # fmt: skip
def test_a_misspelled_trick_method_is_refused_naming_the_hook_it_resembles(
    method: str, hook: str
) -> None:
    """It loaded [ok], the run finished and check_trick passed; the method never ran."""
    hub = _hub("tricks", "author_trick", _trick(**{method: _nothing}))
    error = _refused(hub)
    assert (
        f"plugin 'author' registers trick 'author_trick' whose method '{method}' is no trick "
        f"method, so ganhub never calls it (did you mean '{hook}'?)"
    ) in error
    assert "author_trick" not in hub.tricks


def test_a_misspelled_method_of_the_plugins_own_base_class_is_refused_too() -> None:
    base = type("Base", (Trick,), {"observer": _nothing})
    hub = _hub("tricks", "author_trick", type("Mine", (base,), {"name": "author_trick"}))
    assert "whose method 'observer' is no trick method" in _refused(hub)


def test_ordinary_helper_names_and_private_names_pass() -> None:
    """Helpers a trick really has: none of them is taken for a misspelled fixed point."""
    helpers = ["penalty", "update_ema", "compute_penalty", "target_for", "optimizers",
               "input_grads", "schedule", "strength", "anneal", "current_p", "load_state",
               "before_step", "adjust_lr", "real_weights", "eval_batch", "_extra_losses",
               "_afterstep"]  # fmt: skip
    methods: dict[str, Any] = dict.fromkeys(helpers, _nothing)
    methods["after_step"] = lambda self, step, system: None
    methods["scale"] = staticmethod(lambda x: x)
    methods["from_config"] = classmethod(lambda cls: cls)
    hub = _hub("tricks", "author_trick", _trick(**methods))
    assert hub.plugins["author"].status == "ok", hub.plugins["author"].error
    assert "author_trick" in hub.tricks


def test_a_subclass_of_a_builtin_trick_loads() -> None:
    from ganhub.tricks.weights import EMA

    hub = _hub("tricks", "author_ema", type("MyEMA", (EMA,), {"name": "author_ema"}))
    assert hub.plugins["author"].status == "ok", hub.plugins["author"].error


# -- 7. signatures that cannot take what ganhub passes --------------------------------------


@pytest.mark.parametrize(
    ("method", "body", "written", "expected"),
    [
        ("after_step", lambda self, step: None, "after_step(self, step)",
         "after_step(self, step, system)"),
        ("extra_loss", lambda self, phase, out: None, "extra_loss(self, phase, out)",
         "extra_loss(self, phase, out, ctx)"),
        ("d_input", lambda self, x, ctx, extra: x, "d_input(self, x, ctx, extra)",
         "d_input(self, x, ctx)"),
        ("setup", staticmethod(lambda: None), "setup()", "setup(self, system)"),
        ("problems", classmethod(lambda cls, options, config: []),
         "problems(cls, options, config)", "problems(cls, options, config, domain)"),
    ],
)  # fmt: skip
def test_a_trick_method_of_the_wrong_signature_is_refused_with_the_expected_one(
    method: str, body: Any, written: str, expected: str
) -> None:
    """Each was a bare TypeError in the middle of a run."""
    error = _refused(_hub("tricks", "author_trick", _trick(**{method: body})))
    assert (
        f"registers trick 'author_trick' whose {written} cannot take what ganhub passes: "
        f"define {expected}"
    ) in error, error


def test_trick_methods_that_take_what_ganhub_passes_load() -> None:
    methods = {
        "after_step": lambda self, step, system, extra=None: None,
        "extra_loss": lambda self, *args: None,
        "observe": lambda self, phase, out, ctx, **kwargs: None,
        "d_input": staticmethod(lambda x, ctx: x),
        "problems": classmethod(lambda cls, options, config, domain: []),
    }
    hub = _hub("tricks", "author_trick", _trick(**methods))
    assert hub.plugins["author"].status == "ok", hub.plugins["author"].error


class _Loss(HingeLoss):
    name = "author_loss"


class TwoArgumentDLoss(_Loss):
    def d_loss(self, real: Any, fake: Any) -> Any:  # type: ignore[override]
        return super().d_loss(real, fake)


class OneArgumentGLoss(_Loss):
    def g_loss(self, fake: Any) -> Any:  # type: ignore[override]
        return -fake.mean()


class RequiredWeight(_Loss):
    def d_loss(  # type: ignore[override]
        self, real: Any, fake: Any, targets: Any, *, real_weight: Any
    ) -> Any:
        return super().d_loss(real, fake, targets, real_weight=real_weight)


@pytest.mark.parametrize(
    ("loss", "written", "expected"),
    [
        (TwoArgumentDLoss(), "d_loss(self, real, fake)",
         "d_loss(self, real, fake, targets=Targets())"),
        (OneArgumentGLoss(), "g_loss(self, fake)",
         "g_loss(self, fake, real=None, targets=Targets())"),
        (RequiredWeight(), "d_loss(self, real, fake, targets, *, real_weight)",
         "d_loss(self, real, fake, targets=Targets())"),
    ],
)  # fmt: skip
def test_a_loss_method_of_the_wrong_signature_is_refused_with_the_expected_one(
    loss: Any, written: str, expected: str
) -> None:
    error = _refused(_hub("losses", "author_loss", loss))
    assert (
        f"registers loss 'author_loss' whose {written} cannot take what ganhub passes: "
        f"define {expected}"
    ) in error, error


# -- 4. an object's own name ----------------------------------------------------------------


def test_a_loss_or_metric_named_otherwise_than_registered_is_refused() -> None:
    """A loss's errors named its own name, and lost their plugin (found by the registered one)."""
    from ganhub_toy2d.metrics import ModeCoverage2D

    hub = _hub("losses", "author_hinge", HingeLoss())
    assert (
        "plugin 'author' registers loss 'author_hinge' whose name attribute is 'hinge'; set "
        "name = 'author_hinge' on the class"
    ) in _refused(hub)
    hub = _hub("metrics", "author_modes", ModeCoverage2D())
    assert "registers metric 'author_modes' whose name attribute is 'mode_coverage_2d'" in (
        _refused(hub)
    )
    unnamed = type("Unnamed", (HingeLoss,), {"name": ""})()
    assert "whose name attribute is ''" in _refused(_hub("losses", "author_loss", unnamed))
    assert _hub("losses", "author_loss", _Loss()).plugins["author"].status == "ok"


# -- 6, 7. what check_loss and a run say about a loss ---------------------------------------


class DetachedLoss(_Loss):
    def d_loss(self, real: Any, fake: Any, targets: Any = None, real_weight: Any = None) -> Any:
        return super().d_loss(real, fake).detach()


def test_check_loss_on_a_detached_loss_says_it_in_the_runs_words() -> None:
    """It was torch's "element 0 of tensors does not require grad and does not have a
    grad_fn", raised before check_loss's own checks."""
    with pytest.raises(ContractError) as err:
        check_loss(DetachedLoss())
    text = str(err.value)
    assert "d_loss on logits (8,) does not depend on them" in text
    assert "its loss does not depend on any weight of D" in text
    assert "does not require grad" not in text


class RealReadingGLoss(_Loss):
    def g_loss(self, fake: Any, real: Any = None, targets: Any = None) -> Any:
        """Reads `real` as if needs_real_for_g were set."""
        return (real.mean() - fake).mean()


def test_a_g_loss_reading_real_without_the_flag_is_told_about_the_flag(workdir: Path) -> None:
    """It was AttributeError: 'NoneType' object has no attribute 'mean', and nothing more."""
    with pytest.raises(ContractError, match="unless the loss sets needs_real_for_g = True"):
        check_loss(RealReadingGLoss())
    hub = Hub.discover(extra=(("author", SimpleNamespace(register_losses=hookimpl(
        lambda register: register("author_loss", RealReadingGLoss())))),))  # fmt: skip
    with pytest.raises(PluginError) as err:
        ganhub.train([*TINY_TOY, "loss=author_loss"], hub=hub)
    text = str(err.value)
    assert len(text.splitlines()) == 1, text
    assert text.startswith("loss 'author_loss': its g_loss() raised AttributeError: 'NoneType'")
    assert "g_loss gets real=None unless the loss sets needs_real_for_g = True" in text
    assert "plugin 'author'" in text
