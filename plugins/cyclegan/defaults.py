"""Defaults of the cyclegan config that follow from the user's choices (no torch).

`choice_defaults` (the domain's `defaults_for`) derives them in one place: eval.n_samples from
the images the metrics can score (`scorable`), the paired task's loss, `trainer.steps` from
epochs (`steps_per_epoch`: one pass over the data, shared by the torchrun processes), `tricks`
and the schedule's `trick.lr_schedule.start`. config.py's validators only refuse.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeGuard

from ganhub_cyclegan.config import (
    DECAY_START,
    DIGITS,
    HELDOUT_PAIRS,
    N_TEST,
    TRAINER_DEFAULTS,
    CycleGANConfig,
)

from ganhub.config.schema import expand_path_text
from ganhub.errors import ConfigError, one_line
from ganhub.processes import world_size

__all__ = [
    "choice_defaults",
    "processes",
    "refuse_other_processes",
    "scorable",
    "steps_per_epoch",
]


def _section(chosen: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = chosen.get(name)
    return value if isinstance(value, Mapping) else {}


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def choice_defaults(chosen: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults that follow from the user's choices (`chosen`: preset + user keys).

    - eval.n_samples: the images the metrics can score per direction (`scorable`);
    - task=paired: loss nonsaturating (pix2pix's vanilla GAN loss);
    - epochs + epochs_decay: trainer.steps for that many passes over the training data (the
      larger domain's; a data folder is scanned to count it; the torchrun processes share
      each pass), refused when trainer.steps is given too;
    - tricks, not given: [lr_schedule] where epochs_decay > 0 or decay_start place a decay;
    - with lr_schedule on: trick.lr_schedule.start from decay_start, else from the epochs,
      else 0.5 (a start given as well must agree: the config's validator checks it).

    Values of the wrong type are left alone here: validation reports them with their key.
    A saved config comes here only with keys typed on it (`ganhub.config.rederive`), where
    the refusal of steps beside epochs means that nothing is derived again; reopening a run
    as it is (`resume=RUN`, `ganhub.load`) scans nothing.
    """
    out: dict[str, Any] = {"eval": {"n_samples": scorable(chosen)}}
    if chosen.get("task") == "paired":
        out["loss"] = "nonsaturating"
    epochs, decay = chosen.get("epochs"), chosen.get("epochs_decay")
    start = chosen.get("decay_start")
    if _number(epochs) and _number(decay) and epochs > 0 and decay >= 0:
        steps = _section(chosen, "trainer").get("steps")
        if steps is not None:
            raise ConfigError(
                f"trainer.steps={steps} and epochs={epochs} epochs_decay={decay} both set the run "
                "length; give one: epochs=null epochs_decay=null to count in steps, or leave "
                "out trainer.steps and any preset that sets it (e.g. preset=tiny; "
                "trainer.steps=null does not unset it)"
            )
        per_epoch = steps_per_epoch(chosen)
        if per_epoch is not None:
            out["trainer"] = {"steps": max(1, math.ceil((epochs + decay) * per_epoch))}
        if start is None and decay > 0:  # decay 0: no schedule (tricks=[], else refused)
            start = epochs / (epochs + decay)
    if "tricks" not in chosen:  # in steps (the embedded 500, short of convergence): constant
        out["tricks"] = ["lr_schedule"] if start is not None else []  # a decay placed: scheduled
    tricks = chosen.get("tricks", out.get("tricks"))
    if isinstance(tricks, list) and "lr_schedule" in tricks:
        value = start if _number(start) and 0 <= start < 1 else DECAY_START
        out["trick"] = {"lr_schedule": {"start": value}}
    return out


def scorable(chosen: Mapping[str, Any]) -> int:
    """The default eval.n_samples: the most images the metrics can score per direction, the
    embedded data's held-out digits (data.n_test) or a folder's first HELDOUT_PAIRS, so the
    default asks for what is scored (ganhub's general 2,500 would be cut to these)."""
    data = _section(chosen, "data")
    n_test = data.get("n_test", N_TEST)
    if data.get("path") is None and _number(n_test) and n_test > 0:
        return int(n_test)  # a wrong type or value: validation names data.n_test
    return HELDOUT_PAIRS


def processes() -> int:
    """The processes that share each epoch: torchrun's WORLD_SIZE (`ganhub.processes`; 1 unset
    or malformed, which the run then refuses by name)."""
    return world_size() or 1


def steps_per_epoch(chosen: Mapping[str, Any]) -> float | None:
    """Steps in one pass over the training data (the larger domain's) as the loader takes it:
    each of the torchrun processes (`processes`) reads its share of the images in whole
    batches of trainer.batch_size, the last partial one dropped; None when a value has the
    wrong type (validation then names it)."""
    data, trainer = _section(chosen, "data"), _section(chosen, "trainer")
    batch = trainer.get("batch_size", TRAINER_DEFAULTS["batch_size"])
    if not _number(batch) or batch <= 0:
        return None
    path = data.get("path")
    if path is None:
        n_test = data.get("n_test", N_TEST)
        if not _number(n_test):
            return None
        n = DIGITS - n_test
    else:
        from ganhub_cyclegan.folder import folder_layout

        task = chosen.get("task", "unpaired")
        folder = Path(expand_path_text(str(path)))  # read before validation expands it
        n = max(len(files) for files in folder_layout(folder, str(task)).values())
    return n // processes() // batch  # as data.epoch_keys deals the epoch to the ranks


def refuse_other_processes(config: CycleGANConfig, saved: Mapping[str, Any]) -> None:
    """A run given in epochs resumes on the processes and trainer.batch_size it started with:
    its trainer.steps count passes in their steps (`steps_per_epoch`), so with others the rest
    of the run would train other passes than asked and end the decay elsewhere. `saved`: the
    system's resume state (`processes`, `batch_size`; absent in older checkpoints); refused in
    one line naming both values."""
    if config.epochs is None or config.epochs_decay is None:
        return
    then = {"processes": saved.get("processes"), "batch": saved.get("batch_size")}
    now = {"processes": processes(), "batch": config.trainer.batch_size}
    for key, value in then.items():
        if value is not None and (type(value) is not int or value < 1):  # damaged: one line
            raise ValueError(f"{key} {one_line(value, 40)}")
    changed = [k for k, v in then.items() if v is not None and v != now[k]]
    if not changed:
        return
    run = config.resume or "RUN"
    fixes = []
    if "processes" in changed:
        n = then["processes"]
        fixes.append(
            f"on {n} process (without torchrun)"
            if n == 1
            else f"on {n} processes (torchrun --nproc_per_node={n}, counted over all nodes)"
        )
    if "batch" in changed:
        fixes.append(f"with trainer.batch_size={then['batch']}")
    was = f"{then['processes'] or now['processes']} process(es) at trainer.batch_size="
    was += str(then["batch"] or now["batch"])
    raise ConfigError(
        f"resume={run}: its epochs={config.epochs:g} epochs_decay={config.epochs_decay:g} set "
        f"trainer.steps={config.trainer.steps} for {was}; with {now['processes']} process(es) "
        f"at trainer.batch_size={now['batch']} the remaining steps would train other passes "
        "than asked and end the learning-rate decay elsewhere: resume it "
        f"{' and '.join(fixes)}, or start a new run"
    )
