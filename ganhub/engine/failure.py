"""What a failed run leaves behind (`Run.fail`): its run directory removed when it holds nothing
resumable, else marked with failed.json; a failed resume's config.yaml and requires.json put
back; under torchrun, another rank's own error left for rank 0, which records it.
"""

from __future__ import annotations

import errno
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ganhub.engine import checkpoint, distributed
from ganhub.engine.distributed import DistInfo
from ganhub.engine.rundir import RunDirectory
from ganhub.errors import UsageError
from ganhub.interrupts import Terminated

if TYPE_CHECKING:
    from ganhub.config.schema import RunConfig


class FailedRun(Protocol):
    """What recording a failure needs of a run (`ganhub.engine.run.Run` has it)."""

    dist: DistInfo
    config: RunConfig  # this session's: failed.json records the steps it trained towards
    loggers: list[Any]
    directory: RunDirectory | None
    run_dir: Path
    step: int
    first_step: int
    touched: bool  # whether this process has written to the run directory
    files_before: dict[str, str | None]  # a resumed run's config.yaml... before this session
    last_checkpoint: Path | None
    first_checkpoint: Path | None


def record_failure(run: FailedRun, error: BaseException) -> None:
    """After `error`: close the loggers, then clean up or mark the run directory (rank 0); a
    rank other than 0 leaves its own error in the run directory, for rank 0 to say (it sees
    only a collective failing) before it stops."""
    for logger in run.loggers:
        logger.close()
    run.loggers = []
    _name_the_full_disk(run, error)
    distributed.leave_failure(error, run.dist)
    # config.yaml holds the settings the newest checkpoint continues with: a resume that
    # fails before it writes a checkpoint (a step that raises: its first, say) puts back
    # the one it replaced, so a plain resume does not fail the same way again, and the
    # plugins requires.json names (a refused trick is not one the run needs)
    if run.files_before and run.last_checkpoint == run.first_checkpoint:
        checkpoint.restore_texts(run.run_dir, run.files_before)
        # a resume refused before its first step (options or data that do not fit, a
        # folder that refuses writes), or stopped (Ctrl-C, SIGTERM) while it started up,
        # trained nothing: the run is left as it was, failure marker included
        stopped = isinstance(error, UsageError | OSError | KeyboardInterrupt | Terminated)
        run.touched = not (stopped and run.step == run.first_step)
    if run.directory is not None:
        resumable = run.last_checkpoint is not None
        # another rank's own error stopped this one: failed.json names that rank and error
        peer = (error.peer, error.error) if isinstance(error, distributed.PeerFailed) else None
        if isinstance(error, Terminated):  # torchrun stops the other ranks once one failed
            peer = next(iter(distributed.failed_ranks(run.dist)), None)
        # the steps this session trained towards: a failed resume with more steps puts back
        # config.yaml's, and `ganhub report` said "failed at step 10 of 10"
        steps = run.config.trainer.steps
        run.directory.fail(error, run.step, resumable, touched=run.touched, peer=peer, steps=steps)
        if resumable:
            _what_is_kept(run, error)


def _name_the_full_disk(run: FailedRun, error: BaseException) -> None:
    """A full disk met by a write that names no file (Python's own buffered writes: a file's
    last bytes, flushed as it closes, raise without a filename) names the run directory, the
    place the run writes to: the command line says one line, never a traceback."""
    if not isinstance(error, OSError) or error.errno not in (errno.ENOSPC, errno.EDQUOT):
        return
    if error.filename is None:
        error.filename = str(run.run_dir)


def _what_is_kept(run: FailedRun, error: BaseException) -> None:
    """A full disk names only the file it could not write, and a second Ctrl-C nothing (the
    command line shows either in one line, `ganhub: aborted`): add the checkpoint the run
    keeps and the command that continues from it. failed.json is written by then: it keeps
    its own words."""
    full = isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
    if not full and not isinstance(error, KeyboardInterrupt):
        return
    assert run.last_checkpoint is not None
    kept = (
        run.last_checkpoint.relative_to(run.run_dir)
        if run.last_checkpoint.is_relative_to(run.run_dir)
        else run.last_checkpoint
    )
    resume = f"ganhub run resume={shlex.quote(str(run.run_dir))}"
    if isinstance(error, OSError):
        error.strerror = f"{error.strerror}; the run keeps {kept}: free space, then {resume}"
    else:  # what `ganhub: aborted` goes on with (ganhub/cli.py)
        error.args = (f"the run keeps {kept}: {resume}",)


__all__ = ["FailedRun", "record_failure"]
