"""Image folders of the cyclegan domain: their layout, decoding, the pair split, augmentation.

Folders follow the original layout: `trainA/` + `trainB/` (unaligned) or `train/` with A and B
side by side in each image (aligned); optional `testA/` + `testB/` or `test/` feed the sample
grids. Files are decoded by the engine (`ganhub.data.decode`: 16-bit scaled, EXIF orientation
applied, palettes and transparency converted). Folder images get the original's preprocessing:
resize to `load_size` squared (up or down: an image of any size trains, as in the original),
random `image_size` crop, random horizontal flip (the same crop and flip for both halves of a
pair). A pair is split at width // 2 as the original's (of an odd width, its B half is one
pixel wider; `ganhub data check`, `checks.inspect_folders`, notes such files).
Images are shown and scored (sample grids, metrics, `real_samples`) whole, resized to the
crop size, as the original's test.py reads them. `data.py` turns a `FolderPairs` into batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from ganhub_cyclegan.config import HELDOUT_PAIRS as HELDOUT_PAIRS  # data.py reads it here
from ganhub_cyclegan.config import N_TEST, CycleGANConfig
from torch import Tensor
from torch.utils.data import Dataset

from ganhub.data.images import IMAGE_SUFFIXES, has_images, list_images, refuse_leaving
from ganhub.errors import ConfigError, UsageError, one_line

# how a saved run is pointed at its data where it is now (`ganhub sample` takes it the same way)
MOVED = (
    "give data.path=FOLDER where it is now (`ganhub eval RUN data.path=FOLDER`; sample and "
    "`run resume=RUN` take it too)"
)


def task_folder(root: Path, name: str) -> Path:
    """`root / name` (trainA/, testB/, train/, val/...), refused in one line when it leads out
    of data.path `root`: a task folder linked elsewhere would make training read other files.
    The links inside it are judged against `root` too (every listing passes `within=root`), so
    a link from trainA/ into trainB/ is followed and one out of data.path refused."""
    refuse_leaving(root / name, root)
    return root / name


# how pix2pix's own datasets are made from A/ and B/ folders of aligned images
COMBINE = "pix2pix's combine_A_and_B.py writes them from A/ and B/ files of the same names"


def folder_layout(path: Path, task: str, *, saved: bool = False) -> dict[str, list[Path]]:
    """The training folders' image files by role, or a ConfigError naming what is missing.
    A training folder leading out of data.path is refused (`task_folder`). `saved`: the
    config is a saved run's (reopened or resumed), whose data may have moved since."""
    shown = one_line(path)
    if not path.exists():
        moved = f"; if the run's data has moved, {MOVED}" if saved else ""
        raise ConfigError(f"data.path='{shown}': folder does not exist{moved}")
    if not path.is_dir():
        raise ConfigError(
            f"data.path='{shown}' is a file; give the folder with trainA/trainB or train"
        )
    names = ("trainA", "trainB") if task == "unpaired" else ("train",)
    missing = [n for n in names if not (path / n).is_dir()]
    if missing:
        if task == "unpaired" and (path / "train").is_dir():
            hint = "; it has train/: for A|B pairs side by side use task=paired"
        elif task == "paired" and (path / "trainA").is_dir():
            hint = (
                "; it has trainA/: for unaligned trainA/ + trainB/ use task=unpaired; aligned "
                f"pairs go side by side in one image each (A|B) in train/ ({COMBINE})"
            )
        elif task == "paired" and all((path / side).is_dir() for side in ("A", "B")):
            hint = f"; it has A/ and B/: task=paired reads each pair side by side (A|B) ({COMBINE})"
        else:
            hint = ""
        wanted = " and ".join(f"{n}/" for n in names)
        raise ConfigError(
            f"data.path='{shown}': task={task} needs {wanted} inside it; missing "
            f"{', '.join(f'{n}/' for n in missing)}{hint}"
        )
    if task == "paired" and all((path / "train" / side).is_dir() for side in ("A", "B")):
        # pix2pix's layout before its combine step: each image was cut into two halves of itself
        raise ConfigError(
            f"data.path='{shown}': train/ holds A/ and B/ folders; task=paired reads A|B pairs "
            f"side by side in one image ({COMBINE})"
        )
    layout = {}
    for name in names:
        files = list_images(task_folder(path, name), within=path)
        if not files:
            raise ConfigError(
                f"data.path='{shown}': {name}/ holds no images ({', '.join(IMAGE_SUFFIXES)})"
            )
        layout[name] = files
    return layout


def folder_ignores(config: CycleGANConfig) -> list[str]:
    """data.n_test beside data.path, where no digits are held out: one line (refused when a
    run starts, `config.check`). A folder's held-out images are the files of its own testA/
    and testB/ (test/ or val/ pairs), so only a value the user gave is refused: one away from
    the default and the preset's value, and on resume from the saved config's (a run made
    before this refusal trained with it and resumes as it was)."""
    from ganhub_cyclegan.domain import CycleGANDomain

    n_test = config.data.n_test
    preset = CycleGANDomain.presets.get(config.preset or "", {}).get("data", {})
    if n_test in (N_TEST, preset.get("n_test", N_TEST)) or _saved_value(config) == n_test:
        return []
    paired = config.task == "paired"
    held = "the A|B pairs in its test/ (else val/)" if paired else "those in its testA/ and testB/"
    return [
        f"data.n_test={n_test} has no effect with data.path: it counts the embedded digits "
        f"held out for scoring; a folder's held-out images are {held} (put them there; "
        "eval.n_samples sets how many are scored); leave it out"
    ]


def _saved_value(config: CycleGANConfig) -> object:
    """data.n_test as the resumed run's config.yaml holds it (None for a new run)."""
    if config.resume is None:
        return None
    from ganhub.config.resolve import read_saved

    data = read_saved(config.resume).get("data")
    return data.get("n_test") if isinstance(data, dict) else None


def read_image(path: Path, channels: int) -> Tensor:
    """Decode one image file to (channels, H, W) in [-1, 1]; a UsageError names a bad file.

    Decoding is the engine's (`ganhub.data.decode`): 16-bit images are scaled by their depth,
    the EXIF orientation is applied, palettes are expanded and transparency is composited on
    black, as `ganhub data check` reports.
    """
    from ganhub.data.decode import decode_image

    return torch.from_numpy(decode_image(path, channels, str(path))).mul_(2.0).sub_(1.0)


def resize(x: Tensor, size: int) -> Tensor:
    """Resize (C, H, W) to size x size (bicubic with antialiasing, as PIL's resize)."""
    if x.shape[-2:] == (size, size):
        return x
    out = F.interpolate(x[None], (size, size), mode="bicubic", antialias=True, align_corners=False)
    return out[0].clamp_(-1, 1)


def split_pair(x: Tensor) -> list[Tensor]:
    """An A|B pair image as [A half, B half], split at width // 2 as the original's
    aligned_dataset.py does: of an odd width, B is one pixel wider (both are resized next)."""
    half = x.shape[-1] // 2
    return [x[..., :half], x[..., half:]]


def odd_pair_note(width: int, height: int) -> str | None:
    """The note on an A|B pair image of odd width (None for an even one): it is split at
    width // 2 and trains, as in the original. The loader and `ganhub data check` share it."""
    if width % 2 == 0:
        return None
    half = width // 2
    return (
        f"odd width ({width}x{height}): split at {half} px as the original does, A {half} px "
        f"and B {half + 1} px wide, both resized alike (pairs of an even width split evenly)"
    )


def pair_problem(width: int) -> str | None:
    """Why an A|B pair image of this width cannot be split (None when it can): a 1 px wide
    image has no A half. The loader and `ganhub data check` share this rule."""
    if width >= 2:
        return None
    return f"{width} px wide: an A|B pair needs at least 2 px, one per half"


def read_training(path: Path, channels: int, pairs: bool) -> list[Tensor]:
    """A training image as [image], or a side-by-side pair as [A half, B half] (`split_pair`;
    a UsageError names a pair too narrow to split, `pair_problem`). Any size is read: the
    loader resizes every image to load_size before the crop, as the original does."""
    x = read_image(path, channels)
    if not pairs:
        return [x]
    problem = pair_problem(x.shape[-1])
    if problem is not None:
        raise UsageError(
            f"image '{one_line(path)}': {problem}; `ganhub data check` lists such files and "
            "`ganhub data clean` writes a copy without them"
        )
    return split_pair(x)


# true A|B pairs never trained on, which paired metrics read: the first of these with images
HELDOUT_FOLDERS = ("test", "val")
# HELDOUT_PAIRS (config.py): at most this many of them, in listed order


def heldout_folder(root: Path) -> str | None:
    """`test` (else `val`) when that folder of a paired data.path holds an image; None when
    neither does or the data is gone (a trained run loaded elsewhere); one leading out of
    data.path is refused (`task_folder`)."""
    for name in HELDOUT_FOLDERS:
        try:
            if (root / name).is_dir() and has_images(task_folder(root, name), within=root):
                return name
        except OSError:
            return None
    return None


def preview_folders(root: Path, task: str) -> tuple[str, ...]:
    """The folders the sample grids read: `test/` (else `val/`) for pairs; for unpaired data,
    each side's `testA/` or `testB/` when it holds images, else that side's training folder
    (the sides are translated independently, so a lone testA/ is used, not ignored). A test
    folder leading out of data.path `root` is refused, as a training one (`task_folder`)."""
    if task == "paired":
        return next(
            ((d,) for d in HELDOUT_FOLDERS if has_images(task_folder(root, d), within=root)),
            ("train",),
        )
    return tuple(
        f"test{d}" if has_images(task_folder(root, f"test{d}"), within=root) else f"train{d}"
        for d in "AB"
    )


class FolderPairs(Dataset[tuple[Tensor, Tensor]]):
    """Folder images as (a, b) pairs, indexed by keys from `epoch_keys`.

    Unpaired keys are (index in A, index in B, augmentation seed); paired keys are
    (index, augmentation seed), and both halves of a pair share one crop and flip.
    """

    def __init__(
        self,
        files: Sequence[Sequence[Path]],
        *,
        size: int,
        load_size: int,
        flip: bool,
        channels: int,
        swap: bool = False,
    ) -> None:
        self.files = [list(f) for f in files]
        self.size, self.load_size, self.flip = size, load_size, flip
        self.channels, self.swap = channels, swap

    def sizes(self) -> tuple[int, ...]:
        """Number of images in each of the domains (one entry for side-by-side pairs)."""
        return tuple(len(f) for f in self.files)

    def __len__(self) -> int:
        return max(self.sizes())

    def target(self, i: int) -> Tensor:
        """Target image `i` (B; A for swapped pairs), cycling over the target domain, whole and
        resized to the training size: prepared as `eval_images` and the sample inputs are, so
        the real images metrics learn features from are the kind they score."""
        files, pairs = self.files[-1], len(self.files) == 1
        images = read_training(files[i % len(files)], self.channels, pairs)
        return resize(images[0] if self.swap else images[-1], self.size)

    def _read(self, side: int, i: int, pairs: bool = False) -> list[Tensor]:
        return read_training(self.files[side][i], self.channels, pairs)

    def augment(self, images: Sequence[Tensor], seed: int) -> list[Tensor]:
        """Resize to load_size, then the same random crop and flip for every image given."""
        gen = torch.Generator().manual_seed(seed)
        span = self.load_size - self.size + 1
        top, left = (int(v) for v in torch.randint(0, span, (2,), generator=gen))
        flip = self.flip and bool(torch.rand((), generator=gen) < 0.5)
        out = []
        for x in images:
            x = resize(x, self.load_size)[:, top : top + self.size, left : left + self.size]
            out.append(x.flip(-1) if flip else x)
        return out

    def __getitem__(self, key: Sequence[int]) -> tuple[Tensor, Tensor]:
        *index, seed = (int(k) for k in key)
        if len(self.files) == 1:
            a, b = self.augment(self._read(0, index[0], pairs=True), seed)
        else:
            a = self.augment(self._read(0, index[0]), seed)[0]
            b = self.augment(self._read(1, index[1]), seed + 1)[0]
        return (b, a) if self.swap else (a, b)


def preview_images(
    files: Sequence[Path], idx: Tensor, size: int, channels: int, pairs: bool
) -> tuple[Tensor, Tensor]:
    """The images (or pairs) of a folder at `idx` (repeats allowed), resized to `size`, for sample
    grids and `sample(n)`; each distinct file is decoded once and repeats are gathered."""
    unique, inverse = torch.unique(idx, return_inverse=True)
    a, b = [], []
    for i in unique.tolist():
        images = read_training(files[i], channels, pairs)
        a.append(resize(images[0], size))
        if pairs:
            b.append(resize(images[1], size))
    return torch.stack(a)[inverse], (torch.stack(b)[inverse] if b else torch.empty(0))
