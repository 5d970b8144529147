"""cyclegan data and epochs: an epoch is one pass over the data whatever the number of torchrun
processes, A|B pairs of odd width train (split at width // 2, as the original's
aligned_dataset.py), and what the load resize does to an image is one data-check note."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from ganhub_cyclegan.data import DomainData
from ganhub_cyclegan.folder import read_training

import ganhub
from ganhub.config.resolve import resolve
from ganhub.errors import UsageError

from .test_cyclegan import TINY, TINY_FOLDER
from .test_cyclegan_audit5 import FOLDER_NO_STEPS, _noise, _png
from .test_cyclegan_data import _findings, _report

pytestmark = pytest.mark.usefixtures("one_thread")

NO_STEPS = [a for a in TINY if not a.startswith("trainer.steps=")]


def _torchrun(monkeypatch: pytest.MonkeyPatch, world: int, rank: int = 0) -> None:
    """The environment torchrun gives one of `world` processes (the config is resolved there)."""
    for key, value in (("WORLD_SIZE", world), ("RANK", rank), ("LOCAL_RANK", rank),
                       ("LOCAL_WORLD_SIZE", world), ("MASTER_ADDR", "127.0.0.1"),
                       ("MASTER_PORT", 29500)):  # fmt: skip
        monkeypatch.setenv(key, str(value))


# -- 1. epochs=E is E passes over the data, however many processes share them ------------------


def _unpaired(root: Path, n: int = 9) -> Path:
    for side in "AB":
        for i in range(n):
            _png(root / f"train{side}" / f"{i}.png", _noise(i + (50 if side == "B" else 0), 20, 20))
    return root


@pytest.mark.parametrize("world", [1, 2, 4])
def test_an_epoch_is_one_pass_over_the_folder_on_any_number_of_processes(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, world: int
) -> None:
    """9 images at batch 2: one process takes 4 batches an epoch, each of 2 processes 2 (its
    4 images), each of 4 one. trainer.steps was 8 on any number, so 2 processes trained 4
    epochs and 4 processes 8 where epochs=1 epochs_decay=1 asked for 2."""
    root = _unpaired(workdir / "data")
    _torchrun(monkeypatch, world, rank=world - 1)
    config = resolve([*FOLDER_NO_STEPS, f"data.path={root}", "epochs=1", "epochs_decay=1"])
    assert config.trainer.steps == {1: 8, 2: 4, 4: 2}[world]
    for rank in range(world):  # each process's loader ends its second pass with the run
        source = DomainData(config).training()
        batches = source.batches(2, torch.device("cpu"), seed=config.seed, rank=rank, world=world)
        for _ in range(config.trainer.steps):
            next(batches)
        per_epoch = source.check_batch_size(2, world)
        assert (source.position.epoch, source.position.index) == (1, per_epoch)


def test_an_epoch_of_the_embedded_digits_is_shared_by_the_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _torchrun(monkeypatch, 4, rank=2)
    config = resolve([*NO_STEPS, "trainer.batch_size=5", "epochs=1", "epochs_decay=1"])
    per_epoch = DomainData(config).training().check_batch_size(5, 4)  # each process's batches
    assert per_epoch == 4984 // 4 // 5 and config.trainer.steps == 2 * per_epoch
    assert config.trick.lr_schedule.start == 0.5  # type: ignore[attr-defined]


def test_a_malformed_world_size_counts_one_process_and_the_run_names_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Resolving the config does not fail on it; the run refuses it (DistInfo.from_env)."""
    monkeypatch.setenv("WORLD_SIZE", "two")
    config = resolve([*NO_STEPS, "trainer.batch_size=500", "epochs=1", "epochs_decay=1"])
    assert config.trainer.steps == 2 * (4984 // 500)


@pytest.mark.slow
def test_a_torchrun_run_given_in_epochs_trains_that_many_passes(workdir: Path) -> None:
    """2 processes on 9 images at batch 2: 2 steps an epoch each, so 2 epochs are 4 steps
    (8 before: 4 passes over the data)."""
    root = _unpaired(workdir / "data")
    args = [*FOLDER_NO_STEPS, f"data.path={root}", "epochs=1", "epochs_decay=1", "name=dd"]
    proc = subprocess.run(
        [shutil.which("torchrun") or "torchrun", "--nproc_per_node=2", "--standalone",
         "-m", "ganhub", "run", *args],
        env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    config = yaml.safe_load((workdir / "runs" / "dd" / "config.yaml").read_text())
    assert config["trainer"]["steps"] == 4
    lines = (workdir / "runs" / "dd" / "metrics.jsonl").read_text().splitlines()
    assert max(json.loads(line).get("step", 0) for line in lines) == 4


# -- 2. A|B pairs of odd width train, split at width // 2 as the original's --------------------


def _odd_pairs(root: Path) -> Path:
    """train/ and test/: 41x20 pairs (A 20 px, B 21 px wide) and one even 40x20 pair."""
    for k, folder in enumerate(("train", "test")):
        for i in range(3):
            _png(root / folder / f"odd{i}.png", _noise(10 * k + i, 20, 41))
        _png(root / folder / "even.png", _noise(10 * k + 9, 20, 40))
    return root


def test_an_odd_width_pair_is_split_at_half_its_width(tmp_path: Path) -> None:
    x = _noise(0, 20, 41)
    a, b = read_training(_png(tmp_path / "odd.png", x), 3, pairs=True)
    assert a.shape == (3, 20, 20) and b.shape == (3, 20, 21)  # the original: B is the wider
    want = torch.from_numpy(x[:, 20:]).permute(2, 0, 1).float() / 127.5 - 1
    assert torch.allclose(b, want, atol=1e-5)


def test_a_folder_of_odd_width_pairs_trains_and_translates_with_pairs(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """They were refused ("41x20 has an odd width: an A|B pair is two halves of equal width")."""
    root = _odd_pairs(workdir / "data")
    summary = ganhub.train([*TINY_FOLDER, f"data.path={root}", "task=paired", "trainer.steps=3"])
    assert summary["steps"] == 3
    code, _, err = cli("cyclegan", "translate", summary["run_dir"], "--input", str(root / "test"),
                       "--out", str(workdir / "out"), "--pairs")  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in (workdir / "out").iterdir()) == [
        "even.png", "odd0.png", "odd1.png", "odd2.png"
    ]  # fmt: skip


def test_data_check_notes_odd_width_pairs_and_clean_keeps_them(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    root = _odd_pairs(workdir / "data")
    report = _report(root, "task=paired")
    found = _findings(report)
    (odd,) = found["train/odd0.png"]  # one note: not also "not square" for B's 21 px
    assert odd[:2] == ("note", "convert") and "odd width (41x20): split at 20 px" in odd[2]
    assert "even.png" not in str(found) and not report.dropped()
    code, out, err = cli("data", "clean", str(root), "plugin=cyclegan", "task=paired",
                         "model.image_size=16", "--out", str(workdir / "clean"))  # fmt: skip
    assert code == 0, out + err
    assert len(list((workdir / "clean" / "train").iterdir())) == 4  # every pair kept


def test_a_pair_one_pixel_wide_is_refused_in_one_line(workdir: Path) -> None:
    """It has no A half; the loader and data check refuse it by name."""
    root = _odd_pairs(workdir / "data")
    _png(root / "train" / "thin.png", _noise(3, 20, 1))
    with pytest.raises(UsageError, match=r"thin.png': 1 px wide: an A\|B pair needs at least 2"):
        read_training(root / "train" / "thin.png", 3, pairs=True)
    found = _findings(_report(root, "task=paired"))
    assert found["train/thin.png"] == [
        ("error", "drop", "1 px wide: an A|B pair needs at least 2 px, one per half")
    ]


# -- 3. a small image that is not square: one note that says both ------------------------------


def test_a_small_non_square_image_gets_one_note_saying_both(workdir: Path) -> None:
    root = workdir / "data"
    for side in "AB":
        for i in range(4):
            _png(root / f"train{side}" / f"{i}.png", _noise(i + ord(side), 20, 20))
    _png(root / "trainA" / "small_wide.png", _noise(7, 10, 14))  # small and stretched
    _png(root / "trainA" / "small_square.png", _noise(8, 10, 10))
    _png(root / "trainA" / "large_wide.png", _noise(9, 20, 30))
    found = _findings(_report(root))
    (note,) = found["trainA/small_wide.png"]
    assert note[:2] == ("note", "keep")
    assert note[2].startswith("smaller than the 16 px crop (14x10): upscaled 1.8x to 18x18")
    assert "(blurred) and stretched (not square)" in note[2]
    (note,) = found["trainA/small_square.png"]
    assert note[2].startswith("smaller than the 16 px crop (10x10)") and "stretched" not in note[2]
    assert found["trainA/large_wide.png"] == [
        ("note", "keep", "not square (30x20): stretched to 18x18")
    ]
