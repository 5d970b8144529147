"""ganhub tune: a study's storage is checked before anything is made, and a stored study
remembers what it was made with and refuses other settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from .test_tune import _tune_args

optuna = pytest.importorskip("optuna")


def test_a_stored_study_refuses_trials_made_with_other_settings(tmp_path: Path, cli: Any) -> None:
    code, _, err = cli(*_tune_args(tmp_path, "same", "trials=1", "trainer.steps=100"))
    assert code == 0, err
    db = (tmp_path / "studies" / "same" / "study.db").read_bytes()
    narrower = {"params": {"optim.G.lr": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True}}}
    other_space = tmp_path / "other" / "space.yaml"
    other_space.parent.mkdir()
    other_space.write_text(yaml.safe_dump(narrower))
    for change in ("objective=modes", "trainer.steps=50", f"search={other_space}"):
        args = [a if a.split("=")[0] != change.split("=")[0] else change
                for a in _tune_args(tmp_path, "same", "trials=2", "trainer.steps=100")]  # fmt: skip
        code, _, err = cli(*args)
        assert code == 2 and "study 'same' was made with other settings: " in err, (change, err)
        assert "run it with those settings, or give another study=" in err
        assert " then, " in err and " now" in err, err  # what it was and what it is now
    assert (tmp_path / "studies" / "same" / "study.db").read_bytes() == db  # no trial was added
    # the same setting typed another way is the same study (it resolves to the same config)
    code, out, err = cli(*_tune_args(tmp_path, "same", "trials=2", "trainer.steps=100.0"))
    assert code == 0 and "resuming study 'same' (1 finished trial)" in out + err


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ("bogus://x", "not a storage ganhub tune can open; give sqlite:///PATH.db"),
        ("not-a-url", "not a storage ganhub tune can open"),
        ("{missing}/study.log", "does not exist"),
    ],
)
def test_an_unusable_storage_is_refused_before_the_study_folder(
    tmp_path: Path, cli: Any, storage: str, message: str
) -> None:
    storage = storage.format(missing=tmp_path / "missing")
    code, out, err = cli(*_tune_args(tmp_path, "s", "trials=1", f"storage={storage}"))
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and "ganhub tune: study" not in out + err
    assert not (tmp_path / "studies").exists()


@pytest.mark.parametrize("study", ["../escaped", "/abs/study", ".", ".hidden"])
def test_a_study_name_is_a_plain_folder_name(tmp_path: Path, cli: Any, study: str) -> None:
    """study= names a folder under out=, as name= does under out_dir=: never a path."""
    code, _, err = cli(*_tune_args(tmp_path, study, "trials=1"))
    assert code == 2 and f"study={study}: must be a plain directory name" in err, err
    assert not (tmp_path / "studies").exists() and not (tmp_path / "escaped").exists()


def test_the_printed_reproduce_command_runs_in_a_shell_with_odd_paths(
    tmp_path: Path, cli: Any
) -> None:
    """`out=` with a space: the suggested command was printed unquoted and failed when pasted."""
    import shlex
    import subprocess
    import sys

    out = tmp_path / "my studies"
    args = [
        a if not a.startswith("out=") else f"out={out}"
        for a in _tune_args(tmp_path, "s", "trials=1")
    ]
    code, printed, err = cli(*args)
    assert code == 0, err
    command = printed.rsplit("reproduce with: ", 1)[1].strip()
    assert command == f"ganhub run --config {shlex.quote(str(out / 's' / 'best.yaml'))}"
    words = shlex.split(command)  # what a shell makes of the pasted line
    assert words[:3] == ["ganhub", "run", "--config"] and Path(words[3]).is_file()
    run = subprocess.run([sys.executable, "-m", "ganhub", *words[1:], f"out_dir={tmp_path}",
                          "trainer.steps=2"], capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
