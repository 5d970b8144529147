"""The third dcgan audit: a resume with other image channels, and model.arch_lr without the
supernet it sets the rate of."""

from __future__ import annotations

from pathlib import Path

import pytest

import ganhub
from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["plugin=dcgan", "preset=tiny", "trainer.steps=2", "trainer.progress=false"]


def test_a_resume_with_other_channels_is_refused_naming_both_values(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """The saved data.channels is null (the source's default): the resume went on to the
    checkpoint and stopped on 'G.9.weight is (8, 1, 4, 4) in the checkpoint'."""
    code, _, err = cli("run", *TINY, "name=r")
    assert code == 0, err
    run = workdir / "runs" / "r"
    code, _, err = cli("run", f"resume={run}", "data.channels=3", "trainer.steps=4")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "data.channels=3" in err and "data.channels=1" in err and "G.9" not in err, err
    assert not (run / "checkpoints" / "step_0000004").exists()
    code, _, err = cli("run", f"resume={run}", "data.channels=1", "trainer.steps=3")
    assert code == 0 and (run / "checkpoints" / "step_0000003").exists(), err  # the same: goes on


def test_a_resume_of_shapes_keeps_data_colour(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("run", *TINY, "data=shapes", "data.n=64", "name=s")
    assert code == 0, err
    code, _, err = cli("run", "resume=runs/s", "data.colour=true", "trainer.steps=4")
    assert code == 2 and "data.colour=true" in err and "data.colour=false" in err, err


def test_arch_lr_without_the_supernet_is_refused(workdir: Path) -> None:
    """model.arch_lr=0.05 on a single network was accepted and never read."""
    with pytest.raises(ConfigError, match=r"model\.arch_lr=0\.05 .*model\.supernet=true"):
        ganhub.train([*TINY, "model.arch_lr=0.05", "name=a"])
    assert not (workdir / "runs").exists()
    config = resolve([*TINY, "model.supernet=true", "model.arch_lr=0.05"])
    assert config.model.arch_lr == 0.05  # type: ignore[attr-defined]
    assert resolve([*TINY, "model.arch_lr=0.01"]).model.arch_lr == 0.01  # type: ignore[attr-defined]


def test_toy2d_refuses_arch_lr_without_the_supernet_as_dcgan_does() -> None:
    """toy2d's model.arch_lr went unread without its supernet, as dcgan's did."""
    with pytest.raises(ConfigError, match=r"model\.arch_lr=0\.05 .*model\.supernet=true"):
        resolve(["plugin=toy2d", "model.arch_lr=0.05"])
    assert (
        resolve(["plugin=toy2d", "model.supernet=true", "model.arch_lr=0.05"]).model.arch_lr == 0.05
    )  # type: ignore[attr-defined]
