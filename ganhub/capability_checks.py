"""What a system's declared capabilities promise, checked against what it does: the shapes,
dtypes and determinism of `sample` and `real_samples`, conditional labels, default metrics
(part of `ganhub.testing.check_domain`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ganhub.capabilities import Capabilities
    from ganhub.engine.system import GANSystem
    from ganhub.plugins import Hub

# what each modality's samples look like: (dimensions, integer ids?)
SAMPLE_SHAPES = {
    "vector": (2, False),
    "image": (4, False),
    "volume": (5, False),
    "tokens": (2, True),
}


def capability_problems(system: GANSystem, hub: Hub) -> list[str]:
    """What a system's declared capabilities promise and its behaviour does not keep."""
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
    x, y = system.real_labelled(4)
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
        out.append(f"sample(3) of {caps.modality} data gave {shape}, not {dims}-d with 3 rows")
    elif ids != (not a.is_floating_point()):
        out.append(f"sample() of {caps.modality} data gave dtype {a.dtype}")
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
        return [f"real_samples(3) of {caps.modality} data did not give {dims}-d with 3 rows"]
    if caps.samples:
        with torch.no_grad():
            fake = system.sample(3, seed=0)
        if isinstance(fake, torch.Tensor) and fake.shape[1:] != real.shape[1:]:
            return [
                f"samples {tuple(fake.shape[1:])} and real samples {tuple(real.shape[1:])} differ"
            ]
    return []
