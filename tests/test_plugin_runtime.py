"""A plugin's code that breaks its contract while a run trains or scores is named in one line:
a loss that is not one number, a penalty that is a vector, a metric that returns text."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
import torch

import ganhub
from ganhub.errors import ConfigError, PluginError
from ganhub.hookspecs import hookimpl
from ganhub.loggers import Logger
from ganhub.losses.adversarial import HingeLoss
from ganhub.metrics import Directions, Metric
from ganhub.plugins import Hub
from ganhub.tricks import Trick

from .conftest import TINY_TOY


class PerSample(HingeLoss):
    """Hinge without the mean."""

    name = "odd_loss"

    def d_loss(self, real: Any, fake: Any, targets: Any = None, real_weight: Any = None) -> Any:
        return torch.relu(1.0 - real).flatten()


class Summed(HingeLoss):
    """Hinge summed over the batch: its step grows with the batch size."""

    name = "odd_loss"

    def g_loss(self, fake: Any, real: Any = None, targets: Any = None) -> Any:
        return -fake.sum()


class Constant(HingeLoss):
    """A number that depends on nothing."""

    name = "odd_loss"

    def d_loss(self, real: Any, fake: Any, targets: Any = None, real_weight: Any = None) -> Any:
        return torch.tensor(1.0)


class FloatLoss(HingeLoss):
    """A Python float."""

    name = "odd_loss"

    def d_loss(self, real: Any, fake: Any, targets: Any = None, real_weight: Any = None) -> Any:
        return 1.0


class VectorPenalty(Trick):
    """A penalty left per sample."""

    name = "odd_penalty"

    def extra_loss(self, phase: Any, out: Any, ctx: Any) -> Any:
        return torch.zeros(3, requires_grad=True)


class TextMetric(Metric):
    """Returns text."""

    name = "texty"

    def compute(self, system: Any, n_samples: int, seed: int) -> Any:
        return {"texty": "abc"}


def _hub(**hooks: Any) -> Hub:
    plugin = SimpleNamespace(**{
        f"register_{kind}": hookimpl(lambda register, obj=obj: register(*obj))
        for kind, obj in hooks.items()
    })  # fmt: skip
    return Hub.discover(extra=(("odd", plugin),))


@pytest.mark.parametrize(
    ("loss", "message"),
    [
        (
            PerSample(),
            "phase 'D': the domain's phase (or its loss 'odd_loss') gave a tensor of shape (32,)",
        ),
        (
            FloatLoss(),
            "phase 'D': the domain's phase (or its loss 'odd_loss') gave a float, not a 0-dim",
        ),
        (Constant(), "phase 'D': its loss does not depend on any weight of D"),
    ],
)
def test_a_loss_that_is_not_one_trainable_number_is_refused(
    workdir: Path, loss: Any, message: str
) -> None:
    hub = _hub(losses=("odd_loss", loss))
    with pytest.raises(PluginError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ganhub.train([*TINY_TOY, "loss=odd_loss"], hub=hub)


def test_a_trick_term_that_is_a_vector_names_the_trick(workdir: Path) -> None:
    hub = _hub(tricks=("odd_penalty", VectorPenalty))
    with pytest.raises(PluginError, match=r"trick 'odd_penalty' gave a tensor of shape \(3,\)"):
        ganhub.train([*TINY_TOY, "tricks=[odd_penalty]"], hub=hub)


def test_a_metric_that_returns_no_number_is_named(workdir: Path) -> None:
    hub = _hub(metrics=("texty", TextMetric()))
    with pytest.raises(PluginError, match=r"metric 'texty' returned 'texty': str"):
        ganhub.train([*TINY_TOY, "eval.metrics=[texty]"], hub=hub)


def test_a_trick_registered_under_another_name_than_its_own_is_refused() -> None:
    """A run keys a trick's checkpoint state and options by the class's own name."""
    hub = _hub(tricks=("other_name", VectorPenalty))
    info = hub.plugins["odd"]
    assert info.status == "error" and "whose name attribute is 'odd_penalty'" in info.error
    assert "set name = 'other_name' on the class" in info.error and "other_name" not in hub.tricks


def test_the_trick_contract_names_a_loss_or_trick_nothing_registers() -> None:
    """A typo in suits_losses refused the trick with every loss, one in excludes excluded
    nothing; neither said so."""
    from ganhub import testing

    class Misnamed(Trick):
        """Names a loss and a trick that do not exist."""

        name = "misnamed"
        suits_losses = frozenset({"hinge", "wgan_gpp"})
        excludes = frozenset({"ema", "spectral_nrom"})

    hub = _hub(tricks=("misnamed", Misnamed))
    with pytest.raises(testing.ContractError) as err:
        testing.check_trick("misnamed", TINY_TOY, hub=hub)
    assert "suits_losses names wgan_gpp, which no installed plugin registers" in str(err.value)
    assert "excludes names spectral_nrom" in str(err.value) and "known: " in str(err.value)


@pytest.mark.filterwarnings("ignore:std.*degrees of freedom")  # Spread on one sample, on purpose
def test_the_contract_checks_name_what_broke_as_contract_errors(workdir: Path) -> None:
    """`ganhub.testing` raises ContractError for a broken promise, never the raw exception."""
    from ganhub import testing

    with pytest.raises(testing.ContractError, match=r"loss 'odd_loss':\s+d_loss returned float"):
        testing.check_loss(FloatLoss())
    with pytest.raises(testing.ContractError, match=r"d_loss on logits \(8,\) gave shape \(8,\)"):
        testing.check_loss(PerSample())  # it was torch's "grad can be implicitly created..."
    with pytest.raises(
        testing.ContractError, match=r"g_loss of a batch repeated twice is 8, not 4"
    ):
        testing.check_loss(Summed())  # accepted: its gradient doubled with the batch size
    hub = _hub(tricks=("odd_penalty", VectorPenalty))
    base = [a for a in TINY_TOY if not a.startswith("tricks=")]
    with pytest.raises(testing.ContractError) as err:
        testing.check_trick("odd_penalty", base, hub=hub, workdir=workdir)
    assert str(err.value).startswith("trick 'odd_penalty': PluginError: phase 'D': trick")
    assert isinstance(err.value.__cause__, PluginError)
    system = ganhub.load(ganhub.train(TINY_TOY)["run_dir"]).system
    with pytest.raises(testing.ContractError, match=r"metric 'texty': PluginError: metric"):
        testing.check_metric(TextMetric(), system)

    class Spread(Metric):
        """Sample std of the points: needs two of them, whatever min_samples claims."""

        name = "spread"
        better: ClassVar[Directions] = {"spread": None}

        def compute(self, system: Any, n_samples: int, seed: int) -> dict[str, float]:
            return {"spread": float(system.sample(n_samples, seed=seed).std(0).mean())}

    with pytest.raises(testing.ContractError, match=r"spread = nan at min_samples=1 \(declare"):
        testing.check_metric(Spread(), system)
    Spread.min_samples = 2
    assert testing.check_metric(Spread(), system)["spread"] > 0


def test_a_lifecycle_hook_that_raises_is_named_in_one_line(workdir: Path) -> None:
    """An installed plugin's lifecycle hooks run in every run: a broken one is named."""
    from ganhub.errors import UsageError

    def boom(run: Any) -> None:
        raise RuntimeError("boom\nsecond line")

    hub = Hub.discover(extra=(("noisy", SimpleNamespace(before_train=hookimpl(boom))),))
    with pytest.raises(PluginError, match=r"^plugin 'noisy': its before_train hook raised Run"):
        ganhub.train(TINY_TOY, hub=hub)

    def refuse(run: Any, summary: Any) -> None:
        raise UsageError("this plugin refuses on purpose")

    hub = Hub.discover(extra=(("strict", SimpleNamespace(after_train=hookimpl(refuse))),))
    with pytest.raises(UsageError, match=r"^this plugin refuses on purpose$"):
        ganhub.train(TINY_TOY, hub=hub)


def test_an_on_train_error_hook_that_raises_hides_neither_the_error_nor_the_cleanup(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the hook's own error was shown, and the half-made run folder stayed (the next
    `name=x` landed in runs/x-1; `resume=runs/x` found no checkpoint)."""

    def boom(run: Any) -> None:
        raise RuntimeError("the real error")

    def broken(run: Any, error: BaseException) -> None:
        raise ValueError("the handler's own bug")

    plugin = SimpleNamespace(before_train=hookimpl(boom), on_train_error=hookimpl(broken))
    hub = Hub.discover(extra=(("noisy", plugin),))
    with pytest.raises(PluginError, match=r"its before_train hook raised RuntimeError: the real"):
        ganhub.train([*TINY_TOY, "name=x"], hub=hub)
    assert not (workdir / "runs" / "x").exists()
    assert "its on_train_error hook raised ValueError" in capsys.readouterr().err


def _broken_domain(part: str) -> Any:
    """toy2d, with one method breaking the contract the engine relies on."""
    from ganhub_toy2d.domain import Toy2dDomain

    class Broken(Toy2dDomain):
        name = "odd2d"

        def build(self, config: Any, hints: Any) -> Any:
            if part == "build":
                return None  # a forgotten return
            if part == "uncalled":
                return super().build  # a forgotten call
            system = super().build(config, hints)
            if part == "data":
                system.data = lambda: torch.zeros(64, 2)  # type: ignore[method-assign]
            elif part == "shape":  # G makes 3-d points of 2-d data
                system.G = torch.nn.Sequential(system.G, torch.nn.Linear(2, 3))
            elif part == "preflight":  # warnings as one string, not a list of them
                system.before_training = lambda: "check your data"  # type: ignore[method-assign]
            elif part == "str_paths":
                system.write_samples = lambda directory, stem, **kw: [str(directory)]  # type: ignore[method-assign]
            else:
                system.write_samples = lambda directory, stem, **kw: None  # type: ignore[method-assign]
            return system

    return Broken()


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ("build", "domain 'odd2d': build() returned None (a missing return?), not a GANSystem"),
        ("uncalled", "build() returned the method itself (a missing call?), not a GANSystem"),
        ("data", "domain 'odd2d': data() returned Tensor, not a ganhub.data.BatchSource"),
        ("samples", "write_samples() returned None (a missing return?), not a list of paths"),
        ("str_paths", "write_samples() returned a list holding str, not a list of paths (pathlib"),
        ("shape", "the generator makes samples of shape (3,) float32, the data yields (2,) "),
        ("preflight", "domain 'odd2d': before_training() returned str, not a list of str"),
    ],
)
def test_a_domain_part_that_breaks_its_contract_is_named(
    workdir: Path, part: str, message: str
) -> None:
    """They were AttributeError / TypeError / shape-error tracebacks from inside the engine."""
    hub = _hub(domains=("odd2d", _broken_domain(part)))
    args = [a if a != "plugin=toy2d" else "plugin=odd2d" for a in TINY_TOY]
    with pytest.raises(PluginError, match=re.escape(message)):
        ganhub.train(args, hub=hub)


class NoConfigArgument(Logger):
    """A constructor without the config argument."""

    def __init__(self, run_dir: Path) -> None:  # type: ignore[override]
        self.run_dir = run_dir


class FailingLog(Logger):
    """A log() that raises."""

    def log(self, step: int, metrics: dict[str, float]) -> None:
        raise KeyError("loss")


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (NoConfigArgument, "logger 'odd_log': start raised TypeError: "),
        (FailingLog, "logger 'odd_log': log raised KeyError: 'loss'"),
    ],
)
def test_a_logger_that_breaks_is_named_in_one_line(workdir: Path, cls: Any, message: str) -> None:
    """Both were tracebacks from inside the engine."""
    hub = _hub(loggers=("odd_log", cls))
    args = [a if not a.startswith("loggers=") else "loggers=[jsonl,odd_log]" for a in TINY_TOY]
    with pytest.raises(PluginError, match=re.escape(message)):
        ganhub.train(args, hub=hub)


class Exploding(Metric):
    """Raises in compute, as a plugin's bug would."""

    name = "exploding"

    def compute(self, system: Any, n_samples: int, seed: int) -> Any:
        raise RuntimeError("metric exploded\nsecond line")


class ModesTwin(Metric):
    """Reports a key that mode_coverage_2d reports too (undeclared: found when evaluated)."""

    name = "modes_twin"

    def compute(self, system: Any, n_samples: int, seed: int) -> Any:
        return {"modes": 99.0}


class DeclaredTwin(ModesTwin):
    """Declares the key: refused before step one."""

    name = "declared_twin"
    better: ClassVar[Directions] = {"modes": "higher"}


@pytest.mark.parametrize(
    ("metric", "error", "message"),
    [
        (Exploding(), PluginError,
         r"^metric 'exploding' raised RuntimeError: metric exploded \(see `ganhub list metrics`"),
        (ModesTwin(), PluginError,
         r"^metrics 'mode_coverage_2d' and 'modes_twin' both report 'modes', and one value "
         r"would replace the other"),
        (DeclaredTwin(), ConfigError,
         r"^eval\.metrics: 'mode_coverage_2d' and 'declared_twin' both report 'modes'"),
    ],
)  # fmt: skip
def test_a_metric_that_raises_or_overwrites_another_is_named_in_one_line(
    workdir: Path, metric: Metric, error: type[Exception], message: str
) -> None:
    """A raising metric ended a trained run in a traceback; a second metric's `modes` replaced
    mode_coverage_2d's without a word (keep_best and tune read the wrong value)."""
    hub = _hub(metrics=(metric.name, metric))
    listed = (
        f"[{metric.name}]" if isinstance(metric, Exploding) else f"[mode_coverage_2d,{metric.name}]"
    )
    with pytest.raises(error, match=message) as err:
        ganhub.train([*TINY_TOY, f"eval.metrics={listed}", "name=m"], hub=hub)
    assert len(str(err.value).splitlines()) == 1
    trained = (workdir / "runs" / "m" / "checkpoints").exists()
    assert trained == (error is PluginError)  # a declared clash is refused before step one
