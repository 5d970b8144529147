"""A domain's own `display_samples` (the draw a user looks at: `ganhub sample --label`'s grid),
checked against its `sample` (part of `ganhub.testing.check_domain`): the same layout (type,
shape, dtype) for the same n and labels, and the same pictures for the same seed. The
default `display_samples` is `sample` itself, so only an override is checked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ganhub.engine.system import GANSystem


def display_problems(system: GANSystem) -> list[str]:
    """What a system's overridden `display_samples` does that the contract does not allow: a
    layout other than `sample`'s for the same arguments, or other outputs for the same seed
    (its labels: the first class of each factor, for a conditional system). Empty for a
    system without samples, or one that keeps the default."""
    import torch

    from ganhub.engine.system import GANSystem

    caps = system.capabilities()
    if not caps.samples or type(system).display_samples is GANSystem.display_samples:
        return []
    labels = None
    if caps.labels is not None:
        from ganhub.conditioning.nets import as_label_tensor

        spec = caps.labels
        labels = as_label_tensor(spec, [0] * spec.factors, 3, system.device)
    given = "" if labels is None else ", labels=y"
    was_training = system.training
    system.eval()
    try:
        with torch.no_grad():
            scored = system.sample(3, seed=11, labels=labels)
            shown = system.display_samples(3, seed=11, labels=labels)
            again = system.display_samples(3, seed=11, labels=labels)
    finally:
        system.train(was_training)
    if _layout(shown) != _layout(scored):
        return [
            f"display_samples(3, seed=s{given}) gave {_words(shown)}, where sample(3, "
            f"seed=s{given}) gave {_words(scored)}: draw the same layout (ganhub writes both "
            "the same way)"
        ]
    if not torch.equal(shown, again):
        return [
            f"display_samples(n, seed=s{given}) differs between two calls with the same seed "
            "(draw its latents and noise from the seed, as sample does)"
        ]
    return []


def _layout(x: Any) -> tuple[Any, ...]:
    """(type, shape, dtype) of a tensor; the type alone of anything else."""
    import torch

    if isinstance(x, torch.Tensor):
        return (torch.Tensor, tuple(x.shape), x.dtype)
    return (type(x),)


def _words(x: Any) -> str:
    """'a (3, 1, 8, 8) torch.float32 tensor', or the type's name."""
    layout = _layout(x)
    if len(layout) == 1:
        return f"a {type(x).__name__}"
    return f"a {layout[1]} {layout[2]} tensor"


__all__ = ["display_problems"]
