"""What a plugin declares through a method's return, checked by `ganhub.testing`: the values
ganhub reads at set-up, in the start banner or at evaluation, where a wrong type passes
training and fails (or misleads) later. Each function returns one line per broken promise.

* a trick's `follows_run_length()` (a phrase or None), `constrains_d()` (a bool) and the
  names in `suits_losses` and `excludes`;
* a loss's `decision_threshold()` (a float or None);
* a system's `follows_run_length()` (a list of phrases), its samples' dtype and device against
  its real samples' and its own, and the interfaces its capabilities declare (a default feature
  network ganhub can have, the `latent_space` it provides).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ganhub.config.schema import RunConfig
    from ganhub.engine.system import GANSystem
    from ganhub.losses import AdversarialLoss
    from ganhub.plugins import Hub
    from ganhub.tricks import Trick

PHRASE = (
    "the few words after its name in the start banner's note on a resume that changes "
    'trainer.steps ("decays on from the rate it reached over the new length")'
)


def _shown(value: Any) -> str:
    """A returned value for one line: its type, and the value when it is short."""
    text = repr(value)
    return type(value).__name__ + (f" ({text})" if len(text) <= 40 else "")


def _called(method: str, call: Any) -> tuple[Any, str | None]:
    """`call()`, or the line saying what it raised."""
    try:
        return call(), None
    except Exception as exc:
        line = (str(exc).strip().splitlines() or [""])[0]
        return None, f"{method}() raised {type(exc).__name__}: {line}"


def trick_problems(trick: Trick) -> list[str]:
    """A trick made with its options and the config, never set up (as ganhub calls these)."""
    out: list[str] = []
    length, failed = _called("follows_run_length", trick.follows_run_length)
    if failed:
        out.append(f"{failed}; read the options and the config there, not what setup() makes")
    elif length is not None and not isinstance(length, str):
        out.append(
            f"follows_run_length() returned {_shown(length)}, not a str or None: {PHRASE}, or "
            "None when nothing it does reads the run's length"
        )
    bound, failed = _called("constrains_d", trick.constrains_d)
    if failed:
        out.append(failed)
    elif not isinstance(bound, bool):
        out.append(
            f"constrains_d() returned {_shown(bound)}, not a bool: True only when the trick "
            "bounds D's Lipschitz constant (what loss=wasserstein needs), else False"
        )
    return out


def unknown_names(cls: type[Trick], hub: Hub) -> list[str]:
    """Names in `suits_losses` and `excludes` that nothing registers: a typo there is silent
    at run time (the trick is refused with every loss, or never excludes the one meant)."""
    out = []
    for attr, names, registry in (("suits_losses", cls.suits_losses, hub.losses),
                                  ("excludes", cls.excludes, hub.tricks)):  # fmt: skip
        unknown = sorted(set(names or ()) - set(registry.names()))
        if unknown:
            known = ", ".join(registry.names())
            out.append(f"{attr} names {', '.join(unknown)}, which no installed plugin "
                       f"registers (known: {known})")  # fmt: skip
    return out


def loss_problems(loss: AdversarialLoss) -> list[str]:
    """`decision_threshold()` (D's accuracy is logged against it on every logging step)."""
    from ganhub.losses import Targets

    threshold, failed = _called("decision_threshold", lambda: loss.decision_threshold(Targets()))
    if failed:
        return [failed]
    if threshold is None or (
        isinstance(threshold, float | int) and not isinstance(threshold, bool)
    ):
        return []
    return [
        f"decision_threshold() returned {_shown(threshold)}, not a float or None: the logit "
        "that separates D's real and fake calls (0.0 for logits), or None when there is none"
    ]


def system_problems(system: GANSystem, config: RunConfig) -> list[str]:
    """A trained system's declarations that training does not read (`config`: its run's)."""
    out = []
    length, failed = _called("follows_run_length", system.follows_run_length)
    if failed:
        out.append(failed)
    elif not isinstance(length, list) or not all(isinstance(p, str) for p in length):
        out.append(
            f"follows_run_length() returned {_shown(length)}, not a list of str: one phrase "
            "per schedule of its own over the whole run, for the start banner's note on a "
            "resume that changes trainer.steps; [] when none"
        )
    caps = system.capabilities()
    if caps.samples:
        out += _sample_kind(system, caps.real_samples)
    out += _interfaces(system, config)
    return out


def _sample_kind(system: GANSystem, real_samples: bool) -> list[str]:
    """Samples on the system's device, of the real samples' dtype (metrics, exports and
    pictures put them side by side)."""
    import torch

    was_training = system.training
    system.eval()
    try:
        with torch.no_grad():
            fake = system.sample(2, seed=3)
    finally:
        system.train(was_training)
    if not isinstance(fake, torch.Tensor):
        return []  # capability_problems says so
    out = []
    if fake.device != system.device:
        out.append(
            f"sample(2) gave a tensor on {fake.device}, and the system is on {system.device}: "
            "return samples on the system's device (make new tensors with device=self.device)"
        )
    real = system.real_samples(2, seed=3) if real_samples else None
    if isinstance(real, torch.Tensor) and real.dtype != fake.dtype:
        out.append(
            f"sample(2) gave dtype {fake.dtype} and real_samples(2) {real.dtype}: return "
            f"samples of the real samples' dtype ({real.dtype})"
        )
    return out


def _interfaces(system: GANSystem, config: RunConfig) -> list[str]:
    """The default feature networks named in `features` exist (inception and rotnet depend on
    the machine and the data, and `ganhub run` checks them), and a declared `latent_space` is
    given."""
    from ganhub.metrics.features import ROTNET, check_available

    caps = system.capabilities()
    out = []
    for name in caps.features:
        if name in ("inception", ROTNET):
            continue
        try:
            check_available(name, config.eval, system)
        except Exception as exc:
            line = (str(exc).strip().splitlines() or [""])[0]
            out.append(
                f"capabilities() declare the default feature network '{name}', which ganhub "
                f"cannot load: {line}"
            )
    if caps.can("latent_space"):
        space, failed = _called("latent_space", system.latent_space)
        if failed or space is None:
            out.append(
                "capabilities() declare provides={'latent_space'}, but latent_space() "
                + (failed.removeprefix("latent_space() ") if failed else "returned None")
                + ": return a ganhub.latent.LatentSpace, or leave 'latent_space' out"
            )
    return out


__all__ = ["loss_problems", "system_problems", "trick_problems", "unknown_names"]
