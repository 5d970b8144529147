"""medgan: a resume cannot change what G maps to what on the embedded phantoms.

A resume that gave the phantoms another `data.source_contrast` / `data.target_contrast`
(task=translate), `data.contrast` (the other tasks) or `data.growth` (task=progress) loaded
every tensor (none changes shape) and trained G on another mapping on these weights without
a word, as cyclegan's `data.direction` did. More data, or other noise, is still a resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ganhub
from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = [
    "plugin=medgan", "preset=tiny", "model.image_size=16", "model.unet_depth=2",
    "data.n_samples=4", "data.n_eval=2", "trainer.steps=1", "trainer.batch_size=2",
    "trainer.checkpoint_every=1", "eval.metrics=[]", "trainer.progress=false",
    "loggers=[jsonl]",
]  # fmt: skip


def refused(run: Path, override: str, trained: str) -> None:
    key, typed = override.split("=")
    with pytest.raises(ConfigError, match=rf"^{key}={typed}: runs/\w+ trained with "
                       rf"{key}={trained}, and a resumed run's {key} cannot change; "
                       rf"make a new run \({override} init_from=runs/\w+"):  # fmt: skip
        resolve([f"resume={run}", override, "trainer.steps=2"])


def test_a_translate_resume_keeps_its_contrasts(workdir: Path) -> None:
    run = Path(ganhub.train([*TINY, "task=translate", "name=tr"])["run_dir"])
    refused(run, "data.source_contrast=flair", "t1")
    refused(run, "data.target_contrast=t1", "t2")
    # the checkpoint records them: an edited config.yaml is refused by the resume too
    (state,) = run.glob("checkpoints/step_*/state.json")
    fixed = json.loads(state.read_text())["state"]["fixed"]
    assert fixed["data.source_contrast"] == "t1" and fixed["data.target_contrast"] == "t2"
    # the same contrasts again, more phantoms, other noise: a resume
    config = resolve([f"resume={run}", "data.source_contrast=t1", "data.target_contrast=t2",
                      "data.n_samples=6", "data.noise=0.05", "trainer.steps=2"])  # fmt: skip
    assert (config.data.n_samples, config.data.noise) == (6, 0.05)  # type: ignore[attr-defined]


def test_a_progress_resume_keeps_its_contrast_and_growth(workdir: Path) -> None:
    run = Path(ganhub.train([*TINY, "task=progress", "data.growth=1", "name=pr"])["run_dir"])
    refused(run, "data.contrast=t1", "flair")
    refused(run, "data.growth=2", "1")
    config = resolve([f"resume={run}", "data.contrast=flair", "data.growth=1"])
    assert config.data.growth == 1  # type: ignore[attr-defined]
