"""A resumed dcgan run keeps its networks' shape: a changed activation (which changes no
tensor, so the checkpoint loaded without a word and training went on with another network),
or a changed width, size or latent, is refused in one line naming the key the user typed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ganhub

from ..conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize(
    ("typed", "saved"),
    [
        ("model.d_act=relu", "leaky_relu"),
        ("model.g_act=leaky_relu", "relu"),
        ("model.latent_dim=8", "16"),
    ],
)
def test_a_resume_cannot_change_the_networks(
    workdir: Path, cli: Any, typed: str, saved: str
) -> None:
    ganhub.train([*TINY_DCGAN, "name=d", "trainer.steps=1"])
    before = (workdir / "runs/d/config.yaml").read_text()
    code, _, err = cli("run", "resume=runs/d", typed, "trainer.steps=2")
    key = typed.partition("=")[0]
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"ganhub: error: {typed}: runs/d trained with {key}={saved}"), err
    # nothing trained on: the run is as it was
    assert (workdir / "runs/d/config.yaml").read_text() == before
    assert not (workdir / "runs/d/checkpoints/step_0000002").exists()


def test_what_a_resume_may_change_still_changes(workdir: Path) -> None:
    ganhub.train([*TINY_DCGAN, "name=d", "trainer.steps=1"])
    ganhub.train(["resume=runs/d", "trainer.steps=2", "optim.G.lr=1e-3", "model.d_act=leaky_relu"])
    assert (workdir / "runs/d/checkpoints/step_0000002").is_dir()
