"""The start banner's note on a resume that changes trainer.steps names what in the run reads
its length (`Trick.follows_run_length`): a run with nothing annealed or scheduled over its
length gets no note, as it trains on exactly as one trained straight to the new length."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganhub.config.resolve import resolve
from ganhub.engine.loop import describe_run, fit
from ganhub.wiring import make_run

from .conftest import TINY_TOY


def _resumed_note(tricks: list[str]) -> str | None:
    """The banner's note of a 4-step toy2d run with `tricks`, resumed to 6 steps."""
    fit(make_run(resolve([*TINY_TOY, *tricks, "name=r"])))
    run = make_run(resolve(["resume=runs/r", "trainer.steps=6"]))
    try:
        return dict(describe_run(run)[1]).get("note")
    finally:
        run.close()


def test_a_run_that_reads_no_length_gets_no_note(workdir: Path) -> None:
    """It said an lr_schedule decays on and an annealing stretches, with tricks=[]."""
    assert _resumed_note(["tricks=[]"]) is None


def test_the_note_names_the_lr_schedule(workdir: Path) -> None:
    note = _resumed_note(["tricks=[lr_schedule]", "trick.lr_schedule.final=0.1"])
    assert note == (
        "trainer.steps was 4: lr_schedule decays on from the rate it reached over the new "
        "length; the run differs from one trained straight to 6"
    )


@pytest.mark.parametrize(
    ("anneal", "named"), [([], True), (["trick.instance_noise.anneal_steps=3"], False)]
)
def test_instance_noise_is_named_when_it_anneals_over_the_run(
    workdir: Path, anneal: list[str], named: bool
) -> None:
    """A fixed anneal_steps does not read the run's length: no note for it."""
    note = _resumed_note(["tricks=[ema,instance_noise]", *anneal])
    assert (note is not None and "instance_noise anneals on" in note) is named
    assert note is None or "ema" not in note


def test_a_trick_whose_length_phrase_is_no_str_is_named(workdir: Path) -> None:
    """A trick answering True printed 'kit_length_flag True' in the banner; now one line."""
    from types import SimpleNamespace
    from typing import Any

    from ganhub.errors import PluginError
    from ganhub.hookspecs import hookimpl
    from ganhub.plugins import Hub
    from ganhub.tricks import Trick

    class LengthFlag(Trick):
        name = "banner_length_flag"

        def follows_run_length(self) -> Any:
            return True

    def register_tricks(register: Any) -> None:
        register(LengthFlag.name, LengthFlag)

    hub = Hub.discover(
        extra=(("banner", SimpleNamespace(register_tricks=hookimpl(register_tricks))),)
    )
    fit(make_run(resolve([*TINY_TOY, "tricks=[banner_length_flag]", "name=r"], hub=hub), hub))
    run = make_run(resolve(["resume=runs/r", "trainer.steps=6"], hub=hub), hub)
    try:
        with pytest.raises(PluginError, match=r"^trick 'banner_length_flag': its follows_run_len"):
            describe_run(run)
    finally:
        run.close()
