"""`ganhub report` and its comparison page: an eval.json score whose mean is null (NaN or inf
on a seed, as `ganhub eval --seeds 2` writes a diverged run's) is a row that says so, not a
gap; the samples per seed are those eval.json's `counts` record the metrics scored
(class_accuracy rounds --n 25 up to 30 on 10 classes), not the --n asked; and a file or folder
name is escaped as every printed path is (`one_line`), in the page's title, labels and notes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ganhub.metrics.report import write_report
from ganhub.metrics.rundata import shown_path

from .test_report_compare import Tables, rows
from .test_report_values import make_run

EVAL = {
    "step": 20,
    "seeds": [0, 1],
    "n_samples": 25,  # the --n asked: class_accuracy scored 30 to fill its 10 classes
    "better": {"ssim": "higher", "class_acc": "higher", "n_samples": None},
    "counts": {"class_accuracy": {"n_samples": 30.0}},
    "results": {
        "ssim": {"mean": None, "std": None, "values": [0.5, None]},  # one seed diverged
        "class_acc": {"mean": 0.5, "std": 0.1, "values": [0.4, 0.6]},
        "n_samples": {"mean": 30.0, "std": 0.0, "values": [30.0, 30.0]},
    },
}


def _scored_run(root: Path, result: dict[str, Any] = EVAL) -> Path:
    run = make_run(root, [{"step": 20, "loss/D": 1.0}], steps=20)
    (run / "eval.json").write_text(json.dumps(result))
    return run


def test_a_null_score_is_a_row_with_its_reason_and_the_count_is_the_scored_one(
    tmp_path: Path,
) -> None:
    metrics = rows(Tables(write_report(_scored_run(tmp_path)).read_text()), "metrics")
    assert metrics["ssim"] == [("null (NaN or inf on 1 of 2 seeds)", "")], metrics
    assert metrics["class_acc"] == [("0.5 ± 0.1", "")]
    text = (tmp_path / "run" / "report.html").read_text()
    assert "2 seeds x 30 samples (25 asked)</caption>" in text


def test_metrics_scoring_different_counts_are_named(tmp_path: Path) -> None:
    counts = {"fid": {"n_samples": 25.0}, "class_accuracy": {"n_samples": 30.0}}
    text = write_report(_scored_run(tmp_path, {**EVAL, "counts": counts})).read_text()
    assert "2 seeds x 25 samples (class_accuracy 30 scored)</caption>" in text


def test_the_comparison_shows_a_null_final_score_with_its_reason(tmp_path: Path, cli: Any) -> None:
    a, b = _scored_run(tmp_path / "a"), make_run(tmp_path / "b", [{"step": 20, "eval/ssim": 0.7}])
    out = tmp_path / "page.html"
    code, _, err = cli("report", str(a), str(b), "--out", str(out))
    assert code == 0, err
    cells = [text for text, _ in rows(Tables(out.read_text()), "metrics")["ssim"]]
    assert cells == ["higher", "null (NaN or inf on 1 of 2 seeds)", "", "0.7", "0.7"], cells


def test_names_with_control_characters_are_escaped_on_the_pages_and_stdout(
    tmp_path: Path, cli: Any
) -> None:
    run = _scored_run(tmp_path)
    odd = run.rename(tmp_path / "r\x1b[31mun\udce9")  # the byte 0xe9 of a non-UTF-8 name
    (odd / "samples").mkdir()
    (odd / "samples" / "step_\x1b[31m.png").write_bytes(b"x")
    page = write_report(odd).read_text()
    assert "\x1b" not in page and "udce9" not in page
    assert "<title>ganhub report: r\\x1b[31mun\\xe9</title>" in page
    assert "samples/step_\\x1b[31m.png: skipped" in page
    b = make_run(tmp_path / "b", [{"step": 20, "eval/ssim": 0.7}])
    code, stdout, err = cli("report", str(odd), str(b), "--out", str(odd.parent / "\x07.html"))
    assert code == 0, err
    assert stdout.strip() == shown_path(odd.parent / "\x07.html") and "\\x07" in stdout
    compared = (odd.parent / "\x07.html").read_text()
    assert "\x1b" not in compared and "r\\x1b[31mun\\xe9, run</title>" in compared


# -- metric keys with control characters; odd inputs a user meets --------------------------

ODD_KEYS = {
    "step": 20,
    "eval/fid\x1b[31m": 3.0,
    "eval/a\nb": "text",
    "eval/c\x07d": None,
    "eval/s": "v\x1b[2J",  # a text logged as a score
}


def test_metric_keys_with_control_characters_are_escaped_in_rows_and_notes(
    tmp_path: Path,
) -> None:
    """A third-party metric named "fid\\x1b[31m" or with a newline reached the page's notes and
    rows raw (names of files and runs were escaped already)."""
    page = write_report(make_run(tmp_path, [{"step": 20, "loss/D": 1.0}, ODD_KEYS])).read_text()
    assert "\x1b" not in page and "\x07" not in page and "a\nb" not in page
    assert "keys eval/a\\nb, eval/c\\x07d, eval/s)" in page  # the note on values not plotted
    metrics = rows(Tables(page), "metrics")
    assert metrics["fid\\x1b[31m"] == [("3", "")], metrics
    assert metrics["c\\x07d"] == [("null (NaN or inf)", "")], metrics  # was "None"
    assert metrics["s"] == [("v\\x1b[2J", "")], metrics


def test_the_comparison_escapes_metric_keys_in_rows_and_notes(tmp_path: Path, cli: Any) -> None:
    a = make_run(tmp_path / "a", [ODD_KEYS, {"step": 20, "eval/x\x1b]8;;y": 1.0}])
    b = make_run(tmp_path / "b", [{**ODD_KEYS, "eval/fid\x1b[31m": 2.0}])
    (a / "eval.json").write_text(json.dumps({**EVAL, "better": {"fid\x1b[31m": "lower"}}))
    out = tmp_path / "page.html"
    code, _, err = cli("report", str(a), str(b), "--out", str(out))
    assert code == 0, err
    page = out.read_text()
    assert "\x1b" not in page and "\x07" not in page, page
    assert "logged by one run only, not drawn: eval/x\\x1b]8;;y" in page
    assert rows(Tables(page), "metrics")["fid\\x1b[31m"][0][0] == "lower"  # eval.json's way


def test_eval_prints_metric_keys_escaped() -> None:
    """`ganhub eval`'s table (the text a terminal shows) printed a metric's name raw."""
    from ganhub.metrics.commands import format_table

    result = {
        "run_dir": "runs/r\x1b[2J",
        "step": 20,
        "seeds": [0],
        "n_samples": 10,
        "features": ["net\x07"],
        "results": {"fid\x1b[31m": {"mean": 1.5, "std": None}},
        "skipped": ["kid\nx"],
    }
    text = format_table(result)
    assert "\x1b" not in text and "\x07" not in text and "kid\nx" not in text, text
    assert "fid\\x1b[31m" in text and "runs/r\\x1b[2J" in text and "kid\\nx" in text


def test_a_run_that_lost_its_metrics_file_says_so(tmp_path: Path) -> None:
    """A run whose metrics.jsonl was deleted (jsonl among its loggers, checkpoints saved) read
    "No metrics logged yet.", as if it had not started."""
    run = make_run(tmp_path, [])
    config = {"plugin": "toy2d", "loggers": ["jsonl"], "trainer": {"steps": 20}}
    (run / "config.yaml").write_text(json.dumps(config))
    (run / "metrics.jsonl").unlink()
    (run / "samples").mkdir()
    text = " ".join(write_report(run).read_text().split())
    assert "metrics.jsonl is missing, though the jsonl logger writes it" in text
    assert "No metrics logged yet." not in text
    (run / "samples").rmdir()  # nothing saved yet: a run that has just started
    assert "metrics.jsonl is missing" not in write_report(run).read_text()


def test_an_eval_json_std_below_zero_is_left_out_with_a_note(tmp_path: Path) -> None:
    results = {**EVAL["results"], "class_acc": {"mean": 0.5, "std": -5.0}}
    text = write_report(_scored_run(tmp_path, {**EVAL, "results": results})).read_text()
    assert "class_acc" not in rows(Tables(text), "metrics")
    assert "1 result without a numeric mean/std left out (class_acc)" in text


def test_the_comparison_says_which_run_lost_its_metrics_file(tmp_path: Path, cli: Any) -> None:
    a, b = make_run(tmp_path / "a", [ODD_KEYS]), make_run(tmp_path / "b", [ODD_KEYS])
    (b / "config.yaml").write_text(json.dumps({"plugin": "toy2d", "loggers": ["jsonl"]}))
    (b / "metrics.jsonl").unlink()
    (b / "checkpoints" / "step_0000020").mkdir(parents=True)
    code, _, err = cli("report", str(a), str(b), "--out", str(tmp_path / "page.html"))
    assert code == 0, err
    page = " ".join((tmp_path / "page.html").read_text().split())
    assert "run (2): metrics.jsonl is missing, though the jsonl logger writes it" in page
