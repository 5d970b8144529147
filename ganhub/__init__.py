"""ganhub: train GANs in several domains with one engine.

The package import is light (no torch): `ganhub.train`, `ganhub.load` and friends are imported
on first use, so `ganhub --help` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from ganhub.api import TrainedGAN, load, train
    from ganhub.config.resolve import resolve

_LAZY = {
    "train": "ganhub.api",
    "load": "ganhub.api",
    "TrainedGAN": "ganhub.api",
    "resolve": "ganhub.config.resolve",
}

__all__ = ["TrainedGAN", "__version__", "load", "resolve", "train"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ganhub' has no attribute '{name}'")
