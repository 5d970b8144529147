"""Kill training with SIGKILL at random moments and inside checkpoint writes, resume, and check
that the final weights are bit-identical to an uninterrupted run of the same config.

One cycle is one run of `ganhub run` that is killed (kill -9, 1 to --max-kills times, the
resumed processes too) and resumed with `ganhub run resume=runs/NAME` until it finishes. Kills
come in three kinds, drawn per kill from a seeded generator:

  random   at a uniform moment of the training that is left (and a tenth more, which reaches
           the final checkpoint, samples and exit), timed from when the process has restored
           its checkpoint and rewritten config.yaml (the ~3 s of imports are not sampled)
  write    as soon as a checkpoint's temporary folder `.step_XXXXXXX.tmp` appears (the folder
           is polled every half millisecond), the n-th write of the process for a random n;
           half of these kills wait a random 0-3 ms more, which lands at other points of the
           write and just after it: the renames, the `latest` pointer, the pruning
  early    at a uniform moment of the first process's whole life, startup included: often
           before any checkpoint, when there is nothing to resume and the run starts again

The table counts, per domain: kills (and how many left a `.step_*.tmp` folder behind, i.e.
landed inside a checkpoint write), resumes, runs started again (killed before any checkpoint),
final runs bit-exact to the uninterrupted one (torch.equal on every tensor of the final
checkpoint's model.safetensors and state.safetensors: weights, EMA copy, optimizer moments, RNG
states), lost steps (steps of a cycle whose result is not in the final
state: 0 when exact, otherwise the steps after the last resume point that still matched the
uninterrupted run) and redone steps (steps trained twice because they came after the last
checkpoint before a kill: the cost of a kill, not a loss).

    python benchmarks/fault_injection.py                           # 10 cycles, toy2d and dcgan
    python benchmarks/fault_injection.py --cycles 30 --domains toy2d --max-kills 4

Each process starts Python, torch and the plugins (2-4 s on a shared 2-core CPU): a cycle of
three or four processes takes 8-13 s. `tests/test_fault_injection.py` runs a few cycles of this.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import torch
from safetensors.torch import load_file

STEP_DIR = "step_{:07d}"
FILES = ("model.safetensors", "state.safetensors")
POLL_S = 0.0005  # how often the checkpoints folder is listed while waiting for a write
HANG_S = 300  # a process still running after this long is stuck: killed, reported

# Small runs: every step is logged (to count redone steps), frequent checkpoints, no evaluation;
# under a second of training each on one core (toy2d ~450 steps/s, dcgan tiny ~130 steps/s).
# deterministic=true: ganhub promises exact resume with deterministic kernels.
COMMON = [
    "deterministic=true",
    "trainer.progress=false",
    "trainer.log_every=1",
    "loggers=[jsonl]",
    "eval.metrics=[]",
]
DOMAINS: dict[str, list[str]] = {
    "toy2d": [
        "plugin=toy2d",
        *COMMON,
        "trainer.steps=400",
        "trainer.checkpoint_every=10",
        "trainer.batch_size=32",
        "model.g_hidden=16",
        "model.d_hidden=16",
        "data.n_samples=1000",  # 31 batches an epoch: the run crosses epoch boundaries
        "tricks=[ema]",  # the EMA copy is state a resume must restore too
    ],
    "dcgan": [
        "plugin=dcgan",
        "preset=tiny",
        *COMMON,
        "trainer.steps=40",
        "trainer.checkpoint_every=5",
        "trainer.batch_size=8",
    ],
}
KINDS = ("random", "write", "early")


def child_env() -> dict[str, str]:
    """The environment of the training processes: one thread each, tracebacks not raised."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("GANHUB_DEBUG", None)
    return env


# -- the uninterrupted run ---------------------------------------------------------------------


@dataclass
class Reference:
    """An uninterrupted run that kept every checkpoint, and how long its phases took."""

    run_dir: Path
    steps: int
    every: int  # trainer.checkpoint_every
    startup_s: float  # from the start to config.yaml written (training starts)
    train_s: float  # from there to the final checkpoint
    end_s: float  # from there to the process's end (samples, exit)

    def weights(self, step: int, file: str = "model.safetensors") -> dict[str, torch.Tensor]:
        return load_file(str(self.run_dir / "checkpoints" / STEP_DIR.format(step) / file))


def reference(args: list[str], workdir: Path, name: str = "reference") -> Reference:
    """Train `args` without interruption under `workdir`, keeping every checkpoint."""
    run_dir = workdir / "runs" / name
    cmd = [sys.executable, "-m", "ganhub", "run", *args, f"name={name}"]
    cmd.append("trainer.keep_checkpoints=1000")  # retention only: the weights do not change
    steps = int(_value(args, "trainer.steps"))
    final = run_dir / "checkpoints" / STEP_DIR.format(steps)
    out = workdir / f"{name}.log"
    with out.open("w") as log:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=workdir, env=child_env(), stdout=log, stderr=log)
        t1 = _wait_for_new(run_dir / "config.yaml", None, proc) or time.monotonic()
        while proc.poll() is None and not final.is_dir():
            time.sleep(0.002)
        t2 = time.monotonic()
        code = proc.wait()
        t3 = time.monotonic()
    if code != 0:
        raise RuntimeError(f"the uninterrupted run failed ({code}): {out.read_text()}")
    every = int(_value(args, "trainer.checkpoint_every"))
    return Reference(run_dir, steps, every, t1 - t0, t2 - t1, t3 - t2)


def _value(args: list[str], key: str) -> str:
    return next(a for a in args if a.startswith(key + "=")).partition("=")[2]


# -- one cycle ---------------------------------------------------------------------------------


@dataclass
class Cycle:
    """What happened to one run killed and resumed until it finished."""

    kills: Counter[str] = field(default_factory=Counter)  # by kind
    kills_in_write: int = 0  # kills that left a new .step_*.tmp folder behind
    resumes: int = 0
    restarts: int = 0  # killed before any checkpoint: started again from nothing
    resume_points: list[tuple[int, bool]] = field(default_factory=list)  # (step, matches ref)
    redone_steps: int = 0
    torn_lines: int = 0  # metrics.jsonl lines that are not JSON (a write cut by a kill)
    fallbacks: int = 0  # resumes that warned about a damaged checkpoint
    exact: bool = False
    lost_steps: int = 0
    problems: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)  # one per kill: kind@last logged step
    seconds: float = 0.0


def run_cycle(
    args: list[str],
    workdir: Path,
    ref: Reference,
    seed: int | str,
    *,
    max_kills: int = 3,
    kinds: tuple[str, ...] = KINDS,
    plan: tuple[str, ...] = (),
    name: str = "faulted",
    last: Callable[[list[str], Path, TextIO], int] | None = None,
) -> Cycle:
    """Run `args` as `name` under `workdir`, killing it up to `max_kills` times and resuming
    until it finishes. The kinds of kill are drawn from `kinds` by a generator seeded with
    `seed` (which also draws the moments), or taken in order from `plan` when given.
    `last(argv, workdir, log)`, when given, runs the session no kill is left for (the tests:
    in their own process, a Python start saved) and returns its exit code."""
    rng = random.Random(f"{name}-{seed}")
    cycle = Cycle()
    start = time.monotonic()
    run_dir = workdir / "runs" / name
    fresh = [sys.executable, "-m", "ganhub", "run", *args, f"name={name}"]
    resume = [sys.executable, "-m", "ganhub", "run", f"resume=runs/{name}"]
    cmd, first, session = fresh, True, 0
    while True:
        session += 1
        n_kills = sum(cycle.kills.values())
        if plan:
            kind = plan[n_kills] if n_kills < min(len(plan), max_kills) else None
        elif n_kills < max_kills:
            kind = rng.choice([k for k in kinds if first or k != "early"])
        else:
            kind = None
        point = _newest_complete(run_dir)
        done = _step(point) if point else 0
        before = Before(_stamp(run_dir / "config.yaml"), {_identity(p) for p in _tmp_dirs(run_dir)})
        out = workdir / f"{name}.{session}.log"
        with out.open("w") as log:
            if kind is None and last is not None:
                code, killed = last(cmd[3:], workdir, log), False
            else:
                proc = subprocess.Popen(cmd, cwd=workdir, env=child_env(), stdout=log, stderr=log)
                killed = bool(kind) and _kill_when(kind, proc, run_dir, ref, rng, done, before)
                try:
                    code = proc.wait(timeout=HANG_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    code = proc.wait()
                    cycle.problems.append(f"session {session} hung for {HANG_S} s")
                    break
        text = out.read_text(errors="replace")
        cycle.fallbacks += "trying the previous checkpoint" in text
        if "Traceback" in text:
            cycle.problems.append(f"session {session}: traceback: {_last_line(text)}")
        if not killed:
            if code != 0:
                cycle.problems.append(f"session {session} exited {code}: {_last_line(text)}")
            break
        assert kind is not None
        cycle.kills[kind] += 1
        in_write = any(_identity(p) not in before.tmp for p in _tmp_dirs(run_dir))
        cycle.kills_in_write += in_write
        cycle.events.append(f"{kind}@{_last_step(run_dir / 'metrics.jsonl')}{'w' * in_write}")
        point = _newest_complete(run_dir)
        if point is None:  # killed before its first checkpoint: nothing to resume
            shutil.rmtree(run_dir, ignore_errors=True)
            cycle.restarts += 1
            cmd, first = fresh, True
            continue
        same = _same(load_file(str(point / "model.safetensors")), ref.weights(_step(point)))
        cycle.resume_points.append((_step(point), same))
        cycle.resumes += 1
        cmd, first = resume, False

    # bit-exact: the weights, and the training state too (optimizer moments, RNG states...)
    final = run_dir / "checkpoints" / STEP_DIR.format(ref.steps)
    cycle.exact = (final / "state.safetensors").is_file() and all(
        _same(load_file(str(final / f)), ref.weights(ref.steps, f)) for f in FILES
    )
    if not cycle.exact:
        if not (final / "state.safetensors").is_file():
            cycle.problems.append(f"no final checkpoint {final.name}")
        good = 0
        for step, same in cycle.resume_points:
            if not same:
                break
            good = step
        cycle.lost_steps = ref.steps - good
    cycle.redone_steps, cycle.torn_lines = _redone(run_dir / "metrics.jsonl")
    cycle.seconds = time.monotonic() - start
    return cycle


@dataclass
class Before:
    """The run directory as a process found it: config.yaml's identity, leftover tmp folders."""

    config: tuple[int, int] | None
    tmp: set[tuple[str, int, int] | None]


def _kill_when(
    kind: str,
    proc: subprocess.Popen[bytes],
    run_dir: Path,
    ref: Reference,
    rng: random.Random,
    done: int,
    before: Before,
) -> bool:
    """Wait for the moment of a `kind` kill and SIGKILL `proc`, which resumes from step `done`
    (0: a fresh start); False if it ended first."""
    if kind == "early":
        if _ended(proc, rng.uniform(0.0, ref.startup_s + ref.train_s)):
            return False
    elif kind == "random":
        if _wait_for_new(run_dir / "config.yaml", before.config, proc) is None:
            return False
        # the training left, and a tenth more: some kills land after the final checkpoint
        left = ref.train_s * ((ref.steps - done) / ref.steps + 0.1)
        if _ended(proc, rng.uniform(0.0, left)):
            return False
    else:  # write: the n-th checkpoint write this process starts
        target = rng.randint(1, max(1, (ref.steps - done) // max(ref.every, 1)))
        # a folder a killed process left behind is not a write of this one: the new process
        # removes and recreates it when it saves that step again (a new inode or ctime)
        seen: set[tuple[str, int, int] | None] = set()
        while True:
            seen.update(i for i in map(_identity, _tmp_dirs(run_dir)) if i not in before.tmp)
            if len(seen) >= target:
                break
            if proc.poll() is not None:
                return False
            time.sleep(POLL_S)
        if rng.random() < 0.5:  # half at once (inside the write), half up to 3 ms later
            time.sleep(rng.uniform(0.0, 0.003))
    proc.send_signal(signal.SIGKILL)  # nothing when it has ended (Popen polls first)
    return proc.wait() == -signal.SIGKILL


def _step(checkpoint_dir: Path) -> int:
    return int(checkpoint_dir.name.removeprefix("step_"))


def _identity(path: Path) -> tuple[str, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return path.name, st.st_ino, st.st_ctime_ns


def _ended(proc: subprocess.Popen[bytes], seconds: float) -> bool:
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def _wait_for_new(
    path: Path, before: tuple[int, int] | None, proc: subprocess.Popen[bytes]
) -> float | None:
    """Wait until `path` is (re)written (a run writes config.yaml right before its first step);
    the time it was seen, or None if the process ended first."""
    while proc.poll() is None:
        now = _stamp(path)
        if now is not None and now != before:
            return time.monotonic()
        time.sleep(0.002)
    return None


def _tmp_dirs(run_dir: Path) -> list[Path]:
    try:
        return [
            p
            for p in (run_dir / "checkpoints").iterdir()
            if p.name.startswith(".step_") and p.name.endswith(".tmp")
        ]
    except OSError:
        return []


def _newest_complete(run_dir: Path) -> Path | None:
    """The checkpoint a resume starts from: ganhub's own choice."""
    from ganhub.engine import checkpoint

    return checkpoint.latest(run_dir / "checkpoints")


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _redone(metrics: Path) -> tuple[int, int]:
    """(steps logged more than once, lines that are not JSON) in a metrics.jsonl."""
    counts: Counter[int] = Counter()
    torn = 0
    try:
        lines = metrics.read_text(errors="replace").splitlines()
    except OSError:
        return 0, 0
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            torn += 1
            continue
        if any(k.startswith("loss/") for k in record):
            counts[int(record["step"])] += 1
    return sum(n - 1 for n in counts.values()), torn


def _last_step(metrics: Path) -> int | None:
    try:
        return int(json.loads(metrics.read_text().splitlines()[-1])["step"])
    except (OSError, ValueError, IndexError, KeyError):
        return None


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "(no output)"


# -- the table ---------------------------------------------------------------------------------


def run_domain(
    domain: str, cycles: int, max_kills: int, workdir: Path, keep: bool = False
) -> list[Cycle]:
    """`cycles` cycles of `domain` under `workdir`, printing a line for each."""
    args = DOMAINS[domain]
    ref = reference(args, workdir)
    print(
        f"{domain}: the uninterrupted run started in {ref.startup_s:.1f} s, trained "
        f"{ref.steps} steps in {ref.train_s:.1f} s, ended in {ref.end_s:.1f} s",
        flush=True,
    )
    results = []
    for i in range(cycles):
        c = run_cycle(args, workdir, ref, seed=i, max_kills=max_kills, name=f"cycle{i}")
        points = ",".join(f"{s}{'' if ok else '!'}" for s, ok in c.resume_points) or "-"
        print(
            f"  cycle {i}: killed {' '.join(c.events) or 'never'}; resumed from {points}, "
            f"restarts {c.restarts}: {'exact' if c.exact else 'DIFFERENT'}, lost "
            f"{c.lost_steps}, redone {c.redone_steps} ({c.seconds:.1f} s)"
            + "".join(f"\n    problem: {p}" for p in c.problems),
            flush=True,
        )
        results.append(c)
        if not keep:
            shutil.rmtree(workdir / "runs" / f"cycle{i}", ignore_errors=True)
    return results


def table(rows: dict[str, list[Cycle]], seconds: dict[str, float]) -> str:
    head = (
        "domain", "cycles", "kills", "random", "write", "in a write", "early", "resumes", "restarts",
        "bit-exact", "lost steps", "redone steps", "fallbacks", "torn lines", "wall",
    )  # fmt: skip
    lines = [head]
    for domain, cycles in rows.items():
        kills: Counter[str] = sum((c.kills for c in cycles), Counter())
        lines.append(
            (
                domain,
                str(len(cycles)),
                str(sum(kills.values())),
                str(kills["random"]),
                str(kills["write"]),
                f"{sum(c.kills_in_write for c in cycles)}/{sum(kills.values())}",
                str(kills["early"]),
                str(sum(c.resumes for c in cycles)),
                str(sum(c.restarts for c in cycles)),
                f"{sum(c.exact for c in cycles)}/{len(cycles)}",
                str(sum(c.lost_steps for c in cycles)),
                str(sum(c.redone_steps for c in cycles)),
                str(sum(c.fallbacks for c in cycles)),
                str(sum(c.torn_lines for c in cycles)),
                f"{seconds[domain]:.0f} s",
            )
        )
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    out = ["  ".join(cell.rjust(w) for cell, w in zip(r, widths)) for r in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def main() -> None:
    from entry import Parser  # here, not at the top: tests load this file by path

    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=10, help="killed runs per domain")
    parser.add_argument("--domains", default="toy2d,dcgan", help="comma-separated: toy2d,dcgan")
    parser.add_argument("--max-kills", type=int, default=3, help="kills per run at most")
    parser.add_argument("--keep", type=Path, help="work here and keep the run directories")
    args = parser.parse_args()
    domains = [d for d in args.domains.split(",") if d]
    unknown = [d for d in domains if d not in DOMAINS]
    if unknown:
        parser.error(f"unknown domain(s) {', '.join(unknown)}; choose from {', '.join(DOMAINS)}")
    rows, seconds = {}, {}
    with tempfile.TemporaryDirectory(prefix="ganhub-faults-") as tmp:
        for domain in domains:
            workdir = (args.keep or Path(tmp)) / domain
            workdir.mkdir(parents=True, exist_ok=True)
            t0 = time.monotonic()
            rows[domain] = run_domain(
                domain, args.cycles, args.max_kills, workdir, keep=args.keep is not None
            )
            seconds[domain] = time.monotonic() - t0
    print()
    print(table(rows, seconds))
    exact = all(c.exact for cycles in rows.values() for c in cycles)
    lost = sum(c.lost_steps for cycles in rows.values() for c in cycles)
    print(f"\n{'every run bit-exact' if exact else 'NOT every run bit-exact'}; lost steps: {lost}")
    sys.exit(0 if exact and not lost else 1)


if __name__ == "__main__":
    from entry import run_main

    run_main(main)
