"""Why a run stopped before `trainer.steps`: said on the console and logged with the run's
metrics, so `ganhub report` and the trackers tell a patience stop from a signal or a
`trainer.max_seconds` one. `fit` calls these; a plugin command that drives training itself
calls them as `fit` does (through `ganhub.engine.loop`, which re-exports them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ganhub.plural import counted

if TYPE_CHECKING:
    from ganhub.engine.run import Run


def patience_ran_out(run: Run) -> dict[str, Any]:
    """Say (rank 0) that trainer.patience evaluations brought no better value; the summary's
    record of the early stop."""
    cfg, best = run.config.trainer, run.best
    record = {"reason": "patience", "step": run.step, "patience": cfg.patience,
              "metric": cfg.keep_best, "best_step": best.step if best else None}  # fmt: skip
    # on disk too (metrics.jsonl, the trackers, `ganhub report`): a patience stop must not look
    # like a trainer.max_seconds one once the console is gone
    logged = {"early_stop": 1.0, "early_stop/patience": float(cfg.patience or 0)}
    run.log(logged | ({"early_stop/best_step": float(best.step)} if best else {}))
    if run.dist.is_main:
        kept = f"best {best.metric}={best.value:.4g} at step {best.step}" if best else "no best"
        run.console.print(
            f"ganhub: {cfg.keep_best} did not improve in "
            f"{counted(run.stale_evaluations, 'evaluations')}"
            f" (patience {cfg.patience}); stopping early at step {run.step} ({kept})"
        )
    return record


def log_stop(
    run: Run, signum: int | None, timed_out: bool, logged_at: int | None = None, why: bool = True
) -> None:
    """Log at the run's step why it stopped before finishing (`stop/signal`, `stop/max_seconds`,
    `stop/requested`: a plugin's request, as tune's pruner) and, given the last logging step,
    the means of the steps since (a stop between logging steps lost them). The sums stay
    pending: the checkpoint carries them, and a resumed run logs the same means as before."""
    cfg = run.config.trainer
    record: dict[str, float] = {}
    if logged_at is not None and run.step != logged_at:
        pending = run.stats.pending()  # one host sync, once a run
        record |= {key: total / count for key, (total, count) in pending.items() if count}
    if why and signum is not None:
        record["stop/signal"] = float(signum)
    elif why and run.step < cfg.steps:
        if timed_out and cfg.max_seconds is not None:
            record["stop/max_seconds"] = float(cfg.max_seconds)
        else:
            record["stop/requested"] = 1.0
    if record:
        run.log(record)


__all__ = [
    "log_stop",
    "patience_ran_out",
]
