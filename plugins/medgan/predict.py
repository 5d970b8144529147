"""Apply a trained paired run to a scan: `task=progress` predicts its follow-up, `task=translate`
renders it in the target contrast.

Python::

    from ganhub_medgan.predict import load_predictor
    predictor = load_predictor("runs/medgan-...")     # a task=progress or translate run
    followup = predictor(scan)                        # (K, 1, *spatial) in [-1, 1]

Command line: ``ganhub medgan predict RUN_DIR [--image scan.nii.gz] [--out DIR]``. The scan goes
through the run's own preprocessing (orientation, spacing, intensity percentiles, size; in 2D
its central axial slice(s)), so it lands on the grid the model was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from ganhub.errors import UsageError

PREDICTS = {"progress": "follow-up", "translate": "target contrast"}
# what `predict_to_files` writes into its folder: the prediction, input | prediction (| truth)
OUTPUTS = ("predicted.nii.gz", "predicted.png")


@dataclass
class Predictor:
    """A trained progress or translate model; call it with preprocessed scans."""

    system: Any  # MedPairedGAN with task=progress or translate

    @property
    def shape(self) -> tuple[int, ...]:
        """The spatial shape the model takes."""
        return (self.system.config.model.image_size,) * self.system.config.spatial_dims

    def __call__(self, scans: Tensor) -> Tensor:
        """G's outputs (K, 1, *spatial) in [-1, 1] for scans (K, 1, *spatial) in [-1, 1]."""
        if tuple(scans.shape[2:]) != self.shape or scans.ndim != len(self.shape) + 2:
            raise UsageError(
                f"scans of shape {list(scans.shape)} do not match the run's grid: "
                f"(K, 1, {', '.join(map(str, self.shape))})"
            )
        return self.system.translate_batched(scans.float())

    def read(self, path: Path) -> tuple[Tensor, np.ndarray]:
        """A NIfTI file or DICOM series through the run's preprocessing: (scans, affine).

        A binary mask (only 0 and one whole number) is refused: it is no scan to predict from;
        the loader's warnings (a constant volume) are said on stderr."""
        from ganhub_medgan.simulate import read_scan

        volume = read_scan(self.system.config, path, "the scan to predict from")
        return volume.image, volume.affine[0]


def load_predictor(run_dir: str | Path, device: str = "cpu") -> Predictor:
    """Open a `task=progress` or `task=translate` run with `ganhub.load`; other runs are refused."""
    from ganhub_medgan.config import MedGANConfig

    from ganhub.api import load

    model = load(run_dir, device=device, plugin="medgan")
    cfg = model.config
    assert isinstance(cfg, MedGANConfig)  # load(plugin="medgan") validated it as one
    if cfg.task not in PREDICTS:
        raise UsageError(
            f"'{run_dir}' was trained with task={cfg.task}; predict needs a task=progress or "
            "task=translate run (task=lesion runs: ganhub medgan simulate)"
        )
    return Predictor(model.system)


def predict_to_files(
    run_dir: Path,
    out: Path,
    *,
    image_path: Path | None = None,
    device: str = "cpu",
    force: bool = False,
) -> list[Path]:
    """The `predict` command: the prediction as NIfTI, and a PNG of input | prediction (with
    the true target beside them when the input is the run's first held-out scan): `OUTPUTS`,
    all or none; files already in `out` are refused, before the run is opened, unless
    `force`."""
    from ganhub_medgan.outputs import (
        provenance,
        refuse_existing,
        write_all,
        write_grid,
        write_nifti_batch,
    )

    refuse_existing(out, OUTPUTS, force)
    predictor = load_predictor(run_dir, device)
    shown: list[Tensor] = []
    if image_path is None:
        first = predictor.system.eval_batch(1)
        scans, affine, shown = first.conditions, first.affines[0], [first.images]
    else:
        scans, affine = predictor.read(image_path)
    result = predictor(scans)
    cfg = predictor.system.config
    target = cfg.data.target_contrast if cfg.data.source == "phantom" else cfg.data.target_dir
    what = "follow-up" if cfg.task == "progress" else f"{target} contrast"
    scan = image_path.name if image_path is not None else "the run's held-out scan 0"
    about = provenance("predict", what, [(" of ", scan), ("; run ", Path(run_dir).resolve().name)])
    image_file, png = OUTPUTS
    writers = {
        image_file: lambda path: write_nifti_batch(result, affine, path, about=about),
        png: lambda path: write_grid([scans, result, *shown], path),
    }
    return write_all(out, writers, force)


__all__ = ["Predictor", "load_predictor", "predict_to_files"]
