"""StyleGAN sampling: truncation sweeps, style-mixing grids, latent interpolation GIFs.

Python API (also on `ganhub.load(run_dir).system`):

    model = ganhub.load("runs/stylegan-...", plugin="stylegan")
    images = model.system.sample(16, seed=0, psi=0.7, cutoff=8)
    ganhub_stylegan.style_mixing_grid(model.system, "mix.png", psi=0.7, cutoff=8)
    ganhub_stylegan.interpolation_gif(model.system, "walk.gif", frames=60)

Every function draws its latents from a seeded CPU generator (the global RNG is untouched) and
uses the constant noise inputs, so the same seed gives the same pictures on every device.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from ganhub_stylegan.bounds import COUNTS, check_count, check_frames, crossover_problem
from torch import Tensor

from ganhub.data.images import save_image_grid
from ganhub.latent import seeded_generator, seeded_normal

if TYPE_CHECKING:
    import numpy as np
    from ganhub_stylegan.system import StyleGANSystem


def _latents(system: StyleGANSystem, n: int, seed: int) -> Tensor:
    """n latents of `seed` on the system's device, drawn on the CPU (`ganhub.latent`): the
    same on every device."""
    return seeded_normal(n, (system.G.z_dim,), seeded_generator(seed), system.device)


# a GIF's frame delay is a whole number of hundredths of a second, and browsers play a delay
# of 0 or 1 as 10 (100 ms): 2 (50 fps) is the shortest one that plays as written
MAX_FPS = 50


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _whole(call: Callable[..., Any], name: str, value: Any) -> int:
    """A count argument of `call` (`frames=`, `keys=`, `rows=`...), or one line naming it as
    the caller typed it, in the words of its option: why it is bounded, then what to give and
    what leaving it out gives, `call`'s own default (a bad value drew nothing, a one-frame GIF,
    or a TypeError): `interpolation_gif(frames=1): ...: give 2 or more (leave frames out for
    48)`."""
    from ganhub.errors import UsageError

    whole = _is_whole(value)
    said = f"leave {name} out for {inspect.signature(call).parameters[name].default}"
    try:  # -1 is below every count's bound: a value that is no whole number gets its words
        if name == "frames":
            return check_frames(value if whole else -1, said)
        least, what, _default = COUNTS[name]
        return check_count(value if whole else -1, least, what, said)
    except ValueError as exc:
        give = str(exc) if whole else str(exc).replace(": give ", ": give a whole number, ", 1)
        raise UsageError(f"{call.__name__}({name}={value!r}): {give}") from None


def _of_class(label: Tensor | None, n: int) -> Tensor | None:
    """n copies of one label (shape (1,) or (1, K)); None: the run's default class."""
    return None if label is None else label.repeat_interleave(n, dim=0)


def mixing_ws(row_ws: Tensor, col_ws: Tensor, crossover: int) -> Tensor:
    """Style vectors for a mixing grid: (rows, cols, num_ws, w_dim); cell (i, j) takes
    row i's styles before `crossover` (coarse: pose, shape) and column j's from it on (fine)."""
    rows, _cols = len(row_ws), len(col_ws)
    out = col_ws[None].repeat(rows, 1, 1, 1)
    out[:, :, :crossover] = row_ws[:, None, :crossover]
    return out


@torch.no_grad()
def checked_crossover(
    system: StyleGANSystem, crossover: int | None, call: str = "style_mixing_grid"
) -> int:
    """The style-mixing crossover (default: half the style vectors), or a one-line error when
    the generator has no such split (1 <= crossover < its number of style vectors), naming
    the argument as a caller of `call` typed it, in the words of `--crossover`."""
    n_ws = system.G.num_ws
    if crossover is None:
        return max(1, n_ws // 2)
    size = system.config.model.image_size
    # a text or a float is refused with the range -1 is, as no whole number
    problem = crossover_problem(crossover if _is_whole(crossover) else -1, size, n_ws)
    if problem:
        from ganhub.errors import UsageError

        raise UsageError(
            f"{call}(crossover={crossover!r}): {problem}, or leave crossover out for half"
        )
    return crossover


def style_mixing_grid(
    system: StyleGANSystem,
    path: str | Path,
    *,
    rows: int = 4,
    cols: int = 5,
    crossover: int | None = None,
    seed: int = 0,
    psi: float | None = None,
    cutoff: int | None = None,
    label: Tensor | None = None,
) -> Path:
    """A (rows + 1) x (cols + 1) PNG: top row the column sources, left column the row sources,
    cell (i, j) row i's coarse styles with column j's fine styles (a conditional run's of
    one class: `label`, default its first); psi truncates the first `cutoff` style vectors
    (None: the run's sample.psi and sample.cutoff)."""
    rows = _whole(style_mixing_grid, "rows", rows)
    cols = _whole(style_mixing_grid, "cols", cols)
    crossover = checked_crossover(system, crossover)
    system.check_truncation(psi, cutoff, "style_mixing_grid")
    row_ws = system.ws_for(
        _latents(system, rows, seed), psi=psi, cutoff=cutoff, labels=_of_class(label, rows)
    )
    col_ws = system.ws_for(
        _latents(system, cols, seed + 1), psi=psi, cutoff=cutoff, labels=_of_class(label, cols)
    )
    # one synthesis pass: the column sources, the row sources, then the rows x cols cells
    mixed = mixing_ws(row_ws, col_ws, crossover).flatten(0, 1)
    images = system.synthesize(torch.cat([col_ws, row_ws, mixed]))
    col_img, row_img = images[:cols], images[cols : cols + rows]
    cells = images[cols + rows :].view(rows, cols, *images.shape[1:])
    # the (rows + 1) x (cols + 1) layout: a blank corner over the row sources' column
    left = torch.cat([torch.full_like(col_img[:1], -1.0), row_img])  # (rows + 1, C, H, W)
    right = torch.cat([col_img[None], cells])  # (rows + 1, cols, C, H, W)
    grid = torch.cat([left[:, None], right], dim=1).flatten(0, 1)
    return save_image_grid(grid, Path(path), nrow=cols + 1)


@torch.no_grad()
def truncation_grid(
    system: StyleGANSystem,
    path: str | Path,
    *,
    psis: tuple[float, ...] = (1.0, 0.7, 0.5, 0.0),
    n: int = 8,
    seed: int = 0,
    cutoff: int | None = None,
    label: Tensor | None = None,
) -> Path:
    """One row per psi (the same latents): psi=0 gives the average face on every row cell
    (a conditional run's of class `label`, default its first; w_avg is every class's, so its
    psi=0 row is the same image for every class)."""
    n = _whole(truncation_grid, "n", n)
    psis = _checked_psis(psis)
    system.check_truncation(None, cutoff, "truncation_grid")
    z, labels = _latents(system, n, seed), _of_class(label, n)
    w = system.ws_for(z, psi=1.0, labels=labels)  # (n, num_ws, w_dim), untruncated
    # every row at once: w_avg + psi * (w - w_avg) on the first `cutoff` style vectors
    cutoff = system.config.sample.cutoff if cutoff is None else cutoff
    p = torch.tensor(psis, dtype=w.dtype, device=w.device).view(-1, 1, 1, 1)
    moved = system.generator().w_avg.to(w.dtype).lerp(w[None], p)  # (rows, n, num_ws, w_dim)
    layers = torch.arange(w.shape[1], device=w.device) < (w.shape[1] if cutoff is None else cutoff)
    ws = torch.where(layers[:, None], moved, w[None])
    return save_image_grid(system.synthesize(ws.flatten(0, 1)), Path(path), nrow=n)


def _checked_psis(psis: Any) -> tuple[float, ...]:
    """truncation_grid's `psis`, or one line naming the argument as typed: one or more psis,
    each a number of 0 or more (`psis=(nan,)` was refused as `ws_for(psi=nan)`, a call no one
    typed, and `psis=()` raised torch's "expected a non-empty list of Tensors")."""
    from ganhub_stylegan.bounds import psi_refusal

    from ganhub.errors import UsageError

    given = tuple(psis) if isinstance(psis, tuple | list) else ()
    numbers = all(_is_whole(p) or isinstance(p, float) for p in given)
    if given and numbers and all(0 <= p < math.inf for p in given):
        return tuple(float(p) for p in given)
    words = psi_refusal("leave psis out for 1, 0.7, 0.5 and 0").replace(
        "give a psi", "give one or more psis, each", 1
    )
    raise UsageError(f"truncation_grid(psis={psis!r}): {words}")


@torch.no_grad()
def interpolation_frames(
    system: StyleGANSystem,
    *,
    keys: int = 4,
    frames: int = 48,
    seed: int = 0,
    psi: float | None = None,
    cutoff: int | None = None,
    label: Tensor | None = None,
) -> Tensor:
    """`frames` images along a closed loop through `keys` random w points, each of them a
    frame, the first frame the first key (linear in w, as in the paper; a conditional run's of
    class `label`, default its first), each truncated by psi on its first `cutoff` style
    vectors (None: the run's sample.psi and sample.cutoff)."""
    frames = _whole(interpolation_frames, "frames", frames)
    keys = _whole(interpolation_frames, "keys", keys)
    system.check_truncation(psi, cutoff, "interpolation_frames")
    z, labels = _latents(system, keys, seed), _of_class(label, keys)
    ws = system.ws_for(z, psi=psi, cutoff=cutoff, labels=labels)
    ws = torch.cat([ws, ws[:1]])  # back to the start: the GIF loops smoothly
    # each segment key -> next key gets frames // keys frames (the first frames % keys one
    # more), the first on the key itself: every key is a frame, whatever the frame count
    # (an even spacing of the whole loop stepped over the keys unless keys divided frames)
    counts = torch.full((keys,), frames // keys, device=ws.device)
    counts[: frames % keys] += 1
    i = torch.repeat_interleave(torch.arange(keys, device=ws.device), counts)
    start = counts.cumsum(0) - counts
    frac = (torch.arange(frames, device=ws.device) - start[i]) / counts[i]
    path_ws = ws[i].lerp(ws[i + 1], frac.to(ws.dtype).view(-1, 1, 1))
    return system.synthesize(path_ws)


def to_uint8(images: Tensor, upscale: int = 1) -> list[np.ndarray]:
    """(N, C, H, W) in [-1, 1] -> list of HxWx3 uint8 arrays (nearest upscaling)."""
    x = images.float().cpu().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    if upscale > 1:
        x = x.repeat_interleave(upscale, 2).repeat_interleave(upscale, 3)
    return [frame.permute(1, 2, 0).numpy() for frame in x]


def interpolation_gif(
    system: StyleGANSystem,
    path: str | Path,
    *,
    keys: int = 4,
    frames: int = 48,
    seed: int = 0,
    psi: float | None = None,
    fps: int = 12,
    label: Tensor | None = None,
    cutoff: int | None = None,
) -> Path:
    """Write a looping latent-interpolation GIF (imageio), upscaled to at least 128 px,
    atomically: encoded in memory, then written as `save_image_grid` writes a PNG (under a
    fresh temporary name: a fixed one could be a link planted in a shared run directory)."""
    import io

    import imageio.v2 as imageio

    from ganhub.errors import UsageError
    from ganhub.metrics.store import write_bytes

    # refused here, naming this function's arguments, before interpolation_frames draws
    frames = _whole(interpolation_gif, "frames", frames)
    keys = _whole(interpolation_gif, "keys", keys)
    system.check_truncation(psi, cutoff, "interpolation_gif")
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0 < fps < math.inf:
        raise UsageError(
            f"interpolation_gif(fps={fps!r}): sets the GIF's frames per second: give a number "
            "above 0 (leave fps out for 12)"
        )
    if fps > MAX_FPS:
        raise UsageError(
            f"interpolation_gif(fps={fps!r}): a GIF stores each frame's delay in hundredths of "
            f"a second and browsers play delays under 2 at 10 fps: give {MAX_FPS} or less "
            "(leave fps out for 12)"
        )
    images = interpolation_frames(
        system, keys=keys, frames=frames, seed=seed, psi=psi, cutoff=cutoff, label=label
    )
    upscale = max(1, 128 // images.shape[-1])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    # imageio's stub types `ims` as an invariant list[ArrayLike]; it takes any sequence of arrays
    imageio.mimsave(buffer, to_uint8(images, upscale), format="GIF", duration=1000 / fps, loop=0)  # type: ignore[arg-type]
    return write_bytes(path, buffer.getvalue())
