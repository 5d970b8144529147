"""What a generator's layers and a discriminator's decision look like for fixed codes.

Everything here reads a `ganhub.latent.LatentSpace` and nothing else: G's channel maps come
from forward hooks on `feature_layers` during `decode`, D's attributions from Captum on
`critic`, attention weights from each `attention` module's `attention_map` on the input that
module saw (a forward pre-hook). Results are CPU tensors, ready to plot.

Attributions score each image alone: the critic's contract promises one score per image, not
that the scores are independent of the rest of the batch (StyleGAN's minibatch standard
deviation compares the images of a group), and Captum batches interpolation steps together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ganhub.latent import LatentSpace

BASELINE = -1.0  # integrated gradients start from an empty image: the background value of [-1, 1]
TOP_CHANNELS = 8


@dataclass
class LayerMaps:
    """One feature layer's output for the codes.

    name      the layer's name in the latent space
    shape     the layer's output shape (B, C, H, W)
    channels  the channel indices kept in `maps`, by mean activation energy (highest first)
    maps      (B, len(channels), H, W) the kept channels' maps
    energy    (C,) each channel's mean squared activation over the codes and positions
    """

    name: str
    shape: tuple[int, int, int, int]
    channels: list[int]
    maps: Tensor
    energy: Tensor


@dataclass
class AttentionMaps:
    """One attention module's weights for a few query positions of each image.

    name     the module's name in the latent space
    shape    the input the module saw (B, C, H, W)
    queries  (rows, cols) of the query grid
    keys     (rows, cols) of the key grid
    labels   what each query is ("centre", "max energy")
    where    (B, len(labels), 2) each query's (row, col) on the query grid
    maps     (B, len(labels), keys rows, keys cols) the weights over the keys; each sums to 1
    """

    name: str
    shape: tuple[int, int, int, int]
    queries: tuple[int, int]
    keys: tuple[int, int]
    labels: list[str]
    where: Tensor
    maps: Tensor


@contextmanager
def _hooks(
    modules: Sequence[tuple[int, nn.Module]], hook: Callable[..., Any], *, pre: bool
) -> Iterator[None]:
    """Hooks on `modules` (forward, or forward pre-hooks) for the duration of the block;
    `hook` gets the module's index first."""
    handles = []
    try:
        for i, module in modules:
            bound = _bind(hook, i)
            handles.append(
                module.register_forward_pre_hook(bound)
                if pre
                else module.register_forward_hook(bound)
            )
        yield
    finally:
        for handle in handles:
            handle.remove()


def _bind(hook: Callable[..., Any], index: int) -> Callable[..., Any]:
    """`hook` with the module index filled in (a closure per module, not a late-bound loop
    variable)."""
    return lambda *args: hook(index, *args)


def _feature_map(name: str, out: Any) -> Tensor:
    """A feature layer's output, checked against the contract: a (B, C, H, W) tensor."""
    if not isinstance(out, Tensor) or out.dim() != 4:
        shown = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"feature layer '{name}' returned {shown}, not a (B, C, H, W) map")
    return out.detach().float()


def _layer_outputs(
    space: LatentSpace, codes: Tensor, keep: Callable[[int, Tensor], Tensor]
) -> list[Tensor]:
    """`keep(i, output)` for each feature layer while decoding `codes`, joined over the chunks
    `decode` may split the codes into; a layer must fire once per sample."""
    names = [name for name, _ in space.feature_layers]
    parts: list[list[Tensor]] = [[] for _ in names]

    def hook(i: int, _module: nn.Module, _args: Any, out: Any) -> None:
        parts[i].append(keep(i, _feature_map(names[i], out)).cpu())

    with _hooks(list(enumerate(m for _, m in space.feature_layers)), hook, pre=False):
        space.decode(codes)
    joined = []
    for name, chunks in zip(names, parts, strict=True):
        total = sum(len(c) for c in chunks)
        if total != len(codes):  # a layer used twice per pass, or not at all
            raise ValueError(f"feature layer '{name}' ran for {total} samples, not {len(codes)}")
        joined.append(chunks[0] if len(chunks) == 1 else torch.cat(chunks))
    return joined


@torch.no_grad()
def channel_maps(
    space: LatentSpace, codes: Tensor, top: int | None = TOP_CHANNELS
) -> list[LayerMaps]:
    """Each feature layer's output for `codes`: the `top` channels with the highest mean
    activation energy (mean of squares over codes and positions), or every channel (None)."""
    if top is None:
        outputs = _layer_outputs(space, codes, lambda _i, out: out.clone())
        return [
            LayerMaps(
                name=name,
                shape=(out.shape[0], out.shape[1], out.shape[2], out.shape[3]),
                channels=list(range(out.shape[1])),
                maps=out,
                energy=out.square().mean(dim=(0, 2, 3)),
            )
            for (name, _), out in zip(space.feature_layers, outputs, strict=True)
        ]
    # Two passes so that only the kept channels are ever stored: the first sums each channel's
    # energy (decode is deterministic), the second keeps the chosen channels.
    shapes: dict[int, tuple[int, int, int]] = {}

    def energy(i: int, out: Tensor) -> Tensor:
        shapes[i] = (out.shape[1], out.shape[2], out.shape[3])
        return out.square().sum(dim=(2, 3))  # (b, C); joined over chunks below

    sums = _layer_outputs(space, codes, energy)
    energies = [s.sum(0) / (len(codes) * shapes[i][1] * shapes[i][2]) for i, s in enumerate(sums)]
    chosen = [
        torch.argsort(e, descending=True, stable=True)[: min(top, len(e))].tolist()
        for e in energies
    ]
    kept = _layer_outputs(space, codes, lambda i, out: out[:, chosen[i]])
    return [
        LayerMaps(
            name=name,
            shape=(len(codes), *shapes[i]),
            channels=chosen[i],
            maps=kept[i],
            energy=energies[i],
        )
        for i, (name, _) in enumerate(space.feature_layers)
    ]


def _critic(space: LatentSpace) -> Callable[[Tensor], Tensor]:
    """The space's critic scoring each image alone (see the module docstring)."""
    critic = space.critic
    if critic is None:
        raise ValueError(f"latent space '{space.name}' has no critic")

    def score(images: Tensor) -> Tensor:
        return torch.cat([critic(x).reshape(1) for x in images.split(1)])

    return score


def critic_scores(space: LatentSpace, images: Tensor) -> Tensor:
    """D's score of each image (B,), each scored alone."""
    with torch.no_grad():
        return _critic(space)(images).float().cpu()


def saliency(space: LatentSpace, images: Tensor) -> Tensor:
    """|d critic / d image| for each image, same shape as `images` (Captum's Saliency)."""
    from captum.attr import Saliency

    x = images.detach().float().clone().requires_grad_(True)
    attributions: Tensor = Saliency(_critic(space)).attribute(x, abs=True)
    return attributions.detach().cpu()


def integrated_gradients(
    space: LatentSpace, images: Tensor, steps: int = 32
) -> tuple[Tensor, Tensor]:
    """Integrated gradients of the critic from the empty image (every pixel -1) to each image,
    Gauss-Legendre with `steps` points: (attributions like `images`, convergence delta (B,)),
    the delta being sum(attributions) - (critic(image) - critic(baseline))."""
    from captum.attr import IntegratedGradients

    x = images.detach().float().clone().requires_grad_(True)
    attributions, delta = IntegratedGradients(_critic(space)).attribute(
        x, baselines=BASELINE, n_steps=steps, method="gausslegendre",
        # at most 32 path points per image in one autograd graph: memory stays bounded
        internal_batch_size=len(x) * min(steps, 32), return_convergence_delta=True,
    )  # fmt: skip
    return attributions.detach().cpu(), delta.detach().float().cpu()


def converged_integrated_gradients(
    space: LatentSpace, images: Tensor, *, tolerance: float = 0.05, steps: int = 32,
    max_steps: int = 256,
) -> tuple[Tensor, Tensor, int]:  # fmt: skip
    """`integrated_gradients` with the steps doubled until every image's convergence delta is
    within `tolerance` of its score difference from the baseline, or `max_steps` is reached:
    (attributions, delta, steps used). A piecewise-linear D (LeakyReLU) has kinks along the
    path that Gauss-Legendre needs many points for; a smooth one converges at a few."""
    with torch.no_grad():
        difference = critic_scores(space, images) - critic_scores(
            space, torch.full_like(images, BASELINE)
        )
    while True:
        attributions, delta = integrated_gradients(space, images, steps=steps)
        if steps * 2 > max_steps or bool((delta.abs() <= tolerance * difference.abs()).all()):
            return attributions, delta, steps
        steps *= 2


def _grid(n: int, shape: tuple[int, int], what: str) -> tuple[int, int]:
    """The (rows, cols) grid of `n` positions with the aspect of a (H, W) map: H x W itself,
    or a pooled grid (keys pooled 2x2, as BigGAN's attention does)."""
    h, w = shape
    scale = math.sqrt(h * w / n)
    rows, cols = round(h / scale), round(w / scale)
    if rows * cols != n:
        raise ValueError(f"{what}: {n} positions do not tile a {h}x{w} map")
    return rows, cols


@torch.no_grad()
def attention_maps(space: LatentSpace, codes: Tensor) -> list[AttentionMaps]:
    """For each attention module that runs (G's while decoding `codes`, D's while scoring the
    images), the weights over the keys of two queries per image: the centre position and the
    position where the module's input has the most energy (sum of squares over channels)."""
    # an AttentionModule need not be an nn.Module; one that is not cannot be hooked
    modules = [(i, m) for i, (_, m) in enumerate(space.attention) if isinstance(m, nn.Module)]
    inputs: dict[int, list[Tensor]] = {}

    def hook(i: int, _module: nn.Module, args: tuple[Any, ...]) -> None:
        if args and isinstance(args[0], Tensor):
            inputs.setdefault(i, []).append(args[0].detach())

    with _hooks(modules, hook, pre=True):
        images = space.decode(codes)
        if space.critic is not None:
            _critic(space)(images)  # one image at a time, as the scores on the page
    found = []
    for i, (name, module) in enumerate(space.attention):
        if i not in inputs:
            continue  # not on the path of these codes
        x = torch.cat(inputs[i])
        if len(x) != len(codes):  # a module that runs twice per pass
            raise ValueError(f"attention '{name}' ran for {len(x)} samples, not {len(codes)}")
        found.append(_queries(name, module.attention_map, x))
    return found


def _queries(name: str, attention_map: Callable[[Tensor], Tensor], x: Tensor) -> AttentionMaps:
    """The centre and max-energy query rows of one module's weights for input `x`, one image
    at a time (a full (queries, keys) matrix per image is H^2 W^2 numbers)."""
    b, _, h, w = x.shape
    labels = ["centre", "max energy"]
    where = torch.zeros(b, len(labels), 2, dtype=torch.long)
    maps: list[Tensor] = []
    queries = keys = (h, w)
    for j in range(b):
        weights = attention_map(x[j : j + 1]).float()  # (1, queries, keys)
        queries = _grid(weights.shape[1], (h, w), f"attention '{name}' queries")
        keys = _grid(weights.shape[2], (h, w), f"attention '{name}' keys")
        energy = nn.functional.adaptive_avg_pool2d(x[j : j + 1].float().square().sum(1), queries)
        peak = int(energy.flatten().argmax())
        rows = [(queries[0] // 2) * queries[1] + queries[1] // 2, peak]
        for k, q in enumerate(rows):
            where[j, k, 0], where[j, k, 1] = divmod(q, queries[1])
        maps.append(weights[0, rows].reshape(len(rows), *keys).cpu())
    return AttentionMaps(
        name=name,
        shape=(b, x.shape[1], h, w),
        queries=queries,
        keys=keys,
        labels=labels,
        where=where,
        maps=torch.stack(maps),
    )


__all__ = [
    "BASELINE",
    "AttentionMaps",
    "LayerMaps",
    "attention_maps",
    "channel_maps",
    "converged_integrated_gradients",
    "critic_scores",
    "integrated_gradients",
    "saliency",
]
