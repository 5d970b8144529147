"""`ganhub report`: the collapse warning's extent, the values no plot draws, and where the
page says its plots are kept."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from ganhub.metrics.report import write_report

from .test_report import PAYLOADS, Page, assert_inert_plain


def make_run(root: Path, records: list[dict[str, object]], steps: int = 2000) -> Path:
    """root/run: a toy2d run's config.yaml and these metrics.jsonl records, nothing else."""
    run = root / "run"
    run.mkdir(parents=True)
    config = {"plugin": "toy2d", "loss": "nonsaturating", "seed": 0, "trainer": {"steps": steps}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return run


def test_the_collapse_warning_says_how_many_steps_and_the_last(tmp_path: Path) -> None:
    """A run flagged at 143 logged steps up to its end read "flagged at steps 560, ..., 770."
    (the first 20), as if it had recovered at step 770."""
    flagged = [560, 570, *range(600, 2001, 10)]
    records = [{"step": s, "loss/D": 1.0, "collapse": float(s in flagged)}
               for s in range(10, 2001, 10)]  # fmt: skip
    text = write_report(make_run(tmp_path, records)).read_text()
    assert len(flagged) == 143
    assert "Possible mode collapse flagged at steps 560, 570, 600, 610," in text
    assert ", 770 and 123 more, the last at step 2000 (143 in all); try a lower optim.G.lr" in text


def test_values_no_plot_draws_are_in_a_bounded_table(tmp_path: Path) -> None:
    """stylegan's ada_p, ada_rt, r1_penalty, G_fake_logit and perf/steps_per_s (a plugin
    trick's own keys too) were in metrics.jsonl and nowhere on the page."""
    records: list[dict[str, object]] = [
        {"step": 10, "time": 1.0, "loss/D": 1.0, "ada_p": 0.0, "ada_rt": 0.5, "G_fake_logit": 2.0,
         "r1_penalty": 0.3, "perf/steps_per_s": 10.0, "eval/fid": 50.0, PAYLOADS[1]: 1.0},
        {"step": 20, "time": 2.0, "loss/D": 0.5, "ada_p": 0.25, "ada_rt": 0.75,
         "perf/steps_per_s": 12.0, "early_stop": 1.0, "early_stop/best_step": 10.0,
         "mytrick/strength": "high"},
    ]  # fmt: skip
    text = write_report(make_run(tmp_path, records)).read_text()
    page = assert_inert_plain(text)
    table = text[text.index("<h2>Other logged values</h2>") : text.index("<h2>Samples")]
    cells = Page(table).text
    for row in (
        ["ada_p", "steps 10 to 20 (2 records)", "0", "0.25", "0", "0.25"],
        ["ada_rt", "steps 10 to 20 (2 records)", "0.5", "0.75", "0.5", "0.75"],
        ["G_fake_logit", "step 10", "2", "2", "2", "2"],
        ["perf/steps_per_s", "steps 10 to 20 (2 records)", "10", "12", "10", "12"],
        ["r1_penalty", "step 10", "0.3", "0.3", "0.3", "0.3"],
        [PAYLOADS[1], "step 10", "1", "1", "1", "1"],  # a key is text, escaped
    ):
        start = cells.index(row[0])
        assert cells[start : start + 6] == row, cells
    for drawn in ("loss/D", "eval/fid", "fid", "early_stop", "mytrick/strength"):
        assert drawn not in cells  # plotted, in the status line, or not a number
    assert "onerror" not in {name for name, _ in page.attrs}
    # bounded: the first MAX_OTHER keys by name, and a note on the rest
    from ganhub.metrics.report_values import MAX_OTHER

    many = [{"step": 10, **{f"k{i:03d}": float(i) for i in range(MAX_OTHER + 7)}}]
    text = write_report(make_run(tmp_path / "many", many)).read_text()
    assert text.count("<tr><td>k0") == MAX_OTHER and "<td>k040</td>" not in text
    assert f"Other logged values: {MAX_OTHER + 7} keys logged, the first {MAX_OTHER}" in text


def test_the_captions_name_where_the_plots_are_kept(tmp_path: Path) -> None:
    """With --out elsewhere the captions said (report/losses.png), beside the page, where no
    plot is: they are in RUN_DIR/report/."""
    run = make_run(tmp_path / "runs", [{"step": 10, "loss/D": 1.0}, {"step": 20, "loss/D": 0.5}])
    text = write_report(run).read_text()
    assert "Losses (report/losses.png)" in text
    page = write_report(run, tmp_path / "pages" / "one.html")
    caption = "Losses (../runs/run/report/losses.png)"
    assert caption in page.read_text()
    assert (page.parent / "../runs/run/report/losses.png").resolve().is_file()
