"""`ganhub report`: where the run stands (finished, stopped early, stopped, failed, training now),
a run without metrics.jsonl, and sample files that a resume went back past."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from ganhub.metrics.report import write_report

from .conftest import TINY_TOY
from .test_report import PAYLOADS, Page, assert_inert_plain, png


def make_run(
    root: Path,
    steps: int = 2000,
    last: int | None = None,
    loggers: list[str] | None = None,
    **config: Any,
) -> Path:
    """A run directory written by hand: config.yaml, and records every 10 steps up to `last`."""
    run = root / "run"
    run.mkdir(parents=True)
    data = {"plugin": "toy2d", "loss": "nonsaturating", "seed": 0,
            "loggers": loggers or ["jsonl"], "trainer": {"steps": steps, **config}}  # fmt: skip
    (run / "config.yaml").write_text(yaml.safe_dump(data))
    if last is not None:
        lines = [{"step": s, "time": 1000.0 + s, "loss/D": 1.0} for s in range(10, last + 1, 10)]
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return run


def checkpoint(run: Path, step: int) -> None:
    (run / "checkpoints" / f"step_{step:07d}").mkdir(parents=True)


def status_of(run: Path) -> tuple[str, list[str], str]:
    """(the status line, the notes, the page's HTML) of a fresh report."""
    text = write_report(run).read_text(encoding="utf-8")
    shown = [t.strip() for t in assert_inert_plain(text).text if t.strip()]
    found = re.findall(r"<p id='status' class='\w+'>(.*?)</p>", text, re.S)
    assert len(found) == 1, text
    status = html.unescape(found[0])
    head = [i for i, t in enumerate(shown) if t.startswith("Notes on the run directory")]
    notes = shown[head[0] + 1 : shown.index("Final metrics")] if head else []
    return status, notes, text


def test_the_status_line_says_finished_or_stopped_and_where_a_resume_starts(
    tmp_path: Path,
) -> None:
    """The page never said whether a run finished: a run stopped (Ctrl-C, killed) at 1000 of
    2000 showed "1000 steps logged" as a finished one did."""
    run = make_run(tmp_path / "a", last=1000)
    checkpoint(run, 800)
    status, _, _ = status_of(run)
    assert status.startswith("Stopped at step 1000 of 2000 before finishing. The run directory")
    assert "records no failure and no reason" in status
    assert status.endswith("continues from its newest checkpoint (step 800).")
    assert f"; ganhub run resume={run} continues" in status  # it said resume=RUN_DIR
    run = make_run(tmp_path / "b", last=2000)
    assert status_of(run)[0] == "Finished: trained to step 2000 of 2000."
    run = make_run(tmp_path / "c")
    assert status_of(run)[0].startswith("No training recorded")


def test_a_failed_run_says_so_with_its_error_in_one_bounded_escaped_line(tmp_path: Path) -> None:
    run = make_run(tmp_path / "a", last=1000)
    checkpoint(run, 1000)
    error = "FileExistsError: [Errno 17]\nsecond line " + " ".join(PAYLOADS) + "x" * 5000
    (run / "failed.json").write_text(json.dumps({"step": 1000, "error": error}))
    status, _, text = status_of(run)
    assert status.startswith("Failed at step 1000 of 2000: FileExistsError: [Errno 17] second")
    assert "\n" not in status and len(status) < 500 and "second line" in status
    assert "<script>document" not in text  # escaped: the page has only its own elements
    # a failure that the run trained past (a resume after it) is not its state
    (run / "failed.json").write_text(json.dumps({"step": 500, "error": "OSError: disk full"}))
    status, notes, _ = status_of(run)
    assert status.startswith("Stopped at step 1000 of 2000")
    assert any("failed.json: a failure at step 500, which the run trained past" in n for n in notes)
    # untrusted: a link out of the run, a file that is not the engine's
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"step": 2000, "error": "secret"}))
    (run / "failed.json").unlink()
    (run / "failed.json").symlink_to(secret)
    status, notes, text = status_of(run)
    assert "secret" not in text and status.startswith("Stopped")
    assert "failed.json: ignored (not a regular file inside the run directory)" in notes
    (run / "failed.json").unlink()
    (run / "failed.json").write_text("[1, 2]")
    assert "failed.json: ignored (not a JSON object with" in " ".join(status_of(run)[1])


def test_a_run_being_trained_says_so(tmp_path: Path) -> None:
    fcntl = pytest.importorskip("fcntl")
    run = make_run(tmp_path, last=300)
    fd = os.open(run / ".lock", os.O_CREAT | os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        status = status_of(run)[0]
    finally:
        os.close(fd)
    assert status == "Training now (a process holds the run directory's lock): step 300 of " \
        "2000 reached so far."  # fmt: skip
    assert status_of(run)[0].startswith("Stopped at step 300")  # the lock was let go


def test_an_early_stop_a_resume_trained_past_is_not_the_current_state(cli, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    """After a resume past a trainer.patience stop, the page still said "Stopped early at step 4
    of 8 ... trainer.patience=None" (today's config, of a session that did not stop)."""
    keys = ["trainer.steps=8", "trainer.eval_every=2", "trainer.keep_best=modes",
            "trainer.patience=1", "eval.n_samples=100", "name=p"]  # fmt: skip
    code, _, err = cli("run", *TINY_TOY, *keys)
    assert code == 0 and "stopped early by trainer.patience=1" in err + _, err
    run = workdir / "runs" / "p"
    status = status_of(run)[0]
    assert status.startswith("Stopped early at step 4 of 8: modes did not improve in ")
    assert "trainer.patience=1 evaluations (best at step 2)." in status
    code, _, err = cli("run", f"resume={run}", "trainer.patience=null")
    assert code == 0, err
    status, _, text = status_of(run)
    assert status == "Finished: trained to step 8 of 8." and "Stopped early" not in text


def test_the_patience_logged_with_the_stop_wins_over_the_config(tmp_path: Path) -> None:
    run = make_run(tmp_path, steps=100, last=60, keep_best="fid", patience=None)
    with (run / "metrics.jsonl").open("a") as fh:
        stop = {"step": 60, "early_stop": 1.0, "early_stop/best_step": 20.0,
                "early_stop/patience": 4.0}  # fmt: skip
        fh.write(json.dumps(stop) + "\n")
    assert status_of(run)[0] == (
        "Stopped early at step 60 of 100: fid did not improve in trainer.patience=4 "
        "evaluations (best at step 20)."
    )


def test_a_run_without_metrics_jsonl_says_why_and_what_it_has(tmp_path: Path) -> None:
    """`loggers=[tensorboard]`: the page said "0 steps logged", "No metrics logged yet" and
    "no evaluation yet", though the run trained and evaluated."""
    run = make_run(tmp_path, steps=60, loggers=["tensorboard"])
    (run / "tb").mkdir()
    checkpoint(run, 60)
    status, _, text = status_of(run)
    assert status == "Finished: trained to step 60 of 60."
    shown = " ".join(Page(text).text)
    assert "metrics.jsonl is absent: jsonl was not among this run's loggers (tensorboard in " \
        "config.yaml)" in shown  # fmt: skip
    assert f"tensorboard --logdir {run / 'tb'}" in shown and "checkpoints up to step 60" in shown
    assert "0 steps logged" not in shown and "no steps logged" in shown
    assert "No metrics logged yet" not in shown and "no evaluation yet" not in shown
    # eval.json from ganhub eval: named, and its scores are the final metrics
    result = {"step": 60, "seeds": [0], "n_samples": 500,
              "results": {"modes": {"mean": 7.0, "std": 0.0}}}  # fmt: skip
    (run / "eval.json").write_text(json.dumps(result))
    shown = " ".join(Page(write_report(run).read_text()).text)
    assert "eval.json from ganhub eval (the final metrics below)" in shown
    assert "ganhub eval: step 60, 1 seed x 500 samples" in shown and "modes" in shown


def test_samples_after_the_history_a_resume_went_back_to_are_left_out(cli, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    """A session that crashed after its last checkpoint left sample files that the resumed
    history (metrics.jsonl, trimmed to the checkpoint) does not hold; they stayed on the page."""
    keys = ["trainer.steps=8", "trainer.sample_every=2", "trainer.checkpoint_every=2",
            "trainer.keep_checkpoints=10", "name=s"]  # fmt: skip
    code, _, err = cli("run", *TINY_TOY, *keys)
    assert code == 0, err
    run = workdir / "runs" / "s"
    for step in (6, 8):  # the crash came before these were written
        shutil.rmtree(run / "checkpoints" / f"step_{step:07d}")
    code, _, err = cli("run", f"resume={run}", "trainer.steps=6")
    assert code == 0, err
    status, notes, text = status_of(run)
    assert status == "Finished: trained to step 6 of 6."
    assert "step 8</figcaption>" not in text and "step 6</figcaption>" in text
    assert any("1 file of steps after the last logged step 6 left out (step 8)" in n
               for n in notes)  # fmt: skip


def test_samples_an_earlier_session_wrote_are_marked(tmp_path: Path) -> None:
    """A resumed history that did not sample a step again (another trainer.sample_every) kept
    the abandoned session's grid, shown as if the history made it."""
    run = make_run(tmp_path, steps=1500, last=1500)  # record times: 1000 + step
    for step in (1000, 1100, 1200, 1500):
        os.utime(png(run / "samples" / f"step_{step:07d}.png"), (1000.0 + step, 1000.0 + step))
    os.utime(run / "samples" / "step_0001200.png", (1500.0, 1500.0))  # before step 1190 logged
    _, notes, text = status_of(run)
    marked = "(from an earlier session: written before the run's current history reached"
    assert f"step 1200 {marked}" in text and text.count(marked) == 1
    assert any("1 of those shown were written before the run's current history" in n for n in notes)


def test_a_failed_resume_with_more_steps_names_the_steps_it_trained_towards(
    workdir: Path,
) -> None:
    """The failed resume put back config.yaml's trainer.steps=4 and the page said "Failed at
    step 6 of 4": failed.json records the steps the failed session trained towards."""
    import ganhub
    from ganhub.engine.run import Run
    from ganhub.hookspecs import hookimpl
    from ganhub.plugins import get_hub

    ganhub.train([*TINY_TOY, "name=f"])

    class Breaks:
        @hookimpl
        def after_step(self, run: Run, step: int, metrics: dict[str, float] | None) -> None:
            if step == 6:
                raise RuntimeError("broken at six")

    breaks = Breaks()
    get_hub().pm.register(breaks, name="breaks")
    try:
        with pytest.raises(Exception, match="broken at six"):
            ganhub.train(["resume=runs/f", "trainer.steps=8"])
    finally:
        get_hub().pm.unregister(breaks)
    assert yaml.safe_load(Path("runs/f/config.yaml").read_text())["trainer"]["steps"] == 4
    status, _, _ = status_of(Path("runs/f"))
    assert status.startswith("Failed at step 6 of 8: PluginError: plugin 'breaks'")
