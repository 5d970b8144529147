"""Ctrl-C or SIGTERM during `ganhub export --format onnx`: torch's exporter wraps the interruption
in its own error, which must not become "could not be exported" (exit 1) but stay an
interruption (exit 130 or 143); an exporter's message reaches the terminal without its colours."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import ganhub
from ganhub.errors import GanhubError
from ganhub.export import export_run

from .conftest import TINY_TOY


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    return Path(ganhub.train([*TINY_TOY, f"out_dir={root}", "name=t"])["run_dir"])


def _wrapping(interruption: BaseException) -> Any:
    """torch.onnx.export as it fails when the interruption arrives inside it."""

    def export(*args: object, **kwargs: object) -> None:
        try:
            raise interruption
        except BaseException as exc:
            raise RuntimeError("Failed to export the model with torch.export.") from exc

    return export


def test_ctrl_c_inside_the_onnx_exporter_is_an_interruption(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    """It printed `ganhub: error: the 'toy2d' generator could not be exported as onnx` (exit 1)."""
    monkeypatch.setattr(torch.onnx, "export", _wrapping(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        export_run(trained, "onnx", out=tmp_path / "x")
    code, _, err = cli("export", str(trained), "--format", "onnx", "--out", str(tmp_path / "y"))
    assert code == 130 and "could not be exported" not in err, err
    assert list(tmp_path.iterdir()) == []  # no scratch folder left


def test_an_exporter_error_whose_chain_loops_is_one_line(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def export(*args: object, **kwargs: object) -> None:
        inner, outer = RuntimeError("inner"), RuntimeError("unsupported operator")
        outer.__context__, inner.__context__ = inner, outer  # the walk must end
        raise outer

    monkeypatch.setattr(torch.onnx, "export", export)
    with pytest.raises(GanhubError, match="could not be exported as onnx: unsupported operator"):
        export_run(trained, "onnx", out=tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


_TERMINATED_INSIDE_THE_EXPORTER = """
import sys
import torch
import ganhub.export
from ganhub.interrupts import Terminated

def export(*args, **kwargs):
    try:
        raise Terminated
    except BaseException as exc:
        raise RuntimeError("Failed to export the model") from exc

torch.onnx.export = export
ganhub.export.export_run(sys.argv[1], "onnx", out=sys.argv[2])
"""


def test_sigterm_inside_the_onnx_exporter_ends_the_process_by_sigterm(
    trained: Path, tmp_path: Path
) -> None:
    script, out = _TERMINATED_INSIDE_THE_EXPORTER, str(tmp_path / "x")
    args = [sys.executable, "-c", script, str(trained), out]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert "could not be exported" not in done.stderr and list(tmp_path.iterdir()) == []


def test_an_exporter_message_reaches_the_terminal_without_its_colours(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch's exporter colours its messages: the error line showed `\\x1b[96m` escapes."""

    def export(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Failed. \x1b[96mThis is step 1/3\x1b[0m of exporting\x1b")

    monkeypatch.setattr(torch.onnx, "export", export)
    with pytest.raises(GanhubError) as caught:
        export_run(trained, "onnx", out=tmp_path / "x")
    message = str(caught.value)
    assert message.endswith("as onnx: Failed. This is step 1/3 of exporting"), message
    assert "\x1b" not in message and "x1b" not in message
