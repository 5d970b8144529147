"""Config values on the report pages, as typed and unambiguous: a key a run lacks is no text
(a value that is the text "(not set)" used to read as a missing key, and two such runs were
"the same"); a text of several lines keeps its lines (flow YAML folded them into one); and the
status line names config values as the rest of the page does (`typed_text`)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .test_report_compare import Tables, rows


def _run(folder: Path, config: dict[str, object]) -> Path:
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump({"plugin": "toy2d", **config}))
    (folder / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss/D": 0.5}) + "\n")
    return folder


def test_a_missing_key_reads_apart_from_any_value(tmp_path: Path) -> None:
    from ganhub.metrics.compare import write_comparison

    a = _run(tmp_path / "a", {"name": "(not set)", "note": "one\ntwo", "tag": ["x\ny"]})
    b = _run(tmp_path / "b", {"note": "one two", "tag": ["x y"]})
    page = write_comparison([a, b], str(tmp_path / "c.html"))
    config = rows(Tables(page.read_text(encoding="utf-8")), "config")
    # a typed "(not set)" beside a run without the key: a difference, shown as both are
    assert config["name"] == [("(not set)", ""), ("", "unset")], config
    # a text of several lines as a YAML block (the cells keep their lines), or escaped in a list
    assert config["note"] == [("|-\n  one\n  two", ""), ("one two", "")], config
    assert config["tag"] == [('["x\\ny"]', ""), ("[x y]", "")], config
    assert "#config td{white-space:pre-wrap}" in page.read_text(encoding="utf-8")


def test_several_lines_keep_their_ends_and_a_block_only_when_it_can() -> None:
    from ganhub.metrics.report_values import typed_text

    assert typed_text("a\nb\n") == "|\n  a\n  b"  # `|`: one line break at the end
    assert typed_text({"k": "a\nb"}) == '{k: "a\\nb"}'
    assert typed_text("a\x1b\nb") == '"a\\e\\nb"'  # a control character: escaped, one line
    assert typed_text("(not set)") == "(not set)"


def test_the_early_stop_line_names_config_values_as_typed() -> None:
    from ganhub.metrics.report_status import early_stop_line

    config = {"trainer": {"steps": "100", "keep_best": None}}
    line = early_stop_line(config, [{"step": 40, "early_stop": 1}], 40)
    assert line.startswith("Stopped early at step 40 of '100': null did not improve"), line
