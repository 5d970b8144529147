"""What a run prints: the start banner, evaluation progress, the summary, and a training speed
that evaluation time does not dilute; plain lines (no control codes) off a terminal."""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
import torch

from ganhub.config.resolve import resolve
from ganhub.console import Console, activity, count_text, summary_line
from ganhub.engine.loop import fit
from ganhub.hookspecs import hookimpl
from ganhub.metrics import Directions, Metric
from ganhub.plugins import Hub
from ganhub.wiring import make_run

from .conftest import TINY_TOY

SHOWN = [*TINY_TOY, "trainer.progress=true"]  # the tiny toy run, with its output on
CONTROL = re.compile(r"[\x1b\r]")  # escape sequences and carriage returns: terminal-only


class SlowMetric(Metric):
    """A metric that takes `seconds` per evaluation (a stand-in for a 60 s FID)."""

    name = "slow"
    description = "sleeps, then scores 1.0"
    better: ClassVar[Directions] = {"slow_score": "lower"}

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.slept: list[float] = []  # measured here, apart from the loop's own bookkeeping

    def compute(self, system: Any, *, n_samples: int, seed: int) -> dict[str, float]:
        """Sleep, then report a constant."""
        began = time.perf_counter()
        time.sleep(self.seconds)
        self.slept.append(time.perf_counter() - began)
        return {"slow_score": 1.0}


def _hub_with(metric: Metric) -> Hub:
    plugin = SimpleNamespace(
        register_metrics=hookimpl(lambda register: register(metric.name, metric))
    )
    return Hub.discover(extra=(("slow-metric-plugin", plugin),))


def test_the_banner_says_where_on_what_how_big_and_how_to_watch(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(resolve([*SHOWN, "name=b", "loggers=[jsonl,tensorboard]"]))
    g = sum(p.numel() for p in run.groups["G"])
    d = sum(p.numel() for p in run.groups["D"])
    fit(run)
    out = capsys.readouterr().out
    banner = out.split("step ")[0]  # what was printed before the first training line
    assert banner.startswith("ganhub: training toy2d")
    matches = [re.match(r"  (\S.*?)  +(\S.*)$", line) for line in banner.splitlines()[1:]]
    assert all(matches) and len({m.start(2) for m in matches if m}) == 1  # one value column
    rows = {m.group(1): m.group(2) for m in matches if m}
    assert rows["run dir"] == "runs/b" and rows["device"] == "cpu" and rows["precision"] == "fp32"
    assert rows["parameters"] == f"G {count_text(g)}, D {count_text(d)}"
    assert rows["learning rate"] == "G 0.001, D 0.001"
    assert "1,000 training samples" in banner
    assert rows["tensorboard"] == "tensorboard --logdir runs/b/tb"


def test_counts_read_as_people_write_them() -> None:
    assert [count_text(n) for n in (626, 33_712, 3_580_000)] == ["626", "33.7 k", "3.6 M"]


def test_a_quiet_run_prints_nothing(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fit(make_run(resolve([*TINY_TOY, "name=q", "trainer.eval_every=2"])))
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_evaluation_is_reported_per_metric_with_its_time_and_values(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = fit(make_run(resolve([*SHOWN, "name=e", "trainer.eval_every=2"])))
    out = capsys.readouterr().out
    for step in (2, 4):  # during training and at the end
        assert f"evaluation at step {step} ...\n" in out
        assert re.search(rf"evaluation at step {step}: \d+\.\d s\n", out)
    assert re.search(r"  mode_coverage_2d: \d+\.\d s  modes=\d+ hq_percent=", out)
    # the summary: its first line, the metrics, the speed, where things are, what to run next
    tail = out[out.index("ganhub: done at step 4") :]
    assert f"modes            {int(summary['metrics']['modes'])}" in tail
    assert "training         4 steps in" in tail and "steps/s" in tail
    assert "ganhub sample runs/e" in tail and "ganhub report runs/e" in tail


def test_off_a_terminal_output_is_plain_lines(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fit(make_run(resolve([*SHOWN, "name=p", "trainer.steps=40", "trainer.eval_every=20"])))
    captured = capsys.readouterr()
    assert not CONTROL.search(captured.out + captured.err)
    lines = captured.out.splitlines()
    assert sum(line.startswith("step ") for line in lines) == 10  # every tenth of the run


def test_training_speed_leaves_evaluation_time_out(workdir: Path) -> None:
    """Three evaluations of 0.5 s: eval_seconds holds them, and neither the summary's steps/s
    nor the logged ones count them (timings hold on a busy machine: only sums are compared)."""
    slow = SlowMetric(0.5)
    hub = _hub_with(slow)
    args = [*TINY_TOY, "name=s", "trainer.steps=30", "trainer.log_every=10",
            "trainer.eval_every=10", "eval.metrics=[slow]"]  # fmt: skip
    summary = fit(make_run(resolve(args, hub=hub), hub))
    assert len(slow.slept) == 3  # at steps 10 and 20, inside logging intervals, and at the end
    slept = sum(slow.slept)
    assert summary["eval_seconds"] >= slept
    assert summary["train_seconds"] <= summary["seconds"] - slept
    assert summary["steps_per_s"] == pytest.approx(30 / summary["train_seconds"])
    logged = [json.loads(line) for line in Path("runs/s/metrics.jsonl").read_text().splitlines()]
    rates = [r["perf/steps_per_s"] for r in logged if "perf/steps_per_s" in r]
    busy = sum(10 / rate for rate in rates)  # the time the logged rates say training took
    assert len(rates) == 3 and busy <= summary["seconds"] - slept
    assert busy == pytest.approx(summary["train_seconds"], abs=0.25)  # not 1 s more
    line = summary_line(summary)
    assert f"training {summary['train_seconds']:.1f} s at" in line
    assert f"evaluation {summary['eval_seconds']:.1f} s" in line


def test_feature_network_training_shows_progress_in_a_run_console() -> None:
    from ganhub.metrics.featurenet import train_feature_net

    buffer = io.StringIO()
    images = torch.rand(80, 1, 8, 8) * 2 - 1
    with Console(file=buffer).session():
        train_feature_net(images, None, name="tiny", dataset={}, epochs=2, width=4,
                          held_out=16, batch_size=32)  # fmt: skip
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "training feature network 'tiny' on 80 images (once) ..."
    assert re.fullmatch(
        r"training feature network 'tiny' on 80 images \(once\): \d+\.\d s", lines[1]
    )


def test_activity_outside_a_run_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with activity("work", total=3) as shown:
        shown.advance()
    assert capsys.readouterr() == ("", "")


def test_on_a_terminal_rich_draws_bars_and_the_summary(workdir: Path) -> None:
    buffer = io.StringIO()
    run = make_run(resolve([*SHOWN, "name=t", "trainer.eval_every=2"]))
    run.console = Console(live=True, file=buffer)
    fit(run)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue())
    assert "ganhub training toy2d" in text and "runs/t" in text
    assert "train" in text and "4/4" in text
    assert "mode_coverage_2d:" in text and "ganhub: done at step 4" in text


def test_a_closed_pipe_stops_the_output_not_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    """`ganhub run ... | head -3` died at its next progress line (BrokenPipeError, exit 1)."""
    import os

    read, write = os.pipe()
    os.close(read)  # the reader has gone
    out = os.fdopen(write, "w")
    console = Console(file=out, live=False)
    console.print("step 10/20")
    console.print("step 20/20")  # no second warning, no error
    with contextlib.suppress(BrokenPipeError):  # the caller's file still holds the first line
        out.close()
    assert console.quiet
    assert capsys.readouterr().err.count("the output's reader closed it") == 1


@pytest.mark.slow
def test_a_run_piped_into_head_trains_to_the_end(workdir: Path) -> None:
    import subprocess
    import sys

    args = [*SHOWN, "trainer.steps=300", "trainer.log_every=10", "name=piped"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ganhub", "run", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().startswith("ganhub")
    proc.stdout.close()  # as head does after its lines
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "the output's reader closed it" in err and "Traceback" not in err
    assert (workdir / "runs" / "piped" / "checkpoints" / "step_0000300").is_dir()


def test_a_finished_run_resumed_says_it_trained_no_step(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """It printed "resuming at step 4 of 4" and "0 steps in 0.0 s (0.0 steps/s)"."""
    assert cli("run", *SHOWN, "name=f")[0] == 0
    code, out, err = cli("run", "resume=runs/f", "trainer.progress=true")
    assert code == 0, err
    assert "resuming at step 4 of 4: reached, raise trainer.steps to train on" in out + err
    assert re.search(r"done at step 4 \([\d.]+ s: no step trained\)", out + err)
    assert "no step this session (the run had reached trainer.steps)" in out + err
    assert "steps/s" not in out + err
