"""What a built system declares it can do: metrics, tricks and commands ask this, never its class.

A metric written for "image samples" works for every domain that declares image samples, a
third-party one included; nothing in ganhub checks a system's class or probes its attributes.
This module imports no torch, so metrics can decide what they support without loading it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ganhub.conditioning import LabelSpec

Modality = Literal["vector", "image", "volume", "tokens"]
MODALITIES: tuple[str, ...] = ("vector", "image", "volume", "tokens")


@dataclass(frozen=True)
class Attribute:
    """A sensitive attribute of the training data that fairness metrics and corrections read.

    name              what it is ("shape", "digit group")
    values            its values, in index order ("square", "ellipse")
    data_proportions  each value's share of the training data (sums to 1)
    classifier        the feature network that reads it from a sample ("shapes", "digits":
                      `ganhub.data.attributes.classify_attribute`)
    groups            the classifier's classes that make up each value (one tuple per value)
    """

    name: str
    values: tuple[str, ...]
    data_proportions: tuple[float, ...]
    classifier: str
    groups: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        n = len(self.values)
        if n < 2 or len(self.data_proportions) != n or len(self.groups) != n:
            raise ValueError(
                f"attribute '{self.name}': {n} values, {len(self.data_proportions)} proportions "
                f"and {len(self.groups)} groups; it needs two or more values and one of each"
            )
        if len(set(self.values)) != n or not all(isinstance(v, str) and v for v in self.values):
            raise ValueError(
                f"attribute '{self.name}': values {list(self.values)}: give distinct, "
                "non-empty names"
            )
        seen: dict[int, str] = {}
        for value, group in zip(self.values, self.groups, strict=True):
            if not group or not all(type(c) is int and c >= 0 for c in group):
                raise ValueError(
                    f"attribute '{self.name}': value '{value}' has classes {list(group)}: give "
                    "one or more of the classifier's class indices (whole numbers from 0)"
                )
            for c in group:
                if c in seen:
                    raise ValueError(
                        f"attribute '{self.name}': class {c} is in both '{seen[c]}' and "
                        f"'{value}': each classifier class makes at most one value"
                    )
                seen[c] = value
        if abs(sum(self.data_proportions) - 1.0) > 1e-6:
            raise ValueError(
                f"attribute '{self.name}': proportions sum to {sum(self.data_proportions)}"
            )


@dataclass(frozen=True)
class Capabilities:
    """The declaration a `GANSystem` returns from `capabilities()`.

    modality      what the data and the samples are: vector (N, D), image (N, C, H, W),
                  volume (N, C, D, H, W) or tokens (N, L) integer ids
    samples       `sample(n, seed=)` draws new samples from noise (False for translators)
    real_samples  `real_samples(n, seed=)` returns training samples of the same kind and shape
    features      default feature networks for feature-distance metrics (`fd_<name>`),
                  used when `eval.features` is not set; () means Inception
    dataset       the name of a known training set ("digits", "stacked_digits", "faces",
                  "ring"...) when the data is one, so metrics that only make sense on it
                  (digit modes, Gaussian-mixture modes) can tell; None for the user's own data
    task          the domain's task ("generate", "transfer", "lesion", "translate"...)
    labels        the labels a class-conditional system samples from (`sample(n, labels=)`,
                  `real_labelled(n, seed=)`); None when it is unconditional
    provides      further named interfaces the system implements, for metrics and commands
                  written against them (e.g. "translate": `translate(x, direction)`;
                  "paired_eval": held-out (condition, target) pairs; "latent_space":
                  `latent_space()` returns a `ganhub.latent.LatentSpace`); each is documented
                  by the plugin (or the engine module) that defines it
    attribute     a sensitive attribute of the training data with its proportions (fairness
                  metrics and corrections); None when the data declares none
    """

    modality: Modality
    samples: bool = True
    real_samples: bool = True
    features: tuple[str, ...] = ()
    dataset: str | None = None
    task: str = "generate"
    labels: LabelSpec | None = None
    provides: frozenset[str] = field(default_factory=frozenset)
    attribute: Attribute | None = None

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"modality '{self.modality}' is not one of {', '.join(MODALITIES)}")

    def can(self, interface: str) -> bool:
        """Whether the system declares the named interface (`provides`)."""
        return interface in self.provides

    def summary(self) -> str:
        """The declaration in one line, for messages saying why something does not apply."""
        yes_no = {True: "yes", False: "no"}
        parts = [
            f"modality {self.modality}",
            f"task {self.task}",
            f"samples from noise {yes_no[self.samples]}",
            f"real samples {yes_no[self.real_samples]}",
            f"dataset {self.dataset or 'own'}",
            f"labels {'yes' if self.labels else 'none'}",
            f"attribute {self.attribute.name if self.attribute else 'none'}",
        ]
        if self.provides:
            parts.append("provides " + "/".join(sorted(self.provides)))
        return ", ".join(parts)


__all__ = ["MODALITIES", "Attribute", "Capabilities", "Modality"]
