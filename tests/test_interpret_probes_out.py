"""`ganhub interpret probes --out`: probes.json went to RUN_DIR/interpret/ (for an export,
./interpret-EXPORT/) with no choice, while the other interpret commands take --out. A folder
takes probes.json, as theirs takes the page; a user's file or the run's checkpoints/ is
refused in one line before any work."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")
Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)


def test_probes_out_names_the_json_file_or_its_folder(cli: Cli, workdir: Path) -> None:
    code, _, err = cli("run", *TINY_DCGAN, "trainer.steps=1", "data=shapes", "name=s")
    assert code == 0, err
    run = workdir / "runs" / "s"
    code, out, err = cli("interpret", "probes", str(run), "--samples", "40", "--out", "mine/")
    assert code == 0, err
    saved = json.loads((workdir / "mine" / "probes.json").read_text())
    assert saved["layers"][0]["name"] == "code" and (saved["n_train"], saved["n_test"]) == (30, 10)
    assert out.splitlines()[-1] == str(Path("mine") / "probes.json")
    assert not (run / "interpret").exists()  # nothing written where --out did not say
    # a user's file, the run's own file, its checkpoints/: one line, before any work
    (workdir / "notes.json").write_text("{}")
    for bad, says in (
        ("notes.json", "exists and is not a probes.json ganhub wrote"),
        (str(run / "config.yaml"), "exists and is not a probes.json ganhub wrote"),
        (str(run / "checkpoints" / "p.json"), "checkpoints/ folder"),
        ("", "--out is empty"),
    ):
        code, out, err = cli("interpret", "probes", str(run), "--out", bad)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, (bad, err)
        assert says in err, (bad, err)
    assert (workdir / "notes.json").read_text() == "{}"
    code, out, _ = cli("interpret", "probes", "--help")
    assert code == 0 and "takes probes.json" in " ".join(out.split())
