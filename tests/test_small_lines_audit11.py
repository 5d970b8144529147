"""Small user-facing lines: freeze_d's refusal comes alone (no "frozen at setup" note before
it), counts agree with their nouns ("1 image", not "1 images" or "image(s)"), `ganhub eval`
escapes the notes that quote an earlier eval.json, and a second Ctrl-C during a checkpoint
write lets the write finish, then aborts."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import ganhub
from ganhub.engine import checkpoint, loop
from ganhub.interrupts import finish_first
from ganhub.plural import counted, singular

from .conftest import TINY_DCGAN, TINY_TOY

CLI = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)

pytestmark = pytest.mark.usefixtures("one_thread")


# -- 1. freeze_d's refusal -----------------------------------------------------------------


def test_freeze_d_refusal_is_not_preceded_by_a_frozen_note(cli: CLI, workdir: Path) -> None:
    """`init_from=EXPORT tricks=[freeze_d]` printed "frozen at setup (not trained): D.0, D.2,
    D.3" and then the error saying those layers would not be frozen from the source."""
    summary = ganhub.train([*TINY_DCGAN, "name=src"])
    code, _, err = cli("export", summary["run_dir"], "--out", "exported")
    assert code == 0, err
    shown = [*TINY_DCGAN, "trainer.progress=true", "tricks=[freeze_d]"]
    code, out, err = cli("run", *shown, "init_from=exported", "name=refused")
    assert code == 2 and "trick 'freeze_d' would freeze D.0" in err, err
    assert "frozen at setup" not in out + err, out + err
    # a run that does freeze says so once
    code, out, err = cli("run", *shown, f"init_from={summary['run_dir']}", "name=frozen")
    assert code == 0, err
    assert (out + err).count("frozen at setup (not trained): D.0") == 1, out + err


# -- 2. counts agree with their nouns -----------------------------------------------------


@pytest.mark.parametrize(
    ("n", "plural", "shown"),
    [
        (1, "images", "1 image"),
        (0, "images", "0 images"),
        (2, "images", "2 images"),
        (1, "entries", "1 entry"),
        (1, "processes", "1 process"),
        (1, "classes", "1 class"),
        (1, "token rows", "1 token row"),
        (1, "images (x-flips left out)", "1 image (x-flips left out)"),
        (1, "files (image/mask pairs)", "1 file (image/mask pairs)"),
        (1234, "samples", "1234 samples"),
    ],
)
def test_counted_agrees_with_the_count(n: int, plural: str, shown: str) -> None:
    assert counted(n, plural) == shown
    assert counted(1234, "samples", ",") == "1,234 samples"
    assert singular("boxes") == "box" and singular("glass") == "glass"


def test_data_check_of_one_image_says_1_image(cli: CLI, workdir: Path) -> None:
    """`ganhub data check` of a folder with one image said "1 images" (and "1 errors")."""
    folder = workdir / "one"
    folder.mkdir()
    Image.new("RGB", (32, 32), (10, 20, 30)).save(folder / "a.png")
    code, out, err = cli("data", "check", str(folder), "plugin=dcgan")
    assert code == 0, err
    assert out.splitlines()[0] == f"{folder}: 1 image, clean (0 errors, 0 warnings, 0 notes)"
    (folder / "b.png").write_bytes(b"not a png")
    code, out, err = cli("data", "check", str(folder), "plugin=dcgan")
    assert code == 1 and ": 2 images, NOT clean (1 error, 0 warnings" in out, out + err


def test_clean_says_1_other_file_and_eval_1_seed(cli: CLI, workdir: Path) -> None:
    """It said "1 other file(s) not copied" and "1 seed(s) x 100 samples"."""
    folder = workdir / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (32, 32), (40 * i, 0, 0)).save(folder / f"{i}.png")
    (folder / "README.txt").write_text("about these images\n")
    code, out, err = cli("data", "clean", str(folder), "plugin=dcgan", "--out", "c")
    assert code == 0 and "; 1 other file not copied (README.txt)" in out, out + err
    run = ganhub.train([*TINY_TOY, "name=toy"])["run_dir"]
    code, out, err = cli("eval", run, "--n", "100")
    assert code == 0 and out.startswith(f"ganhub eval {run}: step 4, 1 seed x 100 "), out + err


# -- 3. eval's notes are escaped ----------------------------------------------------------


def test_eval_notes_quoting_an_earlier_eval_json_are_escaped(cli: CLI, workdir: Path) -> None:
    """A metric name of an earlier eval.json ("evil\\nnote: forged") reached the terminal raw
    in the note saying it was kept: a line of eval.json's choosing under ganhub's "note:"."""
    run = Path(ganhub.train([*TINY_TOY, "name=toy"])["run_dir"])
    code, _, err = cli("eval", str(run), "--n", "100")
    assert code == 0, err
    scores = json.loads((run / "eval.json").read_text())
    name = "evil\nnote: forged"
    scores["metrics"].append(name)
    scores["results"][name] = {"mean": 1.0, "std": None, "values": [1.0]}
    scores["counts"][name] = {"n_samples": 100.0}
    (run / "eval.json").write_text(json.dumps(scores))
    code, out, err = cli("eval", str(run), "--n", "100")
    assert code == 0, err
    notes = [line for line in out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "evil\\nnote: forged" in notes[0], out
    assert "note: forged" not in out.replace("evil\\nnote: forged", ""), out


# -- 4. a second Ctrl-C while a checkpoint is written ---------------------------------------


@contextmanager
def _ctrl_c_at(step: int, during_write: int) -> Iterator[None]:
    """A Ctrl-C right after training step `step`, and `during_write` more while the
    checkpoint that it asks for is written (after its weights file)."""
    train_step, save_file = loop.train_step, checkpoint.save_file
    left = [during_write]

    def step_then_signal(run: Any, batches: Any) -> None:
        train_step(run, batches)
        if run.step == step:
            os.kill(os.getpid(), signal.SIGINT)

    def write_then_signal(*args: Any, **kwargs: Any) -> None:
        save_file(*args, **kwargs)
        while left[0]:
            left[0] -= 1
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop, "train_step", step_then_signal)
        patch.setattr(checkpoint, "save_file", write_then_signal)
        yield


def test_a_second_ctrl_c_during_the_write_keeps_the_checkpoint(cli: CLI, workdir: Path) -> None:
    """It aborted the write: the run had no checkpoint and its folder was removed."""
    with _ctrl_c_at(3, during_write=1):
        code, _, err = cli("run", *TINY_TOY, "trainer.steps=20", "name=cut")
    assert code == 130, err
    assert "finishing the checkpoint of step 3 first; Ctrl-C again aborts without it" in err
    found = checkpoint.load_newest(workdir / "runs" / "cut" / "checkpoints")
    assert found is not None and found[1] == 3
    failed = json.loads((workdir / "runs" / "cut" / "failed.json").read_text())
    assert failed["error"] == "aborted by a second Ctrl-C" and failed["step"] == 3


def test_finish_first_finishes_the_block_then_aborts_and_a_third_aborts_at_once() -> None:
    said: list[str] = []
    finished = []
    with pytest.raises(KeyboardInterrupt), finish_first(lambda: said.append("finishing")):
        os.kill(os.getpid(), signal.SIGINT)  # Python's own handler: KeyboardInterrupt
        finished.append("the write")
    assert finished == ["the write"] and said == ["finishing"]
    with pytest.raises(KeyboardInterrupt), finish_first(lambda: said.append("again")):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        finished.append("never")
    assert finished == ["the write"] and said == ["finishing", "again"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
