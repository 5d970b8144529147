"""First-order MAML in `ganhub meta`: the query step's gradients are read as the optimizer
uses them, and the outer update is an Adam step on their mean over the tasks."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch
import yaml
from ganhub_meta.cli import parse_options
from ganhub_meta.outer import FirstOrderMAML, QueryGradients, optimizer_params
from ganhub_meta.reptile import FOMAML_OUTER_LR, MetaOptions, meta_config, task_config
from torch import nn

import ganhub
from ganhub.engine.loop import train_steps
from ganhub.errors import ConfigError
from ganhub.plugins import get_hub
from ganhub.wiring import make_run


def test_query_gradients_are_the_gradients_steps_use_while_recording() -> None:
    w = nn.Parameter(torch.tensor([1.0, -2.0]))
    optimizer = torch.optim.Adam([w], lr=0.1)
    gradients = QueryGradients()
    gradients.watch({"D": optimizer})
    seen = []
    for recording in (False, True, True):
        gradients.recording = recording
        optimizer.zero_grad(set_to_none=True)
        (w**2).sum().backward()  # gradient 2w, where the previous step left w
        assert w.grad is not None
        seen.append(w.grad.clone())
        optimizer.step()
    (mean,) = gradients.take()["D"]
    assert torch.allclose(mean, (seen[1] + seen[2]) / 2)  # the unrecorded step is left out
    assert gradients.take() == {}


def test_the_outer_update_is_an_adam_step_on_the_tasks_mean_query_gradient(
    tmp_path: Path, one_thread: None
) -> None:
    hub = get_hub()
    options = MetaOptions(classes=[0, 1, 2], algorithm="fomaml", anneal=False)
    assert options.outer_lr == FOMAML_OUTER_LR
    config = meta_config(["plugin=dcgan", "preset=tiny", "trainer.batch_size=8",
                          f"out_dir={tmp_path}", "name=m"], options, hub)  # fmt: skip
    run = make_run(config, hub)
    theta = {k: v.detach().clone() for k, v in run.system.state_dict().items()}
    update = FirstOrderMAML(options)
    kept = []
    for task in ((0,), (2,)):
        task_run = make_run(task_config(config, task, tmp_path / "scratch", hub), hub)
        update.watch(task_run)
        task_run.system.load_state_dict(theta)
        batches = task_run.batches()
        train_steps(task_run, batches, 2)
        kept.append(update.after_inner(task_run, batches))
        task_run.close()
    counts = dict(update.gradients.counts)
    assert counts == {"D": 2, "G": 2}  # one D and one G step per task's query step
    means = {s: [g / counts[s] for g in grads] for s, grads in update.gradients.sums.items()}
    expected = {}
    for side, grads in means.items():  # a fresh Adam of the run's settings, one step
        params = [
            p.detach().clone().requires_grad_(True) for p in optimizer_params(run.optimizers[side])
        ]
        cfg = getattr(config.optim, side)
        adam = torch.optim.Adam(params, lr=FOMAML_OUTER_LR, betas=tuple(cfg.betas), eps=cfg.eps)
        for p, g in zip(params, grads):
            p.grad = g.clone()
        adam.step()
        expected[side] = params
    update.apply(run, theta, kept, step=0)
    for side, params in expected.items():
        moved = optimizer_params(run.optimizers[side])
        assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(moved, params))
        assert any(
            not torch.equal(a, theta_p)
            for a, theta_p in zip(moved, _theta_params(run, theta, side))
        )
    buffers = dict(run.system.named_buffers())
    for name, value in kept[0].items():  # BatchNorm statistics: the tasks' mean
        assert torch.allclose(buffers[name], (value + kept[1][name]) / 2)
    run.close()


def _theta_params(run, theta: dict[str, torch.Tensor], side: str) -> list[torch.Tensor]:  # type: ignore[no-untyped-def]
    names = {id(p): n for n, p in run.system.named_parameters()}
    return [theta[names[id(p)]] for p in optimizer_params(run.optimizers[side])]


def test_the_outer_rate_is_checked_for_the_algorithm_it_belongs_to() -> None:
    with pytest.raises(ConfigError, match=r"^meta\.outer_lr=2\.0 is Reptile's step .* at most 1"):
        parse_options(["meta.classes=[0,1]", "meta.outer_lr=2"])
    options, _ = parse_options(
        ["meta.classes=[0,1]", "meta.algorithm=fomaml", "meta.outer_lr=0.01"]
    )
    assert options.outer_lr == 0.01
    with pytest.raises(ConfigError, match=r"meta\.algorithm"):
        parse_options(["meta.classes=[0,1]", "meta.algorithm=maml"])


@pytest.mark.slow
def test_fomaml_from_the_command_line_then_adapt(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
    one_thread: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scratch = workdir / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    code, out, err = cli("meta", "plugin=dcgan", "preset=tiny", "trainer.batch_size=8",
                         "meta.classes=[0,1,2]", "meta.algorithm=fomaml", "meta.outer_steps=3",
                         "meta.inner_steps=2", "meta.tasks_per_step=2", "loggers=[jsonl]",
                         "name=f")  # fmt: skip
    assert code == 0, err
    assert "first-order MAML" in out and "2 inner steps + 1 query step" in out
    run = workdir / "runs" / "f"
    assert yaml.safe_load((run / "meta.json").read_text())["method"] == "fomaml"
    logged = [yaml.safe_load(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    rates = [row["meta/outer_lr"] for row in logged]
    assert rates == pytest.approx([FOMAML_OUTER_LR * (1 - s / 3) for s in range(3)])
    code, _, err = cli("adapt", str(run), "data.classes=[8]", "trainer.steps=2",
                       "eval.n_samples=20", "name=f-adapted")  # fmt: skip
    assert code == 0, err
    assert ganhub.load(workdir / "runs" / "f-adapted").config.init_from == run
