"""The cyclegan domain: CycleGAN (unpaired) and pix2pix (`task=paired`) image translation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ganhub_cyclegan.config import RENAMED_KEYS, CycleGANConfig, check
from ganhub_cyclegan.defaults import choice_defaults

from ganhub.domain import Domain

if TYPE_CHECKING:
    from pathlib import Path

    from ganhub.config.schema import RunConfig
    from ganhub.data.inspect import DataReport
    from ganhub.engine.system import BuildHints, GANSystem


class CycleGANDomain(Domain):
    """Unpaired (CycleGAN) or paired (pix2pix) translation; embedded default: restyled digits."""

    name = "cyclegan"
    renamed_keys: ClassVar[dict[str, str]] = RENAMED_KEYS
    # another task trains another model on these weights: a new run (init_from=RUN); the
    # image pools are checkpointed at their size (another one failed as a tensor mismatch).
    # The rest change the model while every saved tensor keeps its shape, so a checkpoint
    # would load into it silently: model.norm instance <-> none (neither has parameters),
    # model.dropout on a U-Net (its Dropout ends a level: no index moves), data.direction
    # (pix2pix's G would learn the reverse mapping on these weights). The other model keys
    # change a tensor's name or shape, which the checkpoint's load refuses (ngf, ndf,
    # generator, n_layers_d, unet_downs, norm to or from batch, dropout in a ResNet block),
    # or leave the trained model as it is (inference, init, init_gain).
    resume_fixed_keys: ClassVar[tuple[str, ...]] = (
        "task", "objective.pool_size", "model.norm", "model.dropout", "data.direction",
    )  # fmt: skip
    description = (
        "CycleGAN (unpaired) and pix2pix (task=paired) image translation; embedded default: "
        "digits <-> restyled digits, scored by PSNR/SSIM on held-out true pairs"
    )
    modality = "image"
    supports_pack = True
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # the paper's setting for 256 px folder data (facades, horse2zebra...)
        "original": {
            "model": {"image_size": 256, "ngf": 64, "ndf": 64},
            "trainer": {
                "batch_size": 1,
                "log_every": 100,
                "sample_every": 5000,
                "checkpoint_every": 5000,
            },
            "epochs": 100,
            "epochs_decay": 100,
        },
        "pix2pix": {"task": "paired"},
        # a seconds-long smoke configuration (either task)
        "tiny": {
            "model": {"ngf": 8, "ndf": 8, "n_layers_d": 2},
            "trainer": {"steps": 20, "batch_size": 2, "log_every": 10, "sample_every": 0},
            "eval": {"n_samples": 64},
        },
    }

    @property
    def config_class(self) -> type[RunConfig]:
        """CycleGANConfig."""
        return CycleGANConfig

    def defaults_for(self, chosen: dict[str, Any]) -> dict[str, Any]:
        """The paired task's loss, trainer.steps from epochs, the LR schedule's decay start."""
        return choice_defaults(chosen)

    def resume_value(self, config: RunConfig, key: str) -> Any:
        """model.norm and model.dropout as the model has them (`auto` and the task's default
        resolved): norm=instance resumes an unpaired run trained with the default."""
        assert isinstance(config, CycleGANConfig)
        if key == "model.norm":
            return config.norm_kind()
        if key == "model.dropout":
            return config.dropout_placed()
        return super().resume_value(config, key)

    def check(self, config: RunConfig) -> list[str]:
        """Folder layout and preprocessing sizes."""
        assert isinstance(config, CycleGANConfig)
        return check(config)

    def build(self, config: RunConfig, hints: BuildHints) -> GANSystem:
        """The CycleGAN system, or the pix2pix system for task=paired (data is read lazily)."""
        from ganhub_cyclegan.system import CycleGANSystem, Pix2PixSystem

        assert isinstance(config, CycleGANConfig)
        if config.task == "paired":
            return Pix2PixSystem(config, hints)
        return CycleGANSystem(config, hints)

    def inspect_data(self, config: RunConfig) -> DataReport:
        """Folders (data.path): every file a run reads, by cyclegan's rules (readable, depth,
        sizes against the crop, odd-width (noted) or identical-halves pairs, duplicates per side, the
        A:B balance). The embedded digits: both renderings of every digit at the training size."""
        from ganhub_cyclegan.checks import inspect_embedded, inspect_folders

        assert isinstance(config, CycleGANConfig)
        if config.data.path is None:
            return inspect_embedded(config)
        return inspect_folders(config)

    def data_formats(self, config: RunConfig) -> tuple[str, ...]:
        """`ganhub data convert --to` formats: none: a run reads two sides cropped and flipped anew each step."""
        return ()

    def convert_data(self, config: RunConfig, fmt: str, out: Path) -> list[Path]:
        """Refused with one line: a run reads two sides (A, B) resized, cropped and flipped anew
        every step, which one tensor shard (the default's `gather`: the B side only) does not hold."""
        from ganhub.errors import UsageError

        raise UsageError(
            f"--to {fmt}: cyclegan has no converted format (a shard would hold one side, not the "
            "A and B images cropped and flipped anew each step); train from the folder "
            "(trainer.num_workers decode it in parallel) and write a checked copy with "
            "`ganhub data clean DATA plugin=cyclegan --out DIR`"
        )
