"""Multi-task discriminators as a user meets them: what task_relations' project and gate modes
add to the logged loss, and how the rotation task's weights and share act."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganhub.config.resolve import resolve
from ganhub.engine.context import TrainContext
from ganhub.engine.loop import fit
from ganhub.engine.outputs import PhaseOutput
from ganhub.engine.system import Phase
from ganhub.plugins import get_hub
from ganhub.tricks.tasks import TaskRelations
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN


def test_project_adds_nothing_to_the_logged_loss_in_a_run(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the term carries the gradient change; its value would show up in loss/D and loss/G
    terms: list[float] = []
    original = TaskRelations.extra_loss

    def recorded(self, phase, out, ctx):  # type: ignore[no-untyped-def]
        term = original(self, phase, out, ctx)
        if term is not None:
            terms.append(float(term.detach()))
        return term

    monkeypatch.setattr(TaskRelations, "extra_loss", recorded)
    args = [*TINY_DCGAN, "trainer.steps=6", "tricks=[rotation_head,task_relations]",
            "trick.task_relations.mode=project", f"out_dir={workdir}"]  # fmt: skip
    fit(make_run(resolve(args)))
    assert terms and all(value == 0.0 for value in terms)


def test_the_change_term_is_worth_zero_and_keeps_its_gradient() -> None:
    torch.manual_seed(0)
    trunk, head, task_head = torch.nn.Linear(3, 3), torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
    task_head.load_state_dict(head.state_dict())
    x = torch.randn(5, 3)
    h = torch.tanh(trunk(x))
    adversarial, task = head(h).mean(), -2 * task_head(h).mean()  # opposed on the trunk
    config = resolve([*TINY_DCGAN, "tricks=[rotation_head,task_relations]",
                      "trick.task_relations.mode=gate"])  # fmt: skip
    trick = TaskRelations(config.trick.task_relations, config)
    params = [*trunk.parameters(), *head.parameters(), *task_head.parameters()]
    trick.groups = {"D": params}
    ctx = TrainContext(get_hub().losses.get("nonsaturating"))
    out = PhaseOutput(adversarial, tasks={"rotation_head": task})
    term = trick.extra_loss(Phase("D", "D", lambda batch, ctx: out), out, ctx)
    assert term is not None and float(term.detach()) == 0.0
    assert out.stats["task/conflict_D_rotation_head"] == 1
    (adversarial + task + term).backward()
    # gated off on the shared trunk: only the adversarial gradient is left there
    expected = torch.autograd.grad(head(torch.tanh(trunk(x))).mean(), list(trunk.parameters()))
    for p, g in zip(trunk.parameters(), expected):
        assert torch.allclose(p.grad, g, atol=1e-6)  # type: ignore[arg-type]
