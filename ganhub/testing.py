"""Contract checks for plugin authors: the tests ganhub's own domains, losses, tricks and
metrics pass, for yours (in the spirit of scikit-learn's `check_estimator`).

    from ganhub.testing import check_domain, check_loss, check_metric, check_trick

    def test_my_domain_keeps_the_contract():
        check_domain("moons", ["trainer.batch_size=32"], hub=my_hub)

Each check trains a few tiny steps on the CPU and raises `ContractError` (an AssertionError)
with one line per broken promise. The domain check covers: the name of the entry point that
loads it (`check_entry_point`), the config round trip (the saved config validates back to
itself), training (the Domain's modality is its system's), exact resume from a checkpoint,
packed discriminators (`supports_pack`), the declared capabilities against what `sample` and
`real_samples` return, an overridden `display_samples` against `sample` (its layout, and the
same pictures for a seed), the default metrics being applicable and computed, sample
artifacts, and `ganhub.load`. What a plugin declares through a method's return that ganhub
reads only later (a trick's `follows_run_length`, a system's sample dtype...) is checked in
`ganhub.testing_declared`.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganhub.capability_checks import capability_problems
from ganhub.display_checks import display_problems
from ganhub.plural import agreeing
from ganhub.testing_declared import (
    loss_problems,
    system_problems,
    trick_problems,
    unknown_names,
)

if TYPE_CHECKING:
    from torch import Tensor

    from ganhub.config.schema import RunConfig
    from ganhub.engine.run import Run
    from ganhub.engine.system import GANSystem
    from ganhub.losses import AdversarialLoss
    from ganhub.metrics import Metric
    from ganhub.plugins import Hub
    from ganhub.tricks import Trick

# keep contract runs small and quiet; the caller's overrides come after these
QUIET = ("trainer.progress=false", "loggers=[jsonl]", "trainer.log_every=1")


class ContractError(AssertionError):
    """A plugin breaks a promise of the ganhub contract; the message says which."""


def _fail(problems: list[str], what: str) -> None:
    if problems:
        raise ContractError(f"{what}:\n  " + "\n  ".join(problems))


@contextmanager
def _contract(what: str) -> Iterator[None]:
    """Any exception the plugin's code raises inside a check becomes a ContractError naming
    what was checked, the original chained to it (its traceback stays for the author); a line
    that names it already (ganhub's plugin errors: "domain 'x': its build() raised ...") names
    it once."""
    try:
        yield
    except ContractError:
        raise
    except Exception as exc:
        line = (str(exc).strip().splitlines() or [""])[0].removeprefix(f"{what}: ")
        raise ContractError(f"{what}: {type(exc).__name__}: {line}") from exc


@contextmanager
def _workdir(workdir: Path | None) -> Iterator[Path]:
    if workdir is not None:
        yield workdir
        return
    with tempfile.TemporaryDirectory(prefix="ganhub-contract-") as tmp:
        yield Path(tmp)


# -- domains --------------------------------------------------------------------------------


def check_domain(
    plugin: str,
    overrides: Sequence[str] = (),
    *,
    hub: Hub | None = None,
    steps: int = 4,
    workdir: Path | None = None,
    exact_resume: bool = True,
) -> None:
    """Check a registered domain end to end on a few tiny CPU steps (see the module doc);
    `overrides` make the run small (a `preset=tiny`, a small batch); `steps` must be even."""
    from ganhub.plugins import get_hub

    hub = hub or get_hub()
    what = f"domain '{plugin}'"
    check_entry_point(plugin, hub=hub)
    with _contract(what), _workdir(workdir) as root:
        args = [f"plugin={plugin}", "device=cpu", *QUIET, *overrides, f"out_dir={root}"]
        config = _resolve(args, hub)
        check_config_round_trip(config, hub)
        full = _train([*args, f"trainer.steps={steps}", "name=full"], hub)
        _check_resume(args, steps, full, hub, exact_resume)
        if hub.require_domain(plugin).supports_pack:
            check_packed_discriminator(config, args, hub)
        with _contract(f"{what}: its declared capabilities"):
            problems = capability_problems(full.system, hub)
        _fail(problems, f"{what}: its declared capabilities")
        _fail(system_problems(full.system, full.config), f"{what}: its system")
        _fail(display_problems(full.system), f"{what}: its display_samples")
        samples = any((full.run_dir / "samples").glob("*"))
        _fail([] if samples else ["the run wrote no sample artifact under samples/"], what)
        _check_load(full, hub)


def check_entry_point(domain: str, *, hub: Hub | None = None) -> None:
    """The installed entry point that loads `domain` is named `domain` (docs/plugins.md,
    "Names"): a misspelt one (`wsip` for `wisp`) loads all the same, under a name that
    `ganhub plugins` and GANHUB_DISABLE_PLUGINS use and no user would type. A domain registered
    in-process (`Hub.discover(extra=...)`) has no entry point to check."""
    from ganhub.plugins import get_hub

    hub = hub or get_hub()
    with _contract(f"domain '{domain}'"):
        info = hub.plugins.get(hub.domains.entry(domain).plugin)
    _fail([info.warning] if info is not None and info.warning else [], f"domain '{domain}'")


def check_config_round_trip(config: RunConfig, hub: Hub) -> None:
    """The config as saved (YAML) validates back to the same config."""
    import yaml

    from ganhub.config.overrides import ConfigLoader, dump_yaml
    from ganhub.config.resolve import resolve

    saved = yaml.load(dump_yaml(config.model_dump(mode="json")), Loader=ConfigLoader)
    again = resolve(hub=hub, saved=saved, training=False)
    if again.model_dump(mode="json") != config.model_dump(mode="json"):
        raise ContractError(
            f"domain '{config.plugin}': the saved config does not validate to itself"
        )
    if set(saved.get("trick", {})) - set(config.tricks):
        raise ContractError(
            f"domain '{config.plugin}': the saved config holds options of tricks it does not use"
        )


def check_packed_discriminator(config: RunConfig, args: Sequence[str], hub: Hub) -> None:
    """A domain declaring `supports_pack` builds Ds that take what the pacgan trick's own
    `d_input` packs and give one logit per pack: a step with tricks=[pacgan] (`args`: its run)."""
    from ganhub.engine.loop import train_steps
    from ganhub.errors import PluginError, UsageError
    from ganhub.wiring import make_run

    t = config.trainer
    size = t.batch_size * (1 + t.batch_size // t.grad_accum % 2)  # 2 divides the micro-batch
    more = ["tricks=[pacgan]", "trick.pacgan.pack=2", f"trainer.batch_size={size}", "name=packed"]
    try:
        run = make_run(_resolve([*args, *more, "trainer.steps=1"], hub), hub)
    except UsageError as exc:  # pacgan refused with this config (conditional): no packed run
        if isinstance(exc, PluginError):
            raise
        return
    wrong: list[tuple[int, int]] = []  # (packed inputs, logits) of calls where they differ

    def rows(module: Any, inputs: tuple[Any, ...], out: Any) -> None:
        x: Any = inputs[0] if inputs else None
        if getattr(x, "ndim", 0) and getattr(out, "ndim", 0) and len(x) != len(out):  # tensors
            wrong.append((len(x), len(out)))

    for d in run.system.discriminators():
        d.register_forward_hook(rows)  # the run is thrown away after its step
    try:
        train_steps(run, run.batches(), 1)
    finally:
        run.close()
    if wrong:
        raise ContractError(
            f"domain '{config.plugin}': it declares supports_pack = True, but with tricks=[pacgan] "
            f"(hints.pack=2) its discriminator gave {wrong[0][1]} logits for {wrong[0][0]} packed "
            "inputs, not one per pack; build() must make D take hints.pack samples at once"
        )


def _resolve(args: Sequence[str], hub: Hub) -> RunConfig:
    from ganhub.config.resolve import resolve

    return resolve(list(args), hub=hub)


def _train(args: Sequence[str], hub: Hub) -> Run:
    from ganhub.engine.loop import fit
    from ganhub.wiring import make_run

    run = make_run(_resolve(args, hub), hub)
    summary = fit(run)
    problems = []
    if summary["steps"] != run.config.trainer.steps:
        problems.append(f"trained {summary['steps']} of {run.config.trainer.steps} steps")
    if run.skipped_metrics:
        problems.append(f"metrics {run.skipped_metrics} were skipped (not applicable)")
    for key, value in summary["metrics"].items():
        if not math.isfinite(value):
            problems.append(f"metric {key} = {value}")
    problems += _direction_problems(summary["metrics"], run.metrics())
    _fail(problems, f"domain '{run.config.plugin}': training")
    return run


def _check_resume(
    args: list[str], steps: int, full: Run, hub: Hub, exact: bool, trick: str = ""
) -> None:
    import torch

    from ganhub.engine.loop import train_steps
    from ganhub.wiring import make_run

    # the same config (schedules depend on trainer.steps), stopped half way and saved
    part = make_run(_resolve([*args, f"trainer.steps={steps}", "name=half"], hub), hub)
    try:
        train_steps(part, part.batches(), steps // 2)
        part.save()
    finally:
        part.close()
    resumed = _train([f"resume={part.run_dir}", *QUIET], hub)
    a, b = full.system.state_dict(), resumed.system.state_dict()
    bad = []
    for key, value in a.items():
        other = b[key]
        if not value.is_floating_point() or exact:
            same = torch.equal(value, other)
        else:
            same = torch.allclose(value, other, rtol=1e-4, atol=1e-6)
        if not same:
            bad.append(key)
    who = f"trick '{trick}': a run with it" if trick else f"domain '{full.config.plugin}': a run"
    if bad:  # check_trick's base domain passes check_domain: then the trick lost its state
        keep = "; return the state it changes during training from state_dict(), restore it in"
        raise ContractError(
            f"{who} resumed at step {steps // 2} does not continue exactly: {len(bad)} tensors "
            f"differ (first: {bad[0]})" + (f"{keep} load_state_dict()" if trick else "")
        )


def _check_load(run: Run, hub: Hub) -> None:
    import torch

    from ganhub.api import load

    model = load(run.run_dir, hub=hub, plugin=run.config.plugin)
    if model.step != run.step:
        raise ContractError(f"load() opened step {model.step}, the run ended at {run.step}")
    if run.system.capabilities().samples:
        run.system.eval()
        with torch.no_grad():
            expected = run.system.sample(2, seed=5)
        if not torch.equal(model.sample(2, seed=5), expected):
            raise ContractError("load() gives a generator that samples differently from the run's")


# -- losses ---------------------------------------------------------------------------------


def check_loss(loss: AdversarialLoss) -> None:
    """Scalars, gradients, and the right direction: D's loss falls as it separates real from
    fake logits, G's falls as fake logits rise; any logit shape (PatchGAN maps) works."""
    with _contract(f"loss '{loss.name}'"):
        try:
            _check_loss(loss)
        except (AttributeError, TypeError) as exc:
            if "NoneType" not in str(exc) or loss.needs_real_for_g:
                raise
            flag = "g_loss gets real=None unless the loss sets needs_real_for_g = True"
            raise ContractError(
                f"loss '{loss.name}': {type(exc).__name__}: {exc} ({flag})"
            ) from exc


def _check_loss(loss: AdversarialLoss) -> None:
    import torch

    from ganhub.losses import Targets

    problems = loss_problems(loss)
    for shape in [(8,), (2, 1, 4, 4)]:
        real = torch.zeros(shape, requires_grad=True)
        fake = torch.zeros(shape, requires_grad=True)
        d = loss.d_loss(real, fake, Targets())
        g = loss.g_loss(fake, real if loss.needs_real_for_g else None, Targets())
        for name, value in (("d_loss", d), ("g_loss", g)):
            if not isinstance(value, torch.Tensor):
                _fail(
                    [f"{name} returned {type(value).__name__}, not a tensor"], f"loss '{loss.name}'"
                )
            if value.ndim != 0:  # the gradient below needs one number
                _fail([f"{name} on logits {shape} gave shape {tuple(value.shape)}, not one "
                       "number (reduce it, e.g. .mean())"], f"loss '{loss.name}'")  # fmt: skip
            if not bool(torch.isfinite(value)):  # what follows would only repeat it
                number = float(value.detach())
                _fail([f"{name} on logits {shape} of zeros gave {number}, not a finite number"],
                      f"loss '{loss.name}'")  # fmt: skip
            if not value.requires_grad:  # as a run says it, not autograd's own error below
                _fail([f"{name} on logits {shape} does not depend on them, so in a run its loss "
                       f"does not depend on any weight of {name[0].upper()} (a value computed "
                       "without gradients: .detach(), .item(), torch.no_grad()?)"],
                      f"loss '{loss.name}'")  # fmt: skip
        d_real = torch.autograd.grad(d, real, allow_unused=True)[0]
        g_fake = torch.autograd.grad(g, fake, allow_unused=True)[0]
        for name, grad in (("d_loss to real", d_real), ("g_loss to fake", g_fake)):
            if grad is None or not bool(grad.abs().sum() > 0):
                problems.append(f"no gradient from {name} logits of shape {shape}")
    zero, step = torch.zeros(8), torch.full((8,), 0.1)
    if not loss.d_loss(step, -step) < loss.d_loss(zero, zero):
        problems.append("d_loss does not fall when D scores reals higher and fakes lower")
    if not loss.g_loss(step, zero if loss.needs_real_for_g else None) < loss.g_loss(
        zero, zero if loss.needs_real_for_g else None
    ):
        problems.append("g_loss does not fall when D scores fakes higher")
    # a mean over the batch, not a sum: the step size must not grow with the batch size
    real, fake = torch.linspace(-1, 2, 8), torch.linspace(-2, 1, 8).flip(0)
    g_real = real if loss.needs_real_for_g else None
    twice = real.repeat(2), fake.repeat(2), None if g_real is None else g_real.repeat(2)
    for name, once_value, twice_value in (
        ("d_loss", loss.d_loss(real, fake), loss.d_loss(twice[0], twice[1])),
        ("g_loss", loss.g_loss(fake, g_real), loss.g_loss(twice[1], twice[2])),
    ):
        if not torch.allclose(once_value, twice_value, rtol=1e-4, atol=1e-6):
            problems.append(
                f"{name} of a batch repeated twice is {float(twice_value):.4g}, not "
                f"{float(once_value):.4g}: reduce over the batch with .mean()"
            )
    _fail(problems, f"loss '{loss.name}'")


# -- tricks ---------------------------------------------------------------------------------


def check_trick(
    name: str,
    base: Sequence[str],
    *,
    hub: Hub | None = None,
    steps: int = 4,
    workdir: Path | None = None,
    companions: Sequence[str] = (),
) -> None:
    """Train a small domain (`base`: its overrides) with the trick on: it documents itself,
    its `warnings()` keep their contract, its state survives a checkpoint, and a resumed run
    continues exactly. `companions`: the tricks it needs beside it (one that relates tasks
    needs a task trick)."""
    from ganhub.engine.checkpoint import flatten, unflatten
    from ganhub.plugins import get_hub
    from ganhub.tricks import build_tricks

    hub = hub or get_hub()
    with _contract(f"trick '{name}'"):
        cls = hub.tricks.get(name)
    problems = []
    if cls.name != name:
        problems.append(f"registered as '{name}' but its name is '{cls.name}'")
    for key, field in cls.Config.model_fields.items():
        if not field.description:
            problems.append(f"option trick.{name}.{key} has no description")
    problems += unknown_names(cls, hub)  # before a run: a typo there refuses every loss
    _fail(problems, f"trick '{name}'")
    with _contract(f"trick '{name}'"), _workdir(workdir) as root:
        tricks = ",".join([*companions, name])
        args = ["device=cpu", *QUIET, *base, f"tricks=[{tricks}]", f"out_dir={root}"]
        config = _resolve([*args, f"trainer.steps={steps}", "name=full"], hub)
        # as `ganhub config` makes it: with its options and the config, never set up
        made = build_tricks(config, {name: cls})[0]
        _check_warnings(name, made)
        _fail(trick_problems(made), f"trick '{name}'")
        full = _train([*args, f"trainer.steps={steps}", "name=full"], hub)
        (trick,) = [t for t in full.tricks if t.name == name]
        tensors: dict[str, Tensor] = {}
        state = unflatten(flatten(trick.state_dict(), tensors), tensors)
        trick.load_state_dict(state)
        _check_resume(args, steps, full, hub, exact=True, trick=name)


def _check_warnings(name: str, trick: Trick) -> None:
    """`Trick.warnings()` on a trick never set up (`ganhub config` calls it so) returns a list
    of str; an exception there, or another return, is a ContractError saying so."""
    what = (
        f"trick '{name}': warnings() on the trick made with its options and config but never "
        "set up (as `ganhub config` calls it)"
    )
    try:
        found = trick.warnings()
    except Exception as exc:
        line = (str(exc).strip().splitlines() or [""])[0]
        raise ContractError(
            f"{what} raised {type(exc).__name__}: {line}; read the options and the config "
            "there, not what setup() makes"
        ) from exc
    if not isinstance(found, list) or not all(isinstance(w, str) for w in found):
        kinds = sorted({type(w).__name__ for w in found}) if isinstance(found, list) else []
        got = f"a list holding {', '.join(kinds)}" if kinds else type(found).__name__
        raise ContractError(f"{what} returned {got}, not a list of str (one line per warning)")


# -- metrics --------------------------------------------------------------------------------


def check_metric(metric: Metric, system: GANSystem, *, n_samples: int = 64) -> dict[str, float]:
    """A metric that supports a system returns finite floats, the same for the same seed, and
    still does at the fewest samples ganhub lets a user ask for (`fewest_samples`: its
    `min_samples`, or more on this system); every key it returns is declared in `better`."""
    from ganhub.metrics import evaluate

    caps = system.capabilities()
    if not metric.supports(caps):
        raise ContractError(f"metric '{metric.name}' does not support this system ({caps})")
    with _contract(f"metric '{metric.name}'"):
        metric.check(system)
        first = evaluate(system, [metric], n_samples=n_samples, seed=0).values
        second = evaluate(system, [metric], n_samples=n_samples, seed=0).values
    least = metric.fewest_samples(caps)[0]  # min_samples, or what this system's classes need
    with _contract(f"metric '{metric.name}' at its fewest samples, {least}"):
        smallest = evaluate(system, [metric], n_samples=least, seed=0).values
    problems = []
    if not first:
        problems.append("compute() returned no values")
    for key, value in first.items():
        if not isinstance(value, float):
            problems.append(f"{key} is {type(value).__name__}, not float")
        elif not math.isfinite(value):
            problems.append(f"{key} = {value}")
    problems += [
        f"{key} = {value} at min_samples={least} (declare more)"
        for key, value in smallest.items()
        if not math.isfinite(value)
    ]
    if not _same(first, second):
        problems.append("two evaluations with the same seed differ")
    problems += _direction_problems(first, [metric])
    _fail(problems, f"metric '{metric.name}'")
    return first


def _direction_problems(values: Mapping[str, float], metrics: Sequence[Metric]) -> list[str]:
    """Every reported key must say whether lower or higher is better (or that it is no score),
    in words ganhub reads: another direction was taken for higher-is-better."""
    from ganhub.metrics import undeclared
    from ganhub.plugin_checks import direction_mistake

    mistakes = [direction_mistake(getattr(m, "better", None)) for m in metrics]
    if any(mistakes):
        return [m for m in mistakes if m]
    missing = undeclared(values, metrics)
    if not missing:
        return []
    return [
        f"{agreeing(len(missing), 'results')} {', '.join(missing)} "
        f"{'declares' if len(missing) == 1 else 'declare'} no direction: add "
        f"{'it' if len(missing) == 1 else 'them'} to the metric's `better` "
        f"({{'{missing[0]}': 'lower' | 'higher' | None}})"
    ]


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return a.keys() == b.keys() and all(
        math.isclose(a[k], b[k], rel_tol=1e-6, abs_tol=1e-9) for k in a
    )


__all__ = [
    "ContractError",
    "capability_problems",
    "check_config_round_trip",
    "check_domain",
    "check_entry_point",
    "check_loss",
    "check_metric",
    "check_trick",
]
