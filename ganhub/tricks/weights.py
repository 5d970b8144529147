"""Tricks that act on weights: initialisation, spectral normalisation, L1/L2 penalties (and
EMA, from `ganhub.tricks.ema`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from ganhub.config.schema import Section
from ganhub.errors import ConfigError
from ganhub.tricks import Groups, Trick, bounded, group_params
from ganhub.tricks.ema import EMA as EMA  # where the built-ins' list and plugins import it

if TYPE_CHECKING:
    from collections.abc import Iterable

    from torch import Tensor, nn

    from ganhub.engine.system import GANSystem, Phase, PhaseOutput

__all__ = [
    "EMA",
    "Scheme",
    "SpectralNorm",
    "WeightInit",
    "WeightPenalty",
    "initialise_weights",
    "refuse_batchnorm",
]


def _weighted() -> tuple[type[nn.Module], ...]:
    """Layers with a weight matrix or kernel (what init and spectral norm act on)."""
    from torch import nn

    return (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
            nn.ConvTranspose3d, nn.Linear, nn.Embedding)  # fmt: skip


# Attention's input projections: weight matrices under names of their own (nn.MultiheadAttention
# keeps q, k and v stacked in `in_proj_weight`, or apart when their sizes differ); its output
# projection is an nn.Linear, covered as such
ATTENTION_MATRICES = ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight")


def weight_matrices(module: nn.Module, weighted: tuple[type[nn.Module], ...]) -> list[str]:
    """Names of the weight matrices of `module` that init and spectral norm act on: `weight` of
    a conv/linear/embedding layer, the input projections of attention; none for other layers."""
    from torch import nn

    if isinstance(module, weighted):
        return ["weight"]
    if isinstance(module, nn.MultiheadAttention):
        return [n for n in ATTENTION_MATRICES if module._parameters.get(n) is not None]
    return []


def _foreign(root: nn.Module, weighted: tuple[type[nn.Module], ...]) -> dict[str, int]:
    """Layers of `root` (class name: count) holding a weight matrix of their own (a parameter
    named `*weight` of 2 or more dimensions; not a learned input or position table) that
    `weight_matrices` does not name: init and spectral norm cannot tell how such a layer uses
    it (an equalised-learning-rate layer scales its weight at run time, HF's Conv1D stores it
    transposed), so they leave it alone."""
    found: dict[str, int] = {}
    for module in root.modules():
        known = weight_matrices(module, weighted)
        own = [
            n
            for n, w in module._parameters.items()
            if w is not None and w.ndim > 1 and n.endswith("weight")
        ]
        if any(n not in known for n in own):
            found[type(module).__name__] = found.get(type(module).__name__, 0) + 1
    return found


def refuse_uncovered(
    trick: str, verb: str, plugin: str, found: dict[str, tuple[int, dict[str, int]]]
) -> None:
    """Refuse a weight trick asked to act on a side (`found`: group -> (layers it acts on, the
    `_foreign` ones)) where it would act on no layer, or on a part of its weight layers only:
    the run would train without what was asked, or with it on some layers, without a word
    (spectral norm of a part of D bounds nothing)."""
    bad = [g for g, (acted, foreign) in found.items() if foreign or not acted]
    if not bad:
        return
    group, (acted, foreign) = bad[0], found[bad[0]]
    good = [g for g in found if g not in bad]
    fix = f"give trick.{trick}.groups=[{','.join(good)}]" if good else "drop the trick"
    if not foreign:
        raise ConfigError(
            f"trick {trick}: {group} of this '{plugin}' run has no nn.Conv/nn.Linear/nn.Embedding "
            f"layer to {verb}; {fix}"
        )
    layers = ", ".join(f"{name} x{n}" for name, n in sorted(foreign.items()))
    what = (
        f"has no nn.Conv/nn.Linear/nn.Embedding layer to {verb}: its weights are"
        if not acted
        else f"would {verb} only {acted} of its {acted + sum(foreign.values())} weight layers: "
        "the others are"
    )
    raise ConfigError(
        f"trick {trick}: {group} of this '{plugin}' run {what} in layers of its own ({layers}), "
        f"which may use them otherwise (an equalised-learning-rate layer scales its weight at "
        f"run time, HF's Conv1D stores it transposed); {fix}"
    )


def rectifier_slopes(root: nn.Module, weighted: tuple[type[nn.Module], ...]) -> dict[int, float]:
    """The negative slope of the rectifier after each weight layer of `root` (by id): ReLU 0,
    LeakyReLU its own; the first activation module after the layer in module order (the
    forward order of nn.Sequential nets; a module listed twice counts at each place), before
    the next weight layer. A layer followed by none (an output layer, an activation applied
    as a function) or by another activation is left out, and `init scheme=kaiming` gives it
    ReLU's gain, as He et al. and torch do."""
    from torch import nn

    slopes: dict[int, float] = {}
    layer: nn.Module | None = None  # the last weight layer not yet followed by an activation
    # an activation module may be used at several places (toy2d's nets reuse one)
    for _, m in root.named_modules(remove_duplicate=False):
        if weight_matrices(m, weighted):
            layer = m
        elif layer is not None and isinstance(m, nn.ReLU | nn.LeakyReLU):
            slopes[id(layer)] = float(m.negative_slope) if isinstance(m, nn.LeakyReLU) else 0.0
            layer = None
        elif isinstance(m, nn.SiLU | nn.ELU | nn.GELU | nn.Tanh | nn.Sigmoid):
            layer = None
    return slopes


def forward_fan_in(module: nn.Module, weight: Tensor) -> float:
    """The inputs each output of `module` sums over (He et al.'s n): a conv's or linear
    layer's fan-in, as torch takes it; for a transposed conv, its input channels times the
    kernel taps that reach an output pixel, kernel / stride per dimension (torch's
    `kaiming_normal_` takes its output channels x kernel instead)."""
    from torch import nn

    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        taps = math.prod(k / s for k, s in zip(module.kernel_size, module.stride, strict=True))
        return max(module.in_channels // module.groups * taps, 1.0)
    return float(math.prod(weight.shape[1:]))  # torch's fan-in (an embedding's: its width)


def _norms() -> tuple[type[nn.Module], ...]:
    from torch import nn

    return (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm,
            nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)  # fmt: skip


Scheme = Literal["normal", "xavier", "kaiming", "orthogonal"]


def initialise_weights(
    root: nn.Module, scheme: Scheme = "normal", std: float = 0.02, keep: Iterable[nn.Module] = ()
) -> nn.Module:
    """Initialise the weights of `root` by layer kind, as the `init` trick does; returns `root`.

    * the weight matrices of conv, linear and embedding layers and attention's input
      projections by `scheme`: `normal`, N(0, `std`) (DCGAN and pix2pix: 0.02); `xavier`,
      Glorot's normal init; `kaiming`, He et al.'s N(0, gain^2 / fan-in) with the gain of the
      rectifier that follows the layer in module order (ReLU's where none does); `orthogonal`;
      their biases 0;
    * norm layers (batch, instance, group and layer norm) with an affine part: weight 1, bias 0;
    * other layers (PReLU slopes, a layer holding a weight of its own kind) as they are, and
      the layers in `keep` (not their children).

    Layers are drawn in `nn.Module.apply` order (children before their parent), so a fixed
    seed gives the same weights every time.
    """
    import torch
    from torch import Tensor, nn

    weighted, norms, kept = _weighted(), _norms(), {id(m) for m in keep}
    slopes = rectifier_slopes(root, weighted) if scheme == "kaiming" else {}

    def init(m: nn.Module) -> None:
        if id(m) in kept:
            return
        names = weight_matrices(m, weighted)
        if names:
            for w in (getattr(m, n) for n in names):
                assert isinstance(w, Tensor)
                if scheme == "normal":
                    nn.init.normal_(w, 0.0, std)
                elif scheme == "xavier":
                    nn.init.xavier_normal_(w)
                elif scheme == "kaiming":  # He et al.'s gain for the rectifier that follows
                    gain = math.sqrt(2.0 / (1 + slopes.get(id(m), 0.0) ** 2))
                    nn.init.normal_(w, 0.0, gain / math.sqrt(forward_fan_in(m, w)))
                else:
                    nn.init.orthogonal_(w)
            for bias in (getattr(m, n, None) for n in ("bias", "in_proj_bias")):
                if isinstance(bias, Tensor):
                    nn.init.zeros_(bias)
        elif isinstance(m, norms) and isinstance(m.weight, Tensor):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)  # type: ignore[arg-type]

    with torch.no_grad():
        return root.apply(init)


class InitConfig(Section):
    """Options of the `init` trick."""

    scheme: Scheme = Field(
        "normal", description="normal: N(0, std) as in DCGAN; xavier; kaiming (He); orthogonal"
    )
    std: float = Field(0.02, description="standard deviation for scheme=normal, above 0")
    groups: Groups = Field(["G", "D"], description="which sides to initialise")

    @field_validator("std")
    @classmethod
    def _spreads(cls, std: float) -> float:
        # pydantic's "greater than 0" said what, not why
        why = (
            "would set every weight to 0, and units of equal weights never learn apart"
            if std == 0
            else "is no standard deviation"
        )
        return bounded(std, std > 0, why, "a std above 0 (DCGAN: 0.02)")


class WeightInit(Trick):
    """Weight initialisation: N(0, 0.02) (DCGAN), Xavier, Kaiming or orthogonal; norms to 1/0."""

    name = "init"
    Config = InitConfig
    setup_order = 0

    def setup(self, system: GANSystem) -> None:
        """Re-initialise conv/linear/embedding weights (biases to 0) and norm layers (weight 1,
        bias 0); conditional BatchNorm's gain/bias maps stay zero (it starts as the unconditional
        BatchNorm) and the projection embedding keeps its Xavier-uniform reference init."""
        from ganhub.conditioning.nets import cbn_maps, projection_tables

        layers = _weighted()
        roots: dict[str, list[tuple[nn.Module, list[nn.Module]]]] = {}
        found: dict[str, tuple[int, dict[str, int]]] = {}
        for group in self.options.groups:  # every side checked before any weight changes
            names = system.generator_names if group == "G" else system.discriminator_names
            roots[group] = [
                (root, [*cbn_maps(root), *projection_tables(root)])
                for root in (getattr(system, n) for n in names)
            ]
            acted, foreign = 0, dict[str, int]()
            for root, keep in roots[group]:
                kept = {id(m) for m in keep}
                weighted = [m for m in root.modules() if weight_matrices(m, layers)]
                acted += sum(id(m) not in kept for m in weighted)
                for layer, n in _foreign(root, layers).items():
                    foreign[layer] = foreign.get(layer, 0) + n
            found[group] = acted, foreign
        if not self.saved:  # a run saved earlier opens as it trained
            refuse_uncovered(self.name, "re-initialise", self.config.plugin, found)
        for group_roots in roots.values():
            for root, keep in group_roots:
                initialise_weights(root, self.options.scheme, self.options.std, keep)


class SpectralNormConfig(Section):
    """Options of the `spectral_norm` trick."""

    groups: Groups = Field(["D"], description="which sides get spectral normalisation")
    power_iterations: int = Field(
        1, description="power iterations per forward pass, at least 1 (Miyato et al.: 1)"
    )

    @field_validator("power_iterations")
    @classmethod
    def _estimates(cls, n: int) -> int:
        # pydantic's "greater than or equal to 1" said what, not why
        why = (
            "leaves no power iteration to estimate each weight's largest singular value "
            "(torch's spectral_norm refuses it)"
        )
        return bounded(n, n >= 1, why, "1 or more (Miyato et al.: 1)")


class SpectralNorm(Trick):
    """Spectral normalisation (Miyato et al. 2018) of conv/linear weights: 1-Lipschitz layers."""

    name = "spectral_norm"
    Config = SpectralNormConfig
    setup_order = 10

    def constrains_d(self) -> bool:
        """Spectral normalisation of D's layers bounds its Lipschitz constant."""
        return "D" in self.options.groups

    def setup(self, system: GANSystem) -> None:
        """Wrap every conv/linear weight of the chosen sides in a spectral-norm parametrisation,
        and the projection discriminator's label embedding (sngan_projection's SNEmbedID); not
        other label embeddings, nor conditional BatchNorm's gain/bias maps (affine parameters
        of a norm, zero at the start)."""
        from torch.nn.utils.parametrizations import spectral_norm

        weighted = _weighted()
        for module in self.normalised(system):
            for name in weight_matrices(module, weighted):
                spectral_norm(module, name, n_power_iterations=self.options.power_iterations)
            # a layer wrapped since a checkpoint was saved (the projection embedding, textgan
            # D's token embedding and attention) loads the plain weight it holds; a no-op for
            # the others
            module.register_load_state_dict_pre_hook(_as_saved)

    def normalised(self, system: GANSystem) -> list[nn.Module]:
        """The layers of the chosen sides that spectral normalisation wraps (refused in one
        line when a side has weight layers of its own it cannot wrap, or none at all)."""
        from torch import nn

        from ganhub.conditioning.nets import cbn_maps, projection_tables

        weighted, out = _weighted(), list[nn.Module]()
        found: dict[str, tuple[int, dict[str, int]]] = {}
        for group in self.options.groups:
            names = system.generator_names if group == "G" else system.discriminator_names
            acted, foreign = len(out), dict[str, int]()
            for name in names:
                root = getattr(system, name)
                skipped = {id(m) for m in cbn_maps(root)}
                tables = {id(m) for m in projection_tables(root)}
                for module in root.modules():
                    if not weight_matrices(module, weighted) or id(module) in skipped:
                        continue
                    if not isinstance(module, nn.Embedding) or id(module) in tables:
                        out.append(module)
                for layer, n in _foreign(root, weighted).items():
                    foreign[layer] = foreign.get(layer, 0) + n
            found[group] = len(out) - acted, foreign
        if not self.saved:  # a run saved earlier opens as it trained
            refuse_uncovered(self.name, "normalise", self.config.plugin, found)
        return out


def _as_saved(module: nn.Module, state: dict[str, Any], prefix: str, *args: Any) -> None:
    """A checkpoint saved before spectral_norm covered a layer (the projection embedding,
    attention's input projections) holds its plain weight: the run loads (and resumes) the
    layer it trained, unnormalised."""
    from torch.nn.utils import parametrize

    for name in ("weight", *ATTENTION_MATRICES):
        if prefix + name in state and parametrize.is_parametrized(module, name):
            parametrize.remove_parametrizations(module, name, leave_parametrized=False)


class WeightPenaltyConfig(Section):
    """Options of the `weight_penalty` trick."""

    kind: Literal["l1", "l2"] = Field("l2", description="l1: sum |w|; l2: sum w^2")
    weight: float = Field(1e-4, description="penalty coefficient, above 0")
    groups: Groups = Field(["G", "D"], description="which sides are penalised")

    @field_validator("weight")
    @classmethod
    def _penalises(cls, weight: float) -> float:
        # pydantic's "greater than 0" said what, not why
        why = (
            "adds no penalty, so the run would train as without the trick"
            if weight == 0
            else "would reward large weights, not penalise them"
        )
        give = "a weight above 0 (default 1e-4), or drop weight_penalty from tricks"
        return bounded(weight, weight > 0, why, give)


class WeightPenalty(Trick):
    """L1 or L2 penalty on weights (matrices and kernels, not biases or norm scales)."""

    name = "weight_penalty"
    graph_safe = True
    Config = WeightPenaltyConfig

    def setup(self, system: GANSystem) -> None:
        """Collect the penalised weights per group once."""
        self.weights: dict[str, list[Tensor]] = {
            g: [p for p in group_params(system, [g]) if p.ndim > 1] for g in self.options.groups
        }
        self._judging: dict[tuple[int, ...], list[Tensor]] = {}

    def extra_loss(self, phase: Phase, out: PhaseOutput, ctx: Any) -> Tensor | None:
        """weight * sum |w| (l1) or weight * sum w^2 (l2) over the phase's group, on every-step
        phases (a lazy regulariser's phase would add the penalty a second time on its steps);
        a D phase penalises the discriminators it trains (its pairs') only."""
        params = self.weights.get(phase.group)
        if not params or not phase.every_step:
            return None
        if phase.group == "D" and out.pairs:
            params = self._judged_weights(params, out)
            if not params:
                return None
        import torch

        order = 1 if self.options.kind == "l1" else 2
        norms = torch.stack(torch._foreach_norm(params, order))
        total = norms.sum() if order == 1 else norms.square().sum()
        return self.options.weight * total

    def _judged_weights(self, params: list[Tensor], out: PhaseOutput) -> list[Tensor]:
        """The weights of `params` that belong to the discriminators of `out.pairs`: cyclegan's
        D_A phase must not penalise D_B, whose optimizer would then step it a second time in
        the step on its stale moments (cached per set of discriminators)."""
        from ganhub.engine.heads import unbound

        judges = tuple(id(unbound(pair.discriminator)) for pair in out.pairs)
        found = self._judging.get(judges)
        if found is None:
            owned = {id(p) for pair in out.pairs for p in unbound(pair.discriminator).parameters()}
            found = self._judging[judges] = [p for p in params if id(p) in owned]
        return found


def has_batchnorm(module: nn.Module) -> bool:
    """Whether a module contains BatchNorm (per-sample gradient penalties are invalid with it)."""
    from torch import nn

    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def refuse_batchnorm(trick: str, system: GANSystem) -> None:
    """Raise a config error when a discriminator uses BatchNorm (WGAN-GP paper, section 4)."""
    for name in system.discriminator_names:
        if has_batchnorm(getattr(system, name)):
            raise ConfigError(
                f"trick '{trick}' penalises per-sample gradients, which BatchNorm in discriminator "
                f"'{name}' makes invalid; choose a D normalisation without BatchNorm (the "
                "domain's key: dcgan model.d_norm=none|layer, cyclegan model.norm=instance) or "
                "another trick"
            )
