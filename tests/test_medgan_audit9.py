"""medgan audit 9: what a resumed run may not change; the folder loader and the global RNG.

A resume that changed `model.image_size` of a paired run (lesion, translate, progress) loaded
every tensor of the checkpoint (UNet and PatchGAN are fully convolutional) and trained on
anatomy at another scale without a word. Reading a data folder drew the DataLoader's worker
seed from torch's global generator, moving the stream a run's noise draws from."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ganhub
from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_LESION = [
    "plugin=medgan", "preset=tiny", "model.image_size=32", "data.n_samples=8", "data.n_eval=2",
    "trainer.steps=1", "trainer.batch_size=2", "trainer.checkpoint_every=1", "eval.metrics=[]",
    "trainer.progress=false", "loggers=[jsonl]", "name=les",
]  # fmt: skip


def test_a_resume_cannot_change_the_image_size_of_a_paired_run(workdir: Path) -> None:
    run = Path(ganhub.train(TINY_LESION)["run_dir"])
    with pytest.raises(ConfigError, match=r"^model.image_size=64: runs/les trained with "
                       r"model.image_size=32, and a resumed run's model.image_size cannot "
                       r"change; .*init_from=runs/les"):  # fmt: skip
        resolve([f"resume={run}", "model.image_size=64", "trainer.steps=2"])
    # the same size again, and what a resume may change (the objective's weights): taken
    config = resolve([f"resume={run}", "model.image_size=32", "objective.lambda_l1=50"])
    assert config.model.image_size == 32


def test_reading_a_data_folder_leaves_the_global_generator_alone(tmp_path: Path) -> None:
    from ganhub_medgan.config import MedData
    from ganhub_medgan.data import convert_data
    from ganhub_medgan.folder import load_folder

    from ganhub.config.resolve import resolve as resolve_config

    phantoms = resolve_config(["plugin=medgan", "preset=tiny", "data.n_samples=2",
                               "model.image_size=16", "model.unet_depth=2"])  # fmt: skip
    convert_data(phantoms, "nifti", tmp_path / "ph")  # type: ignore[arg-type]
    cfg = MedData(source="folder", path=tmp_path / "ph")
    torch.manual_seed(0)
    before = torch.get_rng_state()
    images, _ = load_folder("lesion", cfg, 2, 16)
    assert len(images[0]) == 2
    assert torch.equal(torch.get_rng_state(), before)


def test_building_a_feature_network_leaves_the_global_generator_alone(tmp_path: Path) -> None:
    """A run that scores fd_<net> during training builds the network (initialised from torch's
    global RNG, then loaded) once in its process: a resumed process built it once more than
    the uninterrupted one, so a medgan task=generate resume drew other noise from then on."""
    from ganhub.config.schema import EvalConfig
    from ganhub.metrics.featurenet import save_feature_net, train_feature_net
    from ganhub.metrics.features import get_extractor

    images = torch.rand(80, 1, 8, 8) * 2 - 1
    net, spec = train_feature_net(images, None, name="tiny9", dataset={}, epochs=1, width=4,
                                  held_out=16, batch_size=32)  # fmt: skip
    path = save_feature_net(net, spec, tmp_path)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    extractor = get_extractor(str(path), EvalConfig())
    assert extractor.name == "tiny9"
    assert torch.equal(torch.get_rng_state(), before)
