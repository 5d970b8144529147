"""`ganhub adapt` of a meta run trained with few shots, on a folder of images (which takes
no data.n_shots): it said the adapted run took the tasks' shots, then that it had no use for
them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]


def test_adapting_a_few_shot_meta_run_to_a_folder_claims_no_shots(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    from ganhub.adapt import adapt_config

    code, _, err = cli("meta", "plugin=dcgan", "preset=tiny", "meta.classes=[0,1]",
                       "meta.outer_steps=1", "meta.inner_steps=1", "data.n_shots=4",
                       "trainer.batch_size=4", "loggers=[jsonl]", "trainer.progress=false",
                       "eval.metrics=[]", "name=m")  # fmt: skip
    assert code == 0, err
    folder = workdir / "few"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):  # RGB JPEGs of another size than the run's
        Image.fromarray((rng.random((40, 40, 3)) * 255).astype("uint8")).save(folder / f"{i}.jpg")
    notes: list[str] = []
    config = adapt_config(workdir / "runs" / "m", [
        "data=folder", f"data.path={folder}", "data.classes=null", "data.channels=1",
        "eval.metrics=[]"], notes=notes)  # fmt: skip
    assert config.model_dump()["data"].get("n_shots") is None  # all five images are trained on
    assert not any("data.n_shots=4" in n for n in notes), notes
    # on the digits the tasks' shots are still the default, and said so
    notes = []
    config = adapt_config(workdir / "runs" / "m", ["data.classes=[8]"], notes=notes)
    assert config.data.n_shots == 4  # type: ignore[attr-defined]
    assert any(n.startswith("data.n_shots=4: the shots each task") for n in notes), notes
