"""MONAI's `PatchAdversarialLoss` as ganhub losses, selectable with `loss=` like any other.

Wrapping it (rather than calling it inside medgan's phases) keeps one loss path: the loop's
D-input tricks, D statistics, penalties and balancing all work unchanged, and any domain can
use these losses. Conventions, matching MONAI's:

* `monai_patch_lsgan`: least squares, D: mean((D(x) - 1)^2) + mean(D(G(z))^2), G: mean((D(G(z)) - 1)^2).
  MONAI applies LeakyReLU(0.05) to D's output for least squares unless told not to; it is told
  not to here (`no_activation_leastsq=True`), so D regresses its raw logits as in LSGAN.
* `monai_patch_bce`: BCE on logits (MONAI applies the sigmoid inside; pass raw logits).
* `monai_patch_hinge`: MONAI's hinge on tanh(D): relu(1 - tanh D(x)) + relu(1 + tanh D(G(z))).

The least-squares and BCE losses take ganhub's `Targets` as MONAI's labels (label smoothing
moves D's; G pushes toward `targets.gen`) and weight real samples by `real_weight` through
MONAI's per-element reduction. MONAI's hinge has neither: it has margins, not labels, and its
reduction is always a mean.

The D loss is the sum of its real and fake terms (as ganhub's own BCE losses); the paired
systems halve it with `objective.d_scale`. MONAI builds its target tensors on the host and
copies them over for every call, which a CUDA graph cannot capture (a copy from pageable
host memory); the wrapped loss builds them on the logits' device instead, with the same
values. MONAI's loss runs in float32 with autocast off: its
BCE (sigmoid + BCELoss) is refused by CUDA autocast, and squared logits overflow in fp16.
torch and MONAI are imported inside methods: registering these losses loads neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ganhub.losses import AdversarialLoss, Targets, real_mean

if TYPE_CHECKING:
    from torch import Tensor


class MonaiPatchLoss(AdversarialLoss):
    """Base of the MONAI PatchAdversarialLoss wrappers; `criterion` picks MONAI's criterion."""

    criterion: ClassVar[str] = "least_squares"
    uses_targets = True  # MONAI's real and fake labels, which label smoothing moves

    def __init__(self) -> None:
        self._losses: dict[str, Any] = {}

    def monai_loss(self, reduction: str = "mean") -> Any:
        """The wrapped `monai.losses.PatchAdversarialLoss` (created on first use), with its
        targets made on the device; reduction "none" gives per-element terms."""
        if reduction not in self._losses:
            self._losses[reduction] = _on_device_targets()(
                reduction=reduction, criterion=self.criterion, no_activation_leastsq=True
            )
        return self._losses[reduction]

    def _term(
        self,
        logits: Tensor,
        label: float,
        for_discriminator: bool = True,
        weight: Tensor | None = None,
    ) -> Tensor:
        """MONAI's term pushing `logits` toward `label`, real samples weighted by `weight`."""
        import torch

        loss = self.monai_loss("mean" if weight is None else "none")
        with torch.autocast(device_type=logits.device.type, enabled=False):
            out: Any = loss(
                logits.float(),
                target_is_real=loss.take_label(label),
                for_discriminator=for_discriminator,
            )
        return out if weight is None else real_mean(out[0], weight)

    def d_loss(
        self,
        real: Tensor,
        fake: Tensor,
        targets: Targets = Targets(),
        real_weight: Tensor | None = None,
    ) -> Tensor:
        """MONAI's discriminator terms: real logits toward `targets.real` (each real sample
        weighted by `real_weight`), fake logits toward `targets.fake`."""
        return self._term(real, targets.real, weight=real_weight) + self._term(fake, targets.fake)

    def g_loss(
        self, fake: Tensor, real: Tensor | None = None, targets: Targets = Targets()
    ) -> Tensor:
        """MONAI's generator term: fake logits toward `targets.gen` (its 'real' label)."""
        return self._term(fake, targets.gen, for_discriminator=False)


class MonaiPatchLSGAN(MonaiPatchLoss):
    """MONAI PatchAdversarialLoss, least squares on raw PatchGAN logits (no LeakyReLU)."""

    name = "monai_patch_lsgan"
    criterion = "least_squares"


class MonaiPatchBCE(MonaiPatchLoss):
    """MONAI PatchAdversarialLoss, BCE on PatchGAN logits (sigmoid applied by MONAI)."""

    name = "monai_patch_bce"
    criterion = "bce"


class MonaiPatchHinge(MonaiPatchLoss):
    """MONAI PatchAdversarialLoss, hinge on tanh of PatchGAN logits."""

    name = "monai_patch_hinge"
    criterion = "hinge"
    uses_targets = False  # MONAI's hinge has margins, not labels

    def d_loss(self, real: Tensor, fake: Tensor, targets: Targets = Targets()) -> Tensor:  # type: ignore[override]
        """MONAI's hinge terms: relu(1 - tanh D(x)) + relu(1 + tanh D(G(z))). MONAI reduces
        its hinge to a mean whatever the reduction, so it takes no per-sample weights."""
        return self._term(real, 1.0) + self._term(fake, -1.0)

    def g_loss(
        self, fake: Tensor, real: Tensor | None = None, targets: Targets = Targets()
    ) -> Tensor:
        """MONAI's generator hinge term on tanh D(G(z))."""
        return self._term(fake, 1.0, for_discriminator=False)


def _on_device_targets() -> type:
    """MONAI's PatchAdversarialLoss whose target tensors are filled on the logits' device
    (MONAI's own make a host tensor and copy it, every call)."""
    import torch
    from monai.losses import PatchAdversarialLoss

    class OnDeviceTargets(PatchAdversarialLoss):
        hinge_fake = -1.0  # the hinge's label of its fake side (MONAI's fake_label)

        def take_label(self, label: float) -> bool:
            """Make `label` the target of the next call; MONAI's `target_is_real` for it."""
            if self.criterion == "hinge":  # margins, no targets: the side is the sign
                return label != self.hinge_fake
            self.real_label = label  # read by get_target_tensor (target_is_real=True)
            return True

        def get_target_tensor(self, input: Tensor, target_is_real: bool) -> Tensor:
            label = self.real_label if target_is_real else self.fake_label
            return torch.full((), label, dtype=input.dtype, device=input.device).expand_as(input)

        def get_zero_tensor(self, input: Tensor) -> Tensor:
            return torch.zeros((), dtype=input.dtype, device=input.device).expand_as(input)

    return OnDeviceTargets


MONAI_LOSSES: tuple[type[MonaiPatchLoss], ...] = (MonaiPatchLSGAN, MonaiPatchBCE, MonaiPatchHinge)
