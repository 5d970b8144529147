"""What `ganhub adapt` scores an adaptation to a folder of a few images with: fid on Inception
over 1,000 samples against 5 images (a covariance of rank 4, and over 10 minutes on a 2-core
CPU); it now scores kid on samples sized to the references, and keeps the user's eval keys."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ganhub
from ganhub.adapt import adapt_config
from ganhub.adapt_eval import FEW_REFERENCES, SAMPLES_PER_REFERENCE

from .conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")


def _trained(name: str) -> Path:
    """A tiny dcgan run of 2 steps on the digits 0-6; its directory."""
    summary = ganhub.train([*TINY_DCGAN, f"name={name}", "data.classes=[0,1,2,3,4,5,6]"])
    return Path(summary["run_dir"])


def _folder(where: Path, n: int) -> list[str]:
    """A folder of `n` grey 32 px images; the keys that adapt a digits run to it."""
    where.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray((rng.random((32, 32)) * 255).astype("uint8"), "L").save(where / f"{i}.png")
    return ["data=folder", f"data.path={where}", "data.classes=null", "data.channels=1"]


def test_adapting_to_five_images_scores_kid_on_samples_sized_to_them(workdir: Path) -> None:
    """The default was fid (Inception, 1,000 samples) against the 5 images."""
    source = _trained("src")
    keys = _folder(workdir / "five", 5)
    notes: list[str] = []
    config = adapt_config(source, keys, notes=notes)
    assert config.eval.metrics == ["kid"]
    assert config.eval.n_samples == SAMPLES_PER_REFERENCE * 5
    assert config.trainer.keep_best is not None and config.trainer.keep_best.startswith("kid")
    assert config.trainer.patience is not None
    said = [n for n in notes if n.startswith("eval.metrics=[kid]: ")]
    assert len(said) == 1 and "against the 5 training images" in said[0], notes
    assert "rank 4 at most" in said[0] and "eval.metrics=[fid]" in said[0]
    # on a local feature network: its kernel distance, kd_<net>
    local = adapt_config(source, [*keys, "eval.features=[digits]"])
    assert local.eval.metrics == ["kid"] and local.trainer.keep_best == "kd_digits"


def test_the_users_eval_keys_are_kept_with_few_images(workdir: Path) -> None:
    source = _trained("src")
    keys = _folder(workdir / "five", 5)
    typed = adapt_config(source, [*keys, "eval.metrics=[fid]"])  # asked for: fid, as before
    assert typed.eval.metrics == ["fid"] and typed.eval.n_samples == 1000
    assert typed.trainer.keep_best is not None and typed.trainer.keep_best.startswith("fid")
    counted = adapt_config(source, [*keys, "eval.n_samples=40", "eval.features=[digits]"])
    assert counted.eval.metrics == ["kid"] and counted.eval.n_samples == 40
    kept = adapt_config(source, [*keys, "trainer.keep_best=null", "eval.features=[digits]"])
    assert kept.trainer.keep_best is None and kept.eval.metrics == ["kid"]


def test_enough_references_keep_the_frechet_distance(workdir: Path) -> None:
    """The digits' held-out eights (hundreds) and a folder of FEW_REFERENCES images keep fid."""
    source = _trained("src")
    eights = adapt_config(source, ["data.classes=[8]"])
    assert eights.eval.real == "validation" and eights.trainer.keep_best == "fd_digits"
    assert eights.eval.n_samples == 1000 and "kid" not in (eights.eval.metrics or [])
    keys = _folder(workdir / "many", FEW_REFERENCES)
    many = adapt_config(source, [*keys, "eval.features=[digits]", "trainer.batch_size=8"])
    assert many.trainer.keep_best == "fd_digits" and many.eval.n_samples == 1000


@pytest.mark.slow  # the digit classifier trains once per test session (a minute or more)
def test_adapt_to_a_few_images_runs_and_keeps_the_best_kernel_distance(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    source = _trained("src")
    keys = _folder(workdir / "five", 5)
    code, _, err = cli("adapt", str(source), *keys, "eval.features=[digits]", "trainer.steps=2",
                       "trainer.eval_every=1", "trainer.progress=false", "name=few")  # fmt: skip
    assert code == 0, err
    assert (
        "ganhub adapt: eval.metrics=[kid]: the adapted run keeps the best kd_digits on 100 "
        "samples against the 5 training images; fid against fewer than 100" in err
    )
    rows = [
        json.loads(line) for line in (workdir / "runs/few/metrics.jsonl").read_text().splitlines()
    ]
    scored = [r for r in rows if "eval/kd_digits" in r]
    assert len(scored) == 2 and all(r["eval/n_samples"] == 100 for r in scored)
    assert "fd_digits" not in json.dumps(rows)
    assert (workdir / "runs/few/checkpoints").is_dir()
