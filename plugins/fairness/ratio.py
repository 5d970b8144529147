"""The density-ratio classifier both fairness tricks share (Choi et al. 2020, Sec. 3).

A small conv net learns to tell the (biased) training data, label 0, from a small unbiased
reference set, label 1. Trained on class-balanced batches, its odds c/(1-c) estimate the
density ratio p_ref(x)/p_data(x) directly: an image of a value the data under-represents
gets a weight above 1, an over-represented one below 1. (Choi et al. train on the sets as
they are and multiply the odds by n_data/n_ref; balanced batches make that factor 1.)

With a reference set of a few hundred images the classifier can memorise them instead of
learning the attribute; random shifts of a few pixels, weight decay and a short one-cycle
schedule keep it to what the images show. Measured on the dcgan 90/10 sets with the default
options (1,500 steps), against the exact ratio of 9 and a held-out accuracy that cannot
exceed 70 %: squares vs ellipses (2,000 reference images) give the ellipses 5.0 times the
squares' weight, 66 % held out, mean weight 0.99 over data images; the digit groups (264
reference images) give 9.9 times, 66 %, with some over-confidence on the reference images.

Training is deterministic from the run's seed (its own generator, one CPU thread, the global
RNG untouched), so two runs with the same seed get the same weights, and it runs on the CPU
before training starts: seconds to tens of seconds at 32 pixels.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganhub.closed_output import say
from ganhub.console import activity
from ganhub.errors import UsageError, one_line
from ganhub.plural import counted

# the share of each side held out to report the classifier's accuracy and calibration
HELD_OUT = 0.1
# fewer reference images than this: a held-out set of a handful (3 gave accuracy NaN) and
# weights learned from almost nothing
MIN_REFERENCE = 50
# why MIN_REFERENCE, as the errors say it
MIN_REFERENCE_WHY = (
    f"at least {MIN_REFERENCE} (it holds out {HELD_OUT:.0%} to measure its accuracy, and a "
    "few images teach it nothing of the reference distribution)"
)
# pixels a training image may move each way (augment): the content stays, the pixels do not
SHIFT = 2


class DensityRatioNet(nn.Module):
    """A stride-1 conv, three stride-2 convs and a linear layer on the flattened map to one
    logit (reference vs data). The map is flattened, not pooled: where in the image a
    feature lies tells a square from an ellipse, which global pooling loses."""

    def __init__(self, channels: int, size: int, width: int = 16) -> None:
        super().__init__()
        self.channels, self.size, self.width = channels, size, width
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, 1, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, width, 3, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 3, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 4 * width, 3, 2, 1), nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(4 * width * math.ceil(size / 8) ** 2, 1),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        """The log-odds that each image (N, C, size, size) in [-1, 1] comes from the reference."""
        out: Tensor = self.body(x).squeeze(1)
        return out


@dataclass
class FitReport:
    """How the classifier did on held-out images: accuracy on both sides (balanced) and the
    mean weight of held-out data images (1 when the odds are a calibrated density ratio:
    E_data[p_ref / p_data] = 1)."""

    accuracy: float
    data_weight_mean: float
    n_data: int
    n_reference: int
    steps: int


def random_shift(x: Tensor, gen: torch.Generator, pixels: int = SHIFT) -> Tensor:
    """Each image moved by up to `pixels` in each direction, edges repeated (no new content)."""
    b, _, h, w = x.shape
    padded = F.pad(x, [pixels] * 4, mode="replicate").permute(0, 2, 3, 1)
    dy = torch.randint(0, 2 * pixels + 1, (b, 1, 1), generator=gen)
    dx = torch.randint(0, 2 * pixels + 1, (b, 1, 1), generator=gen)
    rows = torch.arange(h).view(1, h, 1) + dy
    cols = torch.arange(w).view(1, 1, w) + dx
    return padded[torch.arange(b).view(b, 1, 1), rows, cols].permute(0, 3, 1, 2)


def fit_density_ratio(
    data: Tensor,
    reference: Tensor,
    *,
    seed: int,
    steps: int,
    batch_size: int,
    lr: float,
    width: int,
    augment: bool = True,
) -> tuple[DensityRatioNet, FitReport]:
    """Train the classifier for `steps` class-balanced batches (half data, half reference),
    with random shifts when `augment`; return it (eval mode, no gradients) and its report on
    held-out images of both sides."""
    gen = torch.Generator().manual_seed(seed)
    data_train, data_test = _split(data, gen)
    ref_train, ref_test = _split(reference, gen)
    half = max(1, batch_size // 2)
    threads = torch.get_num_threads()
    ticks = 10
    shown = activity(
        f"training the density-ratio classifier: {len(data):,} data vs {len(reference):,} "
        "reference images",
        total=ticks,
    )
    with shown as progress, torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.set_num_threads(1)  # the same weights on every machine
        try:
            torch.manual_seed(seed)
            net = DensityRatioNet(data.shape[1], data.shape[-1], width)
            opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
            targets = torch.cat([torch.zeros(half), torch.ones(half)])
            for step in range(steps):
                i = torch.randint(len(data_train), (half,), generator=gen)
                j = torch.randint(len(ref_train), (half,), generator=gen)
                x = torch.cat([data_train[i], ref_train[j]]).float()
                if augment:
                    x = random_shift(x, gen)
                loss = F.binary_cross_entropy_with_logits(net(x), targets)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                if (step + 1) * ticks // steps != step * ticks // steps:
                    progress.advance()
            net.eval().requires_grad_(False)
            report = _report(net, data_test, ref_test, len(data), len(reference), steps)
            progress.note = f"held-out accuracy {report.accuracy:.1%}"
        finally:
            torch.set_num_threads(threads)
    return net, report


def _split(x: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    order = torch.randperm(len(x), generator=gen)
    n_test = int(len(x) * HELD_OUT)
    return x[order[n_test:]], x[order[:n_test]]


@torch.no_grad()
def _report(
    net: DensityRatioNet, data: Tensor, ref: Tensor, n_data: int, n_ref: int, steps: int
) -> FitReport:
    d = torch.cat([net(c.float()) for c in data.split(500)]) if len(data) else torch.zeros(0)
    r = torch.cat([net(c.float()) for c in ref.split(500)]) if len(ref) else torch.zeros(0)
    acc = 0.5 * (float((d < 0).double().mean()) + float((r > 0).double().mean()))
    return FitReport(acc, float(d.double().exp().mean()), n_data, n_ref, steps)


def load_reference(path: Path, shape: tuple[int, ...], key: str) -> Tensor:
    """Reference images from a folder of images or a `.safetensors` shard, as (N, *shape) in
    [-1, 1] on the CPU; `key` names the option in errors.

    A folder's images are decoded as a data folder's are (`load_image`: the short side resized
    to the training size, centre-cropped, converted to its channels), which one note line on
    stderr says when any file was not of the training shape already; a shard is read as it is
    and must hold images of the training shape."""
    from ganhub.data.shards import is_shard, load_shard

    channels, size = shape[0], shape[-1]
    if is_shard(path):
        if not path.is_file():
            raise UsageError(f"{key}={path}: no such shard")
        if not path.with_suffix(".json").is_file():  # a .safetensors file of someone else's
            raise UsageError(
                f"{key}={path}: no manifest {path.with_suffix('.json').name} beside it; a "
                "reference shard is one `ganhub data convert` writes (.safetensors and .json), "
                "or give a folder of images"
            )
        try:
            images = load_shard(path)
        except UsageError as exc:  # its own line, with the option that named the file
            raise UsageError(f"{key}={path}: {exc}") from None
    elif path.is_dir():
        from ganhub.data.images import check_image_folder, list_images, load_image

        check_image_folder(path, key)
        files = list_images(path)
        if len(files) < MIN_REFERENCE:  # before decoding: no note on a folder refused
            raise UsageError(
                f"{key}={path}: {counted(len(files), 'reference images')}; the density-ratio "
                "classifier "
                f"needs {MIN_REFERENCE_WHY}"
            )
        try:  # data.skip_bad is the training data's: every reference image must read
            images = torch.stack([load_image(p, size, channels) for p in files])
        except UsageError as exc:
            raise UsageError(f"{key}={path}: {exc}; fix or remove that file") from None
        note = _conversion_note(path, files, tuple(shape), key)
        if note and os.environ.get("RANK", "0") == "0":  # once in a distributed run
            say(note)
    else:
        missing = "" if path.exists() else "does not exist; "
        raise UsageError(f"{key}={path}: {missing}give a folder of images or a .safetensors shard")
    if tuple(images.shape[1:]) != tuple(shape):
        raise UsageError(
            f"{key}={path}: its images are {list(images.shape[1:])}, the training data's "
            f"are {list(shape)}"
        )
    if len(images) < MIN_REFERENCE:
        raise UsageError(
            f"{key}={path}: {counted(len(images), 'reference images')}; the density-ratio "
            "classifier "
            f"needs {MIN_REFERENCE_WHY}"
        )
    return images.float()


def _conversion_note(path: Path, files: list[Path], shape: tuple[int, ...], key: str) -> str:
    """One note line when decoding changed any reference file's channels or size (its header
    says what it holds), naming the first such file; "" when every file was of `shape`."""
    from ganhub.data.decode import describe_image

    changed: list[tuple[Path, str]] = []
    for p in files:
        facts = describe_image(p, str(p))
        if facts.channels != shape[0] or (facts.height, facts.width) != tuple(shape[1:]):
            changed.append(
                (p, f"{counted(facts.channels, 'channels')}, {facts.width}x{facts.height}")
            )
    if not changed:
        return ""
    first, what = changed[0]
    return (
        f"ganhub: note: {key}={one_line(path)}: {len(changed)} of {len(files)} reference "
        f"images converted to the training data's {list(shape)}, as a data folder's are "
        f"(e.g. {one_line(first.relative_to(path))}: {what}); give images of that shape to "
        "use them as they are"
    )


__all__ = [
    "MIN_REFERENCE",
    "DensityRatioNet",
    "FitReport",
    "fit_density_ratio",
    "load_reference",
    "random_shift",
]
