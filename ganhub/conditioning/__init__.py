"""Class-conditional generation: the labels a run trains on and the mechanisms that use them.

A domain that can train on labels says so with `Domain.conditioning(config)`, returning a
`ConditionRequest` (the labels, and the generator- and discriminator-side mechanisms by name).
The wiring layer looks the names up among the registered `Conditioner`s (`register_conditioners`,
`ganhub list conditioners`) and hands the domain a `Condition` in `BuildHints.condition`; the
domain builds its networks with the extra inputs the mechanisms ask for and wraps them:

    G = Generator(latent_dim + condition.generator_inputs(), ...)
    D = Discriminator(channels + condition.discriminator_inputs(), ...)
    G, D = condition.wrap_generator(G), condition.wrap_discriminator(D)

A wrapped generator is called `G(z, labels)`; a wrapped discriminator is bound to a batch's
labels with `ganhub.conditioning.nets.given(D, labels)` and then used like an unconditional one,
so every loss, penalty and D-input trick works unchanged. This module imports no torch.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

from pydantic import Field, create_model, field_validator

from ganhub.config.schema import Section
from ganhub.errors import ConfigError, PluginError, UsageError, one_line
from ganhub.plural import counted

if TYPE_CHECKING:
    from torch import nn

Side = Literal["generator", "discriminator"]


def unused_condition(section: ConditionConfig, conditional: bool) -> list[str]:
    """condition.* keys set on an unconditional run: refused, since nothing would read them."""
    if conditional:
        return []
    defaults, values = type(section)().model_dump(), section.model_dump()
    changed = [k for k, v in values.items() if v != defaults[k]]
    return [
        f"condition.{key}={_shown(values[key])} configures a class-conditional run; add "
        "model.conditional=true (an unconditional run has no labels to condition on)"
        for key in changed[:1]
    ]


def packs_classes(packing: list[str], plugin: str) -> list[str]:
    """The lines refusing, in a class-conditional run, the tricks that pack several samples
    into one D input (`packing`: those that declare `Trick.packs_inputs`, as PacGAN does):
    each packed input would hold samples of several classes. Checked when the config
    resolves, from the declaration alone: no trick is made, nothing is built."""
    return [
        f"trick '{name}' packs several samples into one D input, and this '{plugin}' run is "
        "class-conditional: each packed input would hold samples of different classes; drop "
        f"{name} from tricks, or train without class labels"
        for name in packing
    ]


def too_few_classes(classes: list[str] | None) -> str | None:
    """The line refusing a conditional run whose `condition.classes` (given by the user, or
    saved with a run) names fewer than two classes; None when it is not given or names two."""
    if classes is None or len(classes) >= 2:
        return None
    named = "one class" if classes else "no class"
    return (
        f"condition.classes={_shown(classes)} names {named}; a conditional run needs two or "
        "more: name every class in label order, or leave condition.classes out to take the "
        "classes from the data (class sub-folders or data.labels)"
    )


def _shown(value: Any) -> str:
    return f"[{','.join(map(str, value))}]" if isinstance(value, list) else str(value)


_INTEGER = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class LabelSpec:
    """The labels of a conditional run: one size per label factor, and optional class names.

    One factor is the usual case (`sizes=(10,)` for digits); Stacked MNIST conditioned on each
    channel's digit has three (`(10, 10, 10)`). A batch's labels are int64 of shape (B,) for
    one factor and (B, K) for K factors. `names[k]` names factor k's classes (may be empty).
    """

    sizes: tuple[int, ...]
    names: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        if not self.sizes or any(s < 2 for s in self.sizes):
            raise ValueError(f"label sizes must be >= 2 per factor, got {self.sizes}")
        if self.names and [len(n) for n in self.names] != list(self.sizes):
            raise ValueError("label names must have one entry per class of each factor")

    @property
    def factors(self) -> int:
        """Number of label factors (1 for plain class labels)."""
        return len(self.sizes)

    @property
    def combinations(self) -> int:
        """Number of distinct labels (the product of the factor sizes)."""
        return math.prod(self.sizes)

    def class_names(self, factor: int = 0) -> tuple[str, ...]:
        """Names of one factor's classes (their indices as text when unnamed)."""
        if self.names:
            return self.names[factor]
        return tuple(str(i) for i in range(self.sizes[factor]))

    def parse(self, text: str) -> list[int]:
        """A label written by a user (`7`, `cat`, or `1,2,3` for several factors) as indices."""
        parts = [p.strip() for p in str(text).split(",")]
        if len(parts) != self.factors:
            raise UsageError(
                f"label '{text}': this run has {counted(self.factors, 'label factors')}; write "
                f"{','.join(['N'] * self.factors)}"
            )
        out = []
        for k, part in enumerate(parts):
            names = self.class_names(k)
            # classes named by numbers ('0', '3', '7' from a dataset.json): a number is a name
            # only, never a position, so `--label 1` is refused, not taken as class '3'
            numbered = all(_INTEGER.fullmatch(name) for name in names)
            if part in names:
                out.append(names.index(part))
            elif not numbered and part.isdigit() and int(part) < self.sizes[k]:
                out.append(int(part))
            else:
                shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
                note = " (its classes are named by numbers: a number is a name, not a position)"
                # a name in other case ('Dog' for 'dog') is named; a merely similar one is not
                # ('cow' is no typo of 'owl', nor '10' of '1')
                same = [name for name in names if name.casefold() == part.casefold()]
                guess = f" (did you mean '{same[0]}'?)" if same else ""
                raise UsageError(
                    f"label '{part}' is not one of this run's classes{guess}: {shown}"
                    + (note if numbered and part.isdigit() else "")
                )
        return out

    def describe(self, label: list[int]) -> str:
        """A label's text form, the inverse of `parse`."""
        return ",".join(self.class_names(k)[i] for k, i in enumerate(label))


class ConditionConfig(Section):
    """How a conditional run uses its labels (the `condition` section of image domains)."""

    generator: str = Field(
        "cbn",
        description="generator mechanism (ganhub list conditioners): concat (cGAN), cbn "
        "(conditional BatchNorm), mapping (StyleGAN2's label embedding)",
    )
    discriminator: str = Field(
        "projection",
        description="discriminator mechanism: projection (Miyato & Koyama 2018), input_concat "
        "(cGAN: label maps on the input), none (for AC-GAN alone: tricks=[acgan])",
    )
    embed_dim: int = Field(
        64, gt=0, le=4096, description="label embedding size (concat, cbn, mapping, input_concat)"
    )
    classes: list[str] | None = Field(
        None,
        description="class names in label order; filled from the data (class folders or the "
        "labels file) and saved with the run",
    )

    @field_validator("classes")
    @classmethod
    def _named_once(cls, classes: list[str] | None) -> list[str] | None:
        # a name twice would give two indices one name (`--label cat` would pick one of them),
        # and an empty name cannot be asked for: refused here, in one line, for every domain.
        # Names are stripped, as labels-CSV labels are (`[cat," dog"]` is cat and dog)
        if classes is None:
            return None
        classes = [name.strip() for name in classes]
        if blank := [i for i, name in enumerate(classes) if not name]:
            raise ValueError(
                f"class {blank[0]} (counting from 0) has an empty name; give each class a name"
            )
        seen: set[str] = set()
        for name in classes:
            if name in seen:
                raise ValueError(
                    f"'{one_line(name, 60)}' is named twice; give each class once, in label order"
                )
            seen.add(name)
        return classes

    @classmethod
    def with_defaults(cls, generator: str, discriminator: str) -> type[ConditionConfig]:
        """This section with a domain's default mechanisms (so `--help` shows the real ones)."""
        fields: dict[str, Any] = {
            name: (str, Field(value, description=cls.model_fields[name].description))
            for name, value in (("generator", generator), ("discriminator", discriminator))
        }
        name = f"ConditionConfig_{generator}_{discriminator}"
        model = cast("type[ConditionConfig]", create_model(name, __base__=cls, **fields))
        model.__doc__ = cls.__doc__
        return model


@dataclass(frozen=True)
class ConditionRequest:
    """What a domain asks for when a run is conditional (`Domain.conditioning`)."""

    labels: LabelSpec
    generator: str = "cbn"
    discriminator: str = "projection"
    embed_dim: int = 64
    # the parts a mechanism may need (`Conditioner.needs`) that the domain's networks have:
    # `frozenset({"mapping"})` for a StyleGAN generator. None (not declared): every mechanism
    # of the side is offered, and one that does not fit is refused when it wraps the network
    generator_has: frozenset[str] | None = None
    discriminator_has: frozenset[str] | None = None


class Conditioner(ABC):
    """A registered conditioning mechanism for one side (generator or discriminator).

    `inputs` is how many extra input features (generator: latent dimensions; discriminator:
    image channels) the domain must build its network with; `wrap` returns the conditioned
    network: a `LabelledGenerator` (called `G(z, labels)`) or a `ConditionalDiscriminator`.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    side: ClassVar[Side] = "generator"
    # discriminator side: whether D is shown the label (`none`: no, a class head must teach it),
    # and whether D's features are computed from it (`input_concat`: a class head on them
    # would read the given label back, not the image's class)
    shows_label: ClassVar[bool] = True
    labelled_features: ClassVar[bool] = False
    # a part the network must have for `wrap` to work ("batchnorm", "mapping"), and how a
    # user reads it ("BatchNorm layers"): a domain that declares its networks' parts
    # (`ConditionRequest.generator_has`) has a mechanism it lacks refused before the run starts
    needs: ClassVar[str] = ""
    needs_text: ClassVar[str] = ""

    def inputs(self, labels: LabelSpec, embed_dim: int) -> int:
        """Extra inputs the unwrapped network needs (default: none)."""
        return 0

    @abstractmethod
    def wrap(self, net: nn.Module, condition: Condition) -> nn.Module:
        """The conditioned network around `net`."""


@dataclass
class Condition:
    """A conditional run's labels and resolved mechanisms, handed to `Domain.build` in hints.

    `heads` are auxiliary discriminator heads tricks ask for before the models exist (AC-GAN's
    class head: name -> outputs); the discriminator wrapper builds them on D's features.
    `class_heads` names those of them that predict the label (AC-GAN's), which a discriminator
    mechanism that shows D no label needs and one with labelled features cannot take;
    `checked=False` builds such a pair anyway (to reopen a run trained before it was refused).
    """

    labels: LabelSpec
    generator: Conditioner
    discriminator: Conditioner
    embed_dim: int = 64
    heads: dict[str, int] = field(default_factory=dict)
    pack: int = 1
    class_heads: list[str] = field(default_factory=list)
    checked: bool = True

    def generator_inputs(self) -> int:
        """Extra latent dimensions the generator is built with."""
        return self.generator.inputs(self.labels, self.embed_dim)

    def discriminator_inputs(self) -> int:
        """Extra input channels the discriminator is built with."""
        return self.discriminator.inputs(self.labels, self.embed_dim)

    def wrap_generator(self, net: nn.Module) -> nn.Module:
        """The generator conditioned by the configured mechanism: `G(z, labels)`."""
        return self.generator.wrap(net, self)

    def wrap_discriminator(self, net: nn.Module) -> nn.Module:
        """The discriminator conditioned by the configured mechanism, with any heads asked for."""
        if self.pack > 1:  # a trick that packs without declaring it (`Trick.packs_inputs`)
            raise PluginError(
                f"a trick of this run asked for BuildHints.pack={self.pack} in a "
                "class-conditional run, where each packed D input would hold samples of "
                "different classes; a trick that packs samples must declare packs_inputs = True, "
                "so that such a run is refused before anything is built"
            )
        name = self.discriminator.name
        if self.checked and not self.discriminator.shows_label and not self.class_heads:
            raise ConfigError(
                f"condition.discriminator={name} shows D no label, so nothing would teach G the "
                "class; add tricks=[acgan] (its class head conditions D) or use "
                "condition.discriminator=projection or input_concat"
            )
        if self.checked and self.discriminator.labelled_features and self.class_heads:
            raise ConfigError(
                f"tricks=[acgan] with condition.discriminator={name}: the class head would read "
                "features computed from the label D is given and echo it, not the image's "
                "class; use condition.discriminator=projection or none"
            )
        return self.discriminator.wrap(net, self)


def check_request(
    request: ConditionRequest, registered: dict[str, Conditioner], domain: str = "this domain"
) -> list[str]:
    """Problems with a request's mechanism names: unknown, for the other side, or needing a
    part the domain's networks do not have (where the domain declares them)."""
    problems = []
    for side, name in (("generator", request.generator), ("discriminator", request.discriminator)):
        has = request.generator_has if side == "generator" else request.discriminator_has
        fits = sorted(n for n, c in registered.items() if c.side == side and _fits(c, has))
        if name not in registered or registered[name].side != side:
            problems.append(
                f"condition.{side}='{name}' is not a {side} conditioning mechanism "
                f"(available: {', '.join(fits)})"
            )
        elif not _fits(registered[name], has):
            needs = registered[name].needs_text or registered[name].needs
            problems.append(
                f"condition.{side}={name} needs {needs} in the {side}, which {domain}'s "
                f"{side} does not have (available here: {', '.join(fits)})"
            )
    return problems


def _fits(conditioner: Conditioner, has: frozenset[str] | None) -> bool:
    return has is None or not conditioner.needs or conditioner.needs in has


__all__ = [
    "Condition",
    "ConditionConfig",
    "ConditionRequest",
    "Conditioner",
    "LabelSpec",
    "Side",
    "check_request",
    "packs_classes",
    "too_few_classes",
    "unused_condition",
]
