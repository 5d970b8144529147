"""task_relations: the gradient cosine between auxiliary tasks and the adversarial loss, and
its project (PCGrad) and gate (Du et al. 2018) modes, on the gradients they must produce."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from ganhub.config.resolve import resolve
from ganhub.engine.context import TrainContext
from ganhub.engine.loop import fit
from ganhub.engine.outputs import PhaseOutput
from ganhub.engine.system import Phase
from ganhub.errors import ConfigError
from ganhub.plugins import get_hub
from ganhub.tricks.tasks import TaskRelations, cosine, gate_delta, projection_delta
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN


def test_projection_removes_only_an_opposing_component() -> None:
    main = [torch.tensor([1.0, 0.0])]
    opposing = [torch.tensor([-2.0, 1.0])]
    (delta,) = projection_delta(main, opposing, [0])
    projected = opposing[0] + delta
    assert torch.allclose(projected, torch.tensor([0.0, 1.0]))  # now orthogonal to main
    agreeing = [torch.tensor([2.0, 1.0])]
    (delta,) = projection_delta(main, agreeing, [0])
    assert torch.equal(delta, torch.zeros(2))


def test_gate_drops_a_task_gradient_unless_its_cosine_is_positive() -> None:
    main = [torch.tensor([1.0, 0.0]), torch.tensor([0.0])]
    opposing = [torch.tensor([-1.0, 3.0]), torch.tensor([0.5])]
    deltas = gate_delta(main, opposing, [0, 1])
    assert all(torch.equal(d, -t) for d, t in zip(deltas, opposing))
    orthogonal = [torch.tensor([0.0, 3.0]), torch.tensor([0.0])]  # cosine 0: dropped too
    assert torch.equal(gate_delta(main, orthogonal, [0, 1])[0], -orthogonal[0])
    agreeing = [torch.tensor([1.0, 3.0]), torch.tensor([0.0])]
    assert all(torch.equal(d, torch.zeros_like(d)) for d in gate_delta(main, agreeing, [0, 1]))
    assert cosine(torch.zeros(2), torch.ones(2)) == 0  # no NaN for a zero gradient


class TwoHeads(nn.Module):
    """A shared trunk with an adversarial output and one task head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.trunk = nn.Linear(4, 3)
        self.adversarial = nn.Linear(3, 1)
        self.task = nn.Linear(3, 2)


def _terms(net: TwoHeads, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    h = torch.tanh(net.trunk(x))
    return net.adversarial(h).mean(), net.task(h).pow(2).sum() - 3 * net.trunk(x).sum()


def _separate_grads(net: TwoHeads, x: torch.Tensor) -> tuple[list, list]:
    params = list(net.parameters())
    adversarial, task = _terms(net, x)
    g_adv = torch.autograd.grad(adversarial, params, retain_graph=True, allow_unused=True)
    g_task = torch.autograd.grad(task, params, allow_unused=True)
    return list(g_adv), list(g_task)


def _step_grads(
    mode: str, scaler: torch.amp.GradScaler | None = None, unscale: float = 1.0
) -> list[torch.Tensor]:
    """Each parameter's gradient after the loop's sum of terms, with the trick's term added."""
    net = TwoHeads()
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    config = resolve([*TINY_DCGAN, "tricks=[rotation_head,task_relations]",
                      f"trick.task_relations.mode={mode}"])  # fmt: skip
    trick = TaskRelations(config.trick.task_relations, config)
    trick.groups = {"D": list(net.parameters())}
    ctx = TrainContext(get_hub().losses.get("nonsaturating"), scaler=scaler)
    ctx.diagnose = True
    adversarial, task = _terms(net, x)
    out = PhaseOutput(adversarial, tasks={"rotation_head": task})
    term = trick.extra_loss(Phase("D", "D", lambda batch, ctx: out), out, ctx)
    total = adversarial + task + (term if term is not None else 0)
    if scaler is not None:
        scaler.scale(total).backward()
        return [p.grad / unscale for p in net.parameters()]  # type: ignore[operator]
    total.backward()
    assert "task/cos_D_rotation_head" in out.stats
    return [p.grad for p in net.parameters()]  # type: ignore[misc]


def test_measure_leaves_the_gradients_as_they_were() -> None:
    g_adv, g_task = _separate_grads(
        TwoHeads(), torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    )
    got = _step_grads("measure")
    for grad, a, t in zip(got, g_adv, g_task):
        expected = (a if a is not None else 0) + (t if t is not None else 0)
        assert torch.allclose(grad, expected, atol=1e-6)


@pytest.mark.parametrize("mode", ["project", "gate"])
def test_a_conflicting_task_changes_only_the_shared_trunk(mode: str) -> None:
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    g_adv, g_task = _separate_grads(TwoHeads(), x)
    shared = [0, 1]  # trunk weight and bias: both terms reach them
    a = torch.cat([g_adv[i].reshape(-1) for i in shared])
    t = torch.cat([g_task[i].reshape(-1) for i in shared])
    assert (a @ t) < 0, "the fixture's task must oppose the adversarial gradient"
    got = _step_grads(mode)
    for i in shared:
        if mode == "project":  # the task's component along the adversarial gradient is gone
            expected = g_adv[i] + g_task[i] - (a @ t) / (a @ a) * g_adv[i]
        else:  # gated off: the trunk learns from the adversarial loss only
            expected = g_adv[i]
        assert torch.allclose(got[i], expected, atol=1e-5)
    # the heads' own weights: each learns from its own term, untouched
    assert torch.allclose(got[2], g_adv[2]) and torch.allclose(got[4], g_task[4])
    shared_after = torch.cat([got[i].reshape(-1) for i in shared]) - a
    if mode == "project":
        assert abs(float(shared_after @ a)) < 1e-4  # what is left of the task is orthogonal


def test_project_under_fp16_grad_scaling_gives_the_unscaled_gradients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)
    plain = _step_grads("project")
    expected = scaler.get_scale()

    def host_sync() -> float:  # the trick read the scale to the host on every such step
        raise AssertionError("GradScaler.get_scale(): a host sync in the training step")

    monkeypatch.setattr(scaler, "get_scale", host_sync)
    scaled = _step_grads("project", scaler, unscale=expected)
    for a, b in zip(plain, scaled):
        assert torch.allclose(a, b, atol=1e-5)


def _train(workdir, mode: str | None, steps: int = 4) -> tuple[list[torch.Tensor], list[dict]]:  # type: ignore[no-untyped-def]
    tricks = "rotation_head" if mode is None else "rotation_head,task_relations"
    args = [*TINY_DCGAN, f"tricks=[{tricks}]", f"trainer.steps={steps}", "trainer.log_every=2",
            f"out_dir={workdir}", f"name={mode}"]  # fmt: skip
    if mode is not None:
        args.append(f"trick.task_relations.mode={mode}")
    run = make_run(resolve(args))
    fit(run)
    lines = (run.run_dir / "metrics.jsonl").read_text().splitlines()
    logged = [json.loads(line) for line in lines]
    return [p.detach().clone() for p in run.system.parameters()], [
        m for m in logged if "loss/D" in m
    ]


def test_measure_trains_exactly_as_without_it_and_logs_the_cosines(workdir) -> None:  # type: ignore[no-untyped-def]
    plain, _ = _train(workdir, None)
    measured, logged = _train(workdir, "measure")
    assert all(torch.equal(a, b) for a, b in zip(plain, measured))
    for metrics in logged:  # on every logging step, on both sides
        assert -1 <= metrics["task/cos_D_rotation_head"] <= 1
        assert -1 <= metrics["task/cos_G_rotation_head"] <= 1


def test_project_changes_training_and_logs_how_often_tasks_conflict(workdir) -> None:  # type: ignore[no-untyped-def]
    plain, _ = _train(workdir, None)
    projected, logged = _train(workdir, "project")
    assert any(not torch.equal(a, b) for a, b in zip(plain, projected))
    for metrics in logged:
        assert 0 <= metrics["task/conflict_D_rotation_head"] <= 1


def test_a_run_without_a_task_trick_is_refused_in_one_line() -> None:
    with pytest.raises(
        ConfigError, match=r"no trick of this run adds a task.*acgan, rotation_head"
    ):
        resolve([*TINY_DCGAN, "tricks=[task_relations]"])


def test_only_measure_can_be_replayed_as_a_cuda_graph() -> None:
    for mode, capturable in [("measure", True), ("project", False), ("gate", False)]:
        config = resolve([*TINY_DCGAN, "tricks=[rotation_head,task_relations]",
                          f"trick.task_relations.mode={mode}"])  # fmt: skip
        assert TaskRelations(config.trick.task_relations, config).capturable() is capturable
