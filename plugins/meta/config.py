"""The options and configs of `ganhub meta`: `MetaOptions` (its meta.KEY=VALUE options), the
meta run's config (the user's items on meta.classes, its steps the outer steps) and each task's
(the meta run's on the task's classes and shots, quiet, on the tasks' timeline).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from ganhub.config.schema import Section

if TYPE_CHECKING:
    from ganhub.config.schema import RunConfig
    from ganhub.plugins import Hub

# fomaml's default outer learning rate: one Adam step moves a weight by about this much, of
# the order that Reptile's epsilon=1 moves it (10 inner Adam steps at 2e-4: up to 2e-3, less
# where the steps disagree)
FOMAML_OUTER_LR = 1e-3
EXAMPLE = "[0,1,2,3,4,5,6]"  # meta.classes in examples: the digits the docs meta-train on


class MetaOptions(Section):
    """Options of `ganhub meta` (given as meta.KEY=VALUE)."""

    classes: list[int] = Field(
        description="the classes tasks are drawn from (data.classes of the meta run)"
    )
    algorithm: Literal["reptile", "fomaml"] = Field(
        "reptile",
        description="reptile: move the meta weights toward the tasks' adapted weights; fomaml: "
        "first-order MAML, an outer Adam step on the gradients of one more step per task at "
        "its adapted weights, on a fresh batch",
    )
    outer_steps: int = Field(200, gt=0, description="outer steps (meta updates)")
    inner_steps: int = Field(10, gt=0, description="ordinary training steps per task visit")
    outer_lr: float = Field(
        1.0,
        gt=0,
        description="reptile: the step size epsilon toward the tasks' weights (at most 1); "
        f"fomaml: the outer Adam's learning rate (default {FOMAML_OUTER_LR}); annealed "
        "linearly to 0",
    )
    tasks_per_step: int = Field(
        1, gt=0, description="tasks trained from the same weights per outer step (averaged)"
    )
    classes_per_task: int = Field(1, gt=0, description="classes in one task (1: one class)")
    anneal: bool = Field(True, description="anneal outer_lr linearly to 0 (Nichol et al.)")
    learn_lr: bool = Field(
        False,
        description="learn G's and D's inner learning rates by hypergradient descent (Baydin "
        "et al. 2018): lr *= 1 - lr_rate * mean cos(an inner step's gradient, the previous "
        "step's update); the run's optim.G.lr / optim.D.lr become the learned rates, which "
        "ganhub adapt starts from",
    )
    lr_rate: float = Field(
        0.02, gt=0, le=0.5, description="learn_lr: the hypergradient step on log lr per outer step"
    )
    n_shots: int | None = Field(
        None,
        gt=0,
        description="images each task trains on, picked from its classes by the seed (its few "
        "shots; data.n_shots=K says the same); default: all of them",
    )
    reset_optimizers: bool = Field(
        False,
        description="clear a task's optimizer state at each visit (default: each task's Adam "
        "moments carry over from its previous visit, which adapted better on the digits)",
    )
    # the key the command line gave the shots as (data.n_shots says the same): errors name it
    _shots_key: str = PrivateAttr("meta.n_shots")

    @property
    def shots_key(self) -> str:
        """The key the user gave the tasks' shots as: meta.n_shots or data.n_shots."""
        return self._shots_key

    def given_shots_as(self, key: str) -> MetaOptions:
        """These options, their errors naming the shots as `key` (the one the user typed)."""
        self._shots_key = key
        return self

    @field_validator("classes")
    @classmethod
    def _distinct(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v) or len(v) < 2:
            raise ValueError(f"give at least two distinct classes, e.g. {EXAMPLE}")
        return v

    @model_validator(mode="before")
    @classmethod
    def _outer_lr_of_the_algorithm(cls, data: Any) -> Any:
        """fomaml's outer_lr defaults to an Adam learning rate, not to Reptile's epsilon."""
        if isinstance(data, dict) and data.get("algorithm") == "fomaml" and "outer_lr" not in data:
            return {**data, "outer_lr": FOMAML_OUTER_LR}
        return data

    @model_validator(mode="after")
    def _group_fits(self) -> MetaOptions:
        from ganhub.errors import ConfigError  # raised as is: pydantic passes it through

        if self.algorithm == "reptile" and self.outer_lr > 1:
            raise ConfigError(
                f"meta.outer_lr={self.outer_lr} is Reptile's step toward the tasks' weights: "
                "give at most 1 (or meta.algorithm=fomaml, whose outer_lr is an Adam rate)"
            )
        if self.classes_per_task >= len(self.classes):
            raise ConfigError(
                f"meta.classes_per_task={self.classes_per_task} must be below the number of "
                f"meta.classes ({len(self.classes)}), or every task is the same"
            )
        return self


def _room_for_other_classes(
    config: RunConfig, raw: dict[str, Any], items: list[str], hub: Hub
) -> RunConfig:
    """A conditional meta run conditions on every class of its data, not meta.classes alone
    (`condition.classes` of the data without data.classes), unless the user typed it: `ganhub
    adapt RUN data.classes=[K]`, the run's next step, refused a class K it had no row for."""
    from ganhub.config.resolve import resolve

    domain = hub.require_domain(config.plugin)
    request = domain.conditioning(config)
    condition = raw.get("condition")
    if request is None or (isinstance(condition, dict) and "classes" in condition):
        return config
    without = [i for i in items if not i.startswith("data.classes=")]
    whole = domain.conditioning(resolve(without, hub=hub))
    names = whole.labels.names if whole is not None else ()
    if len(names) != 1 or names == request.labels.names:
        return config
    listed = ",".join(f'"{n}"' for n in names[0])
    return resolve([*items, f"condition.classes=[{listed}]"], hub=hub)


def meta_config(items: list[str], options: MetaOptions, hub: Hub) -> RunConfig:
    """The meta run's config: the items, with data.classes set to meta.classes and
    trainer.steps to meta.outer_steps (any other trainer.steps among the items is refused: the
    run trains outer steps, and its config.yaml says how many)."""
    from ganhub_meta.shots import check_task_shots, refuse_whole_data_shots

    from ganhub.config.overrides import merge_sources
    from ganhub.config.resolve import resolve
    from ganhub.errors import ConfigError

    sources: dict[str, str] = {}
    raw = merge_sources(items, sources=sources)
    refuse_whole_data_shots(raw, sources, options)
    if not isinstance(raw.get("plugin"), str):
        raise ConfigError("ganhub meta needs plugin=NAME, e.g. plugin=dcgan data=digits")
    if raw.get("resume") is not None:  # its task runs would each resume (and lock) that run
        raise ConfigError(
            "ganhub meta starts a new meta run and does not take resume=; run it again, or "
            "fine-tune a finished one with ganhub adapt RUN"
        )
    domain = hub.require_domain(raw["plugin"])
    field = domain.config_class.model_fields.get("data")
    if field is None or "classes" not in getattr(field.annotation, "model_fields", {}):
        raise ConfigError(
            f"ganhub meta draws tasks from data.classes, which the '{domain.name}' domain's "
            "data does not take (dcgan data=digits does)"
        )
    data = raw.get("data")
    if isinstance(data, dict) and "classes" in data:
        raise ConfigError("data.classes is set by meta.classes in ganhub meta; drop data.classes")
    trainer = raw.get("trainer")
    steps = trainer.get("steps") if isinstance(trainer, dict) else None
    if steps is not None and steps != options.outer_steps:  # it trained meta.outer_steps
        where = f" (from {sources['trainer.steps']})" if "trainer.steps" in sources else ""
        wanted = steps if isinstance(steps, int) and not isinstance(steps, bool) else "N"
        raise ConfigError(
            f"trainer.steps={steps}{where} has no use in ganhub meta, which trains "
            f"meta.outer_steps={options.outer_steps} outer steps (of meta.tasks_per_step x "
            f"meta.inner_steps steps each): give meta.outer_steps={wanted} instead"
        )
    classes = "[" + ",".join(str(c) for c in options.classes) + "]"
    # config.yaml records the steps the run's checkpoints count: its outer steps
    fixed = [f"data.classes={classes}", f"trainer.steps={options.outer_steps}"]
    if isinstance(data, dict) and data.get("n_shots") is not None:  # the tasks' (meta.n_shots)
        fixed.append("data.n_shots=null")  # the meta run's data: every image of meta.classes
    try:
        config = resolve([*items, *fixed], hub=hub)
    except ConfigError as err:  # the user typed meta.classes, not data.classes
        if "data.classes" not in str(err):
            raise
        # the data's example (one class, e.g. data.classes=[8]) is no meta.classes: use one
        shown = re.sub(r"e\.g\. data\.classes=\[[^\]]*\]", f"e.g. meta.classes={EXAMPLE}", str(err))
        raise ConfigError(shown.replace("data.classes", "meta.classes")) from None
    config = _room_for_other_classes(config, raw, [*items, *fixed], hub)
    if options.learn_lr and "lr_schedule" in config.tricks:
        raise ConfigError(
            "meta.learn_lr=true sets the learning rates itself, and tricks=[lr_schedule] would "
            "override them at every step: drop one of the two"
        )
    if options.learn_lr and config.trainer.cuda_graphs:
        raise ConfigError(
            "meta.learn_lr=true watches every optimizer step from Python, which a replayed "
            "CUDA graph skips: drop trainer.cuda_graphs=true"
        )
    check_task_shots(config, options, hub)
    return config


def task_config(
    config: RunConfig,
    classes: tuple[int, ...],
    scratch: Path,
    hub: Hub,
    options: MetaOptions | None = None,
) -> RunConfig:
    """A task's config: the meta config on `classes` (and `options.n_shots` of them), quiet,
    without outputs, on the tasks' timeline (`ganhub_meta.carry`; a logging step at the end of
    each visit). It keeps the meta run's init_from: each visit loads the meta weights over it,
    and a trick that needs trained weights (freeze_d) sees where they came from."""
    from ganhub_meta.carry import task_steps, visit_steps
    from ganhub_meta.shots import task_data

    from ganhub.config.resolve import resolve

    steps = config.trainer.steps if options is None else task_steps(options)
    # a logging step at each visit's last step (visits start at multiples of their length):
    # the engine measures its diagnostics there, and flushes the visit's stats
    log_every = steps + 1 if options is None else visit_steps(options)
    quiet: dict[str, Any] = {
        "data": task_data(classes, options),
        "name": "task-" + "-".join(str(c) for c in classes),
        "out_dir": str(scratch),
        "loggers": [],
        "eval": {"metrics": []},
        "trainer": {"steps": steps, "log_every": log_every, "progress": False, "sample_every": 0,
                    "checkpoint_every": 0, "eval_every": 0, "keep_best": None, "patience": None,
                    "max_seconds": None},
    }  # fmt: skip
    return resolve(quiet, hub=hub, saved=config.model_dump(mode="json"))


__all__ = ["EXAMPLE", "FOMAML_OUTER_LR", "MetaOptions", "meta_config", "task_config"]
