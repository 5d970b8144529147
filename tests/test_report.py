"""`ganhub report`: the HTML page, its PNG plots, and what a real headless browser shows."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from .browser import dump_dom
from .conftest import TINY_TOY


@pytest.fixture
def trained_run(cli, workdir: Path) -> Path:  # type: ignore[no-untyped-def]
    code, _, err = cli("run", *TINY_TOY, "name=rep", "trainer.steps=8", "trainer.sample_every=2",
                       "trainer.eval_every=4", "eval.n_samples=200")  # fmt: skip
    assert code == 0, err
    return workdir / "runs" / "rep"


def test_report_writes_plots_and_a_self_contained_page(cli, trained_run: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("report", str(trained_run))
    assert code == 0, err
    page = Path(out.strip())
    assert page == trained_run / "report.html"
    text = page.read_text()
    pngs = sorted(p.name for p in (trained_run / "report").glob("*.png"))
    assert {
        "losses.png",
        "discriminator.png",
        "grad_norms.png",
        "diversity.png",
        "metrics.png",
    } <= set(pngs)
    assert (
        "src='data:image/png;base64," in text
        and "file://" not in text
        and "src='samples" not in text
    )
    assert text.count("<figure class='grid'>") == 4  # samples at steps 2, 4, 6 and the end
    assert "last evaluation during training (step 8)" in text and "<td>modes</td>" in text
    assert not list(trained_run.glob(".*.tmp*")) and not list((trained_run / "report").glob(".*"))
    # after `ganhub eval`, the table shows mean +- std over seeds
    code, _, err = cli("eval", str(trained_run), "--seeds", "2", "--n", "200")
    assert code == 0, err
    cli("report", str(trained_run))
    text = page.read_text()
    assert "ganhub eval: step 8, 2 seeds x 200 samples" in text and " ± " in text


def test_a_page_that_cannot_be_written_leaves_no_plots(cli, trained_run: Path) -> None:  # type: ignore[no-untyped-def]
    """--out in a folder that cannot be made (/proc) was refused after the plots were written."""
    code, _, err = cli("report", str(trained_run), "--out", "/proc/ganhub-report.html")
    assert code == 2 and "/proc/ganhub-report.html" in err and err.count("\n") == 1, err
    assert not (trained_run / "report").exists() and not (trained_run / "report.html").exists()


def test_a_headless_browser_shows_the_plots_and_the_grid(
    cli, trained_run: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    cli("report", str(trained_run))
    dom = dump_dom(trained_run / "report.html", tmp_path / "profile")
    body = re.search(r"<body[^>]*>", dom)
    assert body, dom[:500]
    ok = re.search(r'data-images-ok="(\d+)"', body.group(0))
    broken = re.search(r'data-images-broken="(\d+)"', body.group(0))
    assert ok and broken, f"the page's load script did not run: {body.group(0)}"
    images = dom.count("<img")
    assert int(broken.group(1)) == 0 and int(ok.group(1)) == images >= 9  # 5 plots + 4 grids
    assert "step 8</figcaption>" in dom and "Losses" in dom
    # a page whose image is corrupt is reported as broken (the check can fail)
    bad = tmp_path / "bad.html"
    bad.write_text(
        re.sub(
            r"base64,[A-Za-z0-9+/=]{40}",
            "base64,AAAA",
            (trained_run / "report.html").read_text(),
            count=1,
        )
    )
    dom = dump_dom(bad, tmp_path / "profile2")
    assert 'data-images-broken="1"' in dom and "1 image failed to load." in dom


def test_report_of_a_run_without_logs_still_renders(cli, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    run = workdir / "runs" / "empty"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("plugin: toy2d\nloss: nonsaturating\nseed: 0\n")
    code, out, err = cli("report", str(run))
    assert code == 0, err
    text = Path(out.strip()).read_text()
    assert "No metrics logged yet." in text and "No samples yet." in text
    code, _, err = cli("report", str(workdir))
    assert code == 2 and "not a ganhub run directory" in err
    # a text domain's samples (textgan writes step_<N>.txt): shown as text, escaped
    (run / "samples").mkdir()
    lines = [f"sentence {i} <b>bold</b>" for i in range(20)]
    (run / "samples" / "step_40.txt").write_text("\n".join(lines))
    code, out, err = cli("report", str(run))
    text = Path(out.strip()).read_text()
    assert code == 0 and "No samples yet." not in text and "step 40" in text, err
    assert "sentence 7 &lt;b&gt;bold&lt;/b&gt;" in text and "sentence 8 " not in text


# -- hostile run directories -----------------------------------------------------------------
# Run directories are shared between people, so every file in one is untrusted. Each payload
# would set the page's title if it ran; the report must show it as text.

PWNED = "PWNED"
PAYLOADS = (
    "<script>document.title='PWNED'</script>",
    "<img src=x onerror=document.title='PWNED'>",
    "\"><svg onload=document.title='PWNED'>",
    "'><svg onload=document.title='PWNED'>",
    "</textarea></title></style></table><script>document.title='PWNED'</script>",
    "<!-- <iframe src=javascript:document.title='PWNED'>",
)
# a file name cannot hold '/', so these two have none
DIR_NAME = "run\"'><svg onload=document.title='PWNED'>"
SAMPLE_NAME = 'step_0000006"><img src=x onerror=document.title=`PWNED`>.png'
# what the page may contain: the template's own elements and attributes, nothing else
OUR_TAGS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "b", "div", "ul", "li",
    "table", "caption", "tr", "th", "td", "figure", "img", "figcaption", "script",
}  # fmt: skip
OUR_ATTRS = {
    "charset",
    "class",
    "id",
    "hidden",
    "alt",
    "src",
    "data-images-ok",
    "data-images-broken",
}


class Page(HTMLParser):
    """Elements, attributes, comments and visible text of an HTML document."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.comments: list[str] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self.title = ""
        self._open: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            del self._open[len(self._open) - 1 - self._open[::-1].index(tag) :]

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)

    def handle_data(self, data: str) -> None:
        where = self._open[-1] if self._open else ""
        if where == "script":
            self.scripts.append(data)
        elif where == "title":
            self.title += data
        elif where != "style":
            self.text.append(data)


def png(path: Path) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 40, 40)).save(path)
    return path


def crafted_run(root: Path) -> Path:
    """A run directory with a payload in every value the report reads."""
    run = root / DIR_NAME
    run.mkdir(parents=True)
    s, i, q, q1, t, c = PAYLOADS
    config = {
        "plugin": s,
        "loss": q,
        "seed": q1,
        "tricks": [i, t],
        "trick": {c: {s: i}},
        s: t,  # keys are not shown, but must not break anything
    }
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    records = [
        {"step": 2, "time": 0.0, "loss/D": 1.0, f"loss/{s}": 0.5, f"loss/$\\frac{{{i}": 0.7,
         f"grad_norm/{q}": 0.1, "D_real": 0.5, "diversity": 0.3, i: t, "loss/G": c},
        {"step": 4, "time": 1.0, "loss/D": 0.9, f"loss/{s}": 0.4, f"loss/$\\frac{{{i}": 0.6,
         f"grad_norm/{q}": 0.2, "D_real": 0.6, "diversity": 0.4, f"collapse/{t}": 1.0},
        {"step": 4, "time": 1.1, f"eval/{i}": 0.25, f"eval/{q}": q1, f"eval/{t}": 3,
         f"eval/{c}": {s: [i]}},
        {"step": i, "collapse": 1.0, "loss/D": 0.1},  # a step that is not a number: skipped
    ]  # fmt: skip
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    result = {
        "step": 4,
        "seeds": [0, 1],
        "n_samples": 200,
        "features": [s, q],
        "results": {
            s: {"mean": 0.5, "std": 0.1},
            i: {"mean": 1.5, "std": 0.2},
            c: {"mean": 2.5, "std": 0.3},
            q: {"mean": q1, "std": t},  # not numbers: left out with a note
        },
    }
    (run / "eval.json").write_text(json.dumps(result))
    png(run / "samples" / "step_0000002.png")
    png(run / "samples" / "step_0000004.png")
    png(run / "samples" / SAMPLE_NAME)
    return run


def assert_inert(text: str, images: int) -> Page:
    """No element, attribute, comment or script in `text` came from a payload."""
    page = Page(text)
    assert set(page.tags) <= OUR_TAGS, set(page.tags) - OUR_TAGS
    names = {name for name, _ in page.attrs}
    assert names <= OUR_ATTRS, names - OUR_ATTRS
    assert not [name for name in names if name.startswith("on")]
    assert page.tags.count("script") == 1 and PWNED not in "".join(page.scripts)
    assert page.tags.count("img") == images
    srcs = [value or "" for name, value in page.attrs if name == "src"]
    assert len(srcs) == images and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not page.comments
    assert page.title == f"ganhub report: {DIR_NAME}"
    return page


def test_a_crafted_run_directory_injects_no_markup(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = crafted_run(tmp_path)
    code, _, err = cli("report", str(run))
    assert code == 0, err
    text = (run / "report.html").read_text(encoding="utf-8")
    plots = len(list((run / "report").glob("*.png")))
    assert plots == 5  # losses, discriminator, grad_norms, diversity, metrics
    page = assert_inert(text, images=plots + 2)
    shown = " ".join(page.text)
    # every payload is on the page as text, escaped by the engine
    for payload in PAYLOADS:
        assert payload in shown, payload
    assert f"ganhub report: {DIR_NAME}" in shown  # the h1
    assert f"samples/{SAMPLE_NAME}: skipped (not named step_<N>.png)" in shown
    assert "&lt;script&gt;document.title=&#39;PWNED&#39;&lt;/script&gt;" in text
    assert "eval.json: 1 result without a numeric mean/std left out" in shown
    assert (
        "Possible mode collapse flagged at steps 4; try a lower optim.G.lr, or the r1 trick"
        in shown
    )
    assert "4 steps logged" in shown and "without a whole-number 'step' (line 4)" in shown
    saved = tmp_path / "with_eval.html"
    saved.write_text(text, encoding="utf-8")

    # without a usable eval.json the table shows the logged evaluation: keys and string values
    (run / "eval.json").write_text(json.dumps(list(PAYLOADS)))
    code, _, err = cli("report", str(run))
    assert code == 0, err
    text = (run / "report.html").read_text(encoding="utf-8")
    page = assert_inert(text, images=plots + 2)
    shown = " ".join(page.text)
    assert "eval.json: ignored (not a JSON object)" in shown
    assert "last evaluation during training (step 4)" in shown
    cells = [d for d in page.text if d.strip()]
    assert PAYLOADS[1] in cells and PAYLOADS[3] in cells and PAYLOADS[4] in cells  # key, value

    # the browser: the pages load, our script runs, no payload runs or becomes an element
    for n, html_page in enumerate((saved, run / "report.html")):
        dom = dump_dom(html_page, tmp_path / f"profile{n}")
        seen = Page(dom)
        assert seen.title == f"ganhub report: {DIR_NAME}", seen.title
        assert not {"svg", "iframe", "textarea"} & set(seen.tags)
        assert set(seen.tags) <= OUR_TAGS | {"tbody"}, set(seen.tags) - OUR_TAGS
        assert not [name for name, _ in seen.attrs if name.startswith("on")]
        assert seen.tags.count("img") == plots + 2 and seen.tags.count("script") == 1
        assert f'data-images-ok="{plots + 2}"' in dom and 'data-images-broken="0"' in dom
        assert PAYLOADS[0] in " ".join(seen.text)


def test_the_browser_check_catches_a_payload_that_runs(tmp_path: Path) -> None:
    """The control: the same payloads, unescaped, do change the title in this browser."""
    page = tmp_path / "raw.html"
    page.write_text(f"<!doctype html><title>ganhub report: x</title><p>{PAYLOADS[1]}</p>")
    dom = dump_dom(page, tmp_path / "profile")
    assert Page(dom).title == PWNED and "onerror" in dom


def test_malformed_run_files_are_skipped_with_a_note(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = tmp_path / "runs" / "odd"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("plugin: toy2d\nloss: nonsaturating\nseed: 0x" + "f" * 20000)
    lines = [
        b'{"step": 1, "loss/D": 1.0}',
        b"[1, 2, 3]",  # 2: not an object
        b'"<b>text</b>"',  # 3
        b"null",  # 4
        b"{not json <script>",  # 5
        b'{"loss/D": 2.0}',  # 6: no step
        b'{"step": "7", "loss/D": 2.0}',  # 7
        b'{"step": true, "loss/D": 2.0}',  # 8
        b'{"step": 9, "loss/D": "<i>high</i>", "loss/G": NaN, "loss/E": 1e400, "loss/F": 1e300}',
        b'{"step": 10, "loss/D": 0.5, "loss/G": ' + b"9" * 5000 + b"}",  # 10: over int digits
        b'{"step": 11, "pad": "' + b"x" * (3 << 20) + b'"}',  # 11: a 3 MiB line
        b"[" * 100_000,  # 12: nesting deeper than the recursion limit
        b'{"step": 13, "loss/D": "\xff\xfe"}',  # 13: not UTF-8
        b'{"step": 14, "loss/D": 0.25, "loss/G": 0.5}',
        b'{"step": 15, "loss/D": 0.2',  # half-written last line: ignored quietly
    ]
    (run / "metrics.jsonl").write_bytes(b"\n".join(lines))
    (run / "eval.json").write_text("{bad json")
    (run / "report").mkdir()
    secret = png(tmp_path / "outside" / "secret.png")
    (run / "report" / ".losses.png.tmp.png").symlink_to(secret)  # the old fixed temp name
    png(run / "samples" / "step_0000014.png")
    (run / "samples" / "step_0000003.png").write_text("<script>alert(1)</script>")
    (run / "samples" / "step_0000005.png").symlink_to(secret)
    (run / "samples" / "step_12abc.png").write_bytes(b"")
    before = secret.read_bytes()
    code, _, err = cli("report", str(run))
    assert code == 0, err
    assert secret.read_bytes() == before  # nothing was written through a planted link
    text = (run / "report.html").read_text(encoding="utf-8")
    page = assert_inert_plain(text)
    shown = "\n".join(page.text)
    for note in (
        "metrics.jsonl: skipped 3 lines not a JSON object (line 2, 3, 4)",
        "metrics.jsonl: skipped 4 lines not valid JSON (line 5, 10, 12, 13)",
        "metrics.jsonl: skipped 3 lines without a whole-number 'step' (line 6, 7, 8)",
        "metrics.jsonl: skipped 1 line longer than 1 MiB (line 11)",
        "not finite or beyond ±1e30 were not plotted (keys loss/D, loss/E, loss/F, loss/G)",
        "eval.json: ignored (not valid JSON)",
        "samples/step_0000003.png: skipped (not a PNG file)",
        "samples/step_0000005.png: skipped (not a regular file inside the run directory)",
        "samples/step_12abc.png: skipped (not named step_<N>.png)",
    ):
        assert note in shown, (note, shown)
    assert "seed <integer of 80000 bits>" in shown
    assert "14 steps logged" in shown and "step 14" in shown
    assert (run / "report" / "losses.png").is_file()
    assert page.tags.count("img") == 2  # the losses plot and the one good sample
    assert "<i>" not in text and "<script>alert" not in text
    assert not list(run.glob(".*")) and not list((run / "report").glob(".*.tmp")), "temp files"


def assert_inert_plain(text: str) -> Page:
    page = Page(text)
    assert set(page.tags) <= OUR_TAGS and page.tags.count("script") == 1
    assert {name for name, _ in page.attrs} <= OUR_ATTRS
    return page


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"- plugin\n- toy2d\n", "expected a mapping of config keys, got list"),
        (b"<script>alert(1)</script>\n", "expected a mapping of config keys, got str"),
        (b"plugin: [toy2d\n", "not valid YAML"),
        (b"plugin: \xff\xfe\n", "not UTF-8 text"),
        (b"!!python/object/apply:os.system ['echo hi']\n", "not valid YAML"),
        (b"a: " + b"[" * 50_000, "not valid YAML"),
    ],
)
def test_a_config_that_is_not_a_mapping_is_a_one_line_error(
    cli, tmp_path: Path, content: bytes, message: str
) -> None:  # type: ignore[no-untyped-def]
    run = tmp_path / "runs" / "bad"
    run.mkdir(parents=True)
    (run / "config.yaml").write_bytes(content)
    code, out, err = cli("report", str(run))
    assert code == 2 and not out, err
    assert err.count("\n") == 1 and err.startswith("ganhub: error: "), err
    assert f"{run / 'config.yaml'}: {message}" in err
    assert not (run / "report.html").exists()


def test_a_linked_plot_folder_is_refused(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = tmp_path / "runs" / "linked"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("plugin: toy2d\n")
    (run / "metrics.jsonl").write_text('{"step": 1, "loss/D": 1.0}\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (run / "report").symlink_to(elsewhere)
    code, _, err = cli("report", str(run))
    assert code == 2 and err.count("\n") == 1 and "a link or a file, not a folder" in err
    assert not list(elsewhere.iterdir())


def test_sample_grids_never_write_through_a_planted_link(tmp_path: Path) -> None:
    import torch

    from ganhub.data.images import save_image_grid

    secret = tmp_path / "secret.txt"
    secret.write_text("keep")
    samples = tmp_path / "run" / "samples"
    samples.mkdir(parents=True)
    (samples / ".step_0000010.png.tmp.png").symlink_to(secret)  # the old fixed temp name
    (samples / "step_0000010.png").symlink_to(secret)  # the grid's own name
    path = save_image_grid(torch.zeros(4, 1, 8, 8), samples / "step_0000010.png")
    assert secret.read_text() == "keep"
    assert not path.is_symlink() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_eval_json_older_than_the_last_logged_evaluation_is_not_shown_as_final(
    tmp_path: Path,
) -> None:
    """The report preferred eval.json whatever step it scored, so a run that trained on after
    `ganhub eval` showed the older weights' scores as its results."""
    from ganhub.metrics.rundata import final_metrics

    scored = {"step": 4, "seeds": [0], "n_samples": 8, "results": {"fid": {"mean": 9.0, "std": 0}}}
    (tmp_path / "eval.json").write_text(json.dumps(scored))
    records = [{"step": 4, "eval/fid": 12.0}, {"step": 8, "loss": 1.0}]
    notes: list[str] = []
    caption, rows = final_metrics(tmp_path, records, notes)
    assert caption.startswith("ganhub eval: step 4") and rows[0][0] == "fid"
    assert notes == ["eval.json scored step 4; the run trained to step 8 since"]
    notes = []
    caption, rows = final_metrics(tmp_path, [*records, {"step": 8, "eval/fid": 7.5}], notes)
    assert caption == "last evaluation during training (step 8)" and rows == [("fid", "7.5")]
    assert (
        notes and "eval.json scored step 4, before the run's last evaluation (step 8)" in notes[0]
    )


def test_a_refused_destination_writes_no_plots(cli, trained_run: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`--out /dev/null` was refused only after the plots were written into RUN_DIR/report."""
    run = tmp_path / "copy"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("report*"))
    for out in ("/dev/null", str(run / "config.yaml" / "page.html")):
        code, _, err = cli("report", str(run), "--out", out)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert not (run / "report").exists()


def test_out_as_a_folder_takes_report_html(cli, trained_run: Path, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    """`--out newdir/` wrote a file named `newdir` (Path drops the trailing slash), and an
    existing folder was refused by click; both mean report.html inside the folder."""
    (workdir / "there").mkdir()
    for out, page in (("newdir/", workdir / "newdir" / "report.html"),
                      ("there", workdir / "there" / "report.html")):  # fmt: skip
        code, stdout, err = cli("report", str(trained_run), "--out", out)
        assert code == 0, err
        assert Path(stdout.strip()) == Path(out) / "report.html" and page.is_file()
        assert "<html" in page.read_text().lower()
    code, _, err = cli("report", str(trained_run), "--out", "")
    assert code == 2 and "--out is empty" in err and len(err.strip().splitlines()) == 1, err
    code, help_text, _ = cli("report", "--help")
    assert "ending in /" in " ".join(help_text.split())


def test_out_never_replaces_a_file_of_the_run(cli, trained_run: Path) -> None:  # type: ignore[no-untyped-def]
    """`report --out` and `interpret features --out` pointed at the run's config.yaml or
    metrics.jsonl overwrote it (every later command failed on the run): refused in one line,
    the file untouched; a new page or an earlier one inside the run is still written."""
    for name in ("config.yaml", "metrics.jsonl"):
        before = (trained_run / name).read_bytes()
        for command in (["report"], ["interpret", "features"]):
            code, _, err = cli(*command, str(trained_run), "--out", str(trained_run / name))
            assert code == 2 and f"would replace the run's own file '{name}'" in err, err
            assert len(err.strip().splitlines()) == 1
            assert (trained_run / name).read_bytes() == before
    for _ in range(2):  # a new page, then the same page again
        code, out, err = cli("report", str(trained_run), "--out", str(trained_run / "notes.html"))
        assert code == 0 and Path(out.strip()) == trained_run / "notes.html", err
