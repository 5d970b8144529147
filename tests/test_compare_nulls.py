"""`ganhub report RUN RUN`: an evaluation key logged null (NaN or inf) is a row, not a gap.

ganhub logs a value that is not finite as null. The comparison read only finite values, so a
key null in every record of every run had no row at all, and a key that went null at the last
evaluation showed its final as blank. The single-run report shows such values as null with a
count ("3 records, 1 not finite"); the comparison now does the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .test_report_compare import Tables, rows


def _run(folder: Path, seed: int, records: list[dict[str, Any]]) -> Path:
    """A run directory as the comparison reads it: its config.yaml and metrics.jsonl."""
    folder.mkdir()
    (folder / "config.yaml").write_text(f"plugin: toy2d\nseed: {seed}\n")
    lines = [json.dumps({"time": 0.0, **record}) for record in records]
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_keys_logged_null_are_shown_with_their_count(tmp_path: Path, cli: Any) -> None:
    a = _run(
        tmp_path / "a",
        0,
        [
            {"step": 2, "eval/precision": None, "eval/mmd": 0.5},
            {"step": 4, "eval/precision": None, "eval/mmd": 0.25},
            {"step": 6, "eval/precision": None, "eval/mmd": None},
        ],
    )
    b = _run(
        tmp_path / "b",
        1,
        [
            {"step": 2, "eval/precision": None, "eval/mmd": 0.75},
            {"step": 4, "eval/precision": None, "eval/mmd": 0.5},
        ],
    )
    out = tmp_path / "page.html"
    code, _, err = cli("report", str(a), str(b), "--out", str(out))
    assert code == 0, err
    metrics = rows(Tables(out.read_text()), "metrics")
    # every record null, in both runs: a row, null finals, no best, the count
    cells = [text for text, _ in metrics["precision"][1:]]  # after "better"
    assert cells == [
        "null", "n/a (3 records, 3 not finite)", "null", "n/a (2 records, 2 not finite)"
    ]  # fmt: skip
    # a key that went null at a's last evaluation: its final is null, not blank; its best is
    # the best finite value (mmd: lower is better), with the count
    cells = [text for text, _ in metrics["mmd"][1:]]
    assert cells == ["null", "0.25 (3 records, 1 not finite) ★", "0.5", "0.5"], cells
