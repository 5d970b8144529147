"""Gradient penalties on the discriminator: WGAN-GP / DRAGAN, R1 and R2 (optionally lazy).

R1 and R2 with `interval` k > 1 are lazy regularisation (StyleGAN2, Karras et al. 2020,
appendix B): the trick adds its own D phase that runs every k steps on the inputs the main D
phase saw that step, scales the penalty by k, and corrects the D optimizer for the extra
steps (lr * k/(k+1), betas ** (k/(k+1))). With k = 1 the penalty is added to every D phase.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from ganhub.config.schema import RunConfig, Section
from ganhub.tricks import Trick, bounded
from ganhub.tricks.weights import refuse_batchnorm

if TYPE_CHECKING:
    from torch import Tensor

    from ganhub.domain import Domain
    from ganhub.engine.context import TrainContext
    from ganhub.engine.system import GANSystem, Pair, Phase, PhaseOutput

_LIPSCHITZ_LOSSES = frozenset({"wasserstein", "hinge"})
_CLASSIFIER_LOSSES = frozenset({"minimax", "nonsaturating", "lsgan"})


class GradientPenaltyConfig(Section):
    """Options of the `gp` trick."""

    variant: Literal["wgan", "dragan"] = Field(
        "wgan",
        description="wgan: between real and fake (Gulrajani 2017); dragan: around real (Kodali 2017)",
    )
    weight: float = Field(10.0, description="penalty coefficient lambda, above 0")
    center: float = Field(
        1.0, description="target gradient norm, 0 or more (1: Lipschitz; 0: zero-centred)"
    )
    dragan_scale: float = Field(
        0.5, description="DRAGAN perturbation, above 0: c * std(x) * U[0, 1]"
    )

    # pydantic's bounds said what, not why
    @field_validator("weight")
    @classmethod
    def _penalises(cls, weight: float) -> float:
        why = (
            "adds no penalty, so the run would train as without the trick"
            if weight == 0
            else "would reward gradient norms away from the center, not penalise them"
        )
        return bounded(
            weight, weight > 0, why, "a weight above 0 (WGAN-GP: 10), or drop gp from tricks"
        )

    @field_validator("center")
    @classmethod
    def _norm(cls, center: float) -> float:
        why = "is no gradient norm (a norm is 0 or more)"
        return bounded(center, center >= 0, why, "1 (WGAN-GP, Lipschitz) or 0 (zero-centred)")

    @field_validator("dragan_scale")
    @classmethod
    def _perturbs(cls, scale: float) -> float:
        why = (
            "perturbs nothing, so the penalty would sit on the real samples themselves"
            if scale == 0
            else "is no perturbation size"
        )
        return bounded(scale, scale > 0, why, "a scale above 0 (DRAGAN: 0.5)")

    @model_validator(mode="after")
    def _scale_only_for_dragan(self) -> GradientPenaltyConfig:
        default = type(self).model_fields["dragan_scale"].default
        if self.variant == "wgan" and self.dragan_scale != default:
            raise ValueError(
                f"trick.gp.dragan_scale={self.dragan_scale} applies only with variant=dragan "
                "(wgan interpolates between real and fake samples)"
            )
        return self


class GradientPenalty(Trick):
    """Gradient penalty: lambda * (||grad D(x_hat)|| - 1)^2 on per-sample interpolates."""

    name = "gp"
    graph_safe = True
    Config = GradientPenaltyConfig

    def constrains_d(self) -> bool:
        """WGAN-GP's penalty holds D's gradient norm near 1 (DRAGAN's suits classifier losses)."""
        return bool(self.options.variant == "wgan")

    @classmethod
    def problems(cls, options: Any, config: RunConfig, domain: Domain) -> list[str]:
        """Besides the base checks: WGAN-GP suits Lipschitz losses, DRAGAN classifier losses."""
        out = super().problems(options, config, domain)
        suits = _LIPSCHITZ_LOSSES if options.variant == "wgan" else _CLASSIFIER_LOSSES
        if config.loss not in suits:
            other = "dragan" if options.variant == "wgan" else "wgan"
            out.append(
                f"trick 'gp' with trick.gp.variant={options.variant} does not suit loss "
                f"'{config.loss}' (it suits: {', '.join(sorted(suits))}); "
                f"use trick.gp.variant={other} or another loss"
            )
        return out

    def setup(self, system: GANSystem) -> None:
        """Refuse discriminators with BatchNorm."""
        refuse_batchnorm(self.name, system)

    def extra_loss(self, phase: Phase, out: PhaseOutput, ctx: TrainContext) -> Tensor | None:
        """The penalty summed over the discriminators this phase trained."""
        if not out.pairs:
            return None
        total = self._penalty(out.pairs[0], ctx)
        for pair in out.pairs[1:]:
            total = total + self._penalty(pair, ctx)
        return total

    def _penalty(self, pair: Pair, ctx: TrainContext) -> Tensor:
        import torch

        from ganhub.engine.draws import batch_draw, noise_like

        real = pair.real.detach()
        # one interpolation weight per D input: a PacGAN pack of m samples shares one; a batch
        # split by trainer.grad_accum takes its rows of the whole batch's draws
        pack = pair.samples_per_input
        rest = [1] * (real.ndim - 1)
        alpha = batch_draw(
            ctx,
            "gp/alpha",
            real.shape[0] // pack,
            lambda n: torch.rand([n, *rest], device=real.device, dtype=real.dtype),
        )
        if pack > 1:
            alpha = alpha.repeat_interleave(pack, dim=0)
        if self.options.variant == "wgan":
            other = pair.fake.detach()
        else:
            noise = noise_like(ctx, "gp/noise", real, uniform=True)
            other = real + self.options.dragan_scale * real.std() * noise
        x_hat = (alpha * real + (1 - alpha) * other).requires_grad_(True)
        with ctx.twice_differentiable():
            logits = ctx.discriminate(pair.discriminator, x_hat)
        grad = ctx.input_gradient(logits, x_hat)
        norm = grad.reshape(real.shape[0] // pack, -1).norm(2, dim=1)  # of each D input
        return self.options.weight * ((norm - self.options.center) ** 2).mean()


class R1Config(Section):
    """Options of the `r1` and `r2` tricks."""

    gamma: float = Field(10.0, description="penalty weight, above 0: gamma/2 * E||grad D||^2")
    interval: int = Field(
        1,
        description="lazy regularisation: a D phase of its own every k steps, the penalty "
        "scaled by k (StyleGAN2: 16); 1 adds it to every D phase; at least 1",
    )
    lazy_correction: bool = Field(
        True,
        description="with interval > 1: D's lr * k/(k+1) and betas ** (k/(k+1)) (StyleGAN2)",
    )

    # pydantic's bounds said what, not why (the key names the trick: r1 or r2)
    @field_validator("gamma")
    @classmethod
    def _penalises(cls, gamma: float) -> float:
        why = (
            "adds no penalty, so the run would train as without the trick"
            if gamma == 0
            else "would reward D's gradients, not penalise them"
        )
        return bounded(gamma, gamma > 0, why, "a gamma above 0 (default 10), or drop the trick")

    @field_validator("interval")
    @classmethod
    def _runs(cls, interval: int) -> int:
        why = "is no number of steps between penalties"
        return bounded(
            interval, interval >= 1, why, "1 (every D phase) or more (lazy; StyleGAN2: 16)"
        )


class R1Penalty(Trick):
    """R1 (Mescheder et al. 2018): gamma/2 * E||grad D(x)||^2 on real data, optionally lazy."""

    name = "r1"
    graph_safe = True
    Config = R1Config
    side: Literal["real", "fake"] = "real"
    setup_order = 25  # after ttur sets learning rates, before lr_schedule reads them

    @classmethod
    def problems(cls, options: Any, config: RunConfig, domain: Domain) -> list[str]:
        """Besides the base checks: one lazy penalty per run (their corrections would stack)."""
        out = super().problems(options, config, domain)
        both_lazy = (
            cls.name == "r2"
            and "r1" in config.tricks
            and options.interval > 1
            and config.trick.r1.interval > 1  # type: ignore[attr-defined]
        )
        if both_lazy:
            out.append("tricks r1 and r2 are both lazy (interval > 1): make one of them interval=1")
        return out

    @property
    def lazy(self) -> bool:
        """Whether the penalty runs in its own phase every `interval` steps."""
        return bool(self.options.interval > 1)

    def setup(self, system: GANSystem) -> None:
        """Refuse discriminators with BatchNorm."""
        refuse_batchnorm(self.name, system)
        # lazy: what each every-step D phase judged, by (phase, micro-batch), with its step
        self.judged: dict[tuple[str, int], tuple[int, list[Pair]]] = {}

    def adjust_phases(self, phases: list[Phase]) -> None:
        """Lazy: add the `D<name>` phase after the last every-step D phase."""
        if not self.lazy:
            return
        from ganhub.engine.system import Phase
        from ganhub.errors import ConfigError

        main = [p for p in phases if p.group == "D" and p.every_step]
        if not main:
            raise ConfigError(
                f"trick.{self.name}.interval={self.options.interval}: this system has no "
                "every-step D phase to regularise lazily; use interval=1"
            )
        stops = [p.stop for p in main]
        phase = Phase(
            f"D{self.name}",
            "D",
            self.lazy_phase,
            interval=self.options.interval,
            start=min(p.start for p in main),
            stop=None if None in stops else max(s for s in stops if s is not None),
        )
        phases.insert(phases.index(main[-1]) + 1, phase)

    def on_optimizers(self, optimizers: dict[str, Any]) -> None:
        """Lazy: D's lr * k/(k+1) and betas ** (k/(k+1)), as StyleGAN2 does."""
        if not (self.lazy and self.options.lazy_correction) or "D" not in optimizers:
            return
        ratio = self.options.interval / (self.options.interval + 1)
        for group in optimizers["D"].param_groups:
            group["lr"] *= ratio
            if "initial_lr" in group:
                group["initial_lr"] *= ratio
            if "betas" in group:
                group["betas"] = tuple(b**ratio for b in group["betas"])

    def input_graphs(self) -> frozenset[str]:
        """Every step: the D phase's own forward on the penalised side, kept differentiable
        (Mescheder et al.'s and StyleGAN2-ADA's R1 reuse it: no second D forward)."""
        return frozenset() if self.lazy else frozenset({self.side})

    def observe(self, phase: Phase, out: PhaseOutput, ctx: TrainContext) -> None:
        """Lazy: remember what each D phase of this step judged, micro-batch by micro-batch,
        for the penalty phase (every discriminator is penalised, each micro-batch once)."""
        if self.lazy and phase.group == "D" and phase.every_step and out.pairs:
            self.judged[(phase.name, ctx.micro)] = (ctx.step, out.pairs)

    def extra_loss(self, phase: Phase, out: PhaseOutput, ctx: TrainContext) -> Tensor | None:
        """Not lazy: the penalty on every D phase's pairs; else None."""
        if self.lazy or not out.pairs:
            return None
        return self.penalty(out.pairs, ctx) * (self.options.gamma / 2)

    def lazy_phase(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        """The penalty on the inputs of this step's D phases (this micro-batch's), times
        gamma/2 and the interval."""
        from ganhub.engine.system import PhaseOutput

        pairs = [
            pair
            for (_, micro), (step, judged) in self.judged.items()
            if micro == ctx.micro and step == ctx.step
            for pair in judged
        ]
        assert pairs, f"the D{self.name} phase ran before any D phase of its step"
        penalty = self.penalty(pairs, ctx)
        loss = penalty * (self.options.gamma / 2) * self.options.interval
        return PhaseOutput(loss, {f"{self.name}_penalty": penalty.detach()})

    def penalty(self, pairs: list[Pair], ctx: TrainContext) -> Tensor:
        """E||grad_x D(x)||^2 on the chosen side, summed over the discriminators: from the
        phase's own forward when it kept the graph, else from a second D forward."""
        from ganhub.engine.context import as_float32

        total = None
        for pair in pairs:
            x = pair.real if self.side == "real" else pair.fake
            logits = pair.real_graph if self.side == "real" else pair.fake_graph
            if logits is None or not x.requires_grad:  # lazy, or a phase that kept no graph
                x = x.detach().requires_grad_(True)
                with ctx.twice_differentiable():
                    logits = ctx.discriminate(pair.discriminator, x)
            grad = ctx.input_gradient(logits, x)
            # in float32: sums of squares overflow float16 on large images; the mean over D's
            # inputs of their squared norms (a PacGAN pack of m samples is one input: its norm
            # sums them) is the sum over the batch / the inputs, in three ops instead of five
            inputs = grad.shape[0] // pair.samples_per_input
            term = as_float32(grad).square().sum() / inputs
            total = term if total is None else total + term
        assert total is not None
        return total


class R2Penalty(R1Penalty):
    """R2: the R1 penalty on generated samples instead of real ones."""

    name = "r2"
    side = "fake"
