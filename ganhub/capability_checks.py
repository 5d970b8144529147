"""What a system promises, checked against what it does: its phases' contract, on every run
(`guarded_phases`: a group it has, a PhaseOutput, no backward of its own, its
errors named as the domain's), and its declared capabilities (part of
`ganhub.testing.check_domain`): the shapes, dtypes and determinism of `sample` and
`real_samples`, conditional labels, default metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ganhub.errors import PluginError, plugin_code

if TYPE_CHECKING:
    from ganhub.capabilities import Capabilities
    from ganhub.engine.system import GANSystem, Phase
    from ganhub.plugin_guard import Owners

# what each modality's samples look like: (dimensions, integer ids?)
SAMPLE_SHAPES = {
    "vector": (2, False),
    "image": (4, False),
    "volume": (5, False),
    "tokens": (2, True),
}
# ...in words, for the line that refuses another shape
LAYOUTS = {
    "vector": "(n, features) floats; a 1D signal of shape (n, channels, length) is flattened "
    "to (n, channels * length)",
    "image": "(n, channels, height, width) floats",
    "volume": "(n, channels, depth, height, width) floats",
    "tokens": "(n, length) integer token ids",
}


def capability_problems(system: GANSystem, hub: Any) -> list[str]:
    """What a system's declared capabilities promise and its behaviour does not keep (`hub`:
    a `ganhub.plugins.Hub`, not imported here: the run imports this module, and the engine
    never imports plugin discovery)."""
    from ganhub.capabilities import Capabilities

    caps = system.capabilities()
    if not isinstance(caps, Capabilities):
        return [f"capabilities() returned {type(caps).__name__}, not Capabilities"]
    problems: list[str] = []
    was_training = system.training
    system.eval()
    try:
        if caps.samples:
            problems += _sample_problems(system, caps)
        if caps.real_samples:
            problems += _real_problems(system, caps)
        if caps.labels is not None:
            problems += _label_problems(system, caps)
        for name in system.default_metrics():
            if name not in hub.metrics:
                problems.append(f"default metric '{name}' is not registered")
            elif not hub.metrics.get(name).supports(caps):
                problems.append(f"default metric '{name}' does not support what it declares")
    finally:
        system.train(was_training)
    return problems


def _label_problems(system: GANSystem, caps: Capabilities) -> list[str]:
    """A conditional system: labels of the declared layout, and sample(labels=) obeys them."""
    import torch

    from ganhub.conditioning.nets import as_label_tensor

    spec = caps.labels
    assert spec is not None
    out = []
    try:  # the data of a system that declares labels by mistake has none
        x, y = system.real_labelled(4)
    except Exception as exc:
        line = (str(exc).strip().splitlines() or [""])[0]
        return [
            f"capabilities() declare labels, but real_labelled() raised {type(exc).__name__}: "
            f"{line} (declare labels=None when the data has none)"
        ]
    shape = (len(x),) if spec.factors == 1 else (len(x), spec.factors)
    if tuple(y.shape) != shape or y.dtype != torch.int64:
        out.append(f"real_labelled() gave labels {tuple(y.shape)} {y.dtype}, not {shape} int64")
    elif any(int(y.reshape(-1, spec.factors)[:, k].max()) >= s for k, s in enumerate(spec.sizes)):
        out.append("real_labelled() gave a label outside the declared classes")
    first = as_label_tensor(spec, [0] * spec.factors, 3, system.device)
    other = as_label_tensor(spec, [1] * spec.factors, 3, system.device)
    with torch.no_grad():
        a, b = system.sample(3, seed=5, labels=first), system.sample(3, seed=5, labels=first)
        c = system.sample(3, seed=5, labels=other)
    if not torch.equal(a, b):
        out.append("sample(n, seed=s, labels=y) differs between two calls")
    elif torch.equal(a, c):
        out.append("sample(labels=) gives the same samples for different labels")
    return out


def _sample_problems(system: GANSystem, caps: Capabilities) -> list[str]:
    import torch

    dims, ids = SAMPLE_SHAPES[caps.modality]
    with torch.no_grad():
        a, b = system.sample(3, seed=11), system.sample(3, seed=11)
    out = []
    if not isinstance(a, torch.Tensor) or a.ndim != dims or len(a) != 3:
        shape = tuple(a.shape) if isinstance(a, torch.Tensor) else type(a).__name__
        out.append(
            f"sample(3) of {caps.modality} data gave {shape}, not {dims}-d with 3 rows: "
            f"{caps.modality} samples are {LAYOUTS[caps.modality]}"
        )
    elif ids != (not a.is_floating_point()):
        out.append(
            f"sample() of {caps.modality} data gave dtype {a.dtype}: {caps.modality} samples "
            f"are {LAYOUTS[caps.modality]}"
        )
    elif not torch.equal(a, b):
        out.append("sample(n, seed=s) differs between two calls with the same seed")
    elif a.is_floating_point() and not bool(torch.isfinite(a).all()):
        out.append("sample() gave NaN/Inf")
    return out


def _real_problems(system: GANSystem, caps: Capabilities) -> list[str]:
    import torch

    dims, _ = SAMPLE_SHAPES[caps.modality]
    real = system.real_samples(3, seed=0)
    if not isinstance(real, torch.Tensor) or real.ndim != dims or len(real) != 3:
        shape = tuple(real.shape) if isinstance(real, torch.Tensor) else type(real).__name__
        return [
            f"real_samples(3) of {caps.modality} data gave {shape}, not {dims}-d with 3 rows: "
            f"{caps.modality} samples are {LAYOUTS[caps.modality]} (the default real_samples "
            "reads data(); override it when data() holds another layout)"
        ]
    if caps.samples:
        with torch.no_grad():
            fake = system.sample(3, seed=0)
        if isinstance(fake, torch.Tensor) and fake.shape[1:] != real.shape[1:]:
            return [
                f"samples {tuple(fake.shape[1:])} and real samples {tuple(real.shape[1:])} differ"
            ]
    return []


def guarded_phases(system: GANSystem, plugin: str, owners: Owners) -> list[Phase]:
    """The domain's own phases (`system.phases()`, taken as a run starts, before tricks add
    theirs and before `ganhub.domain.check_declarations` wraps them for PacGAN), checked: a
    phase whose `group` or `grad_groups` names no parameter group of the system is refused,
    and each phase's loss is wrapped so that what it raises, a return that is no
    `PhaseOutput`, or a `backward()` it calls itself is named in one
    line as the domain's (an isinstance per call; the backward check on a phase's first call)."""
    hint = owners.hint("domain", plugin)
    with plugin_code(f"domain '{plugin}': its phases()", hint):
        phases = system.phases()
    with plugin_code(f"domain '{plugin}': its param_groups()", hint):
        groups = list(system.param_groups())
    for phase in phases:
        unknown = [g for g in (phase.group, *phase.grad_groups) if g not in groups]
        if unknown:
            raise PluginError(
                f"domain '{plugin}': its phase '{phase.name}' names the parameter group "
                f"'{unknown[0]}', which its system does not have; groups: {', '.join(groups)} "
                f"(param_groups(): G from generator_names, D from discriminator_names) ({hint})"
            )
        phase.loss = _guarded_phase(system, phase, plugin, owners)
    return phases


def _guarded_phase(
    system: GANSystem, phase: Phase, plugin: str, owners: Owners
) -> Callable[[Any, Any], Any]:
    """`phase.loss`, its mistakes named as the domain's (see `guarded_phases`); a wrong return
    (no PhaseOutput, or a loss that is no 0-dim tensor) names the phase function's qualified
    name and file:line, looked up only then."""
    import torch

    from ganhub.domain import raised_in_discriminator
    from ganhub.engine.compiled import compiler_failure
    from ganhub.engine.outputs import PhaseOutput
    from ganhub.plugin_guard import d_input_names

    loss, name = phase.loss, phase.name
    what = f"phase '{name}' ({getattr(loss, '__name__', 'its loss')}())"
    hint = owners.hint("domain", plugin)
    first = True  # the backward check runs once: the mistake is in the code, not the data

    def guarded(batch: Any, ctx: Any) -> Any:
        nonlocal first
        probe = _first_grad_holder(system, phase.group) if first else None
        before = probe is not None and probe.grad is None
        try:
            out = loss(batch, ctx)
        except Exception as exc:
            if compiler_failure(exc) is not None:  # torch's compiler is named by the loop
                raise
            if system.hints.pack > 1 and raised_in_discriminator(exc, system):
                raise  # PacGAN: the domain's packed-input guard around this one names it
            if "same device" in str(exc):  # a tensor made on the CPU in a CUDA run
                line = (str(exc).strip().splitlines() or [""])[0][:200]
                raise PluginError(
                    f"domain '{plugin}': its {what} raised {type(exc).__name__}: {line}; make "
                    "new tensors on the batch's device (torch.randn(n, k, device=real.device)):"
                    f" ganhub moves the system and each batch, nothing else ({hint})"
                ) from exc
            if raised_in_discriminator(exc, system) and d_input_names(ctx):
                # D failed on what the D-input tricks made of its input: a trick's fault?
                owners.fault(exc, "domain", plugin, _after_tricks(exc, what, batch, ctx, loss))
            else:
                owners.fault(exc, "domain", plugin, what)
            raise
        if not isinstance(out, PhaseOutput):
            raise PluginError(
                f"domain '{plugin}': its phase '{name}' ({_defined_at(loss)}) returned "
                f"{type(out).__name__}, not a PhaseOutput; return PhaseOutput(loss) (from "
                "ganhub.engine.system import PhaseOutput; its stats and pairs are optional) "
                f"({hint})"
            )
        value = out.loss  # (an isinstance a call; the loop's own check names no function)
        if not (isinstance(value, torch.Tensor) and value.ndim == 0):
            loss_name = str(getattr(getattr(ctx, "loss", None), "name", "?"))
            raise PluginError(
                f"phase '{name}': the domain's phase (or its loss '{loss_name}') gave "
                f"{loss_problem(value)} (the phase: {_defined_at(loss)}, of domain '{plugin}', "
                f"{hint}; the loss: {owners.hint('loss', loss_name)})"
            )
        if before and probe is not None and probe.grad is not None:
            raise PluginError(
                f"domain '{plugin}': its {what} called backward() itself; return the loss "
                "in a PhaseOutput and leave backward(), the optimizer step and zero_grad() "
                f"to ganhub, which runs them for every phase ({hint})"
            )
        first = False
        return out

    return guarded


def _after_tricks(exc: Exception, what: str, batch: Any, ctx: Any, loss: Any) -> str:
    """For a phase whose discriminator raised `exc`: raise its one line as the fault of the
    trick whose `d_input` changed the shape or dtype of D's input, found by running the phase
    again with the D-input tricks traced (this error path only); else `what` naming them."""
    from ganhub.errors import GanhubError
    from ganhub.plugin_guard import blame, d_input_names, reshaped, trace_d_inputs

    names = d_input_names(ctx)
    if not isinstance(exc, GanhubError):
        owners = [getattr(t, "__self__", t) for t in ctx.d_transforms]
        packers = [str(o.name) for o in owners if getattr(o, "packs_inputs", False)]
        found = reshaped(trace_d_inputs(ctx, lambda: loss(batch, ctx)), packers)
        if found is not None:
            trick, change = found
            blame(
                exc,
                f"trick '{trick}': its d_input() turned D's input {change}, and then D",
                ctx.owners.hint("trick", trick),
            )
    listed = ", ".join(f"'{n}'" for n in names)
    return f"{what}, on D inputs through the d_input() of trick{'s' * (len(names) > 1)} {listed},"


def _defined_at(function: Any) -> str:
    """'Toy2dSystem.d_step, /path/system.py:85': the qualified name of a phase's function (a
    bound method, a lambda, a partial, a callable object) and where it is defined."""
    import functools
    import inspect

    target = inspect.unwrap(function)
    while isinstance(target, functools.partial):
        target = inspect.unwrap(target.func)
    func = getattr(target, "__func__", target)  # a bound method's function
    if getattr(func, "__code__", None) is None and not inspect.isbuiltin(func):  # an object
        func = type(target).__call__
    code = getattr(func, "__code__", None)
    qualname = getattr(func, "__qualname__", None) or type(target).__qualname__
    if code is None:
        return qualname
    try:
        path = inspect.getsourcefile(func) or code.co_filename
    except TypeError:
        path = code.co_filename
    return f"{qualname}, {path}:{code.co_firstlineno}"


def loss_problem(value: Any) -> str:
    """'a float, not a 0-dim tensor; give the tensor itself...': what is wrong with a loss
    `value` that is not one number (a 0-dim tensor), and how to fix it."""
    import torch

    if isinstance(value, torch.Tensor):
        return (
            f"a tensor of shape {tuple(value.shape)}, not a 0-dim tensor; reduce it to one "
            "number (e.g. .mean()) that depends on the weights"
        )
    return (
        f"a {type(value).__name__}, not a 0-dim tensor; give the tensor itself (no float(), "
        ".item() or .tolist()): a number has no gradient"
    )


def _first_grad_holder(system: GANSystem, group: str) -> Any:
    """The first parameter of `group` that requires grad: its `.grad` turning from None to a
    tensor while a phase runs means the phase ran backward itself. None when there is none."""
    for param in system.param_groups().get(group, []):
        if param.requires_grad:
            return param
    return None
