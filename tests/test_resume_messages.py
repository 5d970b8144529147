"""A refused resume names what differs and where: a key typed now against the saved run's
value, or the run's config.yaml when that file is what changed. It blamed the config file for
a trick or a key typed at the resume, and named neither for a checkpoint that did not fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ganhub.config.resolve import resolve
from ganhub.engine.checkpoint import misfit_line
from tests.conftest import TINY_TOY

Cli = Any
FITS = "7 differ in shape (G.0.weight is (16, 2) in the checkpoint, (8, 2) in the model)"


@pytest.fixture
def run(cli: Cli, tmp_path: Path) -> Path:
    """A run directory as a resume reads it before any weights: the config.yaml the run of
    TINY_TOY writes (`ganhub config` prints it). The refusals here all come before a step."""
    code, out, _ = cli("config", *TINY_TOY)
    assert code == 0
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text(out)
    return tmp_path / "run"


def _edit(run: Path, old: str, new: str) -> None:
    path = run / "config.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_a_trick_typed_at_a_resume_is_not_blamed_on_the_saved_file(cli: Cli, run: Path) -> None:
    code, _, err = cli("run", f"resume={run}", "trainer.steps=4", "tricks=[task_relations]")
    assert code == 2 and "error: trick 'task_relations' relates" in err, err
    assert "config file" not in err
    _edit(run, "tricks: []", "tricks: [task_relations]")  # now the file enables it
    code, _, err = cli("run", f"resume={run}", "trainer.steps=4")
    assert code == 2 and f"error: config file '{run / 'config.yaml'}': trick 'task" in err, err


def test_a_key_typed_against_the_saved_runs_names_where_each_came_from(cli: Cli, run: Path) -> None:
    saved = f"config file '{run / 'config.yaml'}'"
    code, _, err = cli("run", f"resume={run}", "trainer.steps=4", "trainer.grad_accum=3")
    line = "trainer.grad_accum=3 must divide trainer.batch_size=32"
    assert code == 2 and f"error: {line} (trainer.batch_size from {saved})\n" in err, err
    _edit(run, "grad_accum: 1", "grad_accum: 4")  # the file's value, against one typed now
    code, _, err = cli("run", f"resume={run}", "trainer.steps=4", "trainer.batch_size=30")
    line = "trainer.grad_accum=4 must divide trainer.batch_size=30"
    assert code == 2 and f"error: {line} (trainer.grad_accum from {saved})\n" in err, err


def test_a_checkpoint_that_does_not_fit_names_the_keys_typed_now(run: Path) -> None:
    config = resolve([f"resume={run}", "model.g_hidden=8", "tricks=[ema]", "trainer.steps=4"])
    line = misfit_line(run, "step_0000002", FITS, config)
    assert line.startswith(f"resume={run}: checkpoint step_0000002 does not fit") and FITS in line
    assert "model.g_hidden=8 (the run's: 16)" in line and "tricks=[ema] (the run's: [])" in line
    assert "trainer.steps" not in line and "trick.ema" not in line and "\n" not in line


def test_a_checkpoint_that_does_not_fit_an_edited_config_file_names_the_file(run: Path) -> None:
    _edit(run, "g_hidden: 16", "g_hidden: 8")
    line = misfit_line(run, "step_0000002", FITS, resolve([f"resume={run}", "trainer.steps=4"]))
    assert f"does not fit the model {run / 'config.yaml'} describes ({FITS})" in line
    assert "no longer holds the settings the run was trained with" in line


def test_a_resume_the_checkpoint_does_not_fit_is_refused_naming_the_key(cli: Cli) -> None:
    """Through `ganhub run`: it said "does not fit this config's model", naming no key."""
    code, _, err = cli("run", *TINY_TOY, "trainer.steps=2", "trainer.checkpoint_every=2", "name=r")
    assert code == 0, err
    code, _, err = cli("run", "resume=runs/r", "trainer.steps=4", "model.g_hidden=8")
    assert code == 2 and "it sets model.g_hidden=8 (the run's: 16), where runs/r/config" in err
