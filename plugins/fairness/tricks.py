"""`reweight` and `resample`: correct a biased training set toward an unbiased reference set.

Both learn the density ratio w(x) = p_ref(x) / p_data(x) with the classifier of
`ganhub_fairness.ratio` before training starts, and act at the `real_batch` fixed point:

* `reweight` (Choi et al. 2020) weights each real sample's term of D's loss by w(x), so D
  learns the reference distribution's real/fake boundary from biased data;
* `resample` draws each real batch again from itself with probabilities proportional to w(x)
  (importance re-sampling), so D sees batches that look drawn from the reference set.

The weights are computed on the device from the real batch (one small forward, no host sync).
When the classifier is trained: reopening a run (`ganhub eval`, `ganhub.load`) builds its
system, and with it calls the tricks' `setup`, so `setup` only keeps the system. The reference
set is read at `on_optimizers`, which only a training run reaches, so a missing one stops the
run before anything is written; the classifier is trained at `before_train` (this plugin's
lifecycle hook), inside the run's console session, which shows its progress. Its weights are
part of the trick's state, so a resumed run continues with the same classifier instead of
training another, and reads no reference set (a folder moved since is one note line).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ganhub_fairness.config import DensityRatioConfig, ResampleConfig, ReweightConfig

from ganhub.closed_output import say
from ganhub.config.schema import RunConfig, Section
from ganhub.errors import UsageError, one_line
from ganhub.plural import counted
from ganhub.tricks import Trick

if TYPE_CHECKING:
    from ganhub_fairness.ratio import DensityRatioNet
    from torch import Tensor

    from ganhub.domain import Domain
    from ganhub.engine.context import TrainContext
    from ganhub.engine.system import GANSystem, Phase, PhaseOutput


# the options only the classifier's training reads: a resume that keeps the checkpoint's
# classifier cannot change them (flatten and max_weight act on its odds at every step)
TRAINING_OPTIONS = ("reference", "max_data", "steps", "batch_size", "lr", "augment", "width")


def _comparable(value: Any) -> Any:
    """A path as the absolute path it names (a resume may give the same folder relatively)."""
    return os.path.abspath(os.path.expanduser(value)) if isinstance(value, os.PathLike) else value


class DensityRatioTrick(Trick):
    """What both tricks share: the classifier, its training, its state and the weights."""

    Config = DensityRatioConfig
    modalities = frozenset({"image"})

    def __init__(self, options: Section, config: RunConfig) -> None:
        super().__init__(options, config)
        self.system: GANSystem | None = None
        self.net: DensityRatioNet | None = None
        self.report: dict[str, Any] = {}
        self._device: Any = None  # where the classifier is now
        self._logged: Tensor | None = None  # the last weights, on logging steps only
        self._reference: Tensor | None = None  # read at on_optimizers, dropped once trained
        # whether a D loss passed its reals through ctx.real_batch (checked after one step)
        self._seen = self._checked = False

    def setup(self, system: GANSystem) -> None:
        """Keep the system: its data and reference set are read when training starts."""
        self.system = system

    def on_optimizers(self, optimizers: dict[str, Any]) -> None:
        """Read the reference set now (a missing one is an error before the run starts),
        unless the run resumes with the classifier in its checkpoint; a translation, which
        samples nothing from noise, is refused first."""
        assert self.system is not None, "setup() runs first"
        caps = self.system.capabilities()
        if not caps.samples:  # unpaired cyclegan's D_A would be weighted by a classifier of B
            raise UsageError(
                f"trick '{self.name}' reweights a generator's training images by how "
                "over-represented they are against a reference set (Choi et al. 2020); this "
                f"'{self.config.plugin}' run translates images (task {caps.task}) and samples "
                "none from noise, so it has nothing to apply to"
            )
        if self.config.resume is None:
            self._reference = self.reference()
        elif not self._resumes_classifier():  # read when needed, but refused now if missing
            self._refuse_missing_reference()
        else:  # the checkpoint's classifier is kept: options that would train another differ
            self._refuse_changed_training()

    def prepare(self) -> None:
        """Train the classifier unless it exists (trained, or loaded from a checkpoint)."""
        if self.net is None:
            self.fit()

    def fit(self) -> None:
        """Train the density-ratio classifier on the run's data against the reference set."""
        from ganhub_fairness.ratio import fit_density_ratio

        assert self.system is not None, "setup() runs before training"
        o = self.options
        data = self.system.real_samples(o.max_data, seed=self.config.seed).float()
        reference = self._reference if self._reference is not None else self.reference()
        self._reference = None
        if tuple(reference.shape[1:]) != tuple(data.shape[1:]):
            raise UsageError(
                f"trick '{self.name}': the reference images are {list(reference.shape[1:])}, "
                f"the training images {list(data.shape[1:])}"
            )
        self.net, report = fit_density_ratio(
            data,
            reference,
            seed=self.config.seed,
            steps=o.steps,
            batch_size=o.batch_size,
            lr=o.lr,
            width=o.width,
            augment=o.augment,
        )
        self.report = asdict(report)
        self._device = None

    def _resumes_classifier(self) -> bool:
        """Whether the resumed run trained with this trick (its saved config.yaml lists it), so
        its checkpoint holds the classifier and the reference set is not read again: a resume
        whose session failed before its first checkpoint puts config.yaml back, so a trick
        listed there was trained before the newest checkpoint."""
        from ganhub.config.resolve import read_saved

        assert self.config.resume is not None, "asked of a resumed run only"
        tricks = read_saved(self.config.resume).get("tricks")
        return isinstance(tricks, list) and self.name in tricks

    def _refuse_changed_training(self) -> None:
        """A resume that keeps the checkpoint's classifier refuses, before it writes anything,
        options that only its training reads (`TRAINING_OPTIONS`) set to other values than the
        run's saved config.yaml holds: config.yaml would record a classifier the run never
        trained. A saved section that does not validate (an edited file) is not compared."""
        from pydantic import ValidationError

        from ganhub.config.resolve import read_saved

        assert self.config.resume is not None, "asked of a resumed run only"
        tricks = read_saved(self.config.resume).get("trick")
        section = tricks.get(self.name) if isinstance(tricks, dict) else None
        try:
            saved = type(self.options).model_validate(section)
        except ValidationError:
            return
        changed = [
            f"trick.{self.name}.{key}={one_line(now)} (trained with {one_line(before)})"
            for key in TRAINING_OPTIONS
            if _comparable(now := getattr(self.options, key))
            != _comparable(before := getattr(saved, key))
        ]
        if changed:
            raise UsageError(
                f"{', '.join(changed)}: this resumed run keeps the density-ratio classifier its "
                f"checkpoint holds and trains none, so {', '.join(TRAINING_OPTIONS)} cannot "
                "change on resume (flatten and max_weight can): leave them out, or start a new "
                "run to train another classifier"
            )

    def _refuse_missing_reference(self) -> None:
        """A trick added on resume trains its classifier when training starts, but a reference
        folder that does not exist is refused before the run starts all the same. The data's
        own reference set is made now (refused here when the data declares none or too few)
        and kept for `fit`."""
        path = self.options.reference
        if path is None:
            self._reference = self.reference()
        elif not path.exists():
            self.reference()  # its one-line refusal

    def reference(self) -> Tensor:
        """The reference images: trick.NAME.reference, else the data's own reference set."""
        from ganhub_fairness.ratio import MIN_REFERENCE, MIN_REFERENCE_WHY, load_reference

        key = f"trick.{self.name}.reference"
        assert self.system is not None, "setup() runs before training"
        if self.options.reference is not None:
            shape = tuple(self.system.real_samples(1, seed=self.config.seed).shape[1:])
            return load_reference(self.options.reference, shape, key)
        images = self.system.reference_samples()
        if images is None:
            dataset = self.system.capabilities().dataset or "unnamed"
            raise UsageError(
                f"trick '{self.name}' needs an unbiased reference set, and this run's data "
                f"({self.config.plugin}, dataset {dataset}) declares none: set {key}=PATH (a "
                "folder of images or a .safetensors shard), or train on biased data that "
                "brings its own (data.proportions=[0.9,0.1] on data=shapes, or on dcgan's "
                "data=digits)"
            )
        if len(images) < MIN_REFERENCE:  # the minimum a folder or shard is held to
            raise UsageError(
                f"trick '{self.name}': the data's own reference set has "
                f"{counted(len(images), 'images')}; the density-ratio classifier needs "
                f"{MIN_REFERENCE_WHY}: "
                f"{self._more_reference(len(images))}, or set {key}=PATH (a folder of images "
                "or a .safetensors shard)"
            )
        return images.float()

    def _more_reference(self, n_reference: int) -> str:
        """What to change for a larger reference set of the data's own: data=shapes renders
        one in proportion to data.n."""
        from ganhub_fairness.ratio import MIN_REFERENCE

        data = self.config.model_dump().get("data") or {}  # the domain's typed data section
        n = data.get("n")
        if data.get("source") != "shapes" or not isinstance(n, int) or not n_reference:
            return "give more training data"
        return f"give data.n={math.ceil(n * MIN_REFERENCE / n_reference)} or more (now {n})"

    def weights(self, real: Tensor) -> Tensor:
        """w(x) = (c / (1 - c)) ** flatten, clipped at max_weight, per real sample (B,), on
        the device, without gradients or host syncs."""
        import torch

        self._seen = True
        if self.net is None:  # a loop that skipped before_train, or a checkpoint without it
            self.fit()
        assert self.net is not None
        if self._device != real.device:  # once: the classifier follows the data's device
            self._refuse_other_inputs(real)
            self.net.to(real.device)
            self._device = real.device
        o = self.options
        with torch.no_grad(), torch.autocast(real.device.type, enabled=False):
            log_ratio = self.net(real.float())
        # clip in log space: exp of a large logit would overflow before the clip
        return (o.flatten * log_ratio).clamp(max=math.log(o.max_weight)).exp()

    def _refuse_other_inputs(self, real: Tensor) -> None:
        """One line when D's real samples are not images of the shape the classifier learned
        (`real_samples`): a paired translation (medgan, cyclegan task=paired) passes each target
        with its input stacked on it, which the classifier cannot weigh."""
        assert self.net is not None
        learned = [self.net.channels, self.net.size, self.net.size]
        if list(real.shape[1:]) != learned:
            raise UsageError(
                f"trick '{self.name}': the '{self.config.plugin}' discriminator's real samples "
                f"are {list(real.shape[1:])}, not the {learned} images the density-ratio "
                "classifier learned (a paired translation reads each target with its input); "
                "this domain does not support it"
            )

    def remember(self, weight: Tensor, ctx: TrainContext) -> None:
        """Keep the weights of a logging step for `observe` (other steps keep nothing)."""
        if ctx.diagnose:
            self._logged = weight

    def observe(self, phase: Phase, out: PhaseOutput, ctx: TrainContext) -> None:
        """On logging steps: the batch's mean weight (near 1 when the ratio is calibrated)
        and its effective sample size as a share of the batch, (sum w)^2 / (B sum w^2)."""
        w, self._logged = self._logged, None
        if w is None:
            return
        out.stats[f"{self.name}/weight_mean"] = w.mean()
        out.stats[f"{self.name}/ess"] = w.sum().square() / (len(w) * w.square().sum())

    def after_step(self, step: int, system: GANSystem) -> None:
        """After the first step: refuse a domain whose D phase never called `ctx.real_batch`
        (it computes its loss itself), where the trick would silently change nothing."""
        if self._checked:
            return
        self._checked = True
        if not self._seen:
            raise UsageError(
                f"trick '{self.name}': the '{self.config.plugin}' discriminator phase does not "
                "pass its real samples through ctx.real_batch, so the trick would change "
                "nothing; this domain does not support it yet"
            )

    # -- resume ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The classifier's weights and shape, and its held-out report."""
        if self.net is None:
            return {}
        return {
            "net": dict(self.net.state_dict()),
            "channels": self.net.channels,
            "size": self.net.size,
            "width": self.net.width,
            "report": dict(self.report),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Rebuild the classifier from its saved weights (nothing to do if none were saved)."""
        if not state:
            return
        from ganhub_fairness.ratio import DensityRatioNet

        net = DensityRatioNet(int(state["channels"]), int(state["size"]), int(state["width"]))
        net.load_state_dict(state["net"])
        self.net = net.eval().requires_grad_(False)
        self.report = dict(state.get("report", {}))
        self._device = None
        self._reference = None  # trained already: the reference set is not needed
        path = self.options.reference
        if path is not None and not path.exists() and os.environ.get("RANK", "0") == "0":
            say(
                f"ganhub: note: trick.{self.name}.reference={one_line(path)} no longer exists; "
                "the resumed run keeps the density-ratio classifier its checkpoint holds "
                "(trained on that reference set) and trains none",
            )


class Reweight(DensityRatioTrick):
    """Importance weighting (Choi et al. 2020): D's real term weighted by p_ref / p_data."""

    name = "reweight"
    description = "importance-weight real samples toward an unbiased reference set (Choi 2020)"
    Config = ReweightConfig
    excludes = frozenset({"resample"})

    def real_batch(self, real: Tensor, ctx: TrainContext) -> tuple[Tensor, Tensor | None]:
        """The batch as it is, with a weight per sample."""
        weight = self.weights(real)
        self.remember(weight, ctx)
        return real, weight


class Resample(DensityRatioTrick):
    """Importance re-sampling: each real batch drawn again from itself in proportion to
    p_ref / p_data, with replacement."""

    name = "resample"
    description = "re-sample real batches toward an unbiased reference set (importance weights)"
    Config = ResampleConfig
    excludes = frozenset({"reweight"})

    @classmethod
    def problems(cls, options: Any, config: RunConfig, domain: Domain) -> list[str]:
        """Besides the base checks: not conditional runs (the labels would not follow)."""
        out = super().problems(options, config, domain)
        if domain.conditioning(config) is not None:
            out.append(
                "trick 'resample' re-draws real samples, which a conditional run's labels "
                "would not follow; a conditional run sets its class mix when it samples "
                "(`ganhub sample RUN --label L`)"
            )
        return out

    def real_batch(self, real: Tensor, ctx: TrainContext) -> tuple[Tensor, Tensor | None]:
        """B samples drawn from the batch with probabilities proportional to their weights."""
        import torch

        weight = self.weights(real)
        self.remember(weight, ctx)
        return real[torch.multinomial(weight, len(real), replacement=True)], None


__all__ = ["DensityRatioTrick", "Resample", "Reweight"]
