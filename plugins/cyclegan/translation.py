"""Translation with a trained run: the Python API behind `ganhub cyclegan translate`.

from ganhub_cyclegan import Translator, translate
translate("runs/cyclegan-...", "photos/", direction="AtoB", out="out/")   # files -> PNGs
Translator("runs/cyclegan-...")(images, "BtoA")                          # tensors in [-1, 1]

A run is opened with `ganhub.load(run_dir, plugin="cyclegan")` (weights only; the training
data need not exist any more) and used through the "translate" interface it declares.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import torch
from ganhub_cyclegan.config import CycleGANConfig
from ganhub_cyclegan.folder import pair_problem, read_image, resize, split_pair
from ganhub_cyclegan.interfaces import DIRECTIONS, TRANSLATE, Translating
from torch import Tensor

from ganhub.closed_output import say
from ganhub.data.images import list_images
from ganhub.errors import UsageError, one_line
from ganhub.metrics.store import new_folders, remove_empty

PLUGIN = "cyclegan"


class Translator:
    """A trained cyclegan run ready to translate image tensors or files."""

    def __init__(self, run_dir: str | Path, device: str = "cpu") -> None:
        from ganhub.api import load

        self.model = load(run_dir, device=device, plugin=PLUGIN)
        if not self.model.system.capabilities().can(TRANSLATE):
            raise UsageError(f"'{run_dir}' holds a system that does not translate")
        self.system = cast(Translating, self.model.system)
        self.config = cast(CycleGANConfig, self.model.config)

    @property
    def directions(self) -> tuple[str, ...]:
        """Directions this run learned: both for CycleGAN, AtoB (input -> target) for pix2pix."""
        return self.system.directions

    def check_direction(self, direction: str) -> None:
        """A UsageError unless the run learned `direction`."""
        if direction not in self.directions:
            hint = (
                f"; a task={self.config.task} run learns its input -> target direction only"
                if direction in DIRECTIONS
                else ""
            )
            raise UsageError(
                f"direction '{direction}': choose {' or '.join(self.directions)}{hint}"
            )

    def check_size(self, size: int) -> None:
        """A UsageError unless the generator can translate size x size images."""
        step, least = self.config.size_step(), self.config.size_min()
        if size < least or size % step:
            raise UsageError(
                f"--size {size}: this run's generator needs a multiple of {step} from {least}"
            )

    def __call__(self, images: Tensor, direction: str = "AtoB", batch_size: int = 16) -> Tensor:
        """Translate (N, C, H, W) images in [-1, 1] (a tensor or numpy array; H and W multiples
        of the generator's step from its smallest size); returns float images of the same shape
        on the CPU."""
        self.check_direction(direction)
        images = self.checked_images(images)
        return torch.cat(
            [self.system.translate(chunk, direction).cpu() for chunk in images.split(batch_size)]
        )

    def checked_images(self, images: object) -> Tensor:
        """`images` as a float tensor, or a one-line UsageError saying the shape this run needs."""
        import numpy as np

        if isinstance(images, np.ndarray):
            images = torch.from_numpy(images)
        cfg = self.config
        channels, step, least = cfg.data.channels, cfg.size_step(), cfg.size_min()
        need = f"(N, {channels}, H, W) images in [-1, 1], H and W multiples of {step} from {least}"
        if not isinstance(images, Tensor):
            raise UsageError(f"Translator: give {need}, not {type(images).__name__}")
        shape = tuple(images.shape)
        if (
            images.ndim != 4
            or shape[1] != channels
            or not all(side >= least and side % step == 0 for side in shape[2:])
            or not (images.is_floating_point())
        ):
            raise UsageError(f"Translator: give {need}; got {images.dtype} {shape}")
        return images

    def translate_files(
        self, inputs: Sequence[Path], out: Path, direction: str = "AtoB", size: int | None = None,
        root: Path | None = None, batch_size: int = 16, keep_size: bool = False,
        force: bool = False, pairs: bool = False,
    ) -> list[Path]:  # fmt: skip
        """Translate image files into PNGs under `out` (paths relative to `root` kept), all or
        none: each PNG is written into a hidden folder next to `out` and moved into place only
        once every input is translated. A PNG already in `out` is refused unless `force`.
        `keep_size`: each image at its own size (see `own_size`), one at a time. `pairs`: each
        file is an A|B pair side by side, of which the half `direction` reads is translated."""
        self.check_direction(direction)
        if keep_size and size is not None:
            raise UsageError(
                "--size and --keep-size: give one (a square side, or each image's own)"
            )
        size = size or self.config.model.image_size
        self.check_size(size)
        inside = root is not None and (
            out.resolve() == root.resolve() or root.resolve() in out.resolve().parents
        )
        if inside:  # it replaced the originals (a.png), or a second run translated the outputs
            raise UsageError(
                f"--out {out} is --input {root} or inside it: the translations would replace or "
                "join the images they come from; give another folder"
            )
        targets: dict[Path, Path] = {}
        for f in inputs:
            name = (f.relative_to(root) if root is not None else Path(f.name)).with_suffix(".png")
            if out / name in targets:
                raise UsageError(
                    f"'{targets[out / name]}' and '{f}' would both be written to '{out / name}'"
                )
            targets[out / name] = f
            if (out / name).resolve() == f.resolve():
                raise UsageError(f"--out {out} would replace the input '{f}'; give another folder")
        replaced = [t for t in targets if os.path.lexists(t)]
        if replaced and not force:
            more = f" (and {len(replaced) - 1} more)" if len(replaced) > 1 else ""
            raise UsageError(
                f"--out {out} already holds '{replaced[0]}'{more}: give --force (Python: "
                "force=True) to replace them, or another folder"
            )
        pairs_out = list(targets.items())
        staged, created = _staging(out)  # every PNG is written there first
        shapes: set[tuple[int, int]] = set()  # (height, width) of the files read

        def load(f: Path) -> Tensor:
            x = read_image(f, self.config.data.channels)
            shapes.add((x.shape[-2], x.shape[-1]))
            return self.input_half(x, f, direction) if pairs else x

        try:
            step, least = self.config.size_step(), self.config.size_min()
            for start in range(0, len(pairs_out), 1 if keep_size else batch_size):
                chunk = pairs_out[start : start + (1 if keep_size else batch_size)]
                if keep_size:  # sizes differ: no batches
                    batch = own_size(load(chunk[0][1]), step, least)[None]
                else:
                    batch = torch.stack([resize(load(f), size) for _, f in chunk])
                for (target, _), image in zip(chunk, self(batch, direction, batch_size)):
                    write_png(image, staged / target.relative_to(out))
            # every input translated: only now the PNGs move into place (each rename atomic)
            for target, _ in pairs_out:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged / target.relative_to(out), target)
        except BaseException:  # an unreadable file, Ctrl-C: --out left as it was
            shutil.rmtree(staged, ignore_errors=True)
            remove_empty(created)
            raise
        shutil.rmtree(staged, ignore_errors=True)
        if (
            not pairs
            and self.config.task == "paired"
            and shapes
            and all(w == 2 * h for h, w in shapes)
        ):
            say(  # a pix2pix test/ folder, translated whole: both halves squashed into one
                "ganhub: note: every input is twice as wide as high, as A|B pairs side by side "
                "are; if they are pairs, --pairs (Python: pairs=True) translates their input "
                "half instead of the whole image",
            )
        return [target for target, _ in pairs_out]

    def input_half(self, x: Tensor, path: Path, direction: str) -> Tensor:
        """The half of an A|B pair image `x` (read from `path`) that `direction` translates
        from: A (left) for AtoB, B (right) for BtoA; for a task=paired run the half it
        trained on as input (the right one with data.direction=BtoA)."""
        problem = pair_problem(x.shape[-1])
        if problem is not None:
            raise UsageError(f"--pairs: '{one_line(path)}': {problem}")
        a, b = split_pair(x)  # at width // 2, as in training (B one pixel wider if odd)
        right = (direction == "BtoA") != (self.config.data.direction == "BtoA")
        return b if right else a


def _staging(out: Path) -> tuple[Path, list[Path]]:
    """A new hidden folder next to `out` (inside it where its parent is read-only, e.g. --out
    ~), on the same file system so that moving out of it is a rename, and the folders making
    it created (deepest first, for `remove_empty`)."""
    for parent in (out.absolute().parent, out):
        created = new_folders(parent)
        try:
            parent.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(".partial", f".{out.name}.", parent)), created
        except OSError:
            remove_empty(created)
            if parent == out:
                raise
    raise AssertionError("unreachable")


def own_size(x: Tensor, step: int, least: int = 0) -> Tensor:
    """(C, H, W) resized so that each side is the nearest multiple of `step` (at least `least`,
    default `step`), the aspect kept: the original CycleGAN's test-time `--preprocess none`
    (base 4)."""
    import torch.nn.functional as F

    h, w = (max(least or step, round(side / step) * step) for side in x.shape[-2:])
    if (h, w) == tuple(x.shape[-2:]):
        return x
    out = F.interpolate(x[None], (h, w), mode="bicubic", antialias=True, align_corners=False)
    return out[0].clamp_(-1, 1)


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
    keep_size: bool = False,
    force: bool = False,
    pairs: bool = False,
) -> list[Path]:
    """Translate an image file or a folder with a trained run; returns the written PNG paths.

    `out` defaults to RUN_DIR/translated_<direction> (for an export, which stays as exported,
    ./translated_<direction>-EXPORT beside it); a folder's sub-folders are kept. Images
    are resized to `size` squared (default: the run's model.image_size), or with `keep_size`
    translated at their own size, each side rounded to a multiple of the generator's step.
    The PNGs appear all or none; one already in `out` is refused unless `force`. `pairs`:
    the inputs are A|B pairs side by side (a pix2pix test/ folder), of which the input half is
    translated (`Translator.read_input`).
    """
    if direction not in DIRECTIONS:
        raise UsageError(f"direction '{direction}': choose AtoB or BtoA")
    files, root = input_files(Path(inputs))
    translator = Translator(run_dir, device)
    if out is None:  # an export stays as exported: its translations go beside it
        from ganhub.clikit import default_output

        out, _ = default_output(
            Path(run_dir), translator.model.exported, name=f"translated_{direction}"
        )
    target = Path(out)
    return translator.translate_files(
        files, target, direction, size, root, batch_size, keep_size, force, pairs
    )
