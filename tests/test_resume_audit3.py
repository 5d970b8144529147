"""Resume after a kill: a metrics.jsonl line cut off mid-write, a best record naming a
checkpoint the resume does not have, and pruning a checkpoint that cannot be verified."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ganhub.config.resolve import resolve
from ganhub.engine import checkpoint
from ganhub.engine.loop import fit
from ganhub.wiring import make_run

from .conftest import TINY_TOY
from .test_keep_best import Scripted, _best, _steps, scripted_hub

SCRIPTED = ["eval.metrics=[scripted]", "trainer.keep_best=score", "trainer.eval_every=5",
            "trainer.checkpoint_every=5", "trainer.keep_checkpoints=10"]  # fmt: skip


def _cut_last_line(path: Path, keep: int = 30) -> bytes:
    """Cut metrics.jsonl inside its last line, as a kill during its write does."""
    data = path.read_bytes()
    start = data.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(data[: start + keep])
    return data[: start + keep]


def test_a_line_cut_off_by_a_kill_is_dropped_when_the_run_resumes(workdir: Path, cli: Any) -> None:
    """The resumed run wrote a newline after the cut-off line: metrics.jsonl kept a line no
    JSON reader (jq, `ganhub report`) can parse, forever."""
    code, _, err = cli("run", *TINY_TOY, "name=r")
    assert code == 0, err
    path = workdir / "runs/r/metrics.jsonl"
    _cut_last_line(path)
    code, _, err = cli("run", "resume=runs/r", "trainer.steps=6")
    assert code == 0, err
    assert "metrics.jsonl ended in a line cut off mid-write" in err
    records = [json.loads(line) for line in path.read_text().splitlines()]  # every line parses
    assert records[-1]["step"] == 6


def test_a_refused_resume_leaves_the_cut_off_line_as_it_was(workdir: Path, cli: Any) -> None:
    code, _, err = cli("run", *TINY_TOY, "name=r")
    assert code == 0, err
    path = workdir / "runs/r/metrics.jsonl"
    before = _cut_last_line(path)
    code, _, err = cli("run", "resume=runs/r", "trainer.steps=2")  # fewer steps: refused
    assert code == 2 and "asks for no more" in err
    assert path.read_bytes() == before


def test_a_last_record_missing_only_its_newline_is_kept(workdir: Path, cli: Any) -> None:
    code, _, err = cli("run", *TINY_TOY, "name=r")
    assert code == 0, err
    path = workdir / "runs/r/metrics.jsonl"
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    last = json.loads(path.read_text().splitlines()[-1])
    code, _, err = cli("run", "resume=runs/r", "trainer.steps=6")
    assert code == 0, err
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert last in records


def _damaged_best_run(workdir: Path) -> Path:
    """A run whose best (step 20) checkpoint was damaged after it ended; step 10 scored
    second best."""
    hub = scripted_hub(Scripted([3.0, 2.0, 4.0, 1.0]))  # at steps 5, 10, 15, 20
    fit(make_run(resolve([*TINY_TOY, "name=b", "trainer.steps=20", *SCRIPTED], hub=hub), hub))
    run_dir = workdir / "runs/b"
    assert _best(run_dir)["step"] == 20
    with (run_dir / "checkpoints/step_0000020/model.safetensors").open("r+b") as fh:
        fh.truncate(100)
    return run_dir


def test_a_best_record_past_the_resumed_step_names_the_best_checkpoint_it_still_has(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The resume (from step 15) set aside the record of step 20, and the first evaluation
    after it (5.0, worse than step 10's 2.0) became the "best"."""
    run_dir = _damaged_best_run(workdir)
    hub = scripted_hub(Scripted([5.0]))  # the evaluation at the end, step 18
    summary = fit(make_run(resolve(["resume=runs/b", "trainer.steps=18"], hub=hub), hub))
    assert summary["steps"] == 18
    assert _best(run_dir) == {"metric": "score", "step": 10, "value": 2.0, "better": "lower"}
    assert "its best score is now step 10's (2)" in capsys.readouterr().err
    best_path = checkpoint.load_best(run_dir / "checkpoints")[0]
    assert best_path.name == "step_0000010"


def test_pruning_moves_a_checkpoint_it_cannot_verify_aside_instead_of_deleting_it(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The damaged step 20 the resume skipped was deleted without a word at the next save."""
    run_dir = _damaged_best_run(workdir)
    damaged = (run_dir / "checkpoints/step_0000020/model.safetensors").read_bytes()
    hub = scripted_hub(Scripted([5.0]))
    fit(make_run(resolve(["resume=runs/b", "trainer.steps=18"], hub=hub), hub))
    aside = run_dir / "checkpoints/step_0000020.damaged"
    assert (aside / "model.safetensors").read_bytes() == damaged
    assert _steps(run_dir) == [5, 10, 15, 18]
    err = capsys.readouterr().err
    assert "moved it to step_0000020.damaged" in err


def test_prune_keeps_verified_checkpoints_and_sets_a_damaged_one_aside(tmp_path: Path) -> None:
    for step in (1, 2, 3):
        checkpoint.save(tmp_path, step, {}, {"x": step}, keep=10)
    (tmp_path / "step_0000002" / "state.safetensors").write_bytes(b"cut")
    said: list[str] = []
    checkpoint.prune(tmp_path, keep=1, warn=said.append)
    assert _names(tmp_path) == ["step_0000002.damaged", "step_0000003"]
    assert len(said) == 1 and "step_0000002" in said[0]


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("step_"))
