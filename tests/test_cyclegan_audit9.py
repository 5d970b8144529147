"""cyclegan audit 9: what a resumed run may not change; the direction refusal's wording.

A resume that changed `model.norm` (instance <-> none), `model.dropout` of a U-Net or
pix2pix's `data.direction` loaded every tensor of the checkpoint into another model and
trained it without a word: none of them changes a saved tensor's name or shape."""

from __future__ import annotations

from pathlib import Path

import pytest

import ganhub
from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_PAIRED = [
    "plugin=cyclegan", "preset=tiny", "task=paired", "model.image_size=64", "model.ngf=4",
    "model.ndf=4", "model.norm=instance", "trainer.steps=1", "trainer.batch_size=1",
    "trainer.checkpoint_every=1", "eval.metrics=[]", "name=p",
]  # fmt: skip


def test_a_resume_cannot_reshape_the_model_silently(workdir: Path) -> None:
    run = Path(ganhub.train(TINY_PAIRED)["run_dir"])
    for typed, trained in [("model.norm=none", "instance"), ("model.dropout=false", "null"),
                           ("data.direction=BtoA", "AtoB")]:  # fmt: skip
        key = typed.split("=")[0]
        with pytest.raises(ConfigError, match=rf"^{typed}: runs/p trained with {key}={trained}, "
                           rf"and a resumed run's {key} cannot change"):  # fmt: skip
            resolve([f"resume={run}", typed, "trainer.steps=2"])
    # what a resume may change: the length, how G translates after training
    config = resolve([f"resume={run}", "trainer.steps=2", "model.inference=paper"])
    assert config.trainer.steps == 2


def test_direction_on_an_unpaired_run_names_ganhubs_generators(workdir: Path) -> None:
    # the original's G_A/G_B are ganhub's G_AB/G_BA (docs/cyclegan.md, "What is trained")
    line = (r"^data.direction=BtoA applies to task=paired; an unpaired CycleGAN learns both "
            r"directions \(G_AB: A -> B, G_BA: B -> A\)$")  # fmt: skip
    with pytest.raises(ConfigError, match=line):
        resolve(["plugin=cyclegan", "data.direction=BtoA"])
