"""The tricks that augment every discriminator input, real and fake alike: DiffAugment and ADA.
Their ops are in `ganhub.tricks.augment` (DiffAugment's) and `ganhub.tricks.ada_augment`
(StyleGAN2-ADA's)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ganhub.config.schema import Section
from ganhub.tricks import Trick, bounded, set_by_user

if TYPE_CHECKING:
    from torch import Tensor

    from ganhub.engine.context import TrainContext
    from ganhub.engine.system import GANSystem, Phase, PhaseOutput

__all__ = [
    "REACH_FLOOR",
    "REAL_RUN_STEPS",
    "AdaConfig",
    "AdaptiveAugment",
    "DiffAugment",
    "DiffAugmentConfig",
    "ada_reach_warning",
    "crossing_kimg",
]

AugmentOp = Literal["xflip", "translation", "color", "cutout"]
# StyleGAN2-ADA's ops (ganhub.tricks.ada_augment), cutout, and two earlier names: translation
# (= xint) and color (= brightness, contrast, saturation)
AdaOp = Literal[
    "xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac",
    "brightness", "contrast", "lumaflip", "hue", "saturation", "imgfilter", "noise",
    "cutout", "translation", "color",
]  # fmt: skip


def _of_size(value: float, info: ValidationInfo) -> float:
    """DiffAugment's and ADA's `translation` (0 or more) and `cutout` (above 0), below 1."""
    shift = info.field_name == "translation"
    why = "is no fraction of the image size" if value < 0 else "cuts out nothing"
    why = f"would {'shift' if shift else 'cut'} the whole image out of view" if value >= 1 else why
    give = "0 or more, below 1 (default 0.125)" if shift else "above 0, below 1 (default 0.5)"
    return bounded(value, 0 <= value < 1 and (shift or value > 0), why, f"a fraction {give}")


class DiffAugmentConfig(Section):
    """Options of the `diffaug` trick."""

    policy: list[AugmentOp] = Field(
        ["color", "translation", "cutout"], description="augmentations, applied in this order"
    )
    translation: float = Field(0.125, description="max shift as a fraction of size, below 1")
    cutout: float = Field(0.5, description="cutout square side as a fraction of size, below 1")
    _sized = field_validator("translation", "cutout")(_of_size)

    @model_validator(mode="after")
    def _augments_something(self) -> DiffAugmentConfig:
        # an empty policy, or a translation op that shifts by 0, leaves D's inputs as they are
        if not self.policy:
            raise ValueError(
                "trick.diffaug.policy=[] augments nothing: list ops (xflip, translation, color, "
                "cutout) or drop the trick"
            )
        if "translation" in self.policy and self.translation == 0:
            raise ValueError(
                "trick.diffaug.translation=0 shifts by nothing, so the policy's translation "
                "does nothing: give a shift above 0 (default 0.125) or drop translation from "
                "trick.diffaug.policy"
            )
        return self


class DiffAugment(Trick):
    """Differentiable augmentation (Zhao et al. 2020) of real and fake D inputs alike.

    Because both sides are augmented and gradients flow through the augmentation, G learns
    the clean distribution: the augmentation does not leak into samples.
    """

    name = "diffaug"
    graph_safe = True
    Config = DiffAugmentConfig
    modalities = frozenset({"image"})
    excludes = frozenset({"ada"})  # both augment every D input: one augmentation pipeline
    d_input_order = 10

    def setup(self, system: GANSystem) -> None:
        """Bind the policy's ops once."""
        from ganhub.tricks import augment

        o = self.options
        self.ops = augment.make_ops(o.policy, o.translation, o.cutout)
        self.apply = augment.apply_all

    def d_input(self, x: Tensor, ctx: TrainContext) -> Tensor:
        """Apply the policy with fresh random parameters per sample."""
        return self.apply(x, self.ops)


class AdaConfig(Section):
    """Options of the `ada` trick."""

    target: float = Field(
        0.6, description="target E[sign(D(real))], above 0, below 1: above it D overfits, p rises"
    )
    interval: int = Field(4, description="adjust p every k steps, at least 1")
    kimg: float = Field(
        500.0, description="thousands of real images for p to move by 1, above 0 (the paper: 500)"
    )
    p_init: float = Field(0.0, description="initial augmentation probability, from 0 to 1")
    ops: list[AdaOp] = Field(
        ["xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac",
         "brightness", "contrast", "lumaflip", "hue", "saturation"],
        description="augmentations, each applied per image with probability p, in "
        "StyleGAN2-ADA's order whatever the order listed (the default is its `bgc` pipeline; "
        "imgfilter, noise and cutout, its `fnc`, come after it; translation means xint, color "
        "brightness, contrast and saturation)",
    )  # fmt: skip
    translation: float = Field(0.125, description="xint's max shift as a fraction of size, below 1")
    cutout: float = Field(0.5, description="cutout square side as a fraction of size, below 1")
    supersample: bool = Field(
        True,
        description="resample the geometric ops at twice the resolution through a sym6 wavelet "
        "filter, as StyleGAN2-ADA (rotation and scaling do not alias fine detail; about 4x the "
        "sampling work); false: bilinear at the image's own size (images of 9 px or less always)",
    )

    _sized = field_validator("translation", "cutout")(_of_size)

    @field_validator("target")
    @classmethod
    def _overfits(cls, target: float) -> float:
        why = "would raise p whenever D scores more reals real than fake, for any D"
        why = (
            "is E[sign(D(real))]'s most (1) or more, so p would never rise" if target >= 1 else why
        )
        return bounded(target, 0 < target < 1, why, "a target above 0, below 1 (paper: 0.6)")

    @field_validator("interval")
    @classmethod
    def _adjusts(cls, interval: int) -> int:
        why = "is no number of steps between adjustments of p"
        return bounded(interval, interval >= 1, why, "1 or more (default 4)")

    @field_validator("kimg")
    @classmethod
    def _moves(cls, kimg: float) -> float:
        why = "would move p from 0 to 1 in no images" if kimg == 0 else "would move p backwards"
        return bounded(kimg, kimg > 0, why, "thousands of images above 0 (StyleGAN2-ADA: 500)")

    @field_validator("p_init")
    @classmethod
    def _probability(cls, p: float) -> float:
        return bounded(p, 0 <= p <= 1, "is no probability", "a p from 0 to 1 (default 0)")

    @model_validator(mode="after")
    def _augments_something(self) -> AdaConfig:
        # with no op, p would adapt while D's inputs stay as they are
        if not self.ops:
            raise ValueError(
                "trick.ada.ops=[] augments nothing: list ops (the default is StyleGAN2-ADA's "
                "bgc pipeline) or drop the trick"
            )
        shifts = sorted({"xint", "translation"} & set(self.ops))
        if shifts and self.translation == 0:
            raise ValueError(
                f"trick.ada.translation=0 shifts by nothing, so the op {shifts[0]} does nothing: "
                f"give a shift above 0 (default 0.125) or drop {shifts[0]} from trick.ada.ops"
            )
        return self


# ADA's start warning (`ada_reach_warning`): a run of fewer steps on p's timeline is taken for a
# smoke or test run and not judged; a longer one is warned of when p cannot move over at least
# this share of its range (0 to 1)
REAL_RUN_STEPS = 1000
REACH_FLOOR = 0.5


def crossing_kimg(images: float) -> float:
    """The largest `trick.ada.kimg` of two figures, rounded down, at which p can cross its range
    (0 to 1) once over `images` real images judged (p moves by images / (kimg x 1000))."""
    import math

    full = images / 1000
    unit = 10.0 ** (math.floor(math.log10(full)) - 1)
    # rounded before the floor: 2.4 / 0.1 is 23.999999999999996
    return float(f"{math.floor(round(full / unit, 9)) * unit:.3g}")  # 0.064, not 0.0640...01


def ada_reach_warning(
    kimg: float,
    p_init: float,
    steps: int,
    per_step: float,
    judged: str,
    given: bool = True,
) -> str | None:
    """ADA's start warning, or None: p moves by at most the real images D judges / (kimg x
    1000), and StyleGAN2-ADA's 500 kimg is set for trainings of millions of images. A run of
    `steps` >= REAL_RUN_STEPS on p's timeline (trainer.steps; a meta run's tasks' steps) at
    `per_step` real images a step (`judged` says how many, as keys) in which p cannot move
    over REACH_FLOOR of its range is warned of, with the kimg at which p could cross it. A
    shorter run is a smoke or test run: it is not judged, so it stays quiet. A kimg the user
    did not give (`given` false: a default, a preset's, a plugin's) is named as such, not as
    the user's choice."""
    images = steps * per_step
    if steps < REAL_RUN_STEPS or images <= 0:
        return None
    reach = images / (kimg * 1000)
    if reach >= REACH_FLOOR:
        return None
    shown = f"trick.ada.kimg={kimg:g}" + ("" if given else " (a value you did not give)")
    return (
        f"{shown}: ADA's p can move by at most {reach:.2g} over "
        f"trainer.steps={steps} ({images:,.0f} real images at {judged} a step / (kimg x "
        f"1000)), less than half its range from trick.ada.p_init={p_init:g}, so ADA can do "
        f"little; give trick.ada.kimg={crossing_kimg(images):g} or less for p to cross 0 to 1 "
        "in it"
    )


class AdaptiveAugment(Trick):
    """Adaptive discriminator augmentation (Karras et al. 2020): p follows D's overfitting.

    Every D input (real and fake, in every phase, penalties included) goes through the ops,
    each applied per image with probability p. Every `interval` steps p moves by
    images / (kimg * 1000) up when r_t = E[sign(D(real) - threshold)] is above `target`, down
    when below. The threshold is the loss's decision threshold (0 for the logistic and hinge
    losses, halfway between the targets for lsgan; 0 for a loss without one). r_t averages
    every logit D gives (each patch of a PatchGAN); the images are the real images each
    discriminator judged, so several discriminators or patch outputs do not speed p up.
    p and the sums stay on the device (no host sync) and are checkpointed with the trick.
    Under torchrun every process's sums are added before each adjustment (one all-reduce
    every `interval` steps), so the job has one p, moving with all the images judged.
    """

    name = "ada"
    state_follows_training = True
    # p and its sums are device tensors, updated in place
    graph_safe = True
    Config = AdaConfig
    modalities = frozenset({"image"})
    excludes = frozenset({"diffaug"})
    d_input_order = 10

    def warnings(self) -> list[str]:
        """`ada_reach_warning` for trainer.steps: a run of 1,000 steps or more in which p
        cannot move over half its range. The real images a step are the batch of every
        process, times trick.n_critic.n with n_critic (D trained n times a step); a lazy R1
        phase judges none of its own (the phases are not built yet: only the config counts)."""
        import os

        try:  # torchrun's processes, read without torch: `ganhub config` stays light
            world = max(1, int(os.environ.get("WORLD_SIZE") or 1))
        except ValueError:  # the run refuses such an environment itself
            world = 1
        config, o = self.config, self.options
        batch = config.trainer.batch_size
        judged = f"trainer.batch_size={batch}" + (f" x {world} processes" if world > 1 else "")
        repeats = 1
        if "n_critic" in config.tricks:
            repeats = getattr(config.trick, "n_critic").n  # noqa: B009 (a plugin's section)
            judged += f" x trick.n_critic.n={repeats}"
        given = set_by_user(o, "kimg", config)  # else a default, a preset's or a plugin's
        warning = ada_reach_warning(
            o.kimg, o.p_init, config.trainer.steps, batch * world * repeats, judged, given
        )
        return [] if warning is None else [warning]

    def setup(self, system: GANSystem) -> None:
        """Bind the ops; p starts at p_init."""
        import torch

        from ganhub.tricks.ada_augment import AdaPipeline

        o = self.options
        self.pipeline = AdaPipeline(o.ops, o.translation, o.cutout, o.supersample)
        self.discriminators = max(1, len(list(system.discriminators())))
        self.p = torch.tensor(float(o.p_init))
        self.sign_sum = torch.zeros(())
        self.count = torch.zeros(())  # logits summed into sign_sum
        self.images = torch.zeros(())  # real images judged, over all discriminators
        self.rt = torch.zeros(())

    def _on(self, device: Any) -> None:
        if self.p.device != device:
            self.p, self.sign_sum, self.count, self.images, self.rt = (
                t.to(device) for t in (self.p, self.sign_sum, self.count, self.images, self.rt)
            )

    def d_input(self, x: Tensor, ctx: TrainContext) -> Tensor:
        """Each op on each image with probability p."""
        self._on(x.device)
        return self.pipeline(x, self.p)

    def observe(self, phase: Phase, out: PhaseOutput, ctx: TrainContext) -> None:
        """Accumulate sign(D(real) - threshold) of every pair a D phase judged, and how many
        real images it judged; log p and r_t."""
        threshold = ctx.threshold if ctx.threshold is not None else 0.0
        for pair in out.pairs:
            if pair.real_logits is not None:
                logits = pair.real_logits.detach().float()
                self._on(logits.device)
                self.sign_sum += (logits - threshold).sign().sum()
                self.count += logits.numel()
                self.images += len(pair.real)  # before packing: images, not D's rows
        if out.pairs:
            out.stats["ada_p"] = self.p.clone()
            out.stats["ada_rt"] = self.rt.clone()

    def after_step(self, step: int, system: GANSystem) -> None:
        """Every `interval` steps: p += sign(r_t - target) * images / (kimg * 1000), the
        images counted per discriminator."""
        if step % self.options.interval:
            return
        import torch

        dist = torch.distributed
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            # every process's signs and images, as StyleGAN2-ADA sums them: one p for the job,
            # moving at the speed of the images all processes judged (one small all-reduce)
            totals = torch.stack([self.sign_sum, self.count, self.images])
            dist.all_reduce(totals)
            for total, value in zip((self.sign_sum, self.count, self.images), totals):
                total.copy_(value)
        # in place: a step captured in a CUDA graph reads these very tensors
        self.rt.copy_(self.sign_sum / self.count.clamp(min=1))
        shown = self.images / self.discriminators
        delta = torch.sign(self.rt - self.options.target) * shown / (self.options.kimg * 1000)
        self.p.copy_((self.p + delta).clamp(0, 1))
        for total in (self.sign_sum, self.count, self.images):
            total.zero_()

    def state_dict(self) -> dict[str, Any]:
        """p, the pending sums and the last r_t."""
        return {"p": self.p, "sign_sum": self.sign_sum, "count": self.count,
                "images": self.images, "rt": self.rt}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore p and the pending sums (moved to the device on first use)."""
        self.p, self.sign_sum = state["p"], state["sign_sum"]
        self.count, self.rt = state["count"], state["rt"]
        # older checkpoints counted logits only: one per image for the usual single-logit D
        self.images = state.get("images", self.count.clone())
