"""How auxiliary tasks relate to the adversarial one, and two ways to act on it.

A multi-task discriminator (a D head: `rotation_head`, `acgan`) trains its trunk on the
adversarial loss and on each head's task, and G learns from both too. Whether a task helps
depends on how its gradient on the shared weights relates to the adversarial one (Du et al.
2018, "Adapting auxiliary losses using gradient similarity"; Yu et al. 2020, "Gradient
surgery for multi-task learning"): aligned (cosine > 0) it pushes the shared weights the same
way, opposed (< 0) it fights the adversarial task. `task_relations` models that relation:

  measure   log the cosine of each task's gradient with the adversarial one (and between
            tasks) on logging steps; training is unchanged
  project   every step, where a task's gradient opposes the adversarial one, remove its
            component along the adversarial gradient (PCGrad, applied to the auxiliary tasks
            only: the adversarial gradient is kept as it is)
  gate      every step, apply a task's gradient to the shared weights only when its cosine
            with the adversarial one is positive (Du et al.'s unweighted variant); its own
            head's weights learn on every step

The shared weights are the phase group's weights that get gradient from the adversarial loss
and from the task: D's trunk in a D phase (a head's own layer and the adversarial output
layer each serve one task), all of G in a G phase. The change is added as a term whose
gradient is the change (the sum of p * delta_p, delta detached, minus its own value, so it
adds 0 to the logged loss), so the step's own backward applies it and the optimizers are
untouched.

Cost: one backward pass per task and one for the adversarial loss, with the graph kept, on top
of the step's own backward; on logging steps only in `measure`, on every step in `project` and
`gate` (with one head, a D phase's backward work about triples).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ganhub.config.schema import RunConfig, Section
from ganhub.tricks import Trick

if TYPE_CHECKING:
    from torch import Tensor, nn

    from ganhub.engine.context import TrainContext
    from ganhub.engine.system import GANSystem, Phase, PhaseOutput

Grads = Sequence["Tensor | None"]


class TaskRelationsConfig(Section):
    """Options of the `task_relations` trick."""

    mode: Literal["measure", "project", "gate"] = Field(
        "measure",
        description="measure: log each auxiliary task's gradient cosine with the adversarial "
        "one on logging steps; project: remove a task's component that opposes the "
        "adversarial gradient (PCGrad); gate: drop a task's gradient on the shared weights "
        "when its cosine is not positive (Du et al. 2018)",
    )


def gradients(term: Tensor, params: Sequence[Tensor]) -> list[Tensor | None]:
    """d term / d params, keeping the graph (None for a parameter the term does not reach)."""
    import torch

    return list(torch.autograd.grad(term, params, retain_graph=True, allow_unused=True))


def shared_indices(a: Grads, b: Grads) -> list[int]:
    """Positions of the parameters both gradient lists reach."""
    return [i for i, (x, y) in enumerate(zip(a, b)) if x is not None and y is not None]


def flat(grads: Grads, at: Sequence[int]) -> Tensor:
    """The gradients at positions `at` as one fp32 vector."""
    import torch

    return torch.cat([grads[i].reshape(-1).float() for i in at])  # type: ignore[union-attr]


def cosine(a: Tensor, b: Tensor) -> Tensor:
    """Cosine of two flat vectors, on the device (0 when either is zero)."""
    import torch

    norms = torch.linalg.vector_norm(a) * torch.linalg.vector_norm(b)
    return (a @ b) / norms.clamp_min(torch.finfo(torch.float32).tiny)


def projection_delta(main: Grads, task: Grads, at: Sequence[int]) -> list[Tensor]:
    """PCGrad on the task's side: the change to the task's gradient at `at` that removes its
    component along `main` when the two oppose (dot < 0), and zeros when they agree."""
    import torch

    a, b = flat(main, at), flat(task, at)
    dot = a @ b
    coef = torch.where(dot < 0, dot / (a @ a).clamp_min(torch.finfo(torch.float32).tiny), 0.0)
    return [-coef * main[i] for i in at]  # type: ignore[operator]


def gate_delta(main: Grads, task: Grads, at: Sequence[int]) -> list[Tensor]:
    """Du et al.'s gate: the change that removes the task's gradient at `at` when its cosine
    with `main` is not positive, and zeros when it is."""
    off = (cosine(flat(main, at), flat(task, at)) <= 0).float()
    return [-off * task[i] for i in at]  # type: ignore[operator]


class TaskRelations(Trick):
    """Cosine of each auxiliary task's gradient with the adversarial one on the shared
    weights; optionally projects (PCGrad) or gates (Du et al.) opposing task gradients."""

    name = "task_relations"
    description = (
        "how auxiliary tasks' gradients relate to the adversarial one (cosine on shared "
        "weights); project (PCGrad) or gate opposing ones"
    )
    Config = TaskRelationsConfig
    relates_tasks = True
    extra_loss_order = 90  # after the tasks' own terms, which it reads from out.tasks
    setup_order = 90  # after freeze_d: frozen weights are no one's shared weights

    def __init__(self, options: Section, config: RunConfig) -> None:
        super().__init__(options, config)
        self.groups: dict[str, list[nn.Parameter]] = {}

    def setup(self, system: GANSystem) -> None:
        """Remember each optimizer group's weights (a phase's shared weights are among them)."""
        self.groups = system.param_groups()

    def capturable(self) -> bool:
        """measure acts on logging steps only, which run eager; project and gate differentiate
        inside the step, which a CUDA graph of it cannot replay."""
        return self.options.mode == "measure"

    def extra_loss(self, phase: Phase, out: PhaseOutput, ctx: TrainContext) -> Tensor | None:
        """Log the tasks' gradient cosines (`task/cos_<phase>_<task>`); in project and gate,
        return the term whose gradient changes each opposing task's gradient."""
        mode = self.options.mode
        if not out.tasks or not out.loss.requires_grad or (mode == "measure" and not ctx.diagnose):
            return None
        params = [p for p in self.groups.get(phase.group, []) if p.requires_grad]
        scale = None
        if ctx.scaler is not None and ctx.scaler.is_enabled():
            scale = ctx.scaler  # fp16: differentiate scaled terms, so no gradient underflows
        main = gradients(scale.scale(out.loss) if scale else out.loss, params)
        tasks = {
            name: gradients(scale.scale(term) if scale else term, params)
            for name, term in out.tasks.items()
        }
        deltas: dict[int, Tensor] = {}
        for name, task in tasks.items():
            at = shared_indices(main, task)
            if not at:
                continue  # the task shares no weight of this group with the adversarial loss
            cos = cosine(flat(main, at), flat(task, at)).detach()
            out.stats[f"task/cos_{phase.name}_{name}"] = cos
            if mode == "measure":
                continue
            out.stats[f"task/conflict_{phase.name}_{name}"] = (cos < 0).float()
            change = projection_delta if mode == "project" else gate_delta
            for i, delta in zip(at, change(main, task, at)):
                deltas[i] = deltas[i] + delta if i in deltas else delta
        self._between_tasks(phase, tasks, out)
        if not deltas:
            return None
        # grads of scaled terms are scaled: the loop scales this term once more. The scale as a
        # device tensor (get_scale() is a host sync, on every step with a conflict)
        unscale: Tensor | float = 1.0
        if scale:
            import torch

            unscale = 1.0 / scale.scale(torch.ones((), device=out.loss.device))
        term = sum(
            (
                (params[i] * (d.detach() * unscale).to(params[i].dtype)).sum()
                for i, d in deltas.items()
            ),
            start=out.loss.new_zeros(()),
        )
        # worth 0, so the logged loss/<phase> stays the phase's loss; its gradient is the change
        return term - term.detach()

    def _between_tasks(
        self, phase: Phase, tasks: dict[str, list[Tensor | None]], out: PhaseOutput
    ) -> None:
        """The cosine between each pair of tasks' gradients on the weights both reach."""
        names = sorted(tasks)
        for k, a in enumerate(names):
            for b in names[k + 1 :]:
                at = shared_indices(tasks[a], tasks[b])
                if at:
                    cos = cosine(flat(tasks[a], at), flat(tasks[b], at)).detach()
                    out.stats[f"task/cos_{phase.name}_{a}_{b}"] = cos
