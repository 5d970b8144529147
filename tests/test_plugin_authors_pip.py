"""When ganhub runs from another Python than the active virtualenv's (a venv made with
--system-site-packages has no `ganhub` command, so the shell runs the base one), a bare
`pip install -e ...` would install into the virtualenv, where this ganhub never looks: the
advice names the interpreter ganhub runs from."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from ganhub.failed_providers import not_installed

OURS = f"{shlex.quote(sys.executable)} -m pip install -e"

PYPROJECT = """\
[project]
name = "ganhub-orbit"
version = "0.1.0"

[project.entry-points.ganhub]
orbit = "ganhub_orbit"
"""


def test_a_plugin_that_is_not_installed_is_installed_with_ganhubs_python(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "ganhub-orbit").mkdir()
    (workdir / "ganhub-orbit" / "pyproject.toml").write_text(PYPROJECT)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    assert not_installed("orbit_hinge").endswith("not installed: pip install -e ganhub-orbit")
    monkeypatch.setenv("VIRTUAL_ENV", sys.prefix)  # the active env is ganhub's own
    assert not_installed("orbit_hinge").endswith("not installed: pip install -e ganhub-orbit")
    monkeypatch.setenv("VIRTUAL_ENV", str(workdir / "venv"))
    assert not_installed("orbit_hinge").endswith(f"not installed: {OURS} ganhub-orbit")


def test_new_plugin_installs_with_ganhubs_python_outside_the_active_virtualenv(
    cli: Any, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIRTUAL_ENV", str(workdir / "venv"))
    code, out, err = cli("new-plugin", "sig2d")
    assert code == 0, err
    assert f"\n  {OURS} ganhub-sig2d\n" in out
    monkeypatch.delenv("VIRTUAL_ENV")
    code, out, err = cli("new-plugin", "sig3d")
    assert code == 0, err
    assert "\n  pip install -e ganhub-sig3d\n" in out


def test_a_mended_entry_point_is_installed_again_with_ganhubs_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An editable install (its dist-info's direct_url.json) whose entry point needs mending."""
    from ganhub.plugin_fixes import entry_point_fix

    info = tmp_path / "site" / "ganhub_orbit-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ganhub-orbit\nVersion: 0.1.0\n")
    project = tmp_path / "ganhub-orbit"
    url = {"url": project.as_uri(), "dir_info": {"editable": True}}
    (info / "direct_url.json").write_text(json.dumps(url))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    assert entry_point_fix("ganhub-orbit").endswith(f"install it again: pip install -e {project}")
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "venv"))
    assert entry_point_fix("ganhub-orbit").endswith(f"install it again: {OURS} {project}")
