"""The few shots and the trained start of `ganhub meta`'s tasks.

`data.n_shots=K` given to ganhub meta means what it means in the few-shot literature (FIGR,
Reptile's few-shot tasks): each task trains on K images of its classes, picked by the run's
seed (the same K at every visit), the few shots `ganhub adapt` later fine-tunes on. It is
`meta.n_shots`: the meta run's own data stays every image of `meta.classes` (what the meta
weights are scored against), and each task's config takes the shots.

`init_from=RUN` starts the meta weights from RUN's; each task's Run is built with it too, so
a trick that needs trained weights (`freeze_d`: D's first layers keep RUN's filters in every
task, so the outer update never moves them) sees where its weights came from.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ganhub_meta.config import MetaOptions

    from ganhub.config.schema import RunConfig
    from ganhub.plugins import Hub

# tricks whose state is taken once from the weights a run starts with, which in a meta task
# are the moving meta weights of its first visit, not init_from's (the anchor of EWC)
_ANCHORED = {"ewc": "holds G near the weights a run starts from"}
# tricks that would make the tasks' inner loop unlike the fine-tuning the meta weights are
# learned for: the tasks train on one timeline over the meta-training (`ganhub_meta.carry`)
_UNLIKE_ADAPT = {"lr_schedule": "would decay the tasks' learning rates over the meta-training"}


def shots_option(path: list[str], value: Any, raw: dict[str, Any]) -> bool:
    """Take a command line's `data.n_shots=K` as `meta.n_shots=K` (into `raw`, the meta.*
    options; True), and meta.n_shots itself; False for any other item. Both given with
    different values are refused."""
    from ganhub.errors import ConfigError

    if path not in (["data", "n_shots"], ["meta", "n_shots"]):
        return False
    if "n_shots" in raw and raw["n_shots"] != value:
        raise ConfigError(
            f"data.n_shots and meta.n_shots name the same thing in ganhub meta, the images "
            f"each task trains on, and were given {raw['n_shots']} and {value}: give one"
        )
    raw["n_shots"] = value
    return True


def refuse_whole_data_shots(raw: dict[str, Any], sources: dict[str, str], options: Any) -> None:
    """A data.n_shots that reached the meta config (from a config file, or an API caller's
    items): it would pick K images of all of meta.classes for the meta run. Refused unless it
    is meta.n_shots (the tasks' shots), which then leaves it out of the meta run's data."""
    from ganhub.errors import ConfigError

    data = raw.get("data")
    if not isinstance(data, dict) or "n_shots" not in data or data["n_shots"] is None:
        return
    shots = data["n_shots"]
    if shots == options.n_shots:
        return
    where = f" (from {sources['data.n_shots']})" if "data.n_shots" in sources else ""
    raise ConfigError(
        f"data.n_shots={shots}{where} in ganhub meta gives each task its shots: give it on the "
        f"command line, or as meta.n_shots={shots}"
    )


def check_task_shots(config: RunConfig, options: MetaOptions, hub: Hub) -> None:
    """Refuse, before the run directory exists, tasks' shots the data cannot take or a batch
    one task's shots cannot fill; and a trick that a task's start would anchor wrongly."""
    from ganhub.errors import ConfigError
    from ganhub.processes import world_size

    for name, what in _ANCHORED.items():
        if name in config.tricks:
            raise ConfigError(
                f"trick '{name}' {what}, and each task of ganhub meta starts from the moving "
                f"meta weights, not init_from's: drop it here, and fine-tune the meta run with "
                f"ganhub adapt RUN tricks=[{name}]"
            )
    for name, what in _UNLIKE_ADAPT.items():
        if name in config.tricks:
            raise ConfigError(
                f"trick '{name}' {what}: the late tasks would adapt in far smaller steps than "
                "ganhub adapt takes, and the initialisation would be learned for those; drop it "
                "here (meta.anneal anneals the outer step), and fine-tune the meta run with "
                f"ganhub adapt RUN tricks=[{name}]"
            )
    shots = options.n_shots
    if shots is None:
        return
    section = hub.require_domain(config.plugin).config_class.model_fields["data"].annotation
    if "n_shots" not in getattr(section, "model_fields", {}):
        raise ConfigError(
            f"{options.shots_key}={shots}: the '{config.plugin}' domain's data takes no "
            "data.n_shots, so its tasks cannot pick a few images (dcgan data=digits does)"
        )
    refuse_shots_of_tasks(config, options, hub)
    per = shots // (world_size() or 1)  # torchrun's processes: each reads a share
    batch = config.trainer.batch_size
    if batch > per:
        raise ConfigError(
            f"trainer.batch_size={batch}: each task trains on {options.shots_key}={shots} images "
            f"({per} per process), fewer than one batch: give trainer.batch_size={max(1, per)} "
            "or less, or more shots"
        )


def draw_task(rng: random.Random, options: MetaOptions) -> tuple[int, ...]:
    """The next task of the meta run's draws: `classes_per_task` of meta.classes, sorted."""
    return tuple(sorted(rng.sample(options.classes, options.classes_per_task)))


def drawn_tasks(seed: int, options: MetaOptions) -> list[tuple[int, ...]]:
    """The distinct tasks a meta run of `seed` draws (`draw_task`), in the order it draws them."""
    rng, seen = random.Random(seed), dict[tuple[int, ...], None]()
    possible = math.comb(len(options.classes), options.classes_per_task)
    for _ in range(options.outer_steps * options.tasks_per_step):
        seen.setdefault(draw_task(rng, options))
        if len(seen) == possible:
            break
    return list(seen)


def refuse_shots_of_tasks(config: RunConfig, options: MetaOptions, hub: Hub) -> None:
    """Each task the run will draw is resolved now, so the domain's own check refuses shots
    one task's classes cannot give (dcgan: a digit with fewer images), in one line naming the
    key, the task's classes and their counts, before the banner and the run directory."""
    from ganhub.config.resolve import resolve
    from ganhub.errors import ConfigError

    saved = config.model_dump(mode="json")
    for task in drawn_tasks(config.seed, options):
        try:  # the task's data keys over the meta config, as `task_config` resolves them
            resolve({"data": task_data(task, options)}, hub=hub, saved=saved)
        except ConfigError as exc:
            if "n_shots" not in str(exc):
                raise
            # data.n_shots is each task's meta.n_shots: named as the user gave it
            text = str(exc).replace("data.n_shots", options.shots_key)
            shown = ",".join(map(str, task))
            raise ConfigError(f"{text} (the task [{shown}] of meta.classes)") from None


def task_data(classes: tuple[int, ...], options: MetaOptions | None) -> dict[str, Any]:
    """A task's data keys: its classes, and its shots when meta.n_shots is given."""
    data: dict[str, Any] = {"classes": list(classes)}
    if options is not None and options.n_shots is not None:
        data["n_shots"] = options.n_shots
    return data


__all__ = [
    "check_task_shots", "draw_task", "drawn_tasks", "refuse_shots_of_tasks",
    "refuse_whole_data_shots", "shots_option", "task_data",
]  # fmt: skip
