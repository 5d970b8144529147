"""What a resumed dcgan run cannot change (`DCGANDomain.resume_fixed_keys`): its data source
and whether it is conditional, each refused in one line naming the key the user typed.

`ganhub run resume=RUN data=shapes` on a digits run trained on the shapes without a word, and
`resume=RUN model.conditional=false` of an AC-GAN run blamed the run's config.yaml (its
condition.discriminator=none and tricks=[acgan]) for the refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ganhub
from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError

from ..conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")


def _trained(name: str, *extra: str) -> Path:
    summary = ganhub.train([*TINY_DCGAN, f"name={name}", "trainer.steps=1", *extra])
    return Path(summary["run_dir"])


@pytest.mark.parametrize(
    ("typed", "shown"),
    [("data=shapes", "shapes"), ("data.source=stacked_digits", "stacked_digits")],
)
def test_a_resume_cannot_change_the_data_source(workdir: Path, typed: str, shown: str) -> None:
    _trained("d")
    with pytest.raises(ConfigError, match=rf"^data.source={shown}: runs/d trained with "
                       r"data.source=digits, and a resumed run's data.source cannot change; "
                       rf"make a new run \(data.source={shown} init_from=runs/d "):  # fmt: skip
        resolve(["resume=runs/d", typed, "trainer.steps=2"])
    # the same source again, and what a resume may change
    config = resolve(["resume=runs/d", "data=digits", "trainer.steps=3", "optim.G.lr=1e-3"])
    assert config.trainer.steps == 3 and config.data.source == "digits"  # type: ignore[attr-defined]


def test_turning_conditioning_off_on_resume_names_the_typed_key(workdir: Path, cli: Any) -> None:
    run_dir = _trained("ac", "model.conditional=true", "condition.discriminator=none",
                       "tricks=[acgan]")  # fmt: skip
    before = (run_dir / "config.yaml").read_text()
    code, _, err = cli("run", "resume=runs/ac", "model.conditional=false", "trainer.steps=2")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(
        "ganhub: error: model.conditional=false: runs/ac trained with model.conditional=true, "
        "and a resumed run's model.conditional cannot change"
    ), err
    assert "config.yaml" not in err  # the user's key is the cause, not the saved file
    assert (run_dir / "config.yaml").read_text() == before
    with pytest.raises(ConfigError, match=r"^model.conditional=true: runs/plain trained with "
                       "model.conditional=false"):  # fmt: skip
        resolve([f"resume={_trained('plain')}", "model.conditional=true"])
