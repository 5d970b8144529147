"""`ganhub report`: the HTML page, its PNG plots, and what a real headless browser shows."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import TINY_TOY

BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium() -> str:
    """Debian's chromium (installed by .ci/run when missing)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no chromium on PATH (apt-get install chromium; .ci/run installs it)")


def dump_dom(page: Path, profile: Path) -> str:
    """The DOM after load (scripts run) as headless Chromium renders it."""
    proc = subprocess.run(
        [
            chromium(),
            *BROWSER_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


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
    assert "ganhub eval: step 8, 2 seed(s) x 200 samples" in text and " ± " in text


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
    assert 'data-images-broken="1"' in dom and "1 image(s) failed to load." in dom


def test_report_of_a_run_without_logs_still_renders(cli, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    run = workdir / "runs" / "empty"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("plugin: toy2d\nloss: nonsaturating\nseed: 0\n")
    code, out, err = cli("report", str(run))
    assert code == 0, err
    text = Path(out.strip()).read_text()
    assert "No metrics logged yet." in text and "No sample images yet." in text
    code, _, err = cli("report", str(workdir))
    assert code == 2 and "not a ganhub run directory" in err
