"""medgan's data splits: the training split, the held-out split, and the inputs samples take.

The embedded phantoms are made from fixed seeds (TRAIN_SEED, EVAL_SEED; MORE_SEED for held-out
phantoms past `data.n_eval`, so `sample(n)` gives n distinct samples); folder data is read
once (`ganhub_medgan.folder`) and has no held-out part. A run whose data folder is gone (moved,
or an export opened elsewhere) says in one line how to give its inputs (`missing_folder`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from ganhub_medgan.config import MedGANConfig
from ganhub_medgan.nets import dilate
from ganhub_medgan.phantoms import make_phantoms, make_progression
from torch import Tensor

from ganhub.closed_output import say
from ganhub.errors import UsageError, one_line
from ganhub.exported import NOT_EXPORTED
from ganhub.plural import counted

# the embedded data is fixed: run seeds change models, not data (simulate's healthy base
# phantom is seed EVAL_SEED + 1; MORE_SEED makes held-out phantoms beyond data.n_eval)
TRAIN_SEED, EVAL_SEED, MORE_SEED = 0, 1, 3


@dataclass
class MedDataset:
    """One split: the images G must produce, G's conditions (paired tasks), lesion masks and
    affines."""

    images: Tensor  # (N, 1, *spatial) in [-1, 1]
    conditions: Tensor | None  # (N, C, *spatial) in [-1, 1]
    masks: Tensor | None  # (N, 1, *spatial) in {0, 1}
    affines: np.ndarray  # (N, 4, 4) voxel -> RAS mm
    prior_masks: Tensor | None = None  # progress: the baseline's lesions (masks: follow-up's)
    notes: tuple[str, ...] = ()  # folder data: what loading did, for the run to say once

    def head(self, n: int) -> MedDataset:
        """The first n samples (repeated cyclically when the split is smaller)."""
        return self.pick(torch.arange(n) % len(self.images))

    def pick(self, idx: Tensor) -> MedDataset:
        """The samples at `idx` (int64 indices), in that order."""

        def take(t: Tensor | None) -> Tensor | None:
            return None if t is None else t[idx]

        return MedDataset(
            self.images[idx],
            take(self.conditions),
            take(self.masks),
            self.affines[idx.numpy()],
            take(self.prior_masks),
        )

    def then(self, more: MedDataset) -> MedDataset:
        """These samples followed by `more` (of the same kind)."""

        def join(a: Tensor | None, b: Tensor | None) -> Tensor | None:
            return None if a is None or b is None else torch.cat([a, b])

        return MedDataset(
            torch.cat([self.images, more.images]),
            join(self.conditions, more.conditions),
            join(self.masks, more.masks),
            np.concatenate([self.affines, more.affines]),
            join(self.prior_masks, more.prior_masks),
        )


def seeded_indices(total: int, n: int, seed: int) -> Tensor:
    """`n` indices into `total` inputs chosen by `seed`: seed 0 the first n in order, other
    seeds passes over all of them, each pass in a seeded order, so none repeats before every
    one is used (as cyclegan's sample inputs are drawn)."""
    if not seed:
        return torch.arange(n) % total
    gen = torch.Generator().manual_seed(seed)
    passes = [torch.randperm(total, generator=gen) for _ in range(-(-n // total))]
    return torch.cat(passes)[:n]


def lesion_condition(image: Tensor, mask: Tensor, erase: bool) -> Tensor:
    """G's input for lesion simulation: the mask in {-1, 1}, and the image with the (slightly
    dilated) lesion region erased to -1 when `erase`, so G must paint the lesion and its rim."""
    channels = [mask * 2.0 - 1.0]
    if erase:
        channels.append(torch.where(dilate(mask) > 0, torch.full_like(image, -1.0), image))
    return torch.cat(channels, dim=1)


def condition_channels(config: MedGANConfig) -> int:
    """Channels of G's input: 2 (mask + erased image) or 1 (mask alone, or a source contrast)."""
    return 2 if config.task == "lesion" and config.data.erase else 1


def condition_meaning(config: MedGANConfig) -> str:
    """What G's input holds, channel by channel, for an exported model's card."""
    mask = "the lesion mask, -1 outside the lesion and 1 inside"
    if config.task == "lesion" and config.data.erase:
        return (f"channel 0: {mask}; channel 1: the image in [-1, 1] with the lesion region "
                "(the mask dilated by one voxel) set to -1")  # fmt: skip
    if config.task == "lesion":
        return mask
    if config.task == "progress":
        return "the baseline image in [-1, 1]"
    if config.data.source == "folder":
        return f"an image of the source contrast ({config.data.source_dir}/) in [-1, 1]"
    return f"the {config.data.source_contrast} image in [-1, 1]"


# What else gives a run's G its inputs when its data folder is gone (`missing_folder`).
OWN_INPUTS = {
    "lesion": "or paint a lesion into a scan of your own: ganhub medgan simulate RUN "
    "--image SCAN --mask MASK",
    "translate": "or predict from a scan of your own: ganhub medgan predict RUN --image SCAN",
    "progress": "or predict from a scan of your own: ganhub medgan predict RUN --image SCAN",
}


def folder_gone(config: MedGANConfig) -> bool:
    """Whether this is a folder run whose data folder is not there (moved, or another machine)."""
    path = config.data.path
    return config.data.source == "folder" and (path is None or not path.is_dir())


def gone_line(config: MedGANConfig) -> str:
    """How a missing data folder is named: an export leaves the path out (`NOT_EXPORTED`)."""
    gone = f"data.path='{one_line(config.data.path)}' is not there"
    if str(config.data.path) == NOT_EXPORTED:
        return f"{gone}: an export leaves out the paths of the machine it was trained on, and"
    return f"{gone}:"


def missing_folder(config: MedGANConfig) -> str:
    """The one line of a folder run opened without its data folder: how to give its inputs."""
    if config.task == "generate":  # its samples come from noise: only the metrics need data
        return (
            f"{gone_line(config)} this task=generate run's "
            "metrics compare its samples with the real images there; give data.path=FOLDER "
            "where they are now (ganhub eval RUN data.path=FOLDER)"
        )
    return (
        f"{gone_line(config)} this task={config.task} run "
        "starts its samples and metrics from the scans there; give data.path=FOLDER where they "
        "are now (ganhub sample RUN data.path=FOLDER, ganhub eval RUN data.path=FOLDER, "
        f"ganhub.load(RUN, overrides=['data.path=FOLDER'])); {OWN_INPUTS[config.task]}"
    )


def flat_folder_hint(config: MedGANConfig) -> str:
    """The tail of a paired task's "subfolder is missing" error when data.path itself holds
    NIfTI files or DICOM series (a flat folder): task=generate reads those ("" otherwise)."""
    from ganhub_medgan.folder import list_items
    from ganhub_medgan.layout import subdirs

    path = config.data.path
    if config.task == "generate" or path is None or not path.is_dir():
        return ""
    if all((path / sub).is_dir() for sub in subdirs(config.task, config.data)):
        return ""
    try:
        n = len(list_items(path))
    except UsageError:  # a link leading out of it: the check names it
        return ""
    if not n:
        return ""
    return (
        f"; data.path holds {counted(n, 'NIfTI files')} or DICOM series directly, which "
        "task=generate "
        "reads (images from noise, no masks or pairs)"
    )


def note(line: str) -> None:
    """One note on stderr."""
    say(f"medgan: note: {one_line(line)}")


def build_split(config: MedGANConfig, split: str, count: int | None = None) -> MedDataset:
    """The training split, the held-out one (`eval`), or `count` more held-out phantoms
    (`more`): phantoms from fixed seeds, or the folder (which has no held-out part)."""
    dims, size, data = config.spatial_dims, config.model.image_size, config.data
    if data.source == "folder":
        from ganhub_medgan.folder import load_folder

        if folder_gone(config):  # a run trains only after the domain checked the folder
            raise UsageError(missing_folder(config))
        said: list[str] = []
        workers = config.trainer.num_workers
        columns, affines = load_folder(config.task, data, dims, size, workers, said)
        notes = tuple(said)
        if config.task == "generate":
            return MedDataset(columns[0], None, None, affines, notes=notes)
        if config.task == "translate":
            return MedDataset(columns[1], columns[0], None, affines, notes=notes)
        if config.task == "progress":  # baseline, follow-up (, their lesion masks)
            base_mask, followup_mask = columns[2:] if len(columns) > 2 else (None, None)
            return MedDataset(columns[1], columns[0], followup_mask, affines, base_mask, notes)
        image, mask = columns
        condition = lesion_condition(image, mask, data.erase)
        return MedDataset(image, condition, mask, affines, notes=notes)
    n = {"train": data.n_samples, "eval": data.n_eval}.get(split, count or 1)
    seed = {"train": TRAIN_SEED, "eval": EVAL_SEED}.get(split, MORE_SEED)
    if config.task == "progress":
        growth = config.phantom_growth()  # the one place data.growth's default is derived
        assert growth is not None  # task=progress on the phantoms
        pr = make_progression(n, size, dims, seed=seed, noise=data.noise,
                              contrast=data.contrast, growth=growth)  # fmt: skip
        affines = np.repeat(pr.affine[None], n, axis=0)
        return MedDataset(pr.followup, pr.baseline, pr.grown, affines, pr.lesions)
    wanted = {"generate": (data.contrast,), "lesion": (data.contrast,)}.get(
        config.task, (data.source_contrast, data.target_contrast)
    )
    ph = make_phantoms(n, size, dims, seed=seed, noise=data.noise,
                       contrasts=tuple(dict.fromkeys(wanted)))  # fmt: skip
    affines = np.repeat(ph.affine[None], n, axis=0)
    if config.task == "generate":
        return MedDataset(ph.images[data.contrast], None, ph.lesions, affines)
    if config.task == "translate":
        return MedDataset(
            ph.images[data.target_contrast], ph.images[data.source_contrast], ph.lesions, affines
        )
    image = ph.images[data.contrast]
    return MedDataset(image, lesion_condition(image, ph.lesions, data.erase), ph.lesions, affines)


__all__ = [
    "EVAL_SEED",
    "MORE_SEED",
    "TRAIN_SEED",
    "MedDataset",
    "build_split",
    "condition_channels",
    "condition_meaning",
    "flat_folder_hint",
    "folder_gone",
    "lesion_condition",
    "missing_folder",
    "note",
    "seeded_indices",
]
