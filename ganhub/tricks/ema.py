"""The `ema` trick: an exponential moving average of the generators' weights, which samples
use; its decay is fixed, or set by a half-life in images (StyleGAN)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ganhub.config.schema import Section
from ganhub.tricks import Trick, bounded

if TYPE_CHECKING:
    from torch import Tensor, nn

    from ganhub.engine.system import GANSystem


class EMAConfig(Section):
    """Options of the `ema` trick."""

    decay: float | None = Field(
        None,
        description="EMA decay per step (beta), above 0 and below 1; default 0.999, unless "
        "half_life_kimg is set",
    )
    half_life_kimg: float | None = Field(
        None,
        description="set the decay by half-life in thousands of images, above 0 (StyleGAN: 10)",
    )
    rampup: float | None = Field(
        None,
        description="half-life ramp-up ratio, above 0: half-life <= images_seen * rampup "
        "(StyleGAN2: 0.05)",
    )
    start_step: int = Field(
        0, description="copy weights (no averaging) before this step, 0 or more"
    )
    warmup: bool = Field(
        True,
        description="with a fixed decay: use min(decay, (1 + t) / (10 + t)) at step t "
        "(TensorFlow's num_updates rule), so a short run's average does not keep the random "
        "initial weights (0.999 alone leaves 22 % of them after 1,500 steps)",
    )

    # pydantic's bounds said what, not why
    @field_validator("decay")
    @classmethod
    def _averages(cls, decay: float | None) -> float | None:
        if decay is None or 0 < decay < 1:
            return decay
        what = (
            "keeps none of the average, so it would be a copy of G at every step, as samples "
            "are without the trick"
            if decay == 0
            else "would stop the average taking in G's new weights"
            if decay == 1
            else "would move the average away from G's weights"
            if decay > 1
            else "would push the average past G's weights, not toward them"
        )
        raise ValueError(
            f"{what}: give a decay above 0 and below 1 (default 0.999), or "
            "trick.ema.half_life_kimg (StyleGAN: 10)"
        )

    @field_validator("half_life_kimg", "rampup")
    @classmethod
    def _lasts(cls, value: float | None, info: ValidationInfo) -> float | None:
        example = "StyleGAN: 10" if info.field_name == "half_life_kimg" else "StyleGAN2: 0.05"
        why = "would make the average a copy of G at every step (a half-life of 0 images)"
        return bounded(value, value is None or value > 0, why, f"a value above 0 ({example})")

    @field_validator("start_step")
    @classmethod
    def _starts(cls, start: int) -> int:
        give = "0 (average from the first step, the default) or a later step"
        return bounded(start, start >= 0, "is before the first step", give)

    @model_validator(mode="after")
    def _one_rate(self) -> EMAConfig:
        if self.decay is not None and self.half_life_kimg is not None:
            raise ValueError(
                f"decay={self.decay} and half_life_kimg={self.half_life_kimg} both set the "
                "averaging rate: give one"
            )
        if self.rampup is not None and self.half_life_kimg is None:
            raise ValueError(
                f"trick.ema.rampup={self.rampup} applies only with half_life_kimg (it limits "
                "the half-life early on); set trick.ema.half_life_kimg or drop rampup"
            )
        if not self.warmup and self.half_life_kimg is not None:
            raise ValueError(
                "trick.ema.warmup=false applies only with a fixed decay (with half_life_kimg, "
                "trick.ema.rampup shapes the start); drop warmup=false"
            )
        return self


class EMA(Trick):
    """Exponential moving average of generator weights; samples and `ganhub.load` use it."""

    name = "ema"
    state_follows_training = True
    graph_safe = True
    Config = EMAConfig
    setup_order = 90

    def setup(self, system: GANSystem) -> None:
        """Add a frozen `<name>_ema` copy of every generator to the system."""
        import copy

        self.pairs: list[tuple[nn.Module, nn.Module]] = []
        for name in system.generator_names:
            module = getattr(system, name)
            ema = copy.deepcopy(module).eval().requires_grad_(False)
            system.add_module(f"{name}_ema", ema)
            self.pairs.append((module, ema))
        self.batch = self.config.trainer.batch_size * _world_size()
        # the images all processes have trained on before the next update (a resume with
        # another batch continues the count); None until the first update or a restore
        self.images: int | None = None
        # (weights, EMA weights, buffers, EMA buffers) per generator, listed at the first update
        # (after every setup and restore, which change tensors in place only)
        self.tensors: list[tuple[list[Tensor], ...]] | None = None

    def warnings(self) -> list[str]:
        """A start step at or past the run's end never averages: the EMA is a copy of G."""
        start, steps = self.options.start_step, self.config.trainer.steps
        if start < steps:
            return []
        return [
            f"trick.ema.start_step={start} is not before the run's end (trainer.steps={steps}), "
            f"so the EMA only copies G and never averages; lower it below {steps}, or ignore "
            "this for a short test run"
        ]

    def decay_at(self, step: int, images: int | None = None) -> float:
        """The decay used after `step` completed steps (0 before start_step), `images` seen
        before that step (default: the steps before it at this run's batch)."""
        if step <= self.options.start_step:
            return 0.0
        if self.options.half_life_kimg is None:
            decay = 0.999 if self.options.decay is None else self.options.decay
            if self.options.warmup:
                decay = min(decay, (1 + step) / (10 + step))
            return decay
        half_life = self.options.half_life_kimg * 1000.0
        if self.options.rampup is not None:
            # the images seen before this step, as NVIDIA's training loop (its cur_nimg grows
            # after the EMA update): the first update copies G
            seen = (step - 1) * self.batch if images is None else images
            half_life = min(half_life, seen * self.options.rampup)
        return half_life_decay(self.batch, max(half_life, 1e-8))

    def after_step(self, step: int, system: GANSystem) -> None:
        """ema <- decay * ema + (1 - decay) * weights; buffers are copied."""
        import torch

        if self.images is None:  # a fresh run, or a checkpoint saved before the count was kept
            self.images = (step - 1) * self.batch
        beta = self.decay_at(step, self.images)
        self.images += self.batch
        if self.tensors is None:  # once: the lists cost more than the update on small models
            self.tensors = [
                ([p.detach() for p in module.parameters()], list(ema.parameters()),
                 list(module.buffers()), list(ema.buffers()))
                for module, ema in self.pairs
            ]  # fmt: skip
        with torch.no_grad():
            for src, dst, buffers, ema_buffers in self.tensors:
                torch._foreach_lerp_(dst, src, 1.0 - beta)
                if buffers:
                    torch._foreach_copy_(ema_buffers, buffers)

    def state_dict(self) -> dict[str, Any]:
        """The images seen (none before the first update)."""
        return {} if self.images is None else {"images": self.images}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the images seen (a checkpoint saved before they were counted: its steps
        at this run's batch)."""
        images = state.get("images")
        if images is not None and (type(images) is not int or images < 0):
            raise ValueError(f"images seen {images!r:.40}")
        self.images = images


def _world_size() -> int:
    import torch

    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def half_life_decay(batch: int, half_life_images: float) -> float:
    """EMA decay for a half-life in images: 0.5 ** (batch / half_life)."""
    return math.pow(0.5, batch / half_life_images)
