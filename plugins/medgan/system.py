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
* `samples_from_data` (ganhub's `SAMPLES_FROM_DATA`; lesion, translate and progress on folder
  data): the samples start from the user's own scans and show them, so `ganhub export` leaves
  them out. Phantoms are synthetic, and generate samples from noise: neither declares it.

The splits, the phantoms' seeds and the folder's loading are in `ganhub_medgan.splits`.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from ganhub_medgan import nets
from ganhub_medgan.config import MedGANConfig
from ganhub_medgan.metrics import HELD_OUT, PAIRED_EVAL  # the interfaces documented above
from ganhub_medgan.notes import note as loader_note
from ganhub_medgan.outputs import (
    sample_about,
    write_grid,
    write_nifti_batch,
    write_nifti_cases,
    write_samples_grid,
)
from ganhub_medgan.phantoms import phantom_affine
from ganhub_medgan.splits import (
    EVAL_SEED,
    TRAIN_SEED,
    MedDataset,
    build_split,
    condition_channels,
    condition_meaning,
    folder_gone,
    gone_line,
    lesion_condition,
    note,
    seeded_indices,
)
from torch import Tensor, nn

from ganhub.capabilities import Capabilities
from ganhub.data import BatchSource, TensorBatches
from ganhub.engine.paired import PairedTranslationGAN
from ganhub.engine.system import BuildHints, ExportFunction, ExportInput, ExportSpec
from ganhub.engine.unconditional import UnconditionalGAN
from ganhub.export import SAMPLES_FROM_DATA
from ganhub.metrics import ROTNET_MIN_IMAGES

# the default metrics that train the `rotnet` feature network on the training images
ROTNET_METRICS = ("fd_rotnet", "fid")


class PairBatches(TensorBatches):
    """(condition, target) batches whose real samples are the targets (what G must produce), so
    metrics compare with targets and caches fingerprint them."""

    def gather(self, idx: Tensor) -> Tensor:
        """The targets at `idx`."""
        return self.tensors[1][idx].cpu()


class MedSplits:
    """Lazy access to the splits, so `ganhub.load` for sampling builds no data it does not use."""

    config: MedGANConfig
    rotnet_noted = False  # whether `with_rotnet_if_enough` has said what it left out
    loader_noted = False  # whether `say_loader_notes` has said the folder loader's notes

    def say_loader_notes(self) -> None:
        """The folder loader's notes on the training data (the proportions loading changed),
        once, as training takes its data (`data()`); sampling and simulating stay quiet."""
        if not self.loader_noted:
            self.loader_noted = True
            for line in self.train_set.notes:
                loader_note(line)

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

    def inputs(self, n: int, seed: int = 0) -> MedDataset:
        """n samples for G's inputs in `sample` and `write_samples`, chosen by `seed` (G takes
        no noise: the seed picks the inputs). Seed 0: the held-out ones in order, then more
        held-out phantoms (another seed), so all n differ; folder data: its scans in order,
        repeated past the last one with a note. Other seeds: the same inputs in a seeded order
        (`seeded_indices`: each one used before any repeats), so other seeds show others."""
        have = self.eval_set
        if n <= len(have.images) and not seed:
            return have.head(n)
        if self.config.data.source == "phantom":
            pool = have
            if n > len(have.images):
                pool = have.then(build_split(self.config, "more", n - len(have.images)))
        else:
            pool = self.train_set
            scans = len(pool.images)
            if n > scans:
                order = "in order" if not seed else f"in seeded orders (seed {seed})"
                note(
                    f"{n} samples from the {scans} images read from data.path: samples "
                    f"{scans}-{n - 1} repeat them {order} (G takes no noise, so a repeated "
                    "input gives the same output)"
                )
        return pool.pick(seeded_indices(len(pool.images), n, seed))

    def with_rotnet_if_enough(self, names: list[str]) -> list[str]:
        """`names` (default metrics) without those that train the `rotnet` feature network
        (`fd_rotnet`, `fid`) when a data folder holds fewer training images than it needs:
        the user did not ask for them, and they would stop the run before training. Said once
        per system; eval.metrics=[fd_rotnet] still asks for one (refused with the reason).
        Phantom runs keep them: their count is data.n_samples, which the refusal names."""
        if self.config.data.source != "folder" or folder_gone(self.config):
            return names  # gone: nothing to count, and what reads the data says how to give it
        n = len(self.train_set.images)
        dropped = [name for name in names if name in ROTNET_METRICS]
        if n >= ROTNET_MIN_IMAGES or not dropped:
            return names
        if not self.rotnet_noted:
            self.rotnet_noted = True
            more = " or a larger data.slices_per_volume" if self.spatial_dims == 2 else ""
            note(
                f"{' and '.join(dropped)} left out of the default metrics: "
                f"{'they train their' if len(dropped) > 1 else 'it trains its'} feature "
                f"network on the run's training images, and the {n} in data.path are too few "
                f"(it needs {ROTNET_MIN_IMAGES}: more image files{more} give more; "
                "eval.metrics=[...] chooses metrics)"
            )
        return [name for name in names if name not in ROTNET_METRICS]

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
        self.say_loader_notes()
        return TensorBatches(self.train_set.images)

    def capabilities(self) -> Capabilities:
        """Images (volumes in 3D) from noise, real images, rotnet features, held-out images."""
        return self.declared(samples=True, provides=(HELD_OUT,))

    def default_metrics(self) -> list[str]:
        """Diversity (MMD, MS-SSIM) and the Fréchet distance on rotnet features: the core `fid`
        for images, medgan's `fd_rotnet` for volumes (the core image metric takes no volumes);
        not the distance when the training images are too few for its feature network."""
        names = ["med_diversity", "fid" if self.spatial_dims == 2 else "fd_rotnet"]
        return self.with_rotnet_if_enough(names)

    def write_samples(
        self,
        directory: Path,
        stem: str,
        *,
        n: int | None = None,
        seed: int = 0,
        run_dir: Path | None = None,
        step: int | None = None,
    ) -> list[Path]:
        """A PNG grid (three mid slices per volume, one row each) and every sample as NIfTI
        (2D: one stack; 3D: one 4D file, a volume per PNG row); the NIfTI `descrip` names
        the run and step the engine passes (`sample_about`)."""
        n = n or (36 if self.spatial_dims == 2 else 6)
        images = self.sample(n, seed=seed)
        png = write_samples_grid(images, directory / f"{stem}.png")
        about = sample_about(directory, stem, seed, run_dir, step)  # descrip: made by
        nii = write_nifti_batch(
            images, self.sample_affine(), directory / f"{stem}.nii.gz", about=about
        )
        return [png, nii]

    def sample_affine(self) -> np.ndarray:
        """The voxel-to-RAS affine of generated samples: the first held-out image's; a folder
        run without its folder gets the phantoms' 1 mm grid, with a note."""
        if folder_gone(self.config):  # samples come from noise: they need no data
            note(
                f"{gone_line(self.config)} the NIfTI samples get a "
                "1 mm grid centred on the origin, not the geometry of its scans"
            )
            return phantom_affine(self.config.model.image_size, self.spatial_dims)
        return self.eval_set.affines[0]


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
        nets.pix2pix_init(G)  # after D is built: D's draws stay those of PyTorch's init order
        super().__init__(config, hints, G, D, l1_weight=obj.lambda_l1, d_scale=obj.d_scale,
                         feature_matching_weight=obj.feature_matching,
                         d_features=D.features if obj.feature_matching > 0 else None)  # fmt: skip

    def data(self) -> BatchSource:
        """(condition, image) pairs, in memory; their real samples are the images."""
        self.say_loader_notes()
        train = self.train_set
        assert train.conditions is not None
        return PairBatches(train.conditions, train.images)

    def capabilities(self) -> Capabilities:
        """Translated images (volumes in 3D): no sampling from noise; held-out pairs; on folder
        data, samples made from the user's scans (`samples_from_data`: exports leave them out)."""
        own = (SAMPLES_FROM_DATA,) if self.config.data.source == "folder" else ()
        return self.declared(samples=False, provides=(HELD_OUT, PAIRED_EVAL, *own))

    def default_metrics(self) -> list[str]:
        """PSNR/SSIM and texture vs ground truth, the Fréchet distance (when the training
        images are enough for its feature network); lesion Dice (lesion), lesion growth
        (progress on the phantoms, or on folder data with lesion masks)."""
        names = ["med_fidelity", "med_texture", "fd_rotnet"]
        if self.task == "lesion":
            names.append("med_dice")
        data = self.config.data
        if self.task == "progress" and (data.source == "phantom" or data.followup_mask_dir):
            names.append("med_growth")
        return self.with_rotnet_if_enough(names)

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
        """G's outputs for n inputs (`inputs`: held-out ones first; G takes no noise, so the
        seed chooses the inputs)."""
        self.refuse_labels(labels)
        batch = self.inputs(n, seed or 0)
        assert batch.conditions is not None
        return self.translate_batched(batch.conditions, use_ema=use_ema)

    def translate_batched(
        self, conditions: Tensor, use_ema: bool = True, chunk: int = 32
    ) -> Tensor:
        """G(conditions) in chunks (bounded memory), on the CPU (the `paired_eval` interface)."""
        outs = [self.translate(c, use_ema).cpu() for c in conditions.split(chunk)]
        return torch.cat(outs)

    def write_samples(
        self,
        directory: Path,
        stem: str,
        *,
        n: int | None = None,
        seed: int = 0,
        run_dir: Path | None = None,
        step: int | None = None,
    ) -> list[Path]:
        """PNG rows of input | (mask) | generated | real, and the generated images (lesion: and
        the masks) as NIfTI: one file, or one per case where their geometry differs; their
        `descrip` names the run and step the engine passes (`sample_about`)."""
        if n is None:  # the default artifact: a folder of few scans shows each once
            n = 8 if self.spatial_dims == 2 else 3
            if self.config.data.source == "folder":
                n = min(n, len(self.train_set.images))
        batch = self.inputs(n, seed)
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
        # every example the PNG shows (2D: one stack of slices; 3D: a 4D file of volumes), in
        # one file per run of rows that share a geometry (`write_nifti_cases`)
        about = sample_about(directory, stem, seed, run_dir, step)  # their descrip
        paths = [png, *write_nifti_cases(fake, batch.affines, directory, stem, about=about)]
        if batch.masks is not None and self.task == "lesion":
            masks = batch.masks
            paths += write_nifti_cases(masks, batch.affines, directory, stem, "_mask", about=about)
        return paths


__all__ = [
    "EVAL_SEED",
    "TRAIN_SEED",
    "MedDataset",
    "MedGenerateGAN",
    "MedPairedGAN",
    "build_split",
    "lesion_condition",
]
