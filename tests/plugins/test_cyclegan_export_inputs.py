"""The export of a cyclegan folder run, after a user audit: `ganhub sample EXPORT` said "this
run keeps no sample inputs (saved before runs kept them)", wrong for an export, which leaves them
out on purpose; the export's note sent users to `ganhub sample RUN_DIR`, which an export is not;
and `ganhub sample EXPORT data.path=FOLDER` wrote images made from the data into the export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ganhub

from .test_cyclegan import TINY_FOLDER, _png

pytestmark = pytest.mark.usefixtures("one_thread")


def _unpaired(root: Path) -> Path:
    """trainA/ trainB/ testA/ testB/ of a few noise images."""
    rng = np.random.default_rng(0)
    for side, n in {"trainA": 4, "trainB": 4, "testA": 2, "testB": 2}.items():
        for i in range(n):
            _png(root / side / f"{i}.png", rng.integers(0, 255, (20, 20, 3), dtype=np.uint8))
    return root


def test_an_export_says_it_holds_no_inputs_and_samples_outside_itself(
    workdir: Path, cli: Any
) -> None:
    data = _unpaired(workdir / "h2z")
    run_dir = ganhub.train(
        [*TINY_FOLDER, "trainer.steps=1", "data.load_size=18", f"data.path={data}"]
    )
    code, out, err = cli("export", run_dir["run_dir"], "--format", "onnx", "--out", "e")
    assert code == 0, err
    export = Path(out.strip())
    for said in (err, (export / "README.md").read_text()):  # the note, and the card's
        assert "ganhub sample EXPORT data.path=FOLDER" in " ".join(said.split()), said
    code, _, err = cli("sample", str(export))
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("ganhub: error: an export holds no sample inputs"), err
    assert "saved before runs kept them" not in err and "data.path=FOLDER" in err
    code, out, err = cli("sample", str(export), "--n", "2", f"data.path={data}")
    assert code == 0, err
    assert not (export / "samples").exists()  # the export stays free of the data
    assert [Path(p) for p in out.split()] == [Path("samples-e") / "sample_seed0_n2.png"]
    assert (workdir / "samples-e" / "sample_seed0_n2.png").is_file()
    assert err.count("\n") == 1 and "'samples-e', not in the export" in err, err
    code, out, err = cli("sample", str(export), "--n", "2", "--out", "mine", f"data.path={data}")
    assert code == 0 and out.strip() == str(Path("mine") / "sample_seed0_n2.png"), err
