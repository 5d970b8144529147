"""dcgan: the classic DCGAN on the embedded MNIST digits, an image folder or torchvision sets."""

from __future__ import annotations

from ganhub.hookspecs import Register, hookimpl


@hookimpl
def register_domains(register: Register) -> None:
    """Register the dcgan domain."""
    from ganhub_dcgan.domain import DCGANDomain

    register("dcgan", DCGANDomain())
