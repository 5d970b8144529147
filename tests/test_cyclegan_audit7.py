"""cyclegan audit 7: epochs recounted on resume (`recount_epochs`, no training here: the runs
are in tests/plugins/test_cyclegan_world.py) and pix2pix folders laid out as aligned A and B
images, which task=paired refused without saying how to make its A|B pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ganhub_cyclegan.defaults import recount_epochs
from PIL import Image

from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError

EPOCHS = ["plugin=cyclegan", "epochs=100", "epochs_decay=100", "trainer.batch_size=1"]


def _config(steps: int):  # type: ignore[no-untyped-def]
    config = resolve(EPOCHS)
    config.trainer.steps = steps  # as counted where the run started
    return config


def test_a_run_on_four_processes_resumed_on_one_after_50_epochs() -> None:
    """1,000 images: 250 steps an epoch on 4 processes (50,000 steps), 1,000 on one. After 50
    epochs (step 12,500) one process has 150 passes left, 150,000 steps; the decay starts
    after the 100th pass, 50,000 steps on: the rate's plan is a fresh one-process run's from
    its step 50,000, shifted by 12,500 - 50,000."""
    recount = recount_epochs(_config(50_000), {"processes": 4}, 12_500, 1000, (49, 1000, 0))
    assert recount is not None
    assert (recount.steps, recount.shift) == (162_500, -37_500)
    assert recount.start is not None and int(recount.start * recount.steps) == 62_500
    assert "made 250 steps an epoch on 4 processes" in recount.note
    assert "make 1000 on 1 process at trainer.batch_size=1" in recount.note


def test_nothing_is_recounted_on_the_same_processes_or_without_epochs() -> None:
    assert recount_epochs(_config(200_000), {"processes": 1}, 10, 1000, (0, 10, 0)) is None
    assert recount_epochs(_config(200_000), {}, 10, 1000, (0, 10, 0)) is None  # older state
    plain = resolve(["plugin=cyclegan"])
    assert recount_epochs(plain, {"processes": 4}, 10, 1000, (0, 10, 0)) is None


def test_a_decay_that_would_begin_before_step_0_is_refused_in_one_line() -> None:
    """4 processes to 1 at epoch 150 of 200: 37,500 steps done, where a one-process run is at
    its step 150,000 and began its decay at 100,000, so the recounted decay would begin at
    step 100,000 - 112,500 (the shift), before step 0: not to be held."""
    with pytest.raises(ConfigError) as caught:
        recount_epochs(_config(50_000), {"processes": 4}, 37_500, 1000, (149, 1000, 0))
    text = str(caught.value)
    assert "\n" not in text and "would place the learning-rate decay before step 0" in text
    assert "resume it on 4 processes at trainer.batch_size=1, or start a new run" in text


def test_a_damaged_shift_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^shift x$"):
        recount_epochs(_config(50_000), {"processes": 4, "shift": "x"}, 1, 1000, (0, 1, 0))


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)


@pytest.mark.parametrize(
    ("folders", "said"),
    [
        (("trainA", "trainB"), "aligned pairs go side by side in one image each (A|B) in train/"),
        (("A/train", "B/train"), "it has A/ and B/: task=paired reads each pair side by side"),
    ],
)
def test_aligned_a_and_b_folders_for_task_paired_say_how_to_pair_them(
    tmp_path: Path, folders: tuple[str, str], said: str
) -> None:
    for folder in folders:
        _png(tmp_path / folder / "0001.png")
    with pytest.raises(ConfigError) as caught:
        resolve(["plugin=cyclegan", "task=paired", f"data.path={tmp_path}"])
    text = str(caught.value)
    assert "needs train/ inside it; missing train/" in text and said in text
    assert "combine_A_and_B.py writes them from A/ and B/ files of the same names" in text
