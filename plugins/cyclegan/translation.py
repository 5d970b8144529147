"""Translation with a trained run: the Python API behind `ganhub translate`.

from ganhub_cyclegan import Translator, translate
translate("runs/cyclegan-...", "photos/", direction="AtoB", out="out/")   # files -> PNGs
Translator("runs/cyclegan-...")(images, "BtoA")                          # tensors in [-1, 1]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from ganhub_cyclegan.config import CycleGANConfig
from ganhub_cyclegan.data import read_image, resize
from ganhub_cyclegan.networks import unet_max_downs
from ganhub_cyclegan.system import CycleGANSystem, Pix2PixSystem
from torch import Tensor

from ganhub.data.images import list_images
from ganhub.errors import UsageError

DIRECTIONS = ("AtoB", "BtoA")


def load_run(
    run_dir: str | Path, device: str = "cpu"
) -> tuple[CycleGANSystem | Pix2PixSystem, CycleGANConfig]:
    """The system of a cyclegan run directory with its latest weights (no training data needed)."""
    from ganhub.config.resolve import resolve
    from ganhub.engine import checkpoint
    from ganhub.engine.environment import select_device
    from ganhub.engine.run import prepare_system
    from ganhub.plugins import get_hub

    run_dir = Path(run_dir)
    saved = run_dir / "config.yaml"
    if not saved.is_file():
        raise UsageError(f"'{run_dir}' is not a ganhub run directory (no config.yaml)")
    hub = get_hub()
    # data.path=null: translating must not depend on the training folders still existing
    config = resolve([f"config={saved}", "data.path=null"], hub=hub)
    if not isinstance(config, CycleGANConfig):
        raise UsageError(f"'{run_dir}' is a {config.plugin} run; translate needs a cyclegan run")
    path = checkpoint.latest(run_dir / "checkpoints")
    if path is None:
        raise UsageError(f"'{run_dir}' has no checkpoint yet")
    torch_device = select_device(device)
    system, _ = prepare_system(config, hub, torch_device)
    _, weights, _ = checkpoint.load(path)
    system.load_state_dict({k: v.to(torch_device) for k, v in weights.items()})
    system.eval()
    assert isinstance(system, CycleGANSystem | Pix2PixSystem)
    return system, config


class Translator:
    """A trained cyclegan run ready to translate image tensors or files."""

    def __init__(self, run_dir: str | Path, device: str = "cpu") -> None:
        self.system, self.config = load_run(run_dir, device)

    @property
    def directions(self) -> tuple[str, ...]:
        """Directions this run learned: both for CycleGAN, AtoB (input -> target) for pix2pix."""
        return DIRECTIONS if isinstance(self.system, CycleGANSystem) else ("AtoB",)

    def check_direction(self, direction: str) -> None:
        """A UsageError unless the run learned `direction`."""
        if direction not in self.directions:
            hint = (
                "; a mode=paired run learns its input -> target direction only"
                if direction in DIRECTIONS
                else ""
            )
            raise UsageError(
                f"--direction {direction}: choose {' or '.join(self.directions)}{hint}"
            )

    def check_size(self, size: int) -> None:
        """A UsageError unless the generator can translate size x size images."""
        step = 4
        if self.config.generator_kind() == "unet":
            step = 2 ** (
                self.config.model.unet_downs or unet_max_downs(self.config.model.image_size)
            )
        if size < step or size % step:
            raise UsageError(f"--size {size}: this run's generator needs a multiple of {step}")

    def __call__(self, images: Tensor, direction: str = "AtoB", batch_size: int = 16) -> Tensor:
        """Translate (N, C, H, W) images in [-1, 1]; returns float images in [-1, 1] on the CPU."""
        self.check_direction(direction)
        outs = []
        for chunk in images.split(batch_size):
            if isinstance(self.system, CycleGANSystem):
                outs.append(self.system.translate(chunk, direction).cpu())
            else:
                outs.append(self.system.translate(chunk).cpu())
        return torch.cat(outs)

    def translate_files(
        self, inputs: Sequence[Path], out: Path, direction: str = "AtoB", size: int | None = None,
        root: Path | None = None, batch_size: int = 16,
    ) -> list[Path]:  # fmt: skip
        """Translate image files into PNGs under `out` (paths relative to `root` kept); atomic writes."""
        self.check_direction(direction)
        size = size or self.config.model.image_size
        self.check_size(size)
        targets: dict[Path, Path] = {}
        for f in inputs:
            name = (f.relative_to(root) if root is not None else Path(f.name)).with_suffix(".png")
            if out / name in targets:
                raise UsageError(
                    f"'{targets[out / name]}' and '{f}' would both be written to '{out / name}'"
                )
            targets[out / name] = f
        written = []
        pairs = list(targets.items())
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start : start + batch_size]
            batch = torch.stack(
                [resize(read_image(f, self.config.data.channels), size) for _, f in chunk]
            )
            for (target, _), image in zip(chunk, self(batch, direction, batch_size)):
                written.append(write_png(image, target))
        return written


def write_png(image: Tensor, path: Path) -> Path:
    """Write one (C, H, W) image in [-1, 1] as a PNG, atomically (temp file, then rename)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    arr = image.float().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)
    arr = arr[0] if arr.shape[0] == 1 else arr.permute(1, 2, 0)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(arr.numpy()).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def input_files(path: Path) -> tuple[list[Path], Path | None]:
    """The images named by `--input` (a file, or a folder searched recursively) and their root."""
    if path.is_file():
        return [path], None
    if not path.is_dir():
        raise UsageError(f"--input '{path}' does not exist")
    files = list_images(path)
    if not files:
        raise UsageError(f"--input '{path}' holds no images (.png, .jpg, ...)")
    return files, path


def translate(
    run_dir: str | Path,
    inputs: str | Path,
    direction: str = "AtoB",
    out: str | Path | None = None,
    *,
    device: str = "cpu",
    size: int | None = None,
    batch_size: int = 16,
) -> list[Path]:
    """Translate an image file or a folder with a trained run; returns the written PNG paths.

    `out` defaults to RUN_DIR/translated_<direction>; a folder's sub-folders are kept.
    """
    if direction not in DIRECTIONS:
        raise UsageError(f"direction '{direction}': choose AtoB or BtoA")
    files, root = input_files(Path(inputs))
    translator = Translator(run_dir, device)
    target = Path(out) if out is not None else Path(run_dir) / f"translated_{direction}"
    return translator.translate_files(files, target, direction, size, root, batch_size)
