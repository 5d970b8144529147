"""`ganhub.processes.world_size`: torchrun's WORLD_SIZE read without torch, by the rule the run
applies (`DistInfo.from_env`), and the plugins that size their work by it agree with the run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ganhub.config.resolve import resolve
from ganhub.engine.distributed import DistInfo
from ganhub.errors import UsageError
from ganhub.processes import world_size

VALUES = ["", " ", "1", "2", " 2 ", "02", "+2", "0", "-1", "two", "2.0", "1e1"]


@pytest.mark.parametrize("text", VALUES)
def test_world_size_is_the_number_the_run_joins_or_none_where_the_run_refuses(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in (("WORLD_SIZE", text), ("RANK", "0"), ("MASTER_ADDR", "127.0.0.1"),
                       ("MASTER_PORT", "29500")):  # fmt: skip
        monkeypatch.setenv(key, value)
    try:
        joined: int | None = DistInfo.from_env().world
    except UsageError as exc:
        assert "WORLD_SIZE" in str(exc)
        joined = None
    assert world_size() == joined
    assert world_size({"WORLD_SIZE": text}) == joined  # another mapping than os.environ


def test_unset_is_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert world_size() == 1 and world_size({}) == 1


def test_reading_it_imports_no_torch() -> None:
    code = "import sys, ganhub.processes as p; p.world_size(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# the plugins: each counted "+2" (which the run joins as 2 processes) as 1, or refused "01"
TINY = ["plugin=cyclegan", "model.image_size=16", "model.ngf=4", "model.ndf=4",
        "model.n_layers_d=2", "trainer.batch_size=5", "epochs=1", "epochs_decay=1"]  # fmt: skip


def test_cyclegan_counts_an_epoch_on_the_processes_the_run_joins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "+2")
    # the embedded 5,000 digits less data.n_test=500, shared by 2 processes in batches of 5
    assert resolve(TINY).trainer.steps == 2 * ((5000 - 500) // 2 // 5)


def test_tune_accepts_what_the_run_joins_as_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from ganhub_tune.study import refuse_torchrun

    for one in ("", "1", " 1", "01"):
        monkeypatch.setenv("WORLD_SIZE", one)
        refuse_torchrun()
    for other in ("2", "0", "two"):
        monkeypatch.setenv("WORLD_SIZE", other)
        with pytest.raises(UsageError, match=f"WORLD_SIZE={other} says"):
            refuse_torchrun()
