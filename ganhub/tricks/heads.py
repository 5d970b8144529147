"""Self-supervised discriminator heads: SSGAN's rotation head (Chen et al., CVPR 2019).

D gets a 4-way head on its features (asked for in `adjust_build`; `ganhub.engine.heads`) and
learns to tell by how many quarter turns a real image was rotated; G learns to make fakes
whose rotation D can tell (the paper's L_D = -V - beta E_real log Q(r | x^r), L_G = V -
alpha E_fake log Q(r | x^r), beta = 1, alpha = 0.2). As in the authors' implementation
(compare_gan `ssgan.py`), D's rotation loss uses real images only, and a share of the batch
is rotated all four ways, so every image the task sees appears at every angle (Mimicry instead
rotates each image once, a quarter of the batch per angle). `share=1` is compare_gan's
`rotated_batch_size` equal to the batch. Two differences from compare_gan: all four angles
are a trunk pass of their own (compare_gan reads the upright ones from the adversarial pass,
which here may be augmented), and in a conditional run each rotated fake is judged with its
own label (compare_gan's code tiles the real images' labels for the rotated fakes).

The rotated images are an extra trunk pass (`head_logits`) that skips the D-input tricks:
ADA's own quarter turns would make the rotation labels wrong.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ganhub.config.schema import Section
from ganhub.errors import ConfigError
from ganhub.tricks import Trick, bounded

if TYPE_CHECKING:
    from torch import Tensor, nn

    from ganhub.config.schema import RunConfig
    from ganhub.engine.context import TrainContext
    from ganhub.engine.system import BuildHints, GANSystem, Phase, PhaseOutput

HEAD = "rotation"
TURNS = 4  # 0, 90, 180 and 270 degrees


def quarter_turns(x: Tensor) -> tuple[Tensor, Tensor]:
    """Every image of `x` (B, C, H, W) turned 0, 90, 180 and 270 degrees, (4B, C, H, W) in
    blocks of B by angle, and each one's number of quarter turns (4B,) int64."""
    import torch

    if x.shape[-1] != x.shape[-2]:
        raise ConfigError(
            f"trick 'rotation_head' turns square images, and this run's are "
            f"{x.shape[-2]}x{x.shape[-1]}; train on square images or drop the trick"
        )
    rotated = torch.cat([torch.rot90(x, r, dims=(-2, -1)) for r in range(TURNS)])
    turns = torch.arange(TURNS, device=x.device).repeat_interleave(len(x))
    return rotated, turns


class RotationHeadConfig(Section):
    """Options of the `rotation_head` trick."""

    weight_d: float = Field(
        1.0, description="weight of D's rotation loss on real images, 0 or more (SSGAN's beta)"
    )
    weight_g: float = Field(
        0.2, description="weight of G's rotation loss on its fakes, 0 or more (SSGAN's alpha)"
    )
    share: float = Field(
        1.0,
        description="images in the rotation task per phase as a share of the batch: "
        "share * batch / 4 images, each at all four angles (1: as many as the batch; 4: "
        "every image four times)",
    )

    @field_validator("weight_d", "weight_g")
    @classmethod
    def _weighs(cls, weight: float, info: ValidationInfo) -> float:
        side = "D" if info.field_name == "weight_d" else "G"
        why = f"would reward {side}'s rotation errors, not penalise them"
        return bounded(
            weight, weight >= 0, why, "a weight of 0 or more (SSGAN: weight_d=1 weight_g=0.2)"
        )

    @field_validator("share")
    @classmethod
    def _batch_holds_it(cls, share: float) -> float:
        # pydantic's "less than or equal to 4" said what, not why
        if share > TURNS:
            raise ValueError(
                "would rotate more images than the batch holds: 4 is every image of the batch "
                "at all four angles; give a share from above 0 to 4 (default 1)"
            )
        why = "puts no image in the rotation task" if share == 0 else "is no share of the batch"
        return bounded(share, share > 0, why, "a share from above 0 to 4 (default 1)")

    @model_validator(mode="after")
    def _weighs_something(self) -> RotationHeadConfig:
        # both terms at 0: the head would be built and trained by nothing
        if self.weight_d == 0 and self.weight_g == 0:
            raise ValueError(
                "trick.rotation_head.weight_d=0 and trick.rotation_head.weight_g=0 weigh both "
                "rotation losses at 0, so the trick does nothing: give either a weight above 0 "
                "or drop the trick"
            )
        return self


class RotationHead(Trick):
    """SSGAN: a 4-way rotation head on D; D classifies rotated reals, G rotated fakes."""

    name = "rotation_head"
    graph_safe = True
    auxiliary_task = True  # its term is a task's loss, which task_relations relates
    description = (
        "SSGAN: a rotation head on D (0/90/180/270 degrees); D learns it on reals, G on fakes"
    )
    Config = RotationHeadConfig
    modalities = frozenset({"image"})
    # a packed D reads `pack` images per input: rotated single images do not fit it
    excludes = frozenset({"pacgan"})

    def __init__(self, options: Section, config: RunConfig) -> None:
        super().__init__(options, config)
        self.discriminator: nn.Module | None = None

    def adjust_build(self, hints: BuildHints) -> None:
        """Ask for a 4-way head on D's features (on the conditional D in a conditional run)."""
        hints.add_head(HEAD, TURNS)

    def warnings(self) -> list[str]:
        """weight_d=0 with weight_g above 0: nothing trains the head, so G learns to please a
        randomly initialised rotation classifier."""
        o = self.options
        if o.weight_d == 0 and o.weight_g > 0:
            return [
                f"trick.rotation_head.weight_d=0 leaves the rotation head untrained (only D's "
                f"task trains it), so G's rotation loss (weight_g={o.weight_g:g}) pushes "
                f"towards a random classifier; give weight_d above 0 (SSGAN: 1)"
            ]
        return []

    def setup(self, system: GANSystem) -> None:
        """Find the discriminator that carries the head (a domain that ignores heads fails)."""
        from ganhub.engine.heads import headed_discriminator

        discriminators = list(system.discriminators())
        self.discriminator = headed_discriminator(
            discriminators, HEAD, self.name, self.config.plugin
        )

    def extra_loss(self, phase: Phase, out: PhaseOutput, ctx: TrainContext) -> Tensor | None:
        """D phases: cross-entropy of the rotated reals' turns x weight_d; G phases: of the
        rotated fakes' x weight_g (through the frozen D, into G)."""
        from ganhub.engine.heads import bound_labels, unbound

        o = self.options
        if phase.group == "D" and o.weight_d > 0:
            pair = next(
                (p for p in out.pairs if unbound(p.discriminator) is self.discriminator), None
            )
            if pair is None:
                return None  # a D phase without this D's inputs (the lazy R1 phase)
            labels = bound_labels(pair.discriminator)
            return self._task(pair.real.detach(), labels, out, ctx, "D") * o.weight_d
        if phase.group == "G" and o.weight_g > 0 and f"{HEAD}_fake" in out.aux:
            # a G phase judged by the headed D: its fakes keep their graph to G
            return self._task(out.aux["fake"], out.aux.get("labels"), out, ctx, "G") * o.weight_g
        return None

    def _task(
        self, x: Tensor, labels: Tensor | None, out: PhaseOutput, ctx: TrainContext, side: str
    ) -> Tensor:
        """The rotation cross-entropy on `share` of the batch; logs it (and, on diagnose
        steps, the head's accuracy) as device scalars."""
        import torch.nn.functional as F

        from ganhub.engine.heads import head_logits

        assert self.discriminator is not None, "setup() runs before training"
        k = max(1, min(len(x), round(self.options.share * len(x) / TURNS)))
        rotated, turns = quarter_turns(x[:k])
        if labels is not None:  # a conditional D judges each image with its own label
            labels = labels[:k].repeat(TURNS, *([1] * (labels.ndim - 1)))
        logits = head_logits(self.discriminator, HEAD, rotated, labels).float()
        loss = F.cross_entropy(logits, turns)
        out.stats[f"head/{HEAD}_{side}"] = loss.detach()
        if ctx.diagnose:
            hits = (logits.detach().argmax(1) == turns).float().mean()
            out.stats[f"head/{HEAD}_{side}_acc"] = hits
        return loss
