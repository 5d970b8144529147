"""The networks of conditioning: label embeddings, conditioned generators and discriminators.

Generators (`LabelledGenerator`, called `G(z, labels)`):
  ConcatLabels    z concatenated with a learned label embedding (cGAN, Mirza & Osindero 2014)
  MappingLabels   z and the label embedding, each normalised to unit second moment, then
                  concatenated: StyleGAN2-ADA's conditioning of its mapping network
  CBNLabels       every BatchNorm2d becomes a conditional BatchNorm whose gain and bias come
                  from one shared label embedding (BigGAN); initialised to gain 1, bias 0

Discriminators (`ConditionalDiscriminator`, called `D(x, labels)`) need a network with
`features(x)`, `head(features)` (B,) and `feature_dim`, the size of the flattened features:
what the network's last linear layer reads (DCGAN: the whole 4x4 map its last convolution
reads; a ResNet that pools: the pooled vector).
  ProjectionD     head(h) + <embed(y), flattened h> (Miyato & Koyama 2018: the inner product
                  with the input of D's last linear layer)
  InputConcatD    label maps concatenated to the image channels (cGAN)
  PlainD          the network unchanged (for AC-GAN, whose class head is the conditioning)
Auxiliary heads (AC-GAN's class head) are linear layers on the flattened features; a bound
discriminator (`given(D, labels)`) keeps the last forward's head outputs for the tricks.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganhub.conditioning import Condition, LabelSpec


class FeatureDiscriminator(Protocol):
    """What a discriminator offers conditioning: its features and the head on them."""

    feature_dim: int

    def features(self, x: Tensor) -> Tensor:
        """Features of a batch, (B, F) or any shape that flattens to (B, feature_dim)."""
        ...

    def head(self, h: Tensor) -> Tensor:
        """One logit per sample from the features."""
        ...


class LabelEmbedding(nn.Module):
    """One vector per label: the sum of one learned embedding per label factor."""

    def __init__(self, labels: LabelSpec, dim: int) -> None:
        super().__init__()
        self.table = nn.Embedding(sum(labels.sizes), dim)
        offsets = torch.tensor([0, *labels.sizes[:-1]]).cumsum(0)
        self.offsets: Tensor
        self.register_buffer("offsets", offsets, persistent=False)

    def forward(self, labels: Tensor) -> Tensor:
        """(B,) or (B, K) label indices -> (B, dim)."""
        if labels.ndim == 1:
            labels = labels[:, None]
        out: Tensor = self.table(labels + self.offsets).sum(1)
        return out


def _unit_moment(x: Tensor) -> Tensor:
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


class LabelledGenerator(nn.Module):
    """A generator conditioned on labels: `G(z, labels)`; `net` is the unconditional network."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net


class ConcatLabels(LabelledGenerator):
    """G(cat(z, embed(y))): the network is built with `embed_dim` extra latent dimensions."""

    def __init__(self, net: nn.Module, labels: LabelSpec, dim: int) -> None:
        super().__init__(net)
        self.embed = LabelEmbedding(labels, dim)

    def forward(self, z: Tensor, labels: Tensor, **kwargs: Any) -> Tensor:
        """Samples of the given classes from latents z (B, latent_dim)."""
        out: Tensor = self.net(torch.cat([z, self.embed(labels).to(z.dtype)], 1), **kwargs)
        return out


class MappingLabels(ConcatLabels):
    """StyleGAN2-ADA's mapping input: normalised z next to the normalised label embedding."""

    def forward(self, z: Tensor, labels: Tensor, **kwargs: Any) -> Tensor:
        """Style vectors (or samples) of the given classes."""
        y = _unit_moment(self.embed(labels).to(z.dtype))
        out: Tensor = self.net(torch.cat([_unit_moment(z), y], 1), **kwargs)
        return out


class _SharedLabels:
    """The current batch's label embedding, read by every conditional BatchNorm of one G."""

    def __init__(self) -> None:
        self.value: Tensor | None = None


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without its own affine; gain 1 + W_g e and bias W_b e from the label embedding."""

    def __init__(self, channels: int, dim: int, shared: _SharedLabels, bn: nn.BatchNorm2d) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, eps=bn.eps, momentum=bn.momentum, affine=False)
        self.gain = nn.Linear(dim, channels, bias=False)
        self.bias = nn.Linear(dim, channels, bias=False)
        nn.init.zeros_(self.gain.weight)  # starts as the unconditional BatchNorm (gain 1, bias 0)
        nn.init.zeros_(self.bias.weight)
        self.shared = shared

    def forward(self, x: Tensor) -> Tensor:
        """Normalise, then scale and shift per sample by its label."""
        e = self.shared.value
        if e is None:
            raise RuntimeError("conditional BatchNorm called outside its generator's forward")
        gain = 1 + self.gain(e).to(x.dtype)
        return self.bn(x) * gain[:, :, None, None] + self.bias(e).to(x.dtype)[:, :, None, None]


def cbn_maps(module: nn.Module) -> list[nn.Module]:
    """The gain and bias maps of every conditional BatchNorm in `module`: the norm's per-class
    affine parameters, kept at zero by `init` and left alone by `spectral_norm`."""
    cbns = [m for m in module.modules() if isinstance(m, ConditionalBatchNorm2d)]
    return [layer for m in cbns for layer in (m.gain, m.bias)]


def projection_tables(module: nn.Module) -> list[nn.Module]:
    """The label embedding table of every projection discriminator in `module`."""
    return [m.embed.table for m in module.modules() if isinstance(m, ProjectionD)]


class CBNLabels(LabelledGenerator):
    """BigGAN-style conditional BatchNorm: one shared embedding, a gain/bias map per layer."""

    def __init__(self, net: nn.Module, labels: LabelSpec, dim: int) -> None:
        super().__init__(net)
        self.embed = LabelEmbedding(labels, dim)
        shared = _SharedLabels()
        replaced = 0
        for parent in list(net.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.BatchNorm2d):
                    setattr(
                        parent, name, ConditionalBatchNorm2d(child.num_features, dim, shared, child)
                    )
                    replaced += 1
        if not replaced:
            raise ValueError("has no BatchNorm2d layers to condition")
        self.shared = shared

    def forward(self, z: Tensor, labels: Tensor, **kwargs: Any) -> Tensor:
        """Samples of the given classes from latents z."""
        self.shared.value = self.embed(labels)
        try:
            out: Tensor = self.net(z, **kwargs)
        finally:
            self.shared.value = None
        return out


class ConditionalDiscriminator(nn.Module):
    """D(x, labels) -> logits, plus auxiliary heads on the flattened features."""

    def __init__(self, net: nn.Module, condition: Condition) -> None:
        super().__init__()
        self.net = net
        channels = cast(FeatureDiscriminator, net).feature_dim
        self.heads = nn.ModuleDict({k: nn.Linear(channels, n) for k, n in condition.heads.items()})

    @property
    def _net(self) -> FeatureDiscriminator:
        return cast(FeatureDiscriminator, self.net)

    def features(self, x: Tensor, labels: Tensor) -> Tensor:
        """The network's features of `x` (label-conditioned where the mechanism says so)."""
        out: Tensor = self._net.features(x)
        return out

    def score(self, h: Tensor, labels: Tensor) -> Tensor:
        """The adversarial logit from the features."""
        out: Tensor = self._net.head(h)
        return out

    def outputs(self, x: Tensor, labels: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Logits and every auxiliary head's outputs."""
        h = self.features(x, labels)
        aux = {name: head(flat(h)) for name, head in self.heads.items()}
        return self.score(h, labels), aux

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        """One logit per sample given its label."""
        return self.outputs(x, labels)[0]


def flat(h: Tensor) -> Tensor:
    """Features as one vector per sample: (B, ...) -> (B, feature_dim)."""
    return h.flatten(1)


class PlainD(ConditionalDiscriminator):
    """The unconditional network (AC-GAN: the class head does the conditioning)."""


class ProjectionD(ConditionalDiscriminator):
    """Projection discriminator: head(h) + <embed(y), flattened h>."""

    def __init__(self, net: nn.Module, condition: Condition) -> None:
        super().__init__(net, condition)
        self.embed = LabelEmbedding(condition.labels, cast(FeatureDiscriminator, net).feature_dim)
        # Xavier-uniform, as the authors' implementation (sngan_projection) initialises it
        nn.init.xavier_uniform_(self.embed.table.weight)

    def score(self, h: Tensor, labels: Tensor) -> Tensor:
        """The unconditional logit plus the projection term."""
        projection = (self.embed(labels).to(h.dtype) * flat(h)).sum(1)
        out: Tensor = self._net.head(h) + projection
        return out


class InputConcatD(ConditionalDiscriminator):
    """Label maps (a learned embedding broadcast over the image) as extra input channels."""

    def __init__(self, net: nn.Module, condition: Condition, channels: int) -> None:
        super().__init__(net, condition)
        self.embed = LabelEmbedding(condition.labels, channels)

    def features(self, x: Tensor, labels: Tensor) -> Tensor:
        """Features of the image with its label maps."""
        maps = self.embed(labels).to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
        out: Tensor = self._net.features(torch.cat([x, maps], 1))
        return out


class LabelledDiscriminator(nn.Module):
    """A conditional discriminator bound to one batch's labels: `D(x)` like an unconditional
    one, so losses, penalties and D-input tricks apply unchanged. `aux` holds the auxiliary
    heads' outputs of the last forward."""

    def __init__(self, discriminator: ConditionalDiscriminator, labels: Tensor) -> None:
        super().__init__()
        self.inner = discriminator
        self.labels = labels
        self.aux: dict[str, Tensor] = {}

    def forward(self, x: Tensor) -> Tensor:
        """Logits of `x` given the bound labels."""
        if len(x) != len(self.labels):
            raise ValueError(f"{len(x)} inputs for {len(self.labels)} labels")
        logits, self.aux = self.inner.outputs(x, self.labels)
        return logits


def split_batch_labels(batch: Any, labelled: bool) -> tuple[Tensor, Tensor | None]:
    """(samples, labels) of a batch: (x, y) for a conditional run, else the samples and None
    (unlabelled data may still yield tuples, whose first item is the samples)."""
    if labelled:
        return batch[0], batch[1]
    return (batch[0] if isinstance(batch, tuple | list) else batch), None


def given(discriminator: nn.Module, labels: Tensor | None) -> nn.Module:
    """`discriminator` bound to `labels` (itself when the run is unconditional)."""
    if labels is None:
        return discriminator
    assert isinstance(discriminator, ConditionalDiscriminator)
    return LabelledDiscriminator(discriminator, labels)


def head_outputs(discriminator: nn.Module) -> dict[str, Tensor]:
    """The auxiliary heads' outputs of a bound discriminator's last forward ({} otherwise)."""
    return discriminator.aux if isinstance(discriminator, LabelledDiscriminator) else {}


def label_cross_entropy(logits: Tensor, labels: Tensor, spec: LabelSpec) -> Tensor:
    """Cross-entropy of class logits (B, sum of sizes) against labels, summed over factors."""
    if labels.ndim == 1:
        labels = labels[:, None]
    parts = logits.float().split(list(spec.sizes), dim=1)
    return sum(
        (F.cross_entropy(p, labels[:, k]) for k, p in enumerate(parts)),
        torch.zeros((), device=logits.device),
    )


def random_labels(
    spec: LabelSpec, n: int, device: torch.device, gen: torch.Generator | None
) -> Tensor:
    """n labels drawn uniformly over each factor's classes."""
    cols = [torch.randint(s, (n,), device=device, generator=gen) for s in spec.sizes]
    return cols[0] if spec.factors == 1 else torch.stack(cols, 1)


def grid_labels(spec: LabelSpec, rows: int) -> Tensor:
    """One label per row of a class grid: the first `rows` classes; for several factors, row r
    takes class (r + 3k) mod size_k in factor k, so rows differ in every factor."""
    r = torch.arange(min(rows, spec.combinations))
    if spec.factors == 1:
        return r
    return torch.stack([(r + 3 * k) % s for k, s in enumerate(spec.sizes)], 1)


def as_label_tensor(spec: LabelSpec, label: list[int], n: int, device: torch.device) -> Tensor:
    """n copies of one label (as `LabelSpec.parse` returns it)."""
    t = torch.tensor(label, device=device)
    return t.expand(n) if spec.factors == 1 else t.expand(n, -1).contiguous()


def class_grid_layout(spec: LabelSpec, n: int | None, columns: int) -> tuple[int, int]:
    """(rows, columns) of a class grid: one row per class (the first 10); `columns` latents
    when n is None, else the first n classes' rows and as many columns as n samples need."""
    rows = min(10, spec.combinations)
    if n is None:
        return rows, columns
    rows = min(rows, n)
    return rows, -(-n // rows)


def blank_past(grid: Tensor, n: int, columns: int) -> Tensor:
    """A class grid (rows of `columns` cells) showing n samples: the cells past n, the last
    column's lowest, set black (-1), so a grid holds exactly the n samples asked for."""
    rows = len(grid) // columns
    extra = len(grid) - n
    if extra > 0:
        grid[[r * columns + columns - 1 for r in range(rows - extra, rows)]] = -1.0
    return grid


__all__ = [
    "CBNLabels",
    "ConcatLabels",
    "ConditionalBatchNorm2d",
    "ConditionalDiscriminator",
    "FeatureDiscriminator",
    "InputConcatD",
    "LabelEmbedding",
    "LabelledDiscriminator",
    "LabelledGenerator",
    "MappingLabels",
    "PlainD",
    "ProjectionD",
    "as_label_tensor",
    "blank_past",
    "cbn_maps",
    "class_grid_layout",
    "flat",
    "given",
    "grid_labels",
    "head_outputs",
    "label_cross_entropy",
    "projection_tables",
    "random_labels",
    "split_batch_labels",
]
