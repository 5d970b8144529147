"""dcgan: the classic DCGAN on the embedded MNIST digits, an image folder or torchvision sets."""

from __future__ import annotations

from ganhub.hookspecs import Register, hookimpl
from ganhub_dcgan.domain import DCGANDomain


@hookimpl
def register_domains(register: Register) -> None:
    """Register the dcgan domain."""
    register("dcgan", DCGANDomain())
