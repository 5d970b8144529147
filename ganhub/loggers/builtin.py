"""Built-in loggers: metrics.jsonl (one JSON object per logging step), TensorBoard, and the
MLflow and Weights & Biases trackers (`ganhub.loggers.trackers`, with the `trackers` extra)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ganhub.hookspecs import Register, hookimpl
from ganhub.loggers import Logger, image_tag
from ganhub.loggers.names import MetricNames, sample_tag_reason
from ganhub.loggers.trackers import MLflowLogger, WandbLogger
from ganhub.metrics.store import json_ready

if TYPE_CHECKING:
    from ganhub.config.schema import RunConfig
    from ganhub.engine.run import Run


class JsonlLogger(Logger):
    """Appends {"step": ..., "time": ..., metrics...} lines to metrics.jsonl (resume appends)."""

    def __init__(self, run_dir: Path, config: RunConfig) -> None:
        super().__init__(run_dir, config)
        self.file = (run_dir / "metrics.jsonl").open("a", buffering=1)
        self.names = MetricNames("jsonl", _reserved_by_jsonl)

    def resumed_at(self, step: int) -> None:
        """Drop the lines of steps after `step` (they are logged again), atomically.

        The file is untrusted and may be huge: it is streamed, lines that are not records (not
        JSON, or longer than `ganhub report` reads) are kept as they are, a file with nothing to
        drop is not rewritten, and the temporary file never outlives a failure.
        """
        self.file.close()
        path = self.run_dir / "metrics.jsonl"
        with path.open("rb") as old:
            stale = any(logged > step for _, logged in _logged_lines(old))
        if stale:
            kept = path.with_name(".metrics.jsonl.tmp")
            kept.unlink(missing_ok=True)  # a link planted there is removed, never written through
            try:
                with path.open("rb") as old, kept.open("xb") as new:
                    for piece, logged in _logged_lines(old):
                        if logged <= step:
                            new.write(piece)
                kept.replace(path)
            except BaseException:
                with contextlib.suppress(OSError):
                    kept.unlink(missing_ok=True)
                raise
        self.file = path.open("a", buffering=1)
        if not _ends_a_line(path):  # a cut-off last line must not swallow the next record
            self.file.write("\n")

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Write one line and flush it, so `tail -f` and reports see it at once."""
        record: dict[str, Any] = {
            "step": step,
            "time": round(time.time(), 3),
            **self.names.rename(metrics),
        }
        # a non-finite metric (an inf NLL, a nan score) is null: NaN/Infinity are not JSON
        self.file.write(json.dumps(json_ready(record), allow_nan=False) + "\n")

    def close(self) -> None:
        """Close the file."""
        self.file.close()


def _reserved_by_jsonl(name: str) -> str | None:
    """Why a metrics.jsonl record keeps `name` for itself (its `step` and `time`), or None."""
    if name in ("step", "time"):
        return f"metrics.jsonl keeps each record's own {name} under that key"
    return None


def _logged_lines(fh: BinaryIO) -> Iterator[tuple[bytes, int | float]]:
    """metrics.jsonl's lines, each with its logged step (-inf for a line that is not a record),
    split as `ganhub report` splits them: a line longer than its MAX_LINE_BYTES is not a record,
    and comes in pieces of that size, never whole in memory."""
    from ganhub.metrics.rundata import MAX_LINE_BYTES

    while line := fh.readline(MAX_LINE_BYTES + 1):
        if len(line) <= MAX_LINE_BYTES:
            yield line, _logged_step(line)
            continue
        yield line, float("-inf")
        while not line.endswith(b"\n") and (line := fh.readline(MAX_LINE_BYTES)):
            yield line, float("-inf")


def _logged_step(line: bytes) -> int | float:
    """The step of one metrics.jsonl line; -inf for a line that is not a record (kept)."""
    try:
        record = json.loads(line)
    except Exception:  # any line it cannot parse (bad UTF-8, deep nesting, huge numbers...)
        return float("-inf")
    step = record.get("step") if isinstance(record, dict) else None
    return step if type(step) is int else float("-inf")


def _ends_a_line(path: Path) -> bool:
    """Whether the file is empty or its last byte is a newline."""
    with path.open("rb") as fh:
        if fh.seek(0, os.SEEK_END) == 0:
            return True
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def _check_writable(folder: Path) -> None:
    """Make `folder` and write a file in it, so a folder that refuses writes is one OSError
    naming it here: TensorBoard's writer thread would print its own traceback first."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".ganhub-probe-{os.getpid()}"
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:  # name the folder, not the probe
        raise OSError(exc.errno, f"cannot write in it ({exc.strerror})", str(folder)) from None


class TensorBoardLogger(Logger):
    """TensorBoard event files under <run>/tb: scalars, and sample grids as images."""

    def __init__(self, run_dir: Path, config: RunConfig) -> None:
        super().__init__(run_dir, config)
        from torch.utils.tensorboard import SummaryWriter  # heavy: only when the logger is used

        _check_writable(run_dir / "tb")
        # the event file is opened at the first value logged: a resumed run that has nothing
        # more to log (it had finished) adds no empty event files
        self._writer_class = SummaryWriter
        self._writer: Any = None
        self._purge_step: int | None = None
        self.names = MetricNames("tensorboard", sample_tag_reason)

    @property
    def writer(self) -> Any:
        """The run's SummaryWriter, opened on first use."""
        if self._writer is None:
            self._writer = self._writer_class(str(self.run_dir / "tb"), purge_step=self._purge_step)
        return self._writer

    def resumed_at(self, step: int) -> None:
        """TensorBoard's own mechanism: a writer with `purge_step` hides the earlier events of
        the steps after `step`. A run that trains on opens its event file now, as metrics.jsonl
        drops its lines now: one whose resume failed before its first log kept them."""
        self.close()
        self._purge_step = step + 1
        if step < self.config.trainer.steps:  # a finished run adds no empty event file
            self.writer.flush()

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """One scalar per metric."""
        for key, value in metrics.items():
            self.writer.add_scalar(self.names(key), value, step)

    def log_artifacts(self, step: int, paths: list[Path]) -> None:
        """PNG artifacts become image summaries, one tag per kind of artifact (`samples`,
        `samples/mixing`...) with the step on TensorBoard's slider, not one tag per step."""
        from torchvision.io import ImageReadMode, read_image

        for path in paths:
            if path.suffix == ".png":
                self.writer.add_image(
                    image_tag(path.stem), read_image(str(path), ImageReadMode.RGB), step
                )

    def close(self) -> None:
        """Flush and close the event file, if one was opened."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


@hookimpl
def register_loggers(register: Register) -> None:
    """Register the built-in loggers."""
    register("jsonl", JsonlLogger)
    register("tensorboard", TensorBoardLogger)
    register("mlflow", MLflowLogger)  # registered without their packages: choosing one
    register("wandb", WandbLogger)  # then says which pip line installs it


@hookimpl
def on_train_error(run: Run, error: BaseException) -> None:
    """Tell the run's loggers it failed before they close (trackers mark their run failed)."""
    for logger in run.loggers:
        logger.on_error(error)
