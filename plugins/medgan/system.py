"""medgan's systems: the shared unconditional and paired GANs with MONAI networks and med data.

`generate` is an `UnconditionalGAN`; `lesion`, `translate` and `progress` are
`PairedTranslationGAN`s (the pix2pix objective shared with cyclegan's paired mode). This module
adds only what is medical: the data (phantoms or a folder, made once and served from memory),
the held-out evaluation split, and the artifacts (PNG grids with mid slices, NIfTI files with
their affine).

What the systems declare (`capabilities()`): modality `image` (spatial_dims=2) or `volume`
(spatial_dims=3), the task, real samples (the images G must produce: for the paired tasks the
targets, not the (condition, target) pairs), the core `rotnet` feature network, and the named
interfaces medgan's metrics and commands use (`provides`):

* `held_out` (every task): `eval_batch(n) -> MedDataset`, up to n held-out samples (images,
  the conditions of paired tasks, lesion masks where there are any, affines); folder data has
  no held-out split, so it is the first `data.n_eval` training samples.
* `paired_eval` (lesion, translate, progress): the `eval_batch` samples carry `conditions`,
  and `translate_batched(conditions) -> Tensor` gives G's outputs for them, on the CPU, so
  outputs can be compared with their ground truth (`images`) and, for lesions, their `masks`
  (progress: the follow-up's lesions, with the baseline's in `prior_masks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from ganhub_medgan import nets
from ganhub_medgan.config import MedGANConfig
from ganhub_medgan.metrics import HELD_OUT, PAIRED_EVAL  # the interfaces documented above
from ganhub_medgan.nets import dilate
from ganhub_medgan.outputs import write_grid, write_nifti_batch, write_samples_grid
from ganhub_medgan.phantoms import make_phantoms, make_progression
from torch import Tensor, nn

from ganhub.capabilities import Capabilities
from ganhub.data import BatchSource, TensorBatches
from ganhub.engine.paired import PairedTranslationGAN
from ganhub.engine.system import BuildHints, ExportFunction, ExportInput, ExportSpec
from ganhub.engine.unconditional import UnconditionalGAN

TRAIN_SEED, EVAL_SEED = 0, 1  # the embedded data is fixed: run seeds change models, not data


@dataclass
class MedDataset:
    """One split: the images G must produce, G's conditions (paired tasks), lesion masks, affines."""

    images: Tensor  # (N, 1, *spatial) in [-1, 1]
    conditions: Tensor | None  # (N, C, *spatial) in [-1, 1]
    masks: Tensor | None  # (N, 1, *spatial) in {0, 1}
    affines: np.ndarray  # (N, 4, 4) voxel -> RAS mm
    prior_masks: Tensor | None = None  # progress: the baseline's lesions (masks: follow-up's)

    def head(self, n: int) -> MedDataset:
        """The first n samples (repeated cyclically when the split is smaller)."""
        idx = torch.arange(n) % len(self.images)

        def pick(t: Tensor | None) -> Tensor | None:
            return None if t is None else t[idx]

        return MedDataset(
            self.images[idx],
            pick(self.conditions),
            pick(self.masks),
            self.affines[idx.numpy()],
            pick(self.prior_masks),
        )


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


def build_split(config: MedGANConfig, split: str) -> MedDataset:
    """The training or held-out split: phantoms (fixed seeds) or the folder (no held-out part)."""
    dims, size, data = config.spatial_dims, config.model.image_size, config.data
    if data.source == "folder":
        from ganhub_medgan.folder import load_folder

        columns, affines = load_folder(config.task, data, dims, size, config.trainer.num_workers)
        if config.task == "generate":
            return MedDataset(columns[0], None, None, affines)
        if config.task == "translate":
            return MedDataset(columns[1], columns[0], None, affines)
        if config.task == "progress":  # baseline, follow-up (, their lesion masks)
            base_mask, followup_mask = columns[2:] if len(columns) > 2 else (None, None)
            return MedDataset(columns[1], columns[0], followup_mask, affines, base_mask)
        image, mask = columns
        return MedDataset(image, lesion_condition(image, mask, data.erase), mask, affines)
    n = data.n_samples if split == "train" else data.n_eval
    seed = TRAIN_SEED if split == "train" else EVAL_SEED
    if config.task == "progress":
        growth = data.growth if data.growth is not None else max(1, size // 32)
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


class PairBatches(TensorBatches):
    """(condition, target) batches whose real samples are the targets (what G must produce), so
    metrics compare with targets and caches fingerprint them."""

    def gather(self, idx: Tensor) -> Tensor:
        """The targets at `idx`."""
        return self.tensors[1][idx].cpu()


class MedSplits:
    """Lazy access to the splits, so `ganhub.load` for sampling builds no data it does not use."""

    config: MedGANConfig

    @cached_property
    def train_set(self) -> MedDataset:
        """The training split (built on first use)."""
        return build_split(self.config, "train")

    @cached_property
    def eval_set(self) -> MedDataset:
        """The held-out split for samples and metrics (the folder itself for folder data)."""
        if self.config.data.source == "folder":
            return self.train_set.head(min(len(self.train_set.images), self.config.data.n_eval))
        return build_split(self.config, "eval")

    @property
    def spatial_dims(self) -> int:
        """2 or 3."""
        return self.config.spatial_dims

    @property
    def task(self) -> str:
        """generate, lesion, translate or progress."""
        return self.config.task

    def eval_batch(self, n: int) -> MedDataset:
        """Up to n held-out samples (the `held_out` interface; all of them when fewer exist)."""
        return self.eval_set.head(min(n, len(self.eval_set.images)))

    def declared(self, samples: bool, provides: tuple[str, ...]) -> Capabilities:
        """The declaration shared by both systems (see the module doc)."""
        return Capabilities(
            modality="volume" if self.spatial_dims == 3 else "image",
            samples=samples,
            real_samples=True,
            features=("rotnet",),
            task=self.task,
            provides=frozenset(provides),
        )


class MedGenerateGAN(MedSplits, UnconditionalGAN[MedGANConfig]):
    """task=generate: MONAI Generator + PatchDiscriminator on 2D slices or 3D volumes."""

    def __init__(self, config: MedGANConfig, hints: BuildHints) -> None:
        m, dims, size = config.model, config.spatial_dims, config.model.image_size
        G = nets.latent_generator(dims, size, m.latent_dim, m.g_channels)
        D = nets.patch_discriminator(dims, hints.pack, m.d_channels, m.d_layers, m.d_norm, size)
        super().__init__(config, hints, G, D, (m.latent_dim,))

    def data(self) -> BatchSource:
        """The training images, in memory."""
        return TensorBatches(self.train_set.images)

    def capabilities(self) -> Capabilities:
        """Images (volumes in 3D) from noise, real images, rotnet features, held-out images."""
        return self.declared(samples=True, provides=(HELD_OUT,))

    def default_metrics(self) -> list[str]:
        """Diversity (MMD, MS-SSIM) and the Fréchet distance on rotnet features: the core `fid`
        for images, medgan's `fd_rotnet` for volumes (the core image metric takes no volumes)."""
        return ["med_diversity", "fid" if self.spatial_dims == 2 else "fd_rotnet"]

    def write_samples(
        self, directory: Path, stem: str, *, n: int | None = None, seed: int = 0
    ) -> list[Path]:
        """A PNG grid (three mid slices per volume) and the samples as NIfTI (2D: one stack)."""
        n = n or (36 if self.spatial_dims == 2 else 6)
        images = self.sample(n, seed=seed)
        affine = self.eval_set.affines[0]
        png = write_samples_grid(images, directory / f"{stem}.png")
        nii = write_nifti_batch(images[: min(n, 4 if self.spatial_dims == 3 else n)], affine,
                                directory / f"{stem}.nii.gz")  # fmt: skip
        return [png, nii]


class MedPairedGAN(MedSplits, PairedTranslationGAN[MedGANConfig]):
    """task=lesion (mask -> lesioned image), translate (contrast -> contrast) or progress
    (scan -> follow-up scan): MONAI UNet + PatchDiscriminator on (condition, image) pairs,
    adversarial + L1 (+ feature matching)."""

    def __init__(self, config: MedGANConfig, hints: BuildHints) -> None:
        m, dims, size = config.model, config.spatial_dims, config.model.image_size
        obj = config.objective
        c_in = condition_channels(config)
        G: nn.Module = nets.unet_generator(dims, c_in, m.g_channels, m.unet_depth)
        if config.task == "lesion" and config.data.erase:
            G = nets.Inpainter(G)
        D = nets.patch_discriminator(
            dims, (c_in + 1) * hints.pack, m.d_channels, m.d_layers, m.d_norm, size
        )
        super().__init__(config, hints, G, D, l1_weight=obj.lambda_l1, d_scale=obj.d_scale,
                         feature_matching_weight=obj.feature_matching,
                         d_features=D.features if obj.feature_matching > 0 else None)  # fmt: skip

    def data(self) -> BatchSource:
        """(condition, image) pairs, in memory; their real samples are the images."""
        train = self.train_set
        assert train.conditions is not None
        return PairBatches(train.conditions, train.images)

    def capabilities(self) -> Capabilities:
        """Translated images (volumes in 3D): no sampling from noise; held-out pairs."""
        return self.declared(samples=False, provides=(HELD_OUT, PAIRED_EVAL))

    def default_metrics(self) -> list[str]:
        """PSNR/SSIM and texture vs ground truth, the Fréchet distance; lesion Dice (lesion),
        lesion growth (progress on the phantoms, or on folder data with lesion masks)."""
        names = ["med_fidelity", "med_texture", "fd_rotnet"]
        if self.task == "lesion":
            names.append("med_dice")
        data = self.config.data
        if self.task == "progress" and (data.source == "phantom" or data.followup_mask_dir):
            names.append("med_growth")
        return names

    def export_spec(self) -> ExportSpec:
        """The (EMA) generator's weights; its function: condition -> image (volume in 3D)."""
        shape = (
            condition_channels(self.config),
            *[self.config.model.image_size] * self.spatial_dims,
        )
        condition = ExportInput(
            "condition", shape, kind="image", meaning=condition_meaning(self.config)
        )
        function = ExportFunction("generator", self.generator(), (condition,))
        return ExportSpec(state={"G": self.generator()}, functions=(function,))

    @torch.no_grad()
    def sample(
        self, n: int, *, seed: int | None = None, use_ema: bool = True, labels: Tensor | None = None
    ) -> Tensor:
        """G's outputs for the first n held-out conditions (deterministic: G takes no noise)."""
        self.refuse_labels(labels)
        batch = self.eval_set.head(n)
        assert batch.conditions is not None
        return self.translate_batched(batch.conditions, use_ema=use_ema)

    def translate_batched(
        self, conditions: Tensor, use_ema: bool = True, chunk: int = 32
    ) -> Tensor:
        """G(conditions) in chunks (bounded memory), on the CPU (the `paired_eval` interface)."""
        outs = [self.translate(c, use_ema).cpu() for c in conditions.split(chunk)]
        return torch.cat(outs)

    def write_samples(
        self, directory: Path, stem: str, *, n: int | None = None, seed: int = 0
    ) -> list[Path]:
        """PNG rows of input | (mask) | generated | real, and the generated images as NIfTI."""
        n = n or (8 if self.spatial_dims == 2 else 3)
        batch = self.eval_set.head(n)
        assert batch.conditions is not None
        fake = self.translate_batched(batch.conditions)
        if self.task == "lesion":
            shown = (
                [batch.conditions[:, -1:], batch.conditions[:, :1]]
                if self.config.data.erase
                else [batch.conditions[:, :1]]
            )
        else:
            shown = [batch.conditions]
        png = write_grid([*shown, fake, batch.images], directory / f"{stem}.png")
        # every example the PNG shows (2D: one stack of slices; 3D: a 4D file of volumes)
        paths = [png, write_nifti_batch(fake, batch.affines[0], directory / f"{stem}.nii.gz")]
        if batch.masks is not None and self.task == "lesion":
            paths.append(
                write_nifti_batch(
                    batch.masks,
                    batch.affines[0],
                    directory / f"{stem}_mask.nii.gz",
                    label=True,
                )
            )
        return paths
