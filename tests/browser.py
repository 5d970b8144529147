"""Open a page in a real headless browser (Debian's chromium) and read the DOM it renders.

Pages written by ganhub (`ganhub report`, `ganhub interpret`) carry a load script that records
on <body> how many images decoded (`data-images-ok`, `data-images-broken`); tests read those.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

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


def image_counts(dom: str) -> tuple[int, int]:
    """(decoded, broken) images as the page's load script recorded them on <body>."""
    body = re.search(r"<body[^>]*>", dom)
    assert body, dom[:500]
    ok = re.search(r'data-images-ok="(\d+)"', body.group(0))
    broken = re.search(r'data-images-broken="(\d+)"', body.group(0))
    assert ok and broken, f"the page's load script did not run: {body.group(0)}"
    return int(ok.group(1)), int(broken.group(1))
