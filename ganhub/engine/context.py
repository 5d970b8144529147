"""The object phase closures receive: the loss, targets, real-batch and D-input tricks,
resolved once."""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import Tensor, nn

from ganhub.conditioning.nets import LabelledDiscriminator
from ganhub.engine.diagnostics import d_stats
from ganhub.engine.heads import HeadedDiscriminator
from ganhub.engine.outputs import Pair, PhaseOutput
from ganhub.errors import ConfigError, PluginError
from ganhub.losses import AdversarialLoss, Targets
from ganhub.plugin_guard import Owners

DInputTransform = Callable[[Tensor, "TrainContext"], Tensor]
# a trick's `real_batch`: the real batch (possibly re-sampled) and optional per-sample weights
RealBatchHook = Callable[[Tensor, "TrainContext"], tuple[Tensor, Tensor | None]]


class TrainContext:
    """Helpers every domain's phases use, so tricks apply the same way in every domain.

    `d_loss`/`g_loss` run the discriminator on real and fake inputs through the D-input tricks
    (augmentation, instance noise, packing), apply the configured loss with the configured
    targets (label smoothing), and report D(x) / D(G(z)) means as stats; on the steps the loop
    marks with `diagnose` (logging steps) also D's accuracy and the fakes' diversity. Before D
    sees the real samples, `d_loss` hands them to the real-batch tricks (`real_batch`), which
    may re-sample them or weight them per sample (bias correction toward a reference set).
    """

    def __init__(
        self,
        loss: AdversarialLoss,
        targets: Targets = Targets(),
        d_transforms: Sequence[DInputTransform] = (),
        scaler: torch.amp.GradScaler | None = None,
        real_hooks: Sequence[RealBatchHook] = (),
        compiled: bool = False,
        input_graphs: frozenset[str] = frozenset(),
        owners: Owners | None = None,
    ) -> None:
        # the run's loss, counting its D losses (a domain may call `ctx.loss.d_loss` itself)
        self.loss = counted_loss(loss, self)
        # names the loss or trick, and its plugin, when their code raises (`Owners.fault`)
        self.owners = owners or Owners({})
        self.targets = targets
        self.d_transforms = list(d_transforms)
        self.real_hooks = list(real_hooks)
        # asked once: a loss written before per-sample weights existed cannot take them
        self.weighs_real = "real_weight" in inspect.signature(loss.d_loss).parameters
        self.scaler = scaler
        self.step = 0
        self.diagnose = False  # set by the loop on logging steps: extra stats, no extra syncs
        self.threshold = loss.decision_threshold(targets)
        # per-step scratch space shared by the phases of one step; the loop clears it
        self.cache: dict[str, Any] = {}
        # which micro-batch of the phase runs (trainer.grad_accum splits each batch), so a
        # phase can pair its micro-batches with an earlier phase's (the G phase with D's noise)
        self.micro = 0
        self.micro_batches = 1
        self.compiled = compiled  # trainer.compile: forwards differentiated twice run eager
        # D inputs ("real", "fake") whose d_loss forward keeps its graph for R1/R2; never
        # when compiled (no double backward through a compiled forward: they recompute eager)
        self.input_graphs = frozenset() if compiled else input_graphs
        self.halves: dict[torch.device, Tensor] = {}  # `one_half`'s constants, per device
        # D inputs through `d_input`, D losses through `ctx.loss.d_loss` (`adversarial_d_loss`
        # too) and those of them given `targets`: none after a D phase ran means the domain
        # runs D itself, or its loss (`ganhub.tricks.inputs.unreached`, once)
        self.d_inputs = self.d_losses = self.d_targets = 0
        self.unchecked = True

    def one_half(self, like: Tensor) -> Tensor:
        """A float32 0.5 on `like`'s device, made once (not an op every step)."""
        half = self.halves.get(like.device)
        if half is None:
            half = self.halves[like.device] = torch.tensor(0.5, device=like.device)
        return half

    def twice_differentiable(self) -> AbstractContextManager[Any]:
        """Where a forward is differentiated twice (R1, GP, path length): compiled G and D run
        eager inside, since torch.compile's autograd has no double backward (pytorch#91469);
        the rest of the step keeps its compiled forwards. A no-op without trainer.compile."""
        if not self.compiled:
            return nullcontext()
        return torch.compiler.set_stance("force_eager")

    def d_input(self, x: Tensor) -> Tensor:
        """Apply the D-input tricks (in their declared order) to one batch of D inputs."""
        self.d_inputs += 1
        try:  # free unless it raises: a trick's exception is named in one line
            for transform in self.d_transforms:
                x = transform(x, self)
                if not isinstance(x, Tensor):  # None: a forgotten return, found here, not in D
                    raise PluginError(
                        f"trick '{getattr(transform, '__self__', transform).name}': its "
                        f"d_input() returned {type(x).__name__}, not a tensor"
                    )
        except Exception as exc:
            self.owners.trick_fault(exc, transform, "d_input")
            raise
        return x

    def discriminate(self, discriminator: nn.Module, x: Tensor) -> Tensor:
        """D's logits for `x` after the D-input tricks."""
        return discriminator(self.d_input(x))

    def real_batch(self, real: Tensor) -> tuple[Tensor, Tensor | None]:
        """The real-batch tricks, in order, on one batch of real D inputs: the batch D should
        see (possibly re-sampled) and per-sample weights (the product of the tricks' weights),
        or None when no trick weights. Phases that call `discriminate` themselves call this
        first and pass the weights to `adversarial_d_loss`."""
        weight: Tensor | None = None
        for hook in self.real_hooks:  # empty unless a trick implements real_batch
            try:  # free unless it raises: a trick's exception is named in one line
                real, w = hook(real, self)
            except Exception as exc:
                self.owners.trick_fault(exc, hook, "real_batch")
                raise
            if w is not None:
                weight = w if weight is None else weight * w
        return real, weight

    def adversarial_d_loss(
        self, real_logits: Tensor, fake_logits: Tensor, weight: Tensor | None = None
    ) -> Tensor:
        """The configured loss on D's logits with the configured targets; `weight` (one per
        real sample, from `real_batch`) weights the real term. Packed inputs (PacGAN: m
        consecutive samples per logit row) get the mean weight of their samples."""
        if weight is not None:
            if not self.weighs_real:
                raise ConfigError(
                    f"loss '{self.loss.name}' takes no per-sample weights (real_weight), which "
                    "a real_batch trick in this run gives; choose a built-in loss"
                )
            rows = real_logits.shape[0]
            if weight.shape[0] != rows:
                weight = weight.reshape(rows, -1).mean(1)
        try:  # free unless it raises: the loss's exception is named in one line
            if weight is None:
                return self.loss.d_loss(real_logits, fake_logits, self.targets)
            return self.loss.d_loss(real_logits, fake_logits, self.targets, real_weight=weight)
        except Exception as exc:
            self.owners.fault(exc, "loss", self.loss.name, "d_loss()")
            raise

    def d_loss(
        self, discriminator: nn.Module, real: Tensor, fake: Tensor, tag: str = ""
    ) -> PhaseOutput:
        """The discriminator's adversarial loss on real (through the real-batch tricks) and
        (detached) fake inputs."""
        if real.shape[1:] != fake.shape[1:] or real.is_floating_point() != fake.is_floating_point():
            raise PluginError(unlike_inputs(real, fake))  # else a shape error deep inside D
        fake = fake.detach().requires_grad_("fake" in self.input_graphs)
        real, weight = self.real_batch(real)
        if "real" in self.input_graphs:
            real = real.detach().requires_grad_(True)
        real_logits = self.discriminate(discriminator, real)
        aux = self.head_outputs(discriminator, "real")
        fake_logits = self.discriminate(discriminator, fake)
        aux.update(self.head_outputs(discriminator, "fake"))
        loss = self.adversarial_d_loss(real_logits, fake_logits, weight)
        # the stats run every step, and a small model's step is dispatch-bound: each op counts
        real_detached = real_logits.detach()
        with torch.no_grad():
            r, f = as_float32(real_detached), as_float32(fake_logits)
            stats = {f"D{tag}_real": r.mean(), f"D{tag}_fake": f.mean()}
            if r.shape == f.shape:
                # share of (real, fake) pairs D ranks correctly: a loss-independent "who is
                # winning"; a tie is half a win (identical inputs, e.g. patches a translator
                # leaves unchanged, must read 0.5, not 0): the step function that is 1/2 at 0
                stats[f"D{tag}_win"] = torch.heaviside(r - f, self.one_half(r)).mean()
        if self.diagnose:
            stats.update(d_stats(real_logits, fake_logits, real, fake, self.threshold, tag))
        pairs = [
            Pair(discriminator, real, fake, real_detached,
                 real_graph=real_logits if real.requires_grad else None,
                 fake_graph=fake_logits if fake.requires_grad else None)
        ]  # fmt: skip
        return PhaseOutput(loss, stats, pairs, aux)

    def g_loss(
        self, discriminator: nn.Module, fake: Tensor, real: Tensor | None = None, tag: str = ""
    ) -> PhaseOutput:
        """The generator's adversarial loss; real logits are computed only for relativistic losses.

        `aux` holds D's head outputs and `fake`, the samples (before the D-input tricks, with
        their graph to G): a head trick's G-phase inputs (SSGAN rotates them)."""
        fake_logits = self.discriminate(discriminator, fake)
        aux = self.head_outputs(discriminator, "fake") | {"fake": fake}
        real_logits = None
        if self.loss.needs_real_for_g:
            if real is None:
                raise ValueError(f"loss '{self.loss.name}' needs real samples in the G phase")
            with torch.no_grad():  # constants for G: no graph, no memory
                real_logits = self.discriminate(discriminator, real)
        try:  # free unless it raises: the loss's exception is named in one line
            loss = self.loss.g_loss(fake_logits, real_logits, self.targets)
        except Exception as exc:
            self.owners.fault(exc, "loss", self.loss.name, "g_loss()")
            raise
        with torch.no_grad():
            stats = {f"G{tag}_fake_logit": as_float32(fake_logits).mean()}
        return PhaseOutput(loss, stats, aux=aux)

    def head_outputs(self, discriminator: nn.Module, role: str) -> dict[str, Tensor]:
        """A discriminator's auxiliary head outputs of its last forward, named
        `<head>_<role>` (AC-GAN reads `class_real`, `class_fake`), and a conditional one's
        `labels`; {} for one without heads (`ganhub.engine.heads`). Phases that call
        `discriminate` themselves put these in `PhaseOutput.aux`."""
        if isinstance(discriminator, HeadedDiscriminator):
            return {f"{name}_{role}": out for name, out in discriminator.aux.items()}
        if not isinstance(discriminator, LabelledDiscriminator):
            return {}
        return {"labels": discriminator.labels} | {
            f"{name}_{role}": out for name, out in discriminator.aux.items()
        }

    def log_gradient_norm(self, stats: dict[str, Tensor], key: str, x: Tensor) -> Tensor:
        """A view of `x` (use it in place of `x`) whose gradient's L2 norm, without fp16's
        grad scale, lands in `stats[key]` during the phase's backward: the gradient one term
        sends through one tensor (CycleGAN's D_A to its generator's images), which the loop's
        per-phase `grad_norm/<phase>` mixes with every other term's. A device scalar, no host
        sync; call it on logging steps only (`diagnose`): a hook costs a norm each backward."""
        from ganhub.engine.diagnostics import unscaled

        view = x.view_as(x)

        def record(grad: Tensor) -> None:
            stats[key] = unscaled(torch.linalg.vector_norm(grad.detach().float()), self.scaler)

        view.register_hook(record)
        return view

    def input_gradient(self, outputs: Tensor, inputs: Tensor) -> Tensor:
        """d(sum outputs)/d(inputs) with a graph (for penalties), correct under fp16 grad scaling.

        Compute `outputs` inside `twice_differentiable()`, so that it works with compiled models."""
        if self.scaler is not None and self.scaler.is_enabled():
            # Scale to avoid fp16 underflow, then unscale; get_scale() syncs, as fp16 AMP does anyway.
            (grad,) = torch.autograd.grad(
                self.scaler.scale(outputs.sum()), inputs, create_graph=True
            )
            return grad / self.scaler.get_scale()
        (grad,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
        return grad


def counted_loss(loss: AdversarialLoss, ctx: TrainContext) -> AdversarialLoss:
    """`loss` for one run's context: a shallow copy whose `d_loss` counts its calls in
    `ctx.d_losses`, and those given the run's targets in `ctx.d_targets` (an int increment
    each, no sync), so that a D loss a phase computes with `ctx.loss.d_loss(real_logits,
    fake_logits, ctx.targets)` counts as going through the run's loss. A copy: the registry's
    loss object is shared by every run of the process, and stays as its plugin made it."""
    own = loss.d_loss
    default = inspect.signature(own).parameters.get("targets")
    unset = default.default if default is not None else Targets()

    @functools.wraps(own)  # the same signature (asked for `real_weight`) and docstring
    def d_loss(*args: Any, **kwargs: Any) -> Tensor:
        ctx.d_losses += 1
        targets = args[2] if len(args) > 2 else kwargs.get("targets", unset)
        if targets is ctx.targets or targets == ctx.targets:  # `is`: the usual, cheap case
            ctx.d_targets += 1
        return own(*args, **kwargs)

    view = copy.copy(loss)
    try:
        vars(view)["d_loss"] = d_loss  # an instance attribute: found before the class's method
    except TypeError:  # a loss with __slots__ has no instance dict: used as it is, uncounted
        return loss
    return view


def as_float32(x: Tensor) -> Tensor:
    """`x` in float32: `x` itself when it is (`.float()` would still cost a dispatch)."""
    return x if x.dtype == torch.float32 else x.float()


def unlike_inputs(real: Tensor, fake: Tensor) -> str:
    """Why D cannot score a batch of real and one of generated samples side by side: they
    differ in per-sample shape or kind of number (a domain's G that does not make the data's
    samples; a data option that does not match the model's)."""

    def sample(x: Tensor) -> str:
        return f"{tuple(x.shape[1:])} {str(x.dtype).removeprefix('torch.')}"

    return (
        f"the generator makes samples of shape {sample(fake)}, the data yields {sample(real)}; "
        "the discriminator scores both, so they must match (check the domain's model and data "
        "sizes: channels, image size, dimensions)"
    )


__all__ = [
    "DInputTransform",
    "RealBatchHook",
    "TrainContext",
    "as_float32",
    "counted_loss",
    "unlike_inputs",
]
