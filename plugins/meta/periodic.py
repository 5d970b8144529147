"""What `ganhub run`'s loop does between steps, for the meta run's outer steps.

A meta run's `trainer.steps` is `meta.outer_steps` (its checkpoints count outer steps), so
the trainer's other step counts are outer steps too: samples every `trainer.sample_every`,
an evaluation every `trainer.eval_every` (keeping `trainer.keep_best`, stopping after
`trainer.patience` evaluations without a better value), a checkpoint every
`trainer.checkpoint_every`, and a stop (with a checkpoint) after `trainer.max_seconds`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ganhub.engine.run import Run


class BetweenSteps:
    """The trainer's cadences over outer steps, and the final outputs they leave due."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.started = time.perf_counter()
        self.seconds = {"samples": 0.0, "eval": 0.0, "checkpoint": 0.0}  # outside training
        self.sampled: tuple[int, list[Path]] | None = None  # the last samples: step, paths
        self.evaluated_at: int | None = None
        self.early_stop: dict[str, Any] | None = None  # trainer.patience ran out

    def after(self, last: bool) -> bool:
        """After an outer step: write what is due; whether to stop now (a signal, patience,
        trainer.max_seconds). The last step's outputs are the final ones (`finish`)."""
        from ganhub.engine.loop import log_stop, patience_ran_out

        run, cfg = self.run, self.run.config.trainer
        if not last and _due(run.step, cfg.sample_every):
            with self._timed("samples"):
                self.sampled = run.step, run.write_samples()
        if not last and _due(run.step, cfg.eval_every):
            with self._timed("eval"):
                values = run.evaluate()
            self.evaluated_at = run.step
            with self._timed("checkpoint"):
                run.keep_best(values)  # may checkpoint this step
            if cfg.patience is not None and run.stale_evaluations >= cfg.patience:
                self.early_stop = patience_ran_out(run)
                return True
        timed_out = cfg.max_seconds is not None and self.elapsed() > cfg.max_seconds
        if run.stop_requested or timed_out:
            log_stop(run, run.signal, timed_out)  # the report says why
            return True
        if not last and _due(run.step, cfg.checkpoint_every):
            with self._timed("checkpoint"):
                run.save()
        return False

    def finish(self) -> tuple[list[Path], dict[str, float]]:
        """The final samples and evaluation (not twice at a step that wrote them), keeping
        trainer.keep_best; none after a signal, which asks to stop now."""
        run = self.run
        if run.signal is not None:
            return [], {}
        with self._timed("samples"):
            if self.sampled is not None and self.sampled[0] == run.step:
                samples = self.sampled[1]
            else:
                samples = run.write_samples()
        with self._timed("eval"):
            values = run.final_metrics if self.evaluated_at == run.step else run.evaluate()
        with self._timed("checkpoint"):
            run.keep_best(values)
        return samples, values

    def elapsed(self) -> float:
        """Seconds since the meta run started."""
        return time.perf_counter() - self.started

    @contextmanager
    def _timed(self, what: str) -> Iterator[None]:
        """Add the block's wall time to `seconds[what]` (each block ends in a host sync)."""
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[what] += time.perf_counter() - began


def _due(step: int, every: int) -> bool:
    return every > 0 and step % every == 0
