"""Everything a training run prints: the start banner, training and evaluation progress,
warnings and the final summary (rank 0).

The engine owns one `Console` per run. Code deeper down (metrics, feature networks, real-data
statistics) reports slow work with `activity(...)`, which reaches the console of the run being
trained, if any, and does nothing otherwise. On a terminal the console draws with rich
(imported on first use, so `import ganhub` and `ganhub --help` load none of it); anywhere else
(CI logs, pipes, notebooks, tests) it writes plain lines, flushed at once, with no control codes.

`trainer.progress=false` makes a run quiet: no banner, progress or summary table (the CLI then
prints its one summary line). Warnings always print, on stderr: under torchrun the run's
warnings are said once, by rank 0 (`warn`).
"""

from __future__ import annotations

import math
import os
import shlex
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

_ACTIVE: ContextVar[Console | None] = ContextVar("ganhub_console", default=None)  # activity()

PLAIN_EVERY_S = 60.0  # without a terminal: a training line at least this often...
PLAIN_FRACTION = 10  # ...and at every tenth of the run


class Activity:
    """Slow work being shown: `advance()` counts it toward `total`; `note` ends its line."""

    def __init__(self, console: Console | None, description: str, total: int | None) -> None:
        self.console = console
        self.description = description
        self.total = total
        self.done = 0
        self.note = ""
        self.started = time.perf_counter()
        self.task: Any = None  # its row in the live display

    def advance(self, n: int = 1) -> None:
        """Count `n` more units (epochs, batches) of the work done."""
        self.done += n
        if self.console is not None:
            self.console._advanced(self)

    @property
    def seconds(self) -> float:
        """Wall time since the work started."""
        return time.perf_counter() - self.started


def speaks_for_job() -> bool:
    """Whether this process says the job's warnings: the only process, or torchrun's rank 0
    (the RANK torchrun sets)."""
    return os.environ.get("RANK", "0").strip() in ("", "0")


def warn(line: str, every_rank: bool = False) -> None:
    """A warning line on stderr. Under torchrun every process meets the run's warnings (a
    config, a checkpoint, a metric): rank 0 alone says them, once for the job. `every_rank`
    is for what one process may meet alone (its own output closed, its own hook failing),
    which that process must say, as `[rank N] ` in a job of several processes (torchrun
    passes their stderr through unmarked unless asked to `--tee`)."""
    if every_rank or speaks_for_job():
        try:  # while rich draws, sys.stderr is its proxy, which prints the line above the bars
            print(f"{_rank_mark()}{line}" if every_rank else line, file=sys.stderr, flush=True)
        except OSError as exc:  # `2>&1 | head`: stderr's reader left too; nowhere to say it
            from ganhub.closed_output import stderr_lost

            if not stderr_lost(exc):
                raise


def _rank_mark() -> str:
    """'[rank 3] ' in a torchrun job of several processes (its RANK and WORLD_SIZE), else ''."""
    rank, size = (os.environ.get(k, "").strip() for k in ("RANK", "WORLD_SIZE"))
    several = size.isdigit() and int(size) > 1
    return f"[rank {rank}] " if several and rank.isdigit() else ""


@contextmanager
def activity(description: str, total: int | None = None) -> Iterator[Activity]:
    """Show slow work on the console of the run in progress (nothing when there is none)."""
    console = _ACTIVE.get()
    if console is None:
        yield Activity(None, description, total)
        return
    with console.activity(description, total) as shown:
        yield shown


class Console:
    """The terminal output of one run: plain lines, or rich progress bars on a terminal.

    `quiet` shows only warnings; `live` forces (True) or forbids (False) the rich display
    instead of asking whether the output is a terminal; `file` replaces sys.stdout (which,
    when no file is given, is looked up at each write, so later redirections are followed).
    """

    def __init__(
        self, *, quiet: bool = False, live: bool | None = None, file: TextIO | None = None
    ) -> None:
        self.quiet = quiet
        self._live_choice = live
        self._file = file
        self._live: bool | None = None  # decided once, when first needed
        self._rich: Any = None  # rich.console.Console
        self._progress: Any = None  # rich.progress.Progress while drawing
        self._in_session = False
        self._depth = 0
        self._train: Any = None  # the training bar's task
        self._total = 0
        self._shown_step = 0  # plain mode: the step of the last training line
        self._shown_at = 0.0

    # -- where output goes ------------------------------------------------------------

    @property
    def out(self) -> TextIO:
        """The stream run output goes to (sys.stdout unless given)."""
        return self._file or sys.stdout

    @property
    def live(self) -> bool:
        """Whether output is drawn with rich (a terminal that is not 'dumb', or forced)."""
        if self.quiet:
            return False
        if self._live is None:
            if self._live_choice is not None:
                self._live = self._live_choice
            else:
                isatty = getattr(self.out, "isatty", None)
                tty = bool(isatty is not None and isatty())
                self._live = tty and os.environ.get("TERM") != "dumb"
        return self._live

    def print(self, text: str = "") -> None:
        """One line (or block) of run output; nothing when quiet."""
        if self.quiet:
            return
        from ganhub.closed_output import WRITE_FAILED, unsaid_loss

        try:
            if self.live:
                self._console().print(text, markup=False, highlight=False)
            else:
                print(text, file=self.out, flush=True)
        except OSError as exc:  # `ganhub run ... | head`, `> /dev/full`: training goes on
            if not isinstance(exc, BrokenPipeError) and exc.errno not in WRITE_FAILED:
                raise
            return self._output_lost(exc)
        lost = unsaid_loss(self.out)  # the CLI's guard took the failure in silence
        if lost is not None:
            self._output_lost(lost)

    def _output_lost(self, error: OSError) -> None:
        """Stop writing run output once its reader has closed the pipe (or a write failed:
        a full disk), with one warning. The run's files hold what it logs; the stream is
        pointed at the null device, so later writes, by anyone (and Python's flush at exit),
        find no closed pipe either. Output meant for stderr (a command's progress) that stderr
        cannot take is dropped without a word: there is nowhere left to say it."""
        from ganhub.closed_output import mark_said, silence

        self.quiet = True
        if self._file is sys.stderr:
            return silence(sys.stderr)
        if self._file is None or self._file is sys.stdout:
            silence(sys.stdout)
        mark_said(self.out)  # said once here: the command does not fail for it
        why = "the output's reader closed it (a pipe into head?)"
        if not isinstance(error, BrokenPipeError):
            why = f"the output cannot be written ({error.strerror or error})"
        self.warn(  # this process's own output
            f"ganhub: warning: {why}; training goes on without printing, and the run directory "
            "holds what it logs",
            every_rank=True,
        )

    def warn(self, line: str, every_rank: bool = False) -> None:
        """A warning: shown even when quiet, on stderr (above the bars while they draw); under
        torchrun by rank 0 alone, unless `every_rank` (`warn`)."""
        warn(line, every_rank=every_rank)

    @contextmanager
    def session(self) -> Iterator[Console]:
        """While it lasts, `activity()` reports here and bars stay on screen (a run's `fit`)."""
        token = _ACTIVE.set(self)
        self._in_session = True
        try:
            yield self
        finally:
            self._in_session = False
            self._stop()
            _ACTIVE.reset(token)

    # -- banner and summary -----------------------------------------------------------

    def banner(self, title: str, rows: Sequence[tuple[str, str]]) -> None:
        """The start banner: a title and labelled facts."""
        if self.quiet:
            return
        if not self.live:
            width = max((len(k) for k, _ in rows), default=0)
            lines = [f"ganhub: {title}", *(f"  {k:<{width}}  {v}" for k, v in rows)]
            self.print("\n".join(lines))
            return
        from rich.table import Table
        from rich.text import Text

        table = Table.grid(padding=(0, 2))
        table.add_column(style="dim")
        table.add_column()
        for key, value in rows:
            table.add_row(Text(key), Text(value))  # Text: paths and names are not markup
        self._console().print(f"[bold]ganhub[/bold] {_escape(title)}", highlight=False)
        self._console().print(table)

    def summary(self, head: str, rows: Sequence[tuple[str, str]]) -> None:
        """The end-of-run summary: its first line, then a table of labelled rows."""
        if self.quiet:
            return
        self._stop()  # the bars end above the table
        if not self.live:
            width = max((len(k) for k, _ in rows), default=0)
            lines = [head]
            for key, value in rows:
                first, *rest = value.splitlines() or [""]
                lines.append(f"  {key:<{width}}  {first}")
                lines += [f"  {'':<{width}}  {more}" for more in rest]
            self.print("\n".join(lines))
            return
        from rich.table import Table
        from rich.text import Text

        table = Table(show_header=False, box=None, padding=(0, 2), pad_edge=False)
        table.add_column(style="dim", no_wrap=True)
        table.add_column(overflow="fold")
        for key, value in rows:
            table.add_row(Text(key), Text(value))
        self._console().print(head, style="bold", markup=False, highlight=False)
        self._console().print(table)

    # -- training progress ------------------------------------------------------------

    def start_training(self, total: int, step: int) -> None:
        """Show the training bar from `step` of `total`."""
        self._total, self._shown_step, self._shown_at = total, step, time.perf_counter()
        if self.quiet or not self.live:
            return
        self._train = self._bars().add_task("train", total=total, completed=step, count="", info="")
        self._advanced_train(step)

    def training(self, step: int, info: str) -> None:
        """Progress at a logging step (called on those steps only: no per-step cost)."""
        if self.quiet:
            return
        if self._train is not None:
            self._advanced_train(step, info)
            return
        now = time.perf_counter()
        tenth = max(1, self._total // PLAIN_FRACTION)
        if (
            step >= self._total
            or step - self._shown_step >= tenth
            or now - self._shown_at >= PLAIN_EVERY_S
        ):
            self._shown_step, self._shown_at = step, now
            share = step / max(1, self._total)
            self.print(f"step {step}/{self._total} ({share:.0%})  {info}".rstrip())

    def end_training(self, step: int) -> None:
        """The training bar stops at `step` (evaluation and saving follow under it)."""
        if self._train is not None:
            self._advanced_train(step)

    def _advanced_train(self, step: int, info: str | None = None) -> None:
        fields: dict[str, Any] = {"count": f"{step}/{self._total}"}
        if info is not None:
            fields["info"] = info
        self._bars().update(self._train, completed=step, **fields)

    # -- activities -------------------------------------------------------------------

    @contextmanager
    def activity(self, description: str, total: int | None = None) -> Iterator[Activity]:
        """Show slow work (nested ones indented): a live row, or a line when it starts and one
        with its time (and `note`) when it ends."""
        shown = Activity(self, description, total)
        if self.quiet:
            yield shown
            return
        indent = "  " * self._depth
        owner = self.live and self._progress is None and not self._in_session
        if self.live:
            count = f"0/{total}" if total else ""
            shown.task = self._bars().add_task(
                indent + description, total=total, count=count, info=""
            )
        else:
            self.print(f"{indent}{description} ...")
        self._depth += 1
        failed = False
        try:
            yield shown
        except BaseException:
            failed = True
            raise
        finally:
            self._depth -= 1
            if shown.task is not None and self._progress is not None:
                self._progress.remove_task(shown.task)
            outcome = f"failed after {shown.seconds:.1f} s" if failed else f"{shown.seconds:.1f} s"
            note = f"  {shown.note}" if shown.note and not failed else ""
            self.print(f"{indent}{description}: {outcome}{note}")
            if owner:
                self._stop()

    def _advanced(self, shown: Activity) -> None:
        if shown.task is not None and self._progress is not None:
            count = f"{shown.done}/{shown.total}" if shown.total else f"{shown.done}"
            self._progress.update(shown.task, completed=shown.done, count=count)

    # -- rich, imported on first use --------------------------------------------------

    def _console(self) -> Any:
        if self._progress is not None:
            return self._progress.console
        if self._rich is None:
            from rich.console import Console as RichConsole

            forced = self._live_choice is True
            self._rich = RichConsole(file=self._file, force_terminal=True if forced else None)
        return self._rich

    def _bars(self) -> Any:
        if self._progress is None:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description}", markup=False),  # names are not markup
                BarColumn(bar_width=30),
                TextColumn("{task.fields[count]}", markup=False),
                TimeElapsedColumn(),
                TextColumn("{task.fields[info]}", markup=False),
                console=self._console(),
                refresh_per_second=4,  # a thread redraws; 4 Hz costs nothing next to training
            )
            self._progress.start()
        return self._progress

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._train = None


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


# -- what a run shows ---------------------------------------------------------------------


def count_text(n: float) -> str:
    """A count for people: 1234 -> '1.2 k', 3_600_000 -> '3.6 M'."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:g}"


def number(v: float) -> str:
    """A metric value: integers as such, else four significant digits."""
    if isinstance(v, float) and math.isfinite(v) and v == int(v) and abs(v) < 1e9:
        return str(int(v))
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def brief(values: Mapping[str, float], limit: int = 6) -> str:
    """A metric's values on one line, counts left out: 'fd_digits=12.31 kd_digits=0.0123'."""
    shown = [f"{k}={number(v)}" for k, v in values.items() if not k.startswith("n_")]
    more = f" (+{len(shown) - limit})" if len(shown) > limit else ""
    return " ".join(shown[:limit]) + more


def tensorboard_command(run_dir: str) -> str:
    """The command that opens a run's TensorBoard events."""
    return f"tensorboard --logdir {shlex.quote(run_dir.rstrip('/') + '/tb')}"


def summary_head(summary: Mapping[str, Any]) -> str:
    """'ganhub: done at step N (time: training time at speed, evaluation time); outputs in DIR'."""
    state = "stopped" if summary["stopped_early"] else "done"
    early = summary.get("early_stop")
    if early:  # trainer.patience ran out
        best = f"best at step {early['best_step']}" if early["best_step"] is not None else "no best"
        state = (
            f"stopped early by trainer.patience={early['patience']} ({early['metric']} did not "
            f"improve; {best})"
        )
    timing = f"{summary['seconds']:.1f} s: training {summary['train_seconds']:.1f} s at " + (
        f"{summary['steps_per_s']:.1f} steps/s"
    )
    if not summary["steps_this_session"]:  # a finished run resumed: it only evaluated again
        timing = f"{summary['seconds']:.1f} s: no step trained"
    if summary["eval_seconds"]:
        timing += f", evaluation {summary['eval_seconds']:.1f} s"
    return f"ganhub: {state} at step {summary['steps']} ({timing}); outputs in {summary['run_dir']}"


def summary_line(summary: Mapping[str, Any], resumable: bool = True) -> str:
    """One line: where training ended, how fast it trained, where the outputs are, metrics;
    for a run stopped early, how to continue it (`resumable=False`: a run that cannot be)."""
    line = summary_head(summary)
    if summary["samples"]:
        run_dir = summary["run_dir"].rstrip("/") + "/"
        line += f" (samples: {', '.join(s.removeprefix(run_dir) for s in summary['samples'])})"
    if summary["metrics"]:
        line += "; " + " ".join(f"{k}={number(v)}" for k, v in summary["metrics"].items())
    if resumable and _resumable(summary):
        line += f"\ncontinue with: {resume_command(summary)}"
    return line


def resume_command(summary: Mapping[str, Any]) -> str:
    """The command that continues a stopped run, launched as it was: one process, torchrun on
    one node, or (several nodes) torchrun with the job's own rendezvous options."""
    resume = f"ganhub run {shlex.quote('resume=' + summary['run_dir'])}"
    world, per_node = summary.get("world", 1), summary.get("per_node", 1)
    if world <= 1:
        return resume
    if per_node >= world:
        return f"torchrun --standalone --nproc_per_node={world} -m {resume}"
    nodes = -(-world // per_node)
    return (
        f"torchrun --nnodes={nodes} --nproc_per_node={per_node} <this job's rendezvous "
        f"options> -m {resume}"
    )


def _resumable(summary: Mapping[str, Any]) -> bool:
    """Stopped before its last step by a signal or a time limit, which a resume continues; a
    run that trainer.patience stopped has finished what it was asked (its best is kept)."""
    return bool(summary["stopped_early"]) and not summary.get("early_stop")


def summary_rows(summary: Mapping[str, Any], tensorboard: bool) -> list[tuple[str, str]]:
    """The summary table of a run: metrics, speed, time spent, outputs and what to run next."""
    run_dir = summary["run_dir"]
    rows = [("run dir", run_dir)]
    steps = summary["steps_this_session"]
    speed = f"{steps:,} steps in {summary['train_seconds']:.1f} s ({summary['steps_per_s']:.1f} steps/s)"
    if not steps:
        reached = "" if summary["stopped_early"] else " (the run had reached trainer.steps)"
        speed = f"no step this session{reached}"
    rows.append(("training", speed))
    rows.append(("evaluation", f"{summary['eval_seconds']:.1f} s"))
    saving = summary["sample_seconds"] + summary["checkpoint_seconds"]
    rows.append(("samples, saving", f"{saving:.1f} s"))
    rows += [(key, number(value)) for key, value in summary["metrics"].items()]
    best = summary.get("best")
    if best:
        rows.append(("best", f"{best['metric']}={number(best['value'])} at step {best['step']}"))
    if summary["checkpoint"]:
        rows.append(("checkpoint", summary["checkpoint"]))
    if summary["samples"]:
        rows.append(("samples", "\n".join(summary["samples"])))
    quoted = shlex.quote(run_dir)
    after = [f"ganhub sample {quoted}", f"ganhub report {quoted}"]
    if _resumable(summary):
        after.insert(0, resume_command(summary))
    if tensorboard:
        after.append(tensorboard_command(run_dir))
    rows.append(("next", "\n".join(after)))
    return rows


__all__ = [
    "Activity",
    "Console",
    "activity",
    "brief",
    "count_text",
    "number",
    "resume_command",
    "speaks_for_job",
    "summary_head",
    "summary_line",
    "summary_rows",
    "tensorboard_command",
    "warn",
]
