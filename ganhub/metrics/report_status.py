"""Where a run stands, for `ganhub report`: training now, failed, stopped early, stopped or
finished; which sample files its current history holds; what to say when it wrote no
metrics.jsonl.

The engine records some of this and not the rest. `failed.json` (the step and the error) marks
a run that failed after its first checkpoint (a resume removes it); an `early_stop` record in
metrics.jsonl marks a trainer.patience stop; a training process holds `.lock`; `checkpoints/`
holds a folder per saved step; a `stop/signal`, `stop/max_seconds` or `stop/requested` record
says why a run stopped before finishing. A killed process leaves no record: the page says that
the run stopped, not why.

A resume goes back to a checkpoint and drops the metrics.jsonl records after it (they are
logged again), so metrics.jsonl is the run's current history. The sample files are not
trimmed: a sample after the history's last step, or one written before the history reached
the step before it, belongs to a session that a resume went back past.

Every file read here is untrusted input, bounded and checked as `rundata` does; the page's
template escapes every value. Config values (trainer.steps, trainer.keep_best, the loggers)
are shown as they are typed (`report_values.typed_text`), as on the rest of the page.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ganhub.engine.lock import LOCK_FILE
from ganhub.engine.rundir import FAILED_FILE
from ganhub.errors import one_line
from ganhub.metrics.report_values import typed_text
from ganhub.metrics.untrusted import (
    as_number,
    as_text,
    inside_run,
    read_json,
    shown_path,
    whole_step,
)

MAX_FAILED_BYTES = 64 << 10  # failed.json holds a step and one line
MAX_ERROR = 300  # characters of failed.json's error shown on the page
MAX_ENTRIES = 10_000  # entries of checkpoints/ looked at
SESSION_SLACK_S = 1.0  # clocks of the writer and the file system may differ this much


def last_logged(records: list[dict[str, Any]]) -> int | None:
    """The last step the run's current history (metrics.jsonl) holds."""
    return max((int(r["step"]) for r in records), default=None)


def newest_checkpoint(run_dir: Path) -> int | None:
    """The step of the newest checkpoint folder (checkpoints/step_<N>), by name only."""
    folder = run_dir / "checkpoints"
    newest: int | None = None
    try:
        if folder.is_symlink() or not folder.is_dir():
            return None
        with os.scandir(folder) as entries:
            for n, entry in enumerate(entries):
                if n >= MAX_ENTRIES:
                    break
                match = re.fullmatch(r"step_(\d{7,12})", entry.name)
                if match and entry.is_dir(follow_symlinks=False):
                    newest = max(newest or 0, int(match.group(1)))
    except OSError:
        return newest
    return newest


def training_now(run_dir: Path) -> bool:
    """Whether a process holds the run's lock, as a `ganhub run resume=` would find it: a
    shared lock is asked for without waiting and given back at once."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system: runs are not locked
        return False
    path = run_dir / LOCK_FILE
    if not inside_run(run_dir, path):
        return False
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:  # held by a live process
        return True
    except OSError:  # a file system without locks
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def session_samples(run_dir: Path, after: int | None) -> int | None:
    """For a run training now, the last step of the sample files its session wrote after
    step `after` (the history's last logged step: records reach metrics.jsonl a little after
    the samples of their step), else `after`. Those files are the session's newest output, not
    a session's that a resume went back past, which wrote them before this one took the lock
    (`.lock` is rewritten as a session starts)."""
    lock, samples = run_dir / LOCK_FILE, run_dir / "samples"
    if not training_now(run_dir) or samples.is_symlink() or not samples.is_dir():
        return after
    try:
        started = lock.lstat().st_mtime - SESSION_SLACK_S
        newest = after
        with os.scandir(samples) as entries:
            for n, entry in enumerate(entries):
                if n >= MAX_ENTRIES:
                    break
                match = re.fullmatch(r"step_(\d{1,12})\.(png|txt)", entry.name)
                if not match or (after is not None and int(match.group(1)) <= after):
                    continue
                if entry.stat(follow_symlinks=False).st_mtime >= started:
                    newest = max(newest or 0, int(match.group(1)))
    except OSError:
        return after
    return newest


def recorded_failure(run_dir: Path, notes: list[str]) -> tuple[int, str, int | None] | None:
    """(step, error, trainer.steps of the failed session where recorded) of failed.json, or
    None (with a note when it is there but unreadable)."""
    path = run_dir / FAILED_FILE
    if not path.exists() and not path.is_symlink():
        return None
    record, problem = read_json(run_dir, path, MAX_FAILED_BYTES)
    if problem is None and not (
        isinstance(record, dict)
        and whole_step(record.get("step")) is not None
        and isinstance(record.get("error"), str)
    ):
        problem = "not a JSON object with a whole-number 'step' and an 'error' text"
    if problem is not None:
        notes.append(f"{FAILED_FILE}: ignored ({problem})")
        return None
    error = " ".join(as_text(record["error"], 10 * MAX_ERROR).split()) or "(no message)"
    # the failed session's steps: a failed resume with more steps put back the saved
    # config.yaml, whose trainer.steps is the shorter run's
    return int(record["step"]), one_line(error, MAX_ERROR), whole_step(record.get("steps"))


def early_stop_line(config: dict[Any, Any], records: list[dict[str, Any]], last: int) -> str:
    """The sentence for a trainer.patience stop that is the run's current state ('' if none):
    its `early_stop` record is at the run's last step, so config.yaml is the one of the
    session that stopped (a resume that trains on rewrites it, and logs past the stop)."""
    record = next((r for r in reversed(records) if as_number(r.get("early_stop"))), None)
    if record is None or record["step"] < last:
        return ""
    raw = config.get("trainer")
    trainer: dict[Any, Any] = raw if isinstance(raw, dict) else {}
    best = as_number(record.get("early_stop/best_step"))
    # the patience logged with the stop, where the engine logs it; else the stopping session's
    patience = as_number(record.get("early_stop/patience"))
    if patience is None:
        patience = as_number(trainer.get("patience"))
    given = f"trainer.patience={int(patience)}" if patience is not None else "trainer.patience"
    return (
        f"Stopped early at step {record['step']} of {typed_text(trainer.get('steps'))}: "
        f"{typed_text(trainer.get('keep_best'), 100)} did not improve in {given} evaluations "
        + (f"(best at step {int(best)})." if best is not None else "(no best value).")
    )


def stop_reason(records: list[dict[str, Any]], last: int) -> str:
    """Why the run stopped, from a `stop/...` record at its last step ('' if none: an older
    run, a killed process, or a stop that a resume trained past)."""
    record = next((r for r in reversed(records) if any(k.startswith("stop/") for k in r)), None)
    if record is None or record["step"] < last:
        return ""
    signum = as_number(record.get("stop/signal"))
    if signum is not None:
        names = {2: "SIGINT (Ctrl-C)", 15: "SIGTERM"}
        return f"by {names.get(int(signum), f'signal {int(signum)}')}"
    limit = as_number(record.get("stop/max_seconds"))
    if limit is not None:
        return f"by trainer.max_seconds={limit:g}"
    return "at a plugin's request (as tune's pruner makes)" if "stop/requested" in record else ""


def _typed_path(path: Path) -> str:
    """A run directory as one would type it in a shell: quoted where it holds spaces or
    shell characters, control characters escaped (the page escapes it again as HTML)."""
    import shlex

    return shlex.quote(shown_path(path))


def run_status(
    run_dir: Path, config: dict[Any, Any], records: list[dict[str, Any]], notes: list[str]
) -> tuple[str, str]:
    """(kind, sentence) of where the run stands; kind is one of training, failed, early,
    stopped, finished and none."""
    logged, saved = last_logged(records), newest_checkpoint(run_dir)
    known = [s for s in (logged, saved) if s is not None]
    last = max(known) if known else None
    raw = config.get("trainer")
    steps = whole_step(raw.get("steps")) if isinstance(raw, dict) else None
    of = f" of {steps}" if steps is not None else ""
    resume = (
        f"; ganhub run resume={_typed_path(run_dir)} continues from its newest checkpoint "
        f"(step {saved})"
        if saved is not None
        else "; it holds no checkpoint to resume from"
    )
    failure = recorded_failure(run_dir, notes)
    if failure is not None and last is not None and failure[0] < last:
        notes.append(
            f"{FAILED_FILE}: a failure at step {failure[0]}, which the run trained past since "
            f"(step {last}); not its current state"
        )
        failure = None
    if training_now(run_dir):
        at = f"step {last}{of} reached so far" if last is not None else "no step recorded yet"
        return "training", f"Training now (a process holds the run directory's lock): {at}."
    if failure is not None:
        target = f" of {failure[2]}" if failure[2] is not None else of
        return "failed", f"Failed at step {failure[0]}{target}: {failure[1]}{resume}."
    if last is None:
        return "none", "No training recorded: no metrics.jsonl records and no checkpoint."
    stop = early_stop_line(config, records, last)
    if stop:
        return "early", stop
    if steps is not None and last >= steps:
        return "finished", f"Finished: trained to step {last}{of}."
    if steps is None:
        return "stopped", f"At step {last} (config.yaml gives no trainer.steps to compare)."
    reason = stop_reason(records, last)
    if reason:
        return "stopped", f"Stopped {reason} at step {last}{of} before finishing{resume}."
    return "stopped", (
        f"Stopped at step {last}{of} before finishing. The run directory records no failure "
        "and no reason: a killed process leaves none"
        f"{resume}."
    )


def earlier_session(records: list[dict[str, Any]], files: list[tuple[int, Path]]) -> set[int]:
    """The steps of `files` (samples) written before the history logged a step before theirs:
    a session made them and a resume went back past them (the history that trained on to
    that step did not sample it again). A copy that renews the files' times hides none."""
    times = ((r["step"], as_number(r.get("time"))) for r in records)
    logged = sorted((s, t) for s, t in times if t is not None)
    out = set()
    for step, path in files:
        before = [t for s, t in logged if s < step]
        if not before:
            continue
        try:
            written = path.stat().st_mtime
        except OSError:
            continue
        if written < max(before) - SESSION_SLACK_S:
            out.add(step)
    return out


def missing_metrics(run_dir: Path, config: dict[Any, Any], records: list[dict[str, Any]]) -> str:
    """What to say of a run without metrics.jsonl: jsonl was not among its loggers (config.yaml's
    `loggers`), or it was and the run saved checkpoints or samples (the logger opens the file
    before the first step), so the file was deleted or not copied with the run directory; and
    what its directory holds instead. '' otherwise (a run just starting, or one with the file)."""
    path = run_dir / "metrics.jsonl"
    loggers = config.get("loggers")
    if records or path.exists() or path.is_symlink() or not isinstance(loggers, list):
        return ""
    if "jsonl" in loggers:
        if newest_checkpoint(run_dir) is None and not (run_dir / "samples").is_dir():
            return ""  # not yet written (a run that has just started), or never trained
        said = (
            "metrics.jsonl is missing, though the jsonl logger writes it from a run's start: "
            "it was deleted or not copied with the run directory, so the curves and the "
            "evaluations during training are not on this page"
        )
    else:
        names = ", ".join(typed_text(n, 40) for n in loggers[:10]) or "none"
        said = (
            f"metrics.jsonl is absent: jsonl was not among this run's loggers ({names} in "
            "config.yaml), so the curves and the evaluations during training are not on this page"
        )
    there = []
    tb = run_dir / "tb"
    if tb.is_dir() and not tb.is_symlink():
        shown = as_text(shown_path(tb), 300)
        there.append(f"TensorBoard's event files (tensorboard --logdir {shown})")
    if (run_dir / "eval.json").is_file():
        there.append("eval.json from ganhub eval (the final metrics below)")
    saved = newest_checkpoint(run_dir)
    if saved is not None:
        there.append(f"checkpoints up to step {saved}")
    return said + ("; the run directory holds " + ", ".join(there) if there else "") + "."


__all__ = [
    "earlier_session",
    "early_stop_line",
    "missing_metrics",
    "newest_checkpoint",
    "run_status",
    "session_samples",
]
