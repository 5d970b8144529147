"""`ganhub report` audit: a value that went NaN (metrics.jsonl's null) read as its last finite
value in "Other logged values", and one that was never finite was not on the page; curves
followed the file's line order, not the step; the evaluation metrics' panels did not say
their x axis is the step; a config.yaml that is a FIFO read as a missing one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ganhub.metrics.report import series, write_report

from .test_report import Page
from .test_report_values import make_run


def _run(root: Path, records: list[dict[str, object]]) -> Path:
    return make_run(root, records, steps=30)


def test_a_value_that_went_nan_is_not_shown_as_its_last_finite_one(tmp_path: Path) -> None:
    """ganhub logs NaN and inf as null: ada_p 0.1, 0.2, then NaN read "steps 10 to 20
    (2 records), last 0.2", and a value null from the start was nowhere on the page."""
    records: list[dict[str, object]] = [
        {"step": 10, "loss/D": 1.0, "ada_p": 0.1, "mytrick/gone": None},
        {"step": 20, "loss/D": 1.0, "ada_p": 0.2, "mytrick/gone": None},
        {"step": 30, "loss/D": 1.0, "ada_p": None, "mytrick/huge": 1e35},
    ]
    text = write_report(_run(tmp_path, records)).read_text(encoding="utf-8")
    table = text[text.index("<h2>Other logged values</h2>") : text.index("<h2>Samples")]
    cells = Page(table).text
    for row in (
        ["ada_p", "steps 10 to 30 (3 records, 1 not finite)", "0.1", "null", "0.1", "0.2"],
        ["mytrick/gone", "steps 10 to 20 (2 records, 2 not finite)", "null", "null", "n/a", "n/a"],
        ["mytrick/huge", "step 30", "1e+35", "1e+35", "1e+35", "1e+35"],  # finite, unplotted
    ):
        start = cells.index(row[0])
        assert cells[start : start + 6] == row, cells


def test_curves_are_drawn_in_step_order() -> None:
    """A metrics.jsonl pieced together from copies (lines out of step order) drew its curve
    back in time, in the order of the file's lines."""
    records = [{"step": s, "loss/D": float(s)} for s in (20, 10, 30)]
    records.insert(1, {"step": 20, "loss/D": 21.0})  # a second record of one step stays after
    assert series(records, r"^loss/") == {"loss/D": ([10, 20, 20, 30], [10.0, 20.0, 21.0, 30.0])}


def test_every_curve_is_drawn_against_the_step() -> None:
    """The evaluation metrics' panels had no x label (and ticks such as 38.5 for steps)."""
    from ganhub.metrics.report import line_figure, metric_figure

    data = {"eval/fid": ([10, 20], [50.0, 40.0]), "eval/kid": ([20], [0.1])}
    figures = [metric_figure(data), line_figure("Losses", {"loss/D": ([5, 10], [1.0, 0.5])})]
    for fig in figures:
        fig.canvas.draw()  # ticks are placed when drawn
        for ax in [ax for ax in fig.axes if ax.axison]:
            assert ax.get_xlabel() == "step"
            ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
            assert ticks and all(float(t).is_integer() for t in ticks), ticks
    fid = figures[0].axes[0].lines[0]
    assert list(fid.get_xdata()) == [10, 20] and list(fid.get_ydata()) == [50.0, 40.0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_config_yaml_that_is_a_fifo_is_named(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """It read "'run' is not a ganhub run directory (no config.yaml)"."""
    run = tmp_path / "run"
    run.mkdir()
    os.mkfifo(run / "config.yaml")
    code, out, err = cli("report", str(run))
    assert code == 2 and not out and err.count("\n") == 1, err
    assert f"{run / 'config.yaml'}: not a regular file; config.yaml must be one" in err
    assert not (run / "report.html").exists()


def test_the_written_page_is_named_without_the_run_names_control_characters(
    tmp_path: Path,
) -> None:
    """A run folder from a shared drive named with an escape sequence: the line that names the
    page shows it as an escape, not as a command to the terminal."""
    from click.testing import CliRunner

    from ganhub.cli import build_cli

    run = _run(tmp_path / "runs\x1b[2J", [{"step": 10, "loss/D": 1.0}])
    result = CliRunner().invoke(build_cli(), ["report", str(run)])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "runs\\x1b[2J" in result.output, result.output
