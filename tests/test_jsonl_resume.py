"""metrics.jsonl on resume: the file is untrusted and may be huge. Lines that are not records
(however they fail to parse, or too long for `ganhub report` to read) are kept as they are, the
file is streamed, and a failure leaves no temporary file behind."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from ganhub.config.resolve import resolve
from ganhub.loggers.builtin import JsonlLogger
from ganhub.metrics.rundata import MAX_LINE_BYTES

from .conftest import TINY_TOY

DEEP = b"[" * 100_000 + b"]" * 100_000 + b"\n"  # valid JSON, but json.loads recurses too deep


def _records(*steps: int) -> bytes:
    return b"".join(json.dumps({"step": s, "loss": 0.5}).encode() + b"\n" for s in steps)


def _resume(run_dir: Path, step: int) -> JsonlLogger:
    logger = JsonlLogger(run_dir, resolve(TINY_TOY))
    logger.resumed_at(step)
    return logger


def test_a_resume_keeps_a_line_too_deep_to_parse(workdir: Path, cli: Any) -> None:
    """It ended in `logger 'jsonl': resumed_at raised RecursionError`, blaming the built-in
    logger as a faulty plugin, and left .metrics.jsonl.tmp in the run."""
    code, _, err = cli("run", *TINY_TOY, "name=r")
    assert code == 0, err
    run_dir = workdir / "runs" / "r"
    with (run_dir / "metrics.jsonl").open("ab") as fh:
        fh.write(DEEP)
    code, _, err = cli("run", "resume=runs/r", "trainer.steps=6")
    assert code == 0, err
    assert not (run_dir / ".metrics.jsonl.tmp").exists()
    lines = (run_dir / "metrics.jsonl").read_bytes().splitlines(keepends=True)
    assert DEEP in lines
    steps = [json.loads(x)["step"] for x in lines if x.startswith(b'{"step"')]
    assert steps == sorted(steps) and sorted(set(steps)) == [2, 4, 6]  # training, then eval


def test_a_resume_keeps_over_long_lines_as_they_are_and_drops_later_steps(workdir: Path) -> None:
    """An over-long line is not a record, as for `ganhub report`, even when it would parse."""
    long_record = b'{"step": 9, "x": "' + b"a" * MAX_LINE_BYTES + b'"}\n'
    (workdir / "metrics.jsonl").write_bytes(_records(1, 2) + long_record + _records(3, 4) + DEEP)
    _resume(workdir, 2).close()
    assert (workdir / "metrics.jsonl").read_bytes() == _records(1, 2) + long_record + DEEP
    assert sorted(os.listdir(workdir)) == ["metrics.jsonl"]


def test_a_huge_file_without_newlines_is_streamed_not_read_or_rewritten(workdir: Path) -> None:
    """A 1 GiB metrics.jsonl without a newline took 3 GB of memory and became a real 1 GB file
    (it was sparse): now it is read a piece at a time, and a file with nothing to drop stays."""
    path = workdir / "metrics.jsonl"
    path.write_bytes(_records(1, 2))
    os.truncate(path, 64 << 20)  # sparse: no disk blocks, no newline after the records
    before = path.stat()
    tracemalloc.start()
    try:
        logger = _resume(workdir, 2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    logger.log(3, {"loss": 0.25})
    logger.close()
    after = path.stat()
    assert peak < 8 * MAX_LINE_BYTES, peak
    assert after.st_ino == before.st_ino and after.st_blocks <= before.st_blocks + 64
    with path.open("rb") as fh:  # the record logged after the resume is a line of its own
        fh.seek(64 << 20)
        assert fh.read(1) == b"\n" and json.loads(fh.readline())["step"] == 3


def test_a_cut_off_last_line_does_not_swallow_the_next_record(workdir: Path) -> None:
    (workdir / "metrics.jsonl").write_bytes(_records(1, 2) + b'{"step": 3, "lo')
    logger = _resume(workdir, 2)
    logger.log(3, {"loss": 0.25})
    logger.close()
    lines = (workdir / "metrics.jsonl").read_bytes().splitlines()
    assert lines[2] == b'{"step": 3, "lo' and json.loads(lines[3])["step"] == 3


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_rewrite_leaves_the_file_and_no_temporary_file(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    data = _records(1, 2, 3)
    (workdir / "metrics.jsonl").write_bytes(data)

    def fail(self: Path, target: Any) -> Path:
        raise error

    monkeypatch.setattr(Path, "replace", fail)
    with pytest.raises(type(error)):
        _resume(workdir, 2)
    assert sorted(os.listdir(workdir)) == ["metrics.jsonl"]
    assert (workdir / "metrics.jsonl").read_bytes() == data


def _strict(text: str) -> Any:
    """JSON as strict readers (jq, JavaScript) take it: NaN and Infinity are no numbers."""

    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_metrics_are_written_as_null_json(workdir: Path) -> None:
    """An inf NLL was written as `Infinity` to metrics.jsonl and eval.json: not JSON."""
    from ganhub.metrics.rundata import as_number
    from ganhub.metrics.store import write_json

    logger = JsonlLogger(workdir, resolve(TINY_TOY))
    logger.log(1, {"nll": float("inf"), "score": float("nan"), "loss": 0.5})
    logger.close()
    (line,) = (workdir / "metrics.jsonl").read_text().splitlines()
    record = _strict(line)
    assert record["nll"] is None and record["score"] is None and record["loss"] == 0.5
    scores = {"nll": {"mean": float("-inf"), "std": 0.0}, "runs": [1.0, float("nan")]}
    written = _strict(write_json(workdir / "eval.json", scores).read_text())
    assert written == {"nll": {"mean": None, "std": 0.0}, "runs": [1.0, None]}
    assert as_number(written["nll"]["mean"]) is None  # the report reads it as no number
