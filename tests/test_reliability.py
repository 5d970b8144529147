"""Faults and hostile input, one test per case: nothing lost, nothing escapes, one clear line.

Divergence, damaged checkpoints, paths, plugins, concurrency and run-time data errors; the
report's escaping is in test_report.py, the parser fuzzing in test_fuzz_config.py and the
kill-at-random-points runs in test_fault_injection.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from ganhub import api
from ganhub.config.resolve import resolve
from ganhub.engine import checkpoint
from ganhub.engine.lock import RunLock
from ganhub.engine.loop import fit
from ganhub.engine.rundir import FAILED_FILE, RunDirectory
from ganhub.errors import ConfigError, TrainingError, UsageError
from ganhub.hookspecs import hookimpl
from ganhub.plugins import Hub
from ganhub.tricks import Trick
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN, TINY_TOY

# -- divergence ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [(".inf", "finite number"), (".nan", "finite number"), ("1e39", "out of float32's range")],
)
def test_non_finite_hyperparameters_are_refused(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"^optim\.G\.lr=.*{message}"):
        resolve([*TINY_TOY, f"optim.G.lr={value}"])


class Poison(Trick):
    """Test trick: turns one G weight into Inf after a given step (losses stay finite)."""

    name = "poison"
    at = 5

    def after_step(self, step: int, system) -> None:  # type: ignore[no-untyped-def]
        if step == self.at:
            with torch.no_grad():
                next(system.G.parameters()).view(-1)[0] = float("inf")


POISON = SimpleNamespace(register_tricks=hookimpl(lambda register: register("poison", Poison)))


@pytest.mark.parametrize("steps", [6, 1])
def test_non_finite_weights_never_reach_a_checkpoint_or_a_sample(workdir: Path, steps: int) -> None:
    """The last step breaks the weights while its losses stay finite: the guard checks the
    weights themselves before the final save, so the run is an error naming the last finite
    checkpoint, not a success with an Inf checkpoint (a one-step run included)."""
    Poison.at = steps
    hub = Hub.discover(extra=(("poison", POISON),))
    args = [*TINY_TOY, "tricks=[poison]", f"trainer.steps={steps}", "trainer.checkpoint_every=2",
            "trainer.sample_every=3", "name=p"]  # fmt: skip
    run = make_run(resolve(args, hub=hub), hub)
    where = (
        "last good checkpoint: runs/p/checkpoints/step_0000004" if steps == 6 else "no checkpoint"
    )
    with pytest.raises(TrainingError, match=rf"weights became NaN/Inf at or before step {steps}; not writing a checkpoint.*{where}"):  # fmt: skip
        fit(run)
    if steps == 1:
        assert not (workdir / "runs/p").exists()  # nothing resumable was written: removed
        return
    for path in checkpoint.step_dirs(workdir / "runs/p/checkpoints"):
        checkpoint.load(path)  # every checkpoint left is finite (load refuses others)
    newest = checkpoint.step_dirs(workdir / "runs/p/checkpoints")[0]
    assert newest.name == "step_0000004"
    assert sorted(p.name for p in (workdir / "runs/p/samples").glob("*.png")) == [
        "step_0000003.png"
    ]


def test_a_sample_of_non_finite_weights_is_refused(workdir: Path) -> None:
    Poison.at = 2
    hub = Hub.discover(extra=(("poison", POISON),))
    run = make_run(resolve([*TINY_TOY, "tricks=[poison]", "trainer.steps=6",
                            "trainer.sample_every=3", "name=s"], hub=hub), hub)  # fmt: skip
    with pytest.raises(TrainingError, match="NaN/Inf"):
        fit(run)
    assert not list((workdir / "runs").glob("s/samples/*.png"))


def test_load_refuses_a_checkpoint_of_non_finite_weights(workdir: Path) -> None:
    fit(make_run(resolve([*TINY_TOY, "name=r"])))
    (path,) = checkpoint.step_dirs(workdir / "runs/r/checkpoints")
    weights = checkpoint.load_file(str(path / "model.safetensors"))
    weights["G.0.weight"][0, 0] = float("nan")
    checkpoint.save_file(weights, str(path / "model.safetensors"))
    # the only checkpoint: its reason in one line, not a warning promising a previous one
    with pytest.raises(UsageError, match=r"^checkpoint '.*step_\d+' holds non-finite weights"):
        api.load(workdir / "runs/r")


# -- damaged checkpoints ---------------------------------------------------------------------


def _two_checkpoints(workdir: Path) -> Path:
    run_dir = workdir / "runs/c"
    fit(make_run(resolve([*TINY_TOY, "trainer.steps=4", "trainer.checkpoint_every=2", "name=c"])))
    assert [p.name for p in checkpoint.step_dirs(run_dir / "checkpoints")] == [
        "step_0000004",
        "step_0000002",
    ]
    return run_dir


def test_a_truncated_checkpoint_falls_back_to_the_previous_one(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = _two_checkpoints(workdir)
    newest = run_dir / "checkpoints/step_0000004/model.safetensors"
    newest.write_bytes(newest.read_bytes()[:100])
    run = make_run(resolve([f"resume={run_dir}", "trainer.steps=6"]))
    assert run.step == 2
    assert "step_0000004' is unreadable" in capsys.readouterr().err
    assert fit(run)["steps"] == 6


def test_when_no_checkpoint_reads_back_the_error_says_so_once(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The last damaged checkpoint warned 'trying the previous checkpoint' (there was none),
    then a second line said the run had no readable checkpoint."""
    run_dir = _two_checkpoints(workdir)
    for step in ("step_0000004", "step_0000002"):
        (run_dir / "checkpoints" / step / "state.json").write_text("{")
    # the optimizer state is not needed to sample or score: the newest weights open
    assert api.load(run_dir).step == 4
    with pytest.raises(UsageError, match=r"step_0000002' is unreadable: .*none of the 2 checkp"):
        make_run(resolve([f"resume={run_dir}", "trainer.steps=6"]))  # a resume needs it
    for step in ("step_0000004", "step_0000002"):
        (run_dir / "checkpoints" / step / "model.safetensors").write_bytes(b"x")
    with pytest.raises(UsageError, match=r"step_0000002' is unreadable: .*none of the 2 checkp"):
        api.load(run_dir)
    err = capsys.readouterr().err
    assert err.count("trying the previous checkpoint") == 2 and "step_0000004" in err


@pytest.mark.parametrize("pointer", ["step_0000099", "../../../../etc", "/etc/passwd"])
def test_the_latest_pointer_is_not_trusted(workdir: Path, pointer: str) -> None:
    """A pointer to a deleted step or outside the run is ignored: the newest step wins."""
    run_dir = _two_checkpoints(workdir)
    (run_dir / "checkpoints/latest").write_text(pointer)
    assert checkpoint.latest(run_dir / "checkpoints") == run_dir / "checkpoints/step_0000004"
    assert make_run(resolve([f"resume={run_dir}", "trainer.steps=6"])).step == 4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("model.g_hidden=32", r"differ in shape \(G\.0\.weight is \(16, 2\) in the checkpoint, \(32, 2\) in the model\)"),
        ("tricks=[ema]", r"the model has 8 tensors the checkpoint lacks \(G_ema\.0\.bias"),
    ],
)  # fmt: skip
def test_resuming_with_another_model_names_what_differs(
    workdir: Path, change: str, message: str
) -> None:
    run_dir = _two_checkpoints(workdir)
    with pytest.raises(ConfigError, match=rf"^resume={run_dir}: checkpoint step_0000004 does not fit.*{message}"):  # fmt: skip
        make_run(resolve([f"resume={run_dir}", change]))


# -- paths -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../escape", "/tmp/abs", "a/b", ".hidden", "-x", "x" * 101])
def test_run_names_are_plain_names(name: str) -> None:
    with pytest.raises(ConfigError, match=r"^name="):
        resolve([*TINY_TOY, f"name={name}"])


def test_out_dir_that_is_a_file_is_refused_before_anything_is_made(workdir: Path) -> None:
    (workdir / "afile").write_text("x")
    with pytest.raises(ConfigError, match=r"^out_dir='afile' is a file, not a folder"):
        make_run(resolve([*TINY_TOY, "out_dir=afile"]))


def test_output_paths_that_are_files_are_one_line_errors(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    fit(make_run(resolve([*TINY_TOY, "name=r"])))
    (workdir / "afile").write_text("x")
    code, _, err = cli("sample", "runs/r", "--out", "afile")
    assert code == 2 and "afile" in err and "is a file" in err


def test_run_directories_are_claimed_atomically(workdir: Path) -> None:
    """Eight threads asking for one name get eight directories, never a shared one."""
    claimed: list[Path] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        directory = RunDirectory.create(workdir / "runs", "same")
        claimed.append(directory.path)
        directory.close()

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(p.name for p in claimed) == ["same", *[f"same-{i}" for i in range(1, 8)]]


def test_a_run_refused_before_its_first_checkpoint_leaves_no_out_dir_it_made(
    workdir: Path,
) -> None:
    (workdir / "kept").mkdir()
    for out_dir in (workdir / "new" / "a" / "b", workdir / "kept" / "x"):
        directory = RunDirectory.create(out_dir, "r")
        directory.fail(ConfigError("refused"), step=0, resumable=False)
    assert sorted(p.name for p in workdir.iterdir()) == ["kept"]  # new/a/b went, kept stayed
    assert not any((workdir / "kept").iterdir())
    shared = RunDirectory.create(workdir / "shared", "first")
    RunDirectory.create(workdir / "shared", "second").close()  # another run started there
    shared.fail(ConfigError("refused"), step=0, resumable=False)
    assert [p.name for p in (workdir / "shared").iterdir()] == ["second"]


# -- run-time data errors ----------------------------------------------------------------------


def _folder_with_a_broken_image(root: Path) -> Path:
    root.mkdir()
    for i in range(8):
        Image.new("RGB", (32, 32), (i * 30, 0, 0)).save(root / f"ok{i}.png")
    (root / "broken.png").write_bytes(b"not a png")
    return root


@pytest.mark.parametrize("workers", [0, 2])
def test_a_corrupt_image_is_one_line_and_leaves_no_half_made_run(
    workdir: Path, workers: int
) -> None:
    folder = _folder_with_a_broken_image(workdir / "imgs")
    args = [*TINY_DCGAN, "data=folder", f"data.path={folder}", "trainer.batch_size=9",
            f"trainer.num_workers={workers}", "name=bad"]  # fmt: skip
    with pytest.raises(UsageError) as err:
        fit(make_run(resolve(args)))
    (line,) = str(err.value).splitlines()
    assert "broken.png" in line and "data.skip_bad=true" in line
    assert not (workdir / "runs/bad").exists()


def test_a_run_failing_after_a_checkpoint_is_marked_failed(workdir: Path) -> None:
    Poison.at = 6
    hub = Hub.discover(extra=(("poison", POISON),))
    run = make_run(resolve([*TINY_TOY, "tricks=[poison]", "trainer.steps=6",
                            "trainer.checkpoint_every=2", "name=f"], hub=hub), hub)  # fmt: skip
    with pytest.raises(TrainingError):
        fit(run)
    assert "weights became NaN/Inf" in (workdir / "runs/f" / FAILED_FILE).read_text()
    # resuming clears the marker
    make_run(resolve(["resume=runs/f", "tricks=[]"], hub=hub), hub).close()
    assert not (workdir / "runs/f" / FAILED_FILE).exists()


# -- plugins ---------------------------------------------------------------------------------


def _fake_distribution(
    site: Path, dist: str, ep_name: str, module: str, code: str, editable: bool = False
) -> None:
    (site / f"{module}.py").write_text(code)
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[ganhub]\n{ep_name} = {module}\n")
    if editable:  # what `pip install -e DIR` records (PEP 610)
        origin = {"url": (site / "my plugin").as_uri(), "dir_info": {"editable": True}}
        (info / "direct_url.json").write_text(json.dumps(origin))


def test_a_plugin_cannot_take_a_builtins_name_or_end_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks = (
        "from ganhub.hookspecs import hookimpl\n"
        "@hookimpl\ndef register_losses(register):\n    pass\n"
    )
    _fake_distribution(tmp_path, "imposter", "dcgan", "imposter_mod", hooks)
    _fake_distribution(tmp_path, "exiter", "exiter", "exiter_mod", "import sys\nsys.exit(3)\n")
    _fake_distribution(tmp_path, "mine", "mine", "mine_mod", "1 / 0\n", editable=True)
    monkeypatch.syspath_prepend(str(tmp_path))
    hub = Hub.discover()
    assert hub.plugins["dcgan"].dist == "ganhub" and hub.plugins["dcgan"].status == "ok"
    assert hub.domains.entry("dcgan").plugin == "dcgan"
    imposter = hub.plugins["dcgan (imposter)"]
    assert imposter.status == "error" and "taken by ganhub's built-in plugin" in imposter.error
    exiter = hub.plugins["exiter"]
    assert exiter.status == "error" and "it called sys.exit(3)" in exiter.error
    assert exiter.fix == "report it to the authors of 'exiter'"
    # an editable install is most likely the user's own plugin: fix it there
    assert (
        hub.plugins["mine"].fix
        == f"fix it in {tmp_path / 'my plugin'} (installed editable from there)"
    )
    assert "toy2d" in hub.domains  # the others still load


# -- concurrency -----------------------------------------------------------------------------


def test_a_second_writer_is_refused_naming_the_first(workdir: Path) -> None:
    fit(make_run(resolve([*TINY_TOY, "name=r"])))
    holder = RunLock(workdir / "runs/r")
    holder.acquire()
    try:
        with pytest.raises(UsageError, match=rf"is being trained by process {os.getpid()} on"):
            make_run(resolve(["resume=runs/r", "trainer.steps=8"]))
    finally:
        holder.release()
    make_run(resolve(["resume=runs/r", "trainer.steps=8"])).close()  # free again


def test_a_lock_left_by_kill_9_is_taken_over(workdir: Path) -> None:
    fit(make_run(resolve([*TINY_TOY, "name=r"])))
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom ganhub.engine.lock import RunLock\n"
        "RunLock(Path(sys.argv[1])).acquire()\nprint('locked', flush=True)\ntime.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(workdir / "runs/r")], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    with pytest.raises(UsageError, match=f"process {proc.pid}"):
        make_run(resolve(["resume=runs/r", "trainer.steps=8"]))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (workdir / "runs/r/.lock").exists()  # the file stays; the OS released the lock
    make_run(resolve(["resume=runs/r", "trainer.steps=8"])).close()


def test_sigint_saves_and_exits_130(workdir: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ganhub", "run", *TINY_TOY, "trainer.steps=100000",
         "trainer.checkpoint_every=0", "name=i"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = 60.0
    while not (workdir / "runs/i/metrics.jsonl").exists() and deadline > 0:
        threading.Event().wait(0.05)
        deadline -= 0.05
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "continue with: ganhub run resume=runs/i" in out
    assert checkpoint.latest(workdir / "runs/i/checkpoints") is not None
    # it stops now: no final samples or evaluation after the checkpoint (they can take minutes)
    assert not (workdir / "runs/i/samples").exists()
    assert "modes" not in (workdir / "runs/i/metrics.jsonl").read_text()


def test_sigterm_unwinds_the_cli_and_ends_the_process_by_sigterm(tmp_path: Path) -> None:
    """SIGTERM's default action ended a run at once while it started up, leaving a run
    directory with no checkpoint; under the CLI it now unwinds (finally blocks run), one line
    says so, and the process still ends by SIGTERM."""
    code = (
        "import os, signal, sys\n"
        "from ganhub.interrupts import terminate_unwinds\n"
        "with terminate_unwinds(lambda: print('said', file=sys.stderr)):\n"
        "    try:\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "        signal.pause()\n"
        "    finally:\n"
        "        print('cleaned', file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert done.stderr.split() == ["cleaned", "said"]
    # the CLI's own: SIGTERM while `ganhub run` builds its run (before the loop's handler)
    code = (
        "import os, signal, sys, ganhub.api\n"
        "from ganhub.cli import main\n"
        "def starting(config):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    signal.pause()\n"
        "ganhub.api.train = starting\n"
        "main(['run', 'plugin=toy2d'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGTERM and done.stderr == "ganhub: terminated\n", done


@pytest.mark.parametrize("stop", [KeyboardInterrupt, "Terminated"])
def test_a_run_stopped_while_it_starts_leaves_nothing(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, stop: object
) -> None:
    """A new run's directory is removed; a resume's config.yaml, failure marker and files are
    as they were (config.yaml had the new trainer.steps, failed.json was gone, and
    .requires.json.tmp was left)."""
    from ganhub.engine.run import Run
    from ganhub.interrupts import Terminated

    error = Terminated if stop == "Terminated" else KeyboardInterrupt
    fit(make_run(resolve([*TINY_TOY, "name=t"])))
    run_dir = workdir / "runs/t"
    (run_dir / FAILED_FILE).write_text("{}")  # as if an earlier session had failed
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and p.name != ".lock"}
    real_fsync = checkpoint._fsync

    def cut_short(path: Path) -> None:
        if path.name == ".requires.json.tmp":  # after config.yaml: stopped half-way through
            raise error
        real_fsync(path)

    monkeypatch.setattr(checkpoint, "_fsync", cut_short)
    with pytest.raises(error):
        make_run(resolve(["resume=runs/t", "trainer.steps=8"]))
    after = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and p.name != ".lock"}
    assert after == before
    monkeypatch.setattr(Run, "write_config", lambda self: (_ for _ in ()).throw(error()))
    with pytest.raises(error):
        make_run(resolve([*TINY_TOY, "name=new"]))
    assert not (workdir / "runs/new").exists()


def test_ctrl_c_is_not_hidden_by_restoring_the_callers_torch_flags(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C during torch's lazy compiler import (use_deterministic_algorithms) left it half
    made; restoring the caller's flags imported it again and raised AttributeError instead."""
    from ganhub.engine.environment import caller_state_kept

    def broken(*args: object, **kwargs: object) -> None:
        raise AttributeError("module 'torch._dynamo' has no attribute 'utils'")

    with pytest.raises(KeyboardInterrupt), caller_state_kept():
        monkeypatch.setattr(torch, "use_deterministic_algorithms", broken)
        raise KeyboardInterrupt
    monkeypatch.undo()


def test_a_signal_during_the_final_evaluation_stops_it_and_a_resume_finishes(
    workdir: Path,
) -> None:
    """A SIGTERM during the final evaluation said "saving a checkpoint after this step", let
    the evaluation run on, then printed "done" and exited 143."""
    from .test_keep_best import Scripted, scripted_hub

    class Signalled(Scripted):
        def compute(self, system: object, *, n_samples: int, seed: int) -> dict[str, float]:
            if self.values[0] < 0:  # the first evaluation: a SIGTERM arrives meanwhile
                self.values.pop(0)
                os.kill(os.getpid(), signal.SIGTERM)
            return super().compute(system, n_samples=n_samples, seed=seed)

    hub = scripted_hub(Signalled([-1.0, 0.5]))
    keys = [*TINY_TOY, "eval.metrics=[scripted]", "name=e"]
    summary = api.train(keys, hub=hub)
    assert summary["signal"] == signal.SIGTERM and summary["stopped_early"]
    assert summary["metrics"] == {} and summary["steps"] == 4
    assert "scripted" not in (workdir / "runs/e/metrics.jsonl").read_text()
    again = api.train(["resume=runs/e"], hub=hub)  # at the last step: the outputs only
    assert again["steps_this_session"] == 0 and again["metrics"]["score"] == 0.5
    assert again["signal"] is None and not again["stopped_early"]


def test_re_saving_a_step_keeps_an_intact_one_and_replaces_a_damaged_one(workdir: Path) -> None:
    run = make_run(resolve([*TINY_TOY, "name=s"]))
    fit(run)
    folder = workdir / "runs/s/checkpoints"
    (path,) = checkpoint.step_dirs(folder)
    before = (path / "model.safetensors").stat().st_mtime_ns
    checkpoint.save(folder, 4, run.system.state_dict(), {"x": 1}, keep=2)
    assert (path / "model.safetensors").stat().st_mtime_ns == before  # kept, not rewritten
    (path / "model.safetensors").write_bytes(b"broken")
    checkpoint.save(folder, 4, run.system.state_dict(), {"x": 1}, keep=2)
    assert checkpoint.load(path)[2] == {"x": 1}
    assert sorted(p.name for p in folder.iterdir()) == ["better.json", "latest", "step_0000004"]
