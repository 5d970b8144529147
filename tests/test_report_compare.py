"""`ganhub report RUN_DIR RUN_DIR...`: two real runs side by side on one page."""

from __future__ import annotations

import base64
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import TINY_TOY
from .test_report import Page

OUR_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "table", "tr",
            "th", "td", "caption", "figure", "img", "figcaption", "div", "ul", "li", "script"}  # fmt: skip
PAYLOAD = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two tiny toy2d runs that differ in `seed` only; the first scored by `ganhub eval`."""
    import ganhub
    from ganhub.cli import main

    root = tmp_path_factory.mktemp("compare")
    keys = [*TINY_TOY, "trainer.steps=8", "trainer.eval_every=4", "eval.n_samples=200",
            f"out_dir={root / 'runs'}"]  # fmt: skip
    a = Path(ganhub.train([*keys, "name=a", "seed=0"])["run_dir"])
    b = Path(ganhub.train([*keys, "name=b", "seed=1"])["run_dir"])
    try:
        main(["eval", str(a), "--n", "200"])
    except SystemExit as done:
        assert not done.code
    return a, b


def snapshot(*folders: Path) -> dict[Path, tuple[int, int]]:
    """Every file under the folders with its size and modification time."""
    return {
        p: (p.stat().st_size, p.stat().st_mtime_ns)
        for folder in folders
        for p in folder.rglob("*")
        if p.is_file()
    }


class Tables(HTMLParser):
    """The page's tables by id: rows of (cell text, cell class) and each table's caption."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[tuple[str, str]]]] = {}
        self.captions: dict[str, str] = {}
        self.figures: list[str] = []
        self._table = ""
        self._cell: list[str] | None = None
        self._class = ""
        self._in = ""
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "table":
            self._table = attr.get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr":
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell, self._class = [], attr.get("class") or ""
        elif tag in ("caption", "figcaption"):
            self._in, self._cell = tag, []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append(("".join(self._cell), self._class))
            self._cell = None
        elif tag == "caption" and self._cell is not None:
            self.captions[self._table] = "".join(self._cell)
            self._cell = None
        elif tag == "figcaption" and self._cell is not None:
            self.figures.append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def rows(page: Tables, table: str) -> dict[str, list[tuple[str, str]]]:
    """A table's data rows by their first cell."""
    return {row[0][0]: row[1:] for row in page.tables[table][1:] if row and row[0][1] == ""}


def compare(cli, *args: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    return cli("report", *args)  # type: ignore[no-any-return]


def test_two_runs_on_one_page(
    cli, runs: tuple[Path, Path], workdir: Path, monkeypatch: Any
) -> None:  # type: ignore[no-untyped-def]
    import ganhub.metrics.compare as compare_module

    a, b = runs
    drawn: dict[str, list[str]] = {}
    real_plot = compare_module.plot

    def recording_plot(path: Path, title: str, data: Any, log: bool = False) -> Path:
        drawn[title] = sorted(data)
        return real_plot(path, title, data, log)

    monkeypatch.setattr(compare_module, "plot", recording_plot)
    before = snapshot(a, b)
    code, out, err = compare(cli, str(a), str(b))
    assert code == 0, err
    assert Path(out.strip()) == Path("compare.html") and (workdir / "compare.html").is_file()
    assert snapshot(a, b) == before  # nothing written into (or changed in) the run folders
    assert not list(workdir.glob(".*"))  # no temporary file left beside the page
    page = Tables((workdir / "compare.html").read_text())

    # (1) the config keys that differ: seed (and the name), with both values; the rest counted
    config = rows(page, "config")
    assert [c for c, _ in config["seed"]] == ["0", "1"]
    assert set(config) == {"seed", "name"}, config
    assert "2 keys differ" in page.captions["config"]

    # (2) final metrics: a's from its eval.json, b's from its last logged evaluation
    scores = json.loads((a / "eval.json").read_text())["results"]
    last = [json.loads(line) for line in (b / "metrics.jsonl").read_text().splitlines()]
    logged = {k[5:]: v for k, v in [r for r in last if "eval/modes" in r][-1].items()
              if k.startswith("eval/")}  # fmt: skip
    metrics = rows(page, "metrics")
    assert set(scores) == set(logged) and set(metrics) == set(scores)
    for key, value in scores.items():
        cells = metrics[key][1:]  # after `better`
        assert cells[0][0].split(" ")[0] == f"{value['mean']:.4g}", key
        assert cells[2][0].split(" ")[0] == f"{logged[key]:.4g}", key
    # the best run marked by the metric's direction (toy2d: reverse_kl lower, modes higher)
    for key, cells in metrics.items():
        way = cells[0][0]
        finals = [float(cells[1][0].split(" ")[0]), float(cells[3][0].split(" ")[0])]
        marked = [cells[1][1] == "best", cells[3][1] == "best"]
        if way not in ("lower", "higher") or finals[0] == finals[1]:
            assert marked == [False, False], key
        else:
            pick = min(finals) if way == "lower" else max(finals)
            assert marked == [f == pick for f in finals], key
    assert metrics["reverse_kl"][0][0] == "lower" and metrics["n_samples"][0][0] == ""

    # (3) a curve per shared loss and metric, each with both runs
    shared = {k for r in last for k in r if k.startswith(("loss/", "eval/"))} - {"eval/n_samples"}
    assert set(drawn) == shared and set(page.figures) == shared
    assert all(labels == ["a", "b"] for labels in drawn.values()), drawn
    text = (workdir / "compare.html").read_text()
    for src in text.split("src='data:image/png;base64,")[1:]:
        assert base64.b64decode(src.split("'")[0]).startswith(b"\x89PNG")

    # (4) each run's status line
    status = rows(page, "runs")
    assert all("Finished: trained to step 8 of 8" in status[n][1][0] for n in ("a", "b"))


def test_a_folder_that_is_not_a_run_is_refused_in_one_line(
    cli, runs: tuple[Path, Path], workdir: Path
) -> None:  # type: ignore[no-untyped-def]
    (workdir / "photos").mkdir()
    code, _, err = compare(cli, str(runs[0]), "photos")
    assert code == 2 and err.count("\n") == 1 and "'photos' is not a ganhub run directory" in err
    assert not (workdir / "compare.html").exists()
    code, _, err = compare(cli, str(runs[0]), str(runs[0]))  # the same run twice
    assert code == 2 and err.count("\n") == 1 and "given twice" in err, err


def test_a_page_inside_a_run_folder_is_refused(
    cli, runs: tuple[Path, Path], monkeypatch: Any
) -> None:  # type: ignore[no-untyped-def]
    a, b = runs
    before = snapshot(a, b)
    for out in (str(a / "compare.html"), str(b) + "/"):
        code, _, err = compare(cli, str(a), str(b), "--out", out)
        assert code == 2 and err.count("\n") == 1 and "inside the run directory" in err, err
    monkeypatch.chdir(a)  # the default ./compare.html would land in run a
    code, _, err = compare(cli, ".", str(b))
    assert code == 2 and err.count("\n") == 1 and "inside the run directory '.'" in err, err
    assert snapshot(a, b) == before


def test_markup_in_run_names_and_config_values_is_escaped(
    cli, runs: tuple[Path, Path], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    a, _ = runs
    crafted = tmp_path / "<script>alert(1)</script>"
    shutil.copytree(a, crafted, ignore=shutil.ignore_patterns("eval.json"))
    config = yaml.safe_load((crafted / "config.yaml").read_text())
    config["plugin"] = PAYLOAD  # another plugin: keys differ, and the page says so
    config["loss"] = {PAYLOAD: "<b>bold</b>"}
    (crafted / "config.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "pages" / "cmp.html"
    code, printed, err = compare(cli, str(a), str(crafted), "--out", str(out))
    assert code == 0, err
    assert printed.strip() == str(out)
    text = out.read_text()
    page = Page(text)
    assert set(page.tags) <= OUR_TAGS, set(page.tags) - OUR_TAGS
    assert page.tags.count("script") == 1 and not [n for n, _ in page.attrs if n.startswith("on")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and PAYLOAD not in text
    config_rows = rows(Tables(text), "config")
    assert config_rows["plugin"] == [("toy2d", ""), (PAYLOAD, "")]
    assert config_rows[f"loss.{PAYLOAD}"] == [("", "unset"), ("<b>bold</b>", "")]
    assert "different plugins" in "".join(page.text)
