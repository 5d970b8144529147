"""`ganhub interpret features`: what a trained GAN computes for a few fixed codes, as a page.

The page shows the samples, G's channel maps per feature layer (the channels with the most
activation energy), D's saliency and integrated gradients over each sample with its critic
score, and the attention maps of G's and D's attention modules, all computed by
`ganhub_interpret.features` from the system's `LatentSpace`. Figures are written into
RUN_DIR/interpret/ and embedded in the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from ganhub_interpret.features import (
    BASELINE,
    TOP_CHANNELS,
    AttentionMaps,
    LayerMaps,
    attention_maps,
    channel_maps,
    converged_integrated_gradients,
    critic_scores,
    saliency,
)
from ganhub_interpret.page import (
    data_uri,
    latent_space_of,
    run_facts,
    staged_page,
    write_page,
)
from torch import Tensor

from ganhub.figures import new_figure, save_figure
from ganhub.metrics.rundata import as_text
from ganhub.plural import agreeing, counted

if TYPE_CHECKING:
    import numpy as np

    from ganhub.api import TrainedGAN
    from ganhub.latent import LatentSpace

TOLERANCE = 0.05  # integrated gradients: steps doubled until |delta| <= 5 % of the difference
MAX_STEPS = 256
OVERLAY_ALPHA = 0.6


@dataclass
class Figure:
    """An embedded PNG and its caption."""

    uri: str
    caption: str


def write_features_page(
    trained: TrainedGAN, run_dir: Path, *, seed: int, n_images: int, out: Path | None
) -> Path:
    """Compute channel maps, attributions and attention maps for `n_images` codes drawn with
    `seed`, and write RUN_DIR/interpret/features.html (or `out`) with its PNGs beside it."""
    system = trained.system
    space = latent_space_of(trained, run_dir)
    with staged_page(run_dir, out, "features") as staged:  # a planted link: refused now
        system.eval()
        codes = space.sample(n_images, seed)
        decoded = space.decode(codes).float()  # on the system's device, for D
        images = decoded.cpu()
        folder, stem = staged.folder, staged.stem

        scores = critic_scores(space, decoded) if space.critic is not None else None
        samples = _samples_figure(images, scores, folder / f"{stem}-samples.png")
        channel_figures = [
            _layer_figure(layer, folder / f"{stem}-layer-{i:02d}.png")
            for i, layer in enumerate(channel_maps(space, codes))
        ]
        attribution = (
            None
            if scores is None
            else _attribution(space, decoded, scores, folder / f"{stem}-attribution.png")
        )

        attention = [
            _attention_figure(maps, images, folder / f"{stem}-attention-{i:02d}.png")
            for i, maps in enumerate(attention_maps(space, codes))
        ]
        write_page(
            "features.html",
            staged.page,
            **run_facts(trained, run_dir),
            space_name=as_text(space.name, 40),
            space_dim=str(space.dim),
            seed=str(seed),
            codes=counted(n_images, "codes"),
            top=str(TOP_CHANNELS),
            samples=samples,
            channels=channel_figures,
            attribution=attribution,
            no_critic_reason=(
                "an exported folder holds the generator only, not a trained discriminator; "
                "interpret the run directory for them"
                if trained.exported
                else "this latent space gives no critic"
            ),
            attention=attention,
            attention_declared=len(space.attention),
        )
    return staged.destination


def _attribution(space: LatentSpace, decoded: Tensor, scores: Tensor, path: Path) -> dict[str, Any]:
    """D's saliency and integrated gradients: the figure (written to `path`) and the
    per-sample table."""
    baseline = critic_scores(space, torch.full_like(decoded, BASELINE))
    grads = saliency(space, decoded)
    attributions, delta, steps = converged_integrated_gradients(
        space, decoded, tolerance=TOLERANCE, max_steps=MAX_STEPS
    )
    images = decoded.cpu()
    difference = scores - baseline
    relative = delta.abs() / difference.abs().clamp_min(1e-12)
    rows = [
        {
            "index": str(i),
            "score": f"{scores[i].item():.4g}",
            "difference": f"{difference[i].item():.4g}",
            "total": f"{attributions[i].sum().item():.4g}",
            "delta": f"{delta[i].item():.3g}",
            "relative": _percent(100 * relative[i].item()),
        }
        for i in range(len(images))
    ]
    unconverged = [str(i) for i in range(len(images)) if relative[i] > TOLERANCE]
    figure = _attribution_figure(images, grads, attributions, scores, path)
    return {
        "figure": figure,
        "rows": rows,
        "steps": str(steps),
        "baseline_score": f"{baseline[0].item():.4g}",
        "unconverged": f"{agreeing(len(unconverged), 'samples')} {', '.join(unconverged)}",
        "tolerance": f"{100 * TOLERANCE:g} %",
        "max_steps": str(MAX_STEPS),
    }


# -- figures (PNG files we write; names come from the plugin, drawn as plain text) ----------


def _text(name: str) -> str:
    """A name as matplotlib text: bounded, and `$` literal (no mathtext parsing)."""
    return as_text(name, 60).replace("$", r"\$")


def _picture(image: Tensor) -> np.ndarray:
    """An image (C, H, W) in [-1, 1] as what imshow draws: RGB (H, W, 3) or grey (H, W)."""
    x = image.add(1).div(2).clamp(0, 1)
    return (x.permute(1, 2, 0) if len(x) == 3 else x.mean(0)).numpy()


def _grey(image: Tensor) -> np.ndarray:
    """An image (C, H, W) in [-1, 1] as grey (H, W) in [0, 1], under an overlay."""
    return image.add(1).div(2).clamp(0, 1).mean(0).numpy()


def _samples_figure(images: Tensor, scores: Tensor | None, path: Path) -> Figure:
    """The samples in a row, each titled with its critic score when there is one."""
    n = len(images)
    fig = new_figure(1.6 * n, 2.0)
    axes = fig.subplots(1, n, squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.imshow(_picture(images[i]), cmap="gray", vmin=0, vmax=1)
        title = f"#{i}" if scores is None else f"#{i}  D {scores[i].item():.3g}"
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    caption = f"{counted(n, 'samples')}" + ("" if scores is None else " with D's score")
    return Figure(data_uri(save_figure(fig, path)), caption)


def _mosaic(maps: Tensor) -> np.ndarray:
    """(B, K, H, W) maps as one (B rows x K columns) array with a one-pixel NaN gap."""
    import numpy as np

    b, k, h, w = maps.shape
    # each map in a cell with a NaN gap below and right, the cells laid out in one reshape
    cells = np.full((b, k, h + 1, w + 1), np.nan, dtype=np.float32)
    cells[:, :, :h, :w] = maps.float().numpy()
    out = cells.transpose(0, 2, 1, 3).reshape(b * (h + 1), k * (w + 1))
    return out[:-1, :-1]


def _layer_figure(layer: LayerMaps, path: Path) -> Figure:
    """A layer's kept channel maps: a row per sample, a column per channel, one colour scale."""
    b, k, h, w = layer.maps.shape
    _, c, _, _ = layer.shape
    fig = new_figure(min(11.0, 1.0 + 0.9 * k), 0.9 + 0.8 * b)
    ax = fig.subplots()
    import matplotlib

    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="white")  # the gaps between maps
    shown = ax.imshow(_mosaic(layer.maps), cmap=cmap, interpolation="nearest")
    ax.set_xticks([j * (w + 1) + (w - 1) / 2 for j in range(k)])
    ax.set_xticklabels([f"c{ch}" for ch in layer.channels], fontsize=7)
    ax.set_yticks([i * (h + 1) + (h - 1) / 2 for i in range(b)])
    ax.set_yticklabels([f"#{i}" for i in range(b)], fontsize=7)
    ax.tick_params(length=0)
    ax.set_title(f"{_text(layer.name)}: {c}x{h}x{w}", fontsize=9)
    fig.colorbar(shown, ax=ax, fraction=0.03, pad=0.02)
    fig.tight_layout()
    kept = f"all {c} channels" if k == c else f"the top {k} of {c} channels"
    caption = f"{as_text(layer.name, 60)}: output {c}×{h}×{w}; {kept} by mean activation energy"
    return Figure(data_uri(save_figure(fig, path)), caption)


def _attribution_figure(
    images: Tensor, grads: Tensor, attributions: Tensor, scores: Tensor, path: Path
) -> Figure:
    """A row per sample: the image, saliency over it, integrated gradients over it."""
    n, _, h, w = images.shape
    sal = grads.amax(1)  # max over colour channels (Simonyan et al. 2014)
    ig = attributions.sum(1)  # summed: the sum over pixels keeps IG's completeness
    sal_top = max(float(sal.max()), 1e-12)
    ig_top = max(float(ig.abs().max()), 1e-12)
    fig = new_figure(6.6, 2.0 * n + 0.8, layout="constrained")
    axes = fig.subplots(n, 3, squeeze=False)
    last: list[Any] = []  # the overlays of the last row: their scales feed the colour bars
    for i in range(n):
        grey = _grey(images[i])
        axes[i, 0].imshow(_picture(images[i]), cmap="gray", vmin=0, vmax=1)
        axes[i, 0].set_title(f"#{i}  D {scores[i].item():.3g}", fontsize=8)
        last = []
        for j, (values, cmap, low, high) in enumerate(
            ((sal[i], "inferno", 0.0, sal_top), (ig[i], "RdBu_r", -ig_top, ig_top)), start=1
        ):
            axes[i, j].imshow(grey, cmap="gray", vmin=0, vmax=1)
            last.append(
                axes[i, j].imshow(
                    values.numpy(), cmap=cmap, vmin=low, vmax=high, alpha=OVERLAY_ALPHA
                )
            )
        axes[i, 1].set_title("saliency |∂D/∂x|", fontsize=8)
        axes[i, 2].set_title(f"IG, sum {ig[i].sum().item():.3g}", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    for j, shown in enumerate(last, start=1):  # one scale per column, under it
        bar = fig.colorbar(shown, ax=axes[:, j], orientation="horizontal", shrink=0.9)
        bar.ax.tick_params(labelsize=7)
    caption = (
        f"{counted(n, 'samples')} at {h}×{w}: saliency and integrated gradients over the grey image"
    )
    return Figure(data_uri(save_figure(fig, path)), caption)


def _attention_figure(maps: AttentionMaps, images: Tensor, path: Path) -> Figure:
    """A row per sample, a column per query: the key weights at the module's resolution,
    scaled to the image, over the grey image; + marks the query."""
    n, _, h, w = images.shape
    q_rows, q_cols = maps.queries
    k_rows, k_cols = maps.keys
    fig = new_figure(2.2 * len(maps.labels) + 0.4, 2.1 * n)
    axes = fig.subplots(n, len(maps.labels), squeeze=False)
    extent = (-0.5, w - 0.5, h - 0.5, -0.5)  # the key grid stretched over the image, unsmoothed
    for i in range(n):
        grey = _grey(images[i])
        for j, label in enumerate(maps.labels):
            ax = axes[i, j]
            ax.imshow(grey, cmap="gray", vmin=0, vmax=1)
            weights = maps.maps[i, j].numpy()
            peak = float(weights.max()) * weights.size  # 1: spread evenly over the keys
            ax.imshow(
                weights, cmap="viridis", alpha=OVERLAY_ALPHA, extent=extent,
                interpolation="nearest", vmin=0, vmax=max(float(weights.max()), 1e-12),
            )  # fmt: skip
            row, col = (int(v) for v in maps.where[i, j])
            x = (col + 0.5) * w / q_cols - 0.5
            y = (row + 0.5) * h / q_rows - 0.5
            ax.plot([x], [y], marker="+", color="red", markersize=10, markeredgewidth=2)
            ax.set_title(f"#{i} {label} ({row}, {col}), peak {peak:.3g}x", fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    _, c, in_h, in_w = maps.shape
    caption = (
        f"{as_text(maps.name, 60)}: input {c}×{in_h}×{in_w}; queries {q_rows}×{q_cols}, "
        f"keys {k_rows}×{k_cols} shown upsampled to {h}×{w}"
    )
    return Figure(data_uri(save_figure(fig, path)), caption)


def _percent(value: float) -> str:
    """A percentage with two significant digits, never in exponent form (`.2g` wrote 120 % as
    "1.2e+02 %" and 0.00001 % as "1e-05 %")."""
    if value >= 10:  # whole percent (".2g" gives 1e+02 from 99.5 on)
        return f"{value:,.0f} %"
    if value >= 0.01 or value == 0:
        return f"{value:.2g} %"
    return "< 0.01 %"


__all__ = ["write_features_page"]
