"""Plugin code that raises, or hands the engine a value it cannot use, is named in one line:
the component (kind and registered name) and its plugin, never a traceback from the engine
nor a line blaming another plugin. GANHUB_DEBUG=1 still shows the traceback (chained)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

import ganhub
from ganhub.errors import ConfigError, PluginError, TrainingError
from ganhub.hookspecs import hookimpl
from ganhub.loggers import Logger
from ganhub.losses.adversarial import HingeLoss
from ganhub.metrics import Metric
from ganhub.plugins import Hub
from ganhub.tricks import Trick

from .conftest import TINY_TOY


def _hub(extra: dict[str, Any] | None = None, **hooks: Any) -> Hub:
    """A hub with plugin 'odd' registering `hooks` (kind -> (name, object)) and `extra` hooks."""
    plugin = SimpleNamespace(
        **{
            f"register_{kind}": hookimpl(lambda register, obj=obj: register(*obj))
            for kind, obj in hooks.items()
        },
        **(extra or {}),
    )
    return Hub.discover(extra=(("odd", plugin),))


def _toy(*more: str, plugin: str = "toy2d") -> list[str]:
    return [a if a != "plugin=toy2d" else f"plugin={plugin}" for a in TINY_TOY] + list(more)


def _one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(err.value)
    assert len(text.splitlines()) == 1, text
    return text


# -- 1. a metric's supports() ---------------------------------------------------------------


class PickyMetric(Metric):
    """Raises when asked what it supports."""

    name = "picky"

    def supports(self, caps: Any) -> bool:
        raise RuntimeError("no idea\nsecond line")

    def compute(self, system: Any, n_samples: int, seed: int) -> Any:
        return {"picky": 1.0}


def test_a_metric_whose_supports_raises_is_named_not_the_builtin_plugin(workdir: Path) -> None:
    """It was blamed on `plugin 'ganhub.metrics.builtin': its before_train hook raised`."""
    hub = _hub(metrics=("picky", PickyMetric()))
    with pytest.raises(PluginError) as err:
        ganhub.train(_toy("eval.metrics=[picky]"), hub=hub)
    text = _one_line(err)
    assert text.startswith("metric 'picky': its supports() raised RuntimeError: no idea (")
    assert "ganhub.metrics.builtin" not in text and "ganhub list metrics" in text


# -- 2. a domain's build() that returns something else -------------------------------------


def _domain(**broken: Any) -> Any:
    """toy2d registered as 'odd2d', with `build` or the system's `write_samples` replaced."""
    from ganhub_toy2d.domain import Toy2dDomain

    class Odd(Toy2dDomain):
        name = "odd2d"

        def build(self, config: Any, hints: Any) -> Any:
            if "build" in broken:
                return broken["build"]()
            system = super().build(config, hints)
            if "write_samples" in broken:
                system.write_samples = broken["write_samples"]  # type: ignore[method-assign]
            return system

    return Odd()


def test_a_build_that_returns_no_system_is_named(workdir: Path) -> None:
    """It was a 37-line traceback ending in "'Linear' object has no attribute 'phases'"."""
    hub = _hub(domains=("odd2d", _domain(build=lambda: torch.nn.Linear(2, 2))))
    with pytest.raises(PluginError) as err:
        ganhub.train(_toy(plugin="odd2d"), hub=hub)
    assert _one_line(err) == "domain 'odd2d': build() returned Linear, not a GANSystem"


# -- 3. a trick's stats that are no device scalars -----------------------------------------


def _stat_trick(value: Any) -> type[Trick]:
    class Stats(Trick):
        """Puts `value` in out.stats."""

        name = "odd_stats"

        def observe(self, phase: Any, out: Any, ctx: Any) -> None:
            out.stats["odd/value"] = value

    return Stats


@pytest.mark.parametrize(
    ("value", "what"),
    [(0.5, "a float"), ("high", "a str"), (torch.zeros(3), "a tensor of shape (3,)")],
)
def test_a_stat_that_is_no_device_scalar_names_the_trick_and_key(
    workdir: Path, value: Any, what: str
) -> None:
    """They were `'float' object has no attribute 'dim'` and the like, from the engine."""
    hub = _hub(tricks=("odd_stats", _stat_trick(value)))
    with pytest.raises(PluginError) as err:
        ganhub.train(_toy("tricks=[odd_stats]"), hub=hub)
    assert _one_line(err).startswith(
        f"phase 'D': trick 'odd_stats': its observe() put {what} in out.stats['odd/value'], "
        "not a 0-dim tensor"
    )


def test_a_phase_stat_that_is_no_device_scalar_names_the_key(workdir: Path) -> None:
    """A trick that replaces a stat the phase made is caught where the stats are summed."""

    class Replaces(Trick):
        name = "odd_stats"

        def observe(self, phase: Any, out: Any, ctx: Any) -> None:
            key = next(iter(out.stats))
            out.stats[key] = 1.0

    hub = _hub(tricks=("odd_stats", Replaces))
    with pytest.raises(PluginError, match=r"^phase 'D': stat 'D_real' is a float, not a 0-dim"):
        ganhub.train(_toy("tricks=[odd_stats]"), hub=hub)


# -- 4. exceptions raised in plugin code -----------------------------------------------------


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise ValueError("boom\nsecond line")


class BadDLoss(HingeLoss):
    name = "odd_loss"
    d_loss = _boom  # type: ignore[assignment]


class BadGLoss(HingeLoss):
    name = "odd_loss"
    g_loss = _boom  # type: ignore[assignment]


def _trick(method: str, body: Any = _boom) -> type[Trick]:
    return type("Odd", (Trick,), {"name": "odd_trick", method: body})


class BadStart(Logger):
    def __init__(self, run_dir: Path, config: Any) -> None:
        raise ConnectionRefusedError(111, "Connection refused")


CASES: dict[str, tuple[dict[str, Any], list[str], str]] = {
    "d_loss": ({"losses": ("odd_loss", BadDLoss())}, ["loss=odd_loss"],
               "loss 'odd_loss': its d_loss() raised ValueError: boom"),
    "g_loss": ({"losses": ("odd_loss", BadGLoss())}, ["loss=odd_loss"],
               "loss 'odd_loss': its g_loss() raised ValueError: boom"),
    "setup": ({"tricks": ("odd_trick", _trick("setup"))}, ["tricks=[odd_trick]"],
              "trick 'odd_trick': its setup() raised ValueError: boom"),
    "observe": ({"tricks": ("odd_trick", _trick("observe"))}, ["tricks=[odd_trick]"],
                "trick 'odd_trick': its observe() raised ValueError: boom"),
    "after_step": ({"tricks": ("odd_trick", _trick("after_step"))}, ["tricks=[odd_trick]"],
                   "trick 'odd_trick': its after_step() raised ValueError: boom"),
    "d_input": ({"tricks": ("odd_trick", _trick("d_input"))}, ["tricks=[odd_trick]"],
                "trick 'odd_trick': its d_input() raised ValueError: boom"),
    "adjust_build": ({"tricks": ("odd_trick", _trick("adjust_build"))}, ["tricks=[odd_trick]"],
                     "trick 'odd_trick': its adjust_build() raised ValueError: boom"),
    "adjust_phases": ({"tricks": ("odd_trick", _trick("adjust_phases"))}, ["tricks=[odd_trick]"],
                      "trick 'odd_trick': its adjust_phases() raised ValueError: boom"),
    "on_optimizers": ({"tricks": ("odd_trick", _trick("on_optimizers"))}, ["tricks=[odd_trick]"],
                      "trick 'odd_trick': its on_optimizers() raised ValueError: boom"),
    "real_batch": ({"tricks": ("odd_trick", _trick("real_batch"))}, ["tricks=[odd_trick]"],
                   "trick 'odd_trick': its real_batch() raised ValueError: boom"),
    "state_dict": ({"tricks": ("odd_trick", _trick("state_dict"))}, ["tricks=[odd_trick]"],
                   "trick 'odd_trick': its state_dict() raised ValueError: boom"),
    "targets": ({"tricks": ("odd_trick", _trick("targets"))}, ["tricks=[odd_trick]"],
                "trick 'odd_trick': its targets() raised ValueError: boom"),
    "d_input None": (
        {"tricks": ("odd_trick", _trick("d_input", lambda self, x, ctx: None))},
        ["tricks=[odd_trick]"], "trick 'odd_trick': its d_input() returned NoneType, not a tensor"),
    "logger start": ({"loggers": ("odd_log", BadStart)}, ["loggers=[jsonl,odd_log]"],
                     "logger 'odd_log': start raised ConnectionRefusedError: "),
    "build": ({"domains": ("odd2d", _domain(build=lambda: _boom()))}, [],
              "domain 'odd2d': its build() raised ValueError: boom"),
    "write_samples": ({"domains": ("odd2d", _domain(write_samples=_boom))}, [],
                      "domain 'odd2d': its write_samples() raised ValueError: boom"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_an_exception_in_plugin_code_names_the_part_and_its_plugin(
    workdir: Path, case: str
) -> None:
    """Each was a bare traceback from inside the engine, naming no component."""
    hooks, args, message = CASES[case]
    plugin = "odd2d" if "domains" in hooks else "toy2d"
    with pytest.raises(PluginError) as err:
        ganhub.train(_toy(*args, plugin=plugin), hub=_hub(**hooks))
    text = _one_line(err)
    assert text.startswith(message), text
    assert "plugin 'odd'" in text or "returned" in text  # the plugin that registered it
    if "returned" not in text:
        assert isinstance(err.value.__cause__, Exception)  # GANHUB_DEBUG=1 shows it
        assert "GANHUB_DEBUG=1 shows the traceback" in text


def test_a_builtin_part_is_named_with_its_own_plugin(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built-ins are plugins: a fault in the hinge loss names ganhub's loss plugin."""
    monkeypatch.setattr(HingeLoss, "g_loss", _boom)
    with pytest.raises(PluginError) as err:
        ganhub.train(_toy("loss=hinge"))
    text = _one_line(err)
    assert text.startswith("loss 'hinge': its g_loss() raised ValueError: boom")
    assert re.search(r"\(plugin 'ganhub\.losses\.adversarial' from ganhub \S+;", text), text


@pytest.mark.parametrize("error", [KeyboardInterrupt, TrainingError, MemoryError])
def test_what_is_no_bug_of_the_plugin_passes_as_it_is(workdir: Path, error: type) -> None:
    """Ctrl-C, ganhub's own errors and a lack of memory are not turned into a plugin's bug."""

    def raise_it(self: Any, step: int, system: Any) -> None:
        raise error("stop")

    hub = _hub(tricks=("odd_trick", _trick("after_step", raise_it)))
    with pytest.raises(error):
        ganhub.train(_toy("tricks=[odd_trick]"), hub=hub)


# -- 5. values a checkpoint cannot hold -------------------------------------------------------


class SetState(Trick):
    """Keeps a set in its state."""

    name = "odd_state"

    def state_dict(self) -> dict[str, Any]:
        return {"seen": {1, 2}}


def test_a_trick_state_a_checkpoint_cannot_hold_names_the_trick(workdir: Path) -> None:
    hub = _hub(tricks=("odd_state", SetState))
    with pytest.raises(PluginError) as err:
        ganhub.train(_toy("tricks=[odd_state]", "name=s"), hub=hub)
    assert _one_line(err).startswith(
        "trick 'odd_state': its state_dict() holds a value of type set at ['seen'], which a "
        "checkpoint cannot hold"
    )
    assert not list((workdir / "runs" / "s" / "checkpoints").glob(".*tmp"))  # nothing half-made


def test_a_hook_extra_a_checkpoint_cannot_hold_names_the_plugin(workdir: Path) -> None:
    def before_save_checkpoint(run: Any, step: int, extra: dict[str, Any]) -> None:
        extra["obj"] = object()

    hub = _hub(extra={"before_save_checkpoint": hookimpl(before_save_checkpoint)})
    with pytest.raises(PluginError) as err:
        ganhub.train(_toy(), hub=hub)
    assert _one_line(err).startswith(
        "plugin 'odd': its before_save_checkpoint hook put a value of type object in "
        "extra['obj'], which a checkpoint cannot hold"
    )


class Counter(Trick):
    """Keeps a count in its state, and refuses (or fails on) what it loads back."""

    name = "odd_state"
    load_error: type[Exception] = KeyError

    def state_dict(self) -> dict[str, Any]:
        return {"count": 3}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise self.load_error("count")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (KeyError, "is damaged (ValueError: trick 'odd_state' (plugin 'odd') refused its "
                   "state: KeyError: 'count'); remove"),
        (ZeroDivisionError, "trick 'odd_state': its load_state_dict() raised "
                            "ZeroDivisionError: count (plugin 'odd'"),
    ],
)  # fmt: skip
def test_a_trick_that_cannot_load_its_state_is_named(
    workdir: Path, error: type[Exception], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read as a damaged state.json naming no trick, or were a traceback."""
    hub = _hub(tricks=("odd_state", Counter))
    ganhub.train(_toy("tricks=[odd_state]", "name=s"), hub=hub)
    monkeypatch.setattr(Counter, "load_error", error)
    with pytest.raises(ConfigError if error is KeyError else PluginError) as err:
        ganhub.train(["resume=runs/s", "trainer.steps=6"], hub=hub)
    assert expected in _one_line(err)


# -- 6. the commands of a plugin that failed to load -----------------------------------------


def test_an_unknown_command_mentions_the_plugins_that_failed_to_load(cli: Any) -> None:
    """`ganhub spiral stats` said only "No such command 'spiral'"."""
    from ganhub.plugins import get_hub, reset_hub

    def broken(register: Any) -> None:
        raise ZeroDivisionError("division by zero")

    try:
        code, _, err = cli("spiral", "stats")
        assert code == 2 and "failed to load" not in err and "--help" in err
        get_hub().add("spiral", SimpleNamespace(register_domains=hookimpl(broken)))
        code, _, err = cli("spiral", "stats")
        assert code == 2 and "No such command 'spiral'" in err
        assert err.strip().endswith("(plugins that failed to load: spiral; see ganhub plugins)")
        assert len(err.strip().splitlines()) == 1
    finally:
        reset_hub()
