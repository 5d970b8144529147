"""Defaults of the cyclegan config that follow from the user's choices (no torch).

`choice_defaults` (the domain's `defaults_for`) derives them in one place: eval.n_samples from
the images the metrics can score (`scorable`), the paired task's loss, `trainer.steps` from
epochs (`steps_per_epoch`: one pass over the data, shared by the torchrun processes), `tricks`
and the schedule's `trick.lr_schedule.start`. config.py's validators only refuse.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
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
    "Recount",
    "choice_defaults",
    "processes",
    "recount_epochs",
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


@dataclass(frozen=True)
class Recount:
    """A run given in epochs recounted for other processes or batch size on resume: its new
    trainer.steps, its lr_schedule's new start (None without the schedule), the shift of its
    steps against a run started at this size (kept in its checkpoints) and a note."""

    steps: int
    start: float | None
    shift: int
    note: str


def _saved_int(saved: Mapping[str, Any], key: str, least: int) -> int | None:
    value = saved.get(key)
    if value is not None and (type(value) is not int or value < least):  # damaged: one line
        raise ValueError(f"{key} {one_line(value, 40)}")
    return value


def _on(processes: int, batch: int) -> str:
    return f"{processes} process{'es' if processes > 1 else ''} at trainer.batch_size={batch}"


def recount_epochs(
    config: CycleGANConfig,
    saved: Mapping[str, Any],
    step: int,
    n_images: int,
    position: tuple[int, int, int],
) -> Recount | None:
    """A run given in epochs resumed on other processes or at another trainer.batch_size than
    its checkpoint's (`saved`: the system's resume state; `processes`, `batch_size` and
    `shift`, absent in older checkpoints): its remaining passes recounted in the new steps.

    An epoch is one pass over the `n_images` of the larger side, `steps_per_epoch` steps, so
    the images seen, not the steps, say where the run is: `position` (epoch, batches taken,
    samples taken before them, at the new size, as the engine restored it) is the step `at` a
    run started at the new size would be at, and the rest of the run is that run's from there,
    its steps shifted by `step - at`: trainer.steps and the decay start (the same passes). None
    when nothing changed or the new size takes no batch (refused by the engine). Refused in
    one line where it cannot be recounted: a trainer.steps that is not its epochs' (lengthened
    on a resume, or the folder changed), or a decay that would have begun before step 0."""
    if config.epochs is None or config.epochs_decay is None:
        return None
    then_p, then_b = _saved_int(saved, "processes", 1), _saved_int(saved, "batch_size", 1)
    then_shift = _saved_int(saved, "shift", -(2**62)) or 0
    now_p, now_b = processes(), config.trainer.batch_size
    if then_p in (None, now_p) and then_b in (None, now_b):
        return None
    then_p, then_b = then_p or now_p, then_b or now_b
    epochs, decay, steps = config.epochs, config.epochs_decay, config.trainer.steps
    per_then, per_now = n_images // then_p // then_b, n_images // now_p // now_b
    if per_now < 1:
        return None
    run, given = config.resume or "RUN", f"epochs={epochs:g} epochs_decay={decay:g}"
    fix = f"resume it on {_on(then_p, then_b)}, or start a new run"
    made = max(1, math.ceil((epochs + decay) * per_then)) + then_shift
    if steps != made:
        raise ConfigError(
            f"resume={run}: trainer.steps={steps} is not the {made} steps its {given} make on "
            f"{n_images} images on {_on(then_p, then_b)} (a length changed on a resume, or a "
            f"changed folder), so its passes cannot be recounted for {_on(now_p, now_b)}: {fix}"
        )
    epoch, index, start = position
    left = (n_images - start) // now_p // now_b - index  # this epoch's steps still to come
    shift = step - (epoch * per_now + per_now - left)
    fresh = max(1, math.ceil((epochs + decay) * per_now))
    new_start = None
    begin = ""
    if "lr_schedule" in config.tricks:
        first = int(epochs / (epochs + decay) * fresh) + shift  # as the trick places it
        if first < 0:
            raise ConfigError(
                f"resume={run}: its {given} on {_on(now_p, now_b)} ({per_now} steps an epoch, "
                f"{per_then} before) would place the learning-rate decay before step 0 of the "
                f"rest of the run, which the lr_schedule trick cannot hold: {fix}"
            )
        new_start = first / (fresh + shift)
        if int(new_start * (fresh + shift)) != first:  # float rounding below the step
            new_start = math.nextafter(new_start, 1.0)
        begin = f", its learning-rate decay from step {first}"
    note = (
        f"ganhub: note: resume={run}: {given} made {per_then} steps an epoch on "
        f"{_on(then_p, then_b)} and make {per_now} on {_on(now_p, now_b)}: the remaining passes "
        f"are recounted, trainer.steps {steps} -> {fresh + shift}{begin}"
    )
    return Recount(fresh + shift, new_start, shift, note)
