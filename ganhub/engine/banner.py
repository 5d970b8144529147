"""The start banner of a training run: what trains, where, on what, and for how long."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import torch

from ganhub.console import count_text, tensorboard_command
from ganhub.engine.diagnostics import learning_rates
from ganhub.errors import PluginError

if TYPE_CHECKING:
    from ganhub.engine.run import Run


def describe_run(run: Run) -> tuple[str, list[tuple[str, str]]]:
    """The start banner of a run: a title and its facts (what, where, on what, how big)."""
    config = run.config
    run_dir = str(run.run_dir)
    precision = {"32": "fp32", "bf16": "bf16 autocast", "16": "fp16 autocast, grad scaling"}
    device = str(run.device)
    if run.device.type == "cuda":
        device += f" ({torch.cuda.get_device_name(run.device)})"
    if run.dist.enabled:
        device += f" x {run.dist.world} processes"
    rows = [("run dir", run_dir), ("device", device)]
    rows.append(("precision", precision.get(config.precision, config.precision)))
    params = ", ".join(
        f"{group} {count_text(sum(p.numel() for p in params))}"
        for group, params in run.groups.items()
    )
    rows.append(("parameters", params))
    # the rates the optimizers hold, not optim.<side>.lr: a trick may set them (ttur's own)
    rates = ", ".join(
        f"{k.removeprefix('lr/')} {v:g}" for k, v in learning_rates(run.optimizers).items()
    )
    scheduled = {  # an lr_schedule's base rates, where the rate held now differs (a warm-up)
        name: float(opt.param_groups[0]["initial_lr"])
        for name, opt in run.optimizers.items()
        if "initial_lr" in opt.param_groups[0]
        and float(opt.param_groups[0]["initial_lr"]) != float(opt.param_groups[0]["lr"])
    }
    if scheduled:
        rates += (
            " (by lr_schedule; full rates "
            + ", ".join(f"{k} {v:g}" for k, v in scheduled.items())
            + ")"
        )
    rows.append(("learning rate", rates))
    with contextlib.suppress(TypeError, NotImplementedError):  # a stream of unknown length
        rows.append(("data", f"{len(run.data):,} training samples"))
    t = config.trainer
    steps = f"{t.steps:,} steps, batch {t.batch_size}"
    if run.step:
        done = ": reached, raise trainer.steps to train on" if run.step >= t.steps else ""
        steps = f"resuming at step {run.step:,} of {t.steps:,}{done}, batch {t.batch_size}"
    rows.append(("training", steps))
    note = _length_note(run)
    if note:
        rows.append(("note", note))
    names = config.eval.metrics
    if names is None:
        names = run.system.default_metrics()
    if names:
        when = f"every {t.eval_every:,} steps and at the end" if t.eval_every else "at the end"
        rows.append(("evaluation", f"{', '.join(names)} {when}"))
    if t.keep_best is not None and run.best_direction is not None:
        rows.append(("keep best", f"{t.keep_best} ({run.best_direction} is better)"))
    if "tensorboard" in run.parts.loggers:
        rows.append(("tensorboard", tensorboard_command(run_dir)))
    return f"training {config.plugin}", rows


def _length_note(run: Run) -> str | None:
    """The banner's note on a resume that changed trainer.steps, naming what in the run reads
    its length (what declares `follows_run_length`); None when nothing does: a run without
    schedules over its length trains on as one trained straight to the new length would."""
    before, steps = run.resumed_steps, run.config.trainer.steps
    if not run.step or before is None or before == steps:
        return None
    followers = [(t.name, t.follows_run_length()) for t in run.tricks]
    for name, what in followers:
        if what is not None and not isinstance(what, str):
            raise PluginError(
                f"trick '{name}': its follows_run_length() returned {type(what).__name__}, "
                "not a str or None (ganhub.testing.check_trick says so)"
            )
    said = [f"{name} {what}" for name, what in followers if what]
    own = run.system.follows_run_length()  # a domain's own schedule (textgan's temperature)
    if not isinstance(own, list) or not all(isinstance(p, str) for p in own):
        raise PluginError(
            f"domain '{run.config.plugin}': its system's follows_run_length() returned "
            f"{type(own).__name__}, not a list of str (ganhub.testing.check_domain says so)"
        )
    said += own
    if not said:
        return None
    return (
        f"trainer.steps was {before:,}: {'; '.join(said)}; the run differs from one trained "
        f"straight to {steps:,}"
    )


__all__ = ["describe_run"]
