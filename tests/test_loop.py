"""The loop: exact resume, NaN guard, accumulation, atomic checkpoints, stopping."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

from ganhub.config.resolve import resolve
from ganhub.engine import checkpoint
from ganhub.engine.loop import describe_run, fit, train_steps
from ganhub.engine.run import Run
from ganhub.errors import TrainingError
from ganhub.hookspecs import hookimpl
from ganhub.losses.adversarial import NonSaturatingLoss
from ganhub.plugins import Hub, get_hub
from ganhub.wiring import make_run

from .conftest import TINY_TOY

RESUMABLE = [
    *TINY_TOY,
    "deterministic=true",
    "trainer.checkpoint_every=10",
    "tricks=[ema,instance_noise,r1]",
    "trick.instance_noise.anneal_steps=20",
    "trick.r1.interval=3",
    "data.n_samples=1000",  # 31 batches per epoch: the run crosses an epoch boundary
]


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    path = checkpoint.latest(run_dir / "checkpoints")
    assert path is not None
    return load_file(str(path / "model.safetensors"))


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"


def test_resume_continues_exactly(workdir: Path) -> None:
    fit(make_run(resolve([*RESUMABLE, "trainer.steps=40", "name=full"])))
    fit(make_run(resolve([*RESUMABLE, "trainer.steps=20", "name=part"])))
    resumed = make_run(resolve(["resume=runs/part", "trainer.steps=40"]))
    # ema, r1 and a fixed anneal_steps read no length: the banner notes no difference
    assert "note" not in dict(describe_run(resumed)[1])
    summary = fit(resumed)
    assert summary["steps"] == 40 and summary["steps_this_session"] == 20
    assert_same_weights(final_weights(workdir / "runs/full"), final_weights(workdir / "runs/part"))
    lines = (workdir / "runs/part/metrics.jsonl").read_text().splitlines()
    assert len(lines) > 20  # the resumed run appended to the same log


def test_the_banner_shows_the_rates_in_use(workdir: Path) -> None:
    """ttur replaces optim.<side>.lr: the banner shows the optimizers' rates, not the typed ones."""
    run = make_run(resolve([*TINY_TOY, "tricks=[ttur]", "optim.G.lr=0.005"]))
    assert dict(describe_run(run)[1])["learning rate"] == "G 0.0001, D 0.0004"
    run.close()


def test_a_resumed_run_logs_each_step_once(workdir: Path) -> None:
    """The steps a stopped session logged after its last checkpoint are logged again when it
    resumes: metrics.jsonl drops its lines, TensorBoard purges its events (purge_step)."""
    import json
    import shutil

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    keys = [*TINY_TOY, "trainer.steps=20", "trainer.log_every=5", "trainer.checkpoint_every=10",
            "loggers=[jsonl,tensorboard]", "name=r"]  # fmt: skip
    fit(make_run(resolve(keys)))
    run_dir = workdir / "runs/r"
    # as if the session had died after logging steps 15 and 20, before its step-20 checkpoint
    shutil.rmtree(checkpoint.latest(run_dir / "checkpoints"))
    (run_dir / "metrics.jsonl").open("a").write("not a record\n")
    fit(make_run(resolve(["resume=runs/r", "trainer.steps=30"])))
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert "not a record" in lines  # lines that are not records are left alone
    steps = [json.loads(line)["step"] for line in lines if line.startswith("{")]
    losses = [s for s, line in zip(steps, [x for x in lines if x.startswith("{")])
              if '"loss/D"' in line]  # fmt: skip
    assert losses == [5, 10, 15, 20, 25, 30]
    events = EventAccumulator(str(run_dir / "tb")).Reload()
    assert [e.step for e in events.Scalars("loss/D")] == [5, 10, 15, 20, 25, 30]


def test_a_resume_that_fails_before_logging_leaves_both_histories_alike(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """metrics.jsonl dropped the steps after the checkpoint at once, TensorBoard only at the
    first value logged: a resume that failed before it kept them in TensorBoard alone."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from ganhub.engine import loop

    keys = [*TINY_TOY, "trainer.steps=20", "trainer.log_every=5", "trainer.checkpoint_every=10",
            "loggers=[jsonl,tensorboard]", "name=f"]  # fmt: skip
    fit(make_run(resolve(keys)))
    run_dir = workdir / "runs/f"
    shutil.rmtree(checkpoint.latest(run_dir / "checkpoints"))  # died before its step-20 save

    def broken(run: Run, batches: object) -> None:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(loop, "train_step", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        fit(make_run(resolve(["resume=runs/f", "trainer.steps=30"])))
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    logged = [json.loads(line)["step"] for line in lines if '"loss/D"' in line]
    events = EventAccumulator(str(run_dir / "tb")).Reload()
    assert logged == [e.step for e in events.Scalars("loss/D")] == [5, 10]


def test_a_resume_between_logging_steps_logs_the_same_means(workdir: Path) -> None:
    """The first means logged after a resume averaged only the steps since the checkpoint
    (steps 8-10, not 6-10): the checkpoint now keeps the interval's sums."""
    import json
    import shutil

    keys = [*RESUMABLE, "trainer.steps=20", "trainer.log_every=5", "trainer.checkpoint_every=7",
            "trainer.keep_checkpoints=5", "name=m"]  # fmt: skip
    fit(make_run(resolve(keys)))
    run_dir = workdir / "runs/m"

    def logged() -> dict[int, float]:
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
        records = [json.loads(line) for line in lines]
        return {r["step"]: r["loss/D"] for r in records if "loss/D" in r}

    whole = logged()
    for later in ("step_0000014", "step_0000020"):  # as if it had stopped after step 7
        shutil.rmtree(run_dir / "checkpoints" / later)
    fit(make_run(resolve(["resume=runs/m"])))
    resumed = logged()
    assert sorted(resumed) == sorted(whole) == [5, 10, 15, 20]
    for step in (10, 15, 20):
        assert resumed[step] == pytest.approx(whole[step], rel=1e-6), step


def test_resuming_a_finished_run_adds_no_files(workdir: Path) -> None:
    """It added two empty TensorBoard event files each time (the writer opened at start)."""
    keys = [*TINY_TOY, "trainer.steps=10", "loggers=[jsonl,tensorboard]", "name=done"]
    fit(make_run(resolve(keys)))
    run_dir = workdir / "runs/done"
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.name != ".lock"}
    summary = fit(make_run(resolve(["resume=runs/done"])))
    assert summary["steps_this_session"] == 0
    after = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.name != ".lock"}
    assert sorted(after) == sorted(before)  # no new event file, sample or checkpoint
    outputs = [p for p in after if p.is_file() and p.parent.name in ("tb", "samples")]
    assert outputs and all(after[p] == before[p] for p in outputs)  # none written again


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ganhub", "run", *args]


def _wait_for_checkpoint(run_dir: Path, proc: subprocess.Popen, min_step: int) -> int:  # type: ignore[type-arg]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        latest = checkpoint.latest(run_dir / "checkpoints")
        if latest is not None and int(latest.name.split("_")[1]) >= min_step:
            return int(latest.name.split("_")[1])
        assert proc.poll() is None, "the run ended before it could be interrupted"
        time.sleep(0.02)
    raise AssertionError("no checkpoint appeared")


# 600 steps: the kill lands at a checkpoint from step 100 on, about 500 steps before the end
KILLABLE = [*RESUMABLE, "trainer.steps=600", "trainer.checkpoint_every=50", "trainer.log_every=50"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.Tensor]:
    """The final weights of KILLABLE run straight through (once: both kinds of kill are compared
    with it; in-process, as the resumes are: only the kill needs a process of its own)."""
    out = tmp_path_factory.mktemp("straight")
    fit(make_run(resolve([*KILLABLE, "name=straight", f"out_dir={out}"])))
    return final_weights(out / "straight")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_killed_run_resumes_to_the_uninterrupted_result(
    workdir: Path, sig: signal.Signals, uninterrupted: dict[str, torch.Tensor]
) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        _cli(*KILLABLE, "name=killed"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _wait_for_checkpoint(workdir / "runs/killed", proc, 100)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    if sig == signal.SIGTERM:  # saved on the way out, said how to continue, status 128 + 15
        assert proc.returncode == 128 + signal.SIGTERM, out
        assert "SIGTERM received" in out and "continue with: ganhub run resume=runs/killed" in out
    else:
        assert proc.returncode == -signal.SIGKILL
    stopped = int(checkpoint.latest(workdir / "runs/killed/checkpoints").name.split("_")[1])  # type: ignore[union-attr]
    assert 100 <= stopped < 600
    fit(make_run(resolve(["resume=runs/killed"])))
    assert_same_weights(uninterrupted, final_weights(workdir / "runs/killed"))


class _NanAfter(NonSaturatingLoss):
    """A loss that turns NaN after a number of calls (a diverging run, on demand)."""

    name = "nan_after"

    def __init__(self, calls: int) -> None:
        self.calls, self.left = calls, calls

    def d_loss(self, real, fake, targets=None):  # type: ignore[no-untyped-def]
        self.left -= 1
        loss = super().d_loss(real, fake)
        return loss * float("nan") if self.left < 0 else loss


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(workdir: Path) -> None:
    plugin = SimpleNamespace(
        register_losses=hookimpl(lambda register: register("nan_after", _NanAfter(7)))
    )
    hub = Hub.discover(extra=(("nan-plugin", plugin),))
    cfg = resolve(
        [
            *TINY_TOY,
            "loss=nan_after",
            "trainer.steps=50",
            "trainer.checkpoint_every=4",
            "trainer.log_every=5",
        ],
        hub=hub,
    )
    run = make_run(cfg, hub)
    with pytest.raises(
        TrainingError,
        match=r"loss D(, G)? became NaN/Inf at or before step 8;.*last good checkpoint: .*step_0000004",
    ):
        fit(run)
    weights = final_weights(run.run_dir)
    assert all(torch.isfinite(t).all() for t in weights.values())


def test_max_seconds_stops_with_a_checkpoint(workdir: Path) -> None:
    summary = fit(
        make_run(resolve([*TINY_TOY, "trainer.steps=10000000", "trainer.max_seconds=0.5"]))
    )
    assert summary["stopped_early"] and 0 < summary["steps"] < 10_000_000
    assert summary["checkpoint"].endswith(f"step_{summary['steps']:07d}")


def test_a_crash_while_saving_leaves_the_previous_checkpoint(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(resolve([*TINY_TOY, "trainer.steps=2"]))
    fit(run)
    good = checkpoint.latest(run.run_dir / "checkpoints")

    def broken_save(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_file", broken_save)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(run.run_dir / "checkpoints", 99, run.system.state_dict(), {}, keep=2)
    assert checkpoint.latest(run.run_dir / "checkpoints") == good
    assert not (run.run_dir / "checkpoints/step_0000099").exists()


def test_checkpoints_hold_no_pickles_and_round_trip_state(workdir: Path) -> None:
    run = make_run(resolve([*TINY_TOY, "trainer.steps=3", "tricks=[ema,balance]"]))
    fit(run)
    path = checkpoint.latest(run.run_dir / "checkpoints")
    assert path is not None
    assert sorted(p.name for p in path.iterdir()) == [
        "model.safetensors",
        "state.json",
        "state.safetensors",
    ]
    step, _, state = checkpoint.load(path)
    assert step == 3
    saved = state["optimizers"]["G"]
    live = run.optimizers["G"].state_dict()
    assert saved["param_groups"][0]["betas"] == live["param_groups"][0]["betas"]
    for key, value in live["state"][0].items():
        assert torch.equal(saved["state"][0][key], value)
    assert set(state["rng"][0]) >= {"python", "numpy", "torch"}


class CyclingLatent:
    """Fixed noise handed out in micro-batch chunks, in call order (D phase, then G phase)."""

    def __init__(self, z: torch.Tensor, parts: int) -> None:
        self.z, self.parts, self.calls = z, parts, 0

    def __call__(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if n == len(self.z):
            return self.z
        if n * self.parts != len(self.z):  # sampling after training
            return torch.randn(n, self.z.shape[1], generator=generator)
        chunk = self.z.split(n)[self.calls % self.parts]
        self.calls += 1
        return chunk


def test_gradient_accumulation_gives_the_same_update(workdir: Path) -> None:
    """With the same data and noise, 4 micro-batches of 8 update like one batch of 32."""
    common = [
        *TINY_TOY,
        "trainer.steps=1",
        "optim.G.name=sgd",
        "optim.D.name=sgd",
        "optim.G.lr=0.1",
        "optim.D.lr=0.1",
    ]
    z = torch.randn(32, 2, generator=torch.Generator().manual_seed(0))
    results = []
    for accum in (1, 4):
        run = make_run(resolve([*common, f"trainer.grad_accum={accum}"]))
        run.system.latent = CyclingLatent(z, accum)  # type: ignore[assignment]
        fit(run)
        results.append({k: v.clone() for k, v in run.system.state_dict().items()})
    for key in results[0]:
        assert torch.allclose(results[0][key], results[1][key], atol=1e-6), key


def test_stats_average_finite_values_and_flag_nonfinite_losses() -> None:
    from ganhub.engine.stats import StatsAccumulator

    stats = StatsAccumulator()
    for loss, d_real in ((1.0, 2.0), (float("inf"), 4.0), (3.0, 6.0)):
        stats.add({"loss/D": torch.tensor(loss), "D_real": torch.tensor(d_real)}, watch="D")
    stats.add({"grad_norm/D": torch.tensor(5.0)})
    assert stats.nonfinite_keys() == ["D"]
    assert stats.flush() == {"loss/D": 2.0, "D_real": 4.0, "grad_norm/D": 5.0}


def test_stats_without_a_scaler_sum_as_they_come_and_flag_a_nonfinite_loss() -> None:
    """The run's accumulator without fp16: two ops a call; a NaN loss shows in its sum, before
    a flush (a checkpoint's check) and after it (a logging step's), in any of its groups."""
    from ganhub.engine.stats import StatsAccumulator

    stats = StatsAccumulator(skip_nonfinite=False)
    for loss in (1.0, 2.0, 3.0):
        stats.add({"loss/D": torch.tensor(loss), "D_real": torch.tensor(2 * loss)}, watch="D")
    stats.add({"loss/G": torch.tensor([0.5])}, watch="G")  # (1,)-shaped values are scalars too
    assert stats.nonfinite_keys() == []
    assert stats.flush() == {"loss/D": 2.0, "D_real": 4.0, "loss/G": 0.5}
    stats.add({"loss/D": torch.tensor(1.0), "D_real": torch.tensor(0.0)}, watch="D")
    stats.add({"loss/D": torch.tensor(float("nan")), "D_acc": torch.tensor(1.0)}, watch="D")
    stats.add({"loss/D": torch.tensor(3.0), "D_real": torch.tensor(0.0)}, watch="D")
    assert stats.nonfinite_keys() == ["D"]
    means = stats.flush()
    assert math.isnan(means["loss/D"]) and means["D_real"] == 0.0
    assert stats.nonfinite_keys() == ["D"]  # still known after the flush
    stats.clear_nonfinite()
    assert stats.nonfinite_keys() == []


def test_a_scaler_skipped_overflow_does_not_stop_training(workdir: Path) -> None:
    from ganhub.engine.stats import StatsAccumulator

    run = make_run(resolve([*TINY_TOY]))
    run.scaler = torch.amp.GradScaler("cpu")  # as under precision=16: the scaler skips such steps
    run.stats = StatsAccumulator(skip_nonfinite=True)  # what such a run builds
    run.stats.add({"loss/D": torch.tensor(float("inf"))}, watch="D")
    run.check_finite()  # weights are finite: keep going
    assert run.stats.nonfinite_keys() == []
    with torch.no_grad():
        next(run.system.D.parameters()).fill_(float("nan"))
    run.stats.add({"loss/D": torch.tensor(float("nan"))}, watch="D")
    with pytest.raises(TrainingError, match="became NaN/Inf"):
        run.check_finite()
    run.close()


@pytest.mark.parametrize(
    "keys",
    [
        [*TINY_TOY, "tricks=[n_critic]"],
        [*TINY_TOY, "tricks=[r1]", "trick.r1.interval=2"],
        ["plugin=stylegan", "preset=tiny", "trainer.progress=false"],
        ["plugin=cyclegan", "preset=tiny", "trainer.progress=false"],
    ],
    ids=["n_critic", "lazy_r1", "stylegan", "cyclegan"],
)
def test_grad_scaling_allows_an_optimizer_to_step_twice_in_a_step(
    workdir: Path, keys: list[str]
) -> None:
    """precision=16 (a GradScaler) crashed whenever one optimizer stepped twice in a training
    step: "step() has already been called since the last update()". CPU runs cannot take
    precision=16, so the scaler is put in by hand; scaling by a power of two is exact, so the
    weights match the unscaled run."""
    weights = []
    for scaled in (False, True):
        torch.manual_seed(0)
        run = make_run(resolve([*keys, f"name=s{int(scaled)}"]))
        if scaled:
            run.scaler = run.ctx.scaler = torch.amp.GradScaler("cpu")
        train_steps(run, run.batches(), 3)
        weights.append([p.detach().clone() for p in run.system.parameters()])
        run.close()
    for plain, scaled_weight in zip(*weights, strict=True):
        torch.testing.assert_close(scaled_weight, plain, rtol=1e-4, atol=1e-6)


def test_train_steps_runs_n_steps_and_flushes_stats_at_the_log_interval(workdir: Path) -> None:
    run = make_run(resolve([*TINY_TOY, "trainer.log_every=2"]))
    flushed: list[int] = []

    class Recorder:
        @hookimpl
        def after_step(self, run: Run, step: int, metrics: dict[str, float] | None) -> None:
            if metrics is not None:
                flushed.append(step)
                assert any(key.startswith("loss/") or "loss" in key for key in metrics)

    recorder = Recorder()
    get_hub().pm.register(recorder)  # the hub the run's lifecycle hooks come from
    try:
        train_steps(run, run.batches(), 5)
    finally:
        get_hub().pm.unregister(recorder)
    assert run.step == 5 and flushed == [2, 4]
    run.close()


def test_tensorboard_sample_grids_share_one_tag_over_steps(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """TensorBoard's step slider works: every grid of a run is one tag at several steps."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from ganhub.config.resolve import resolve
    from ganhub.engine.loop import fit
    from ganhub.wiring import make_run

    from .conftest import TINY_DCGAN

    args = [*TINY_DCGAN, "trainer.steps=4", "trainer.sample_every=2", "loggers=[tensorboard]"]
    run = make_run(resolve([*args, f"out_dir={tmp_path}"]))
    fit(run)
    events = EventAccumulator(str(run.run_dir / "tb"), size_guidance={"images": 0})
    events.Reload()
    assert events.Tags()["images"] == ["samples"]
    assert [e.step for e in events.Images("samples")] == [2, 4]


def test_the_logged_learning_rate_is_the_one_the_step_used(workdir: Path) -> None:
    """lr/G, lr/D at step S are the rates of step S's optimizer steps, under a schedule that
    sets the next step's rate after each step."""
    import json

    keys = ["trainer.steps=12", "trainer.log_every=3", "tricks=[lr_schedule]", "name=lr"]
    run = make_run(resolve([*TINY_TOY, *keys]), get_hub())
    used: dict[int, float] = {}
    run.optimizers["G"].register_step_pre_hook(
        lambda opt, args, kwargs: used.__setitem__(run.step + 1, opt.param_groups[0]["lr"])
    )
    summary = fit(run)
    lines = (Path(summary["run_dir"]) / "metrics.jsonl").read_text().splitlines()
    logged = {r["step"]: r["lr/G"] for r in map(json.loads, lines) if "lr/G" in r}
    assert sorted(logged) == [3, 6, 9, 12]
    assert logged == {step: used[step] for step in logged}
    assert logged[3] > logged[12]  # it decays
