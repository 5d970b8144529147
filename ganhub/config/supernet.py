"""The model keys of a domain that builds a weight-sharing supernet (`ganhub.nas`):
`model.supernet`, `model.arch_lr`, and why an arch_lr would go unread. No torch: configs
import them."""

from __future__ import annotations

from typing import Any

from pydantic import Field

ARCH_LR = 1e-2  # the default learning rate of a supernet's architecture logits


def supernet_field(choices: str) -> Any:
    """The `model.supernet` key of a domain that builds a weight-sharing supernet (`ganhub.nas`);
    `choices` names what it mixes."""
    return Field(
        False,
        description="build the weight-sharing supernet of the architecture space instead "
        f"(every {choices} choice mixed; ganhub tune sampler=oneshot); the "
        "single-architecture keys above are then unused",
    )


def arch_lr_field() -> Any:
    """The `model.arch_lr` key: the learning rate of a supernet's choices, which learn under
    each side's own optimizer (`ganhub.nas.separate_choices`), whichever `optim.G.name` and
    `optim.D.name` pick."""
    return Field(
        ARCH_LR,
        gt=0,
        description="supernet: learning rate of the architecture choices' logits, in their "
        "own parameter group (no weight decay) of each side's optimizer (optim.G / optim.D)",
    )


def arch_lr_unread(supernet: bool, arch_lr: float) -> str | None:
    """Why `model.arch_lr` would go unread (given without `model.supernet`), or None. Only a
    value other than the default counts: runs saved with the default still load."""
    if supernet or arch_lr == ARCH_LR:
        return None
    return (
        f"model.arch_lr={arch_lr} is only read with model.supernet=true (the learning rate of a "
        "supernet's architecture choices); add model.supernet=true or drop it (ganhub tune "
        "sampler=oneshot: supernet.model.arch_lr=...)"
    )


__all__ = ["ARCH_LR", "arch_lr_field", "arch_lr_unread", "supernet_field"]
