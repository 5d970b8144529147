"""Multi-task discriminators: auxiliary heads on D's trunk and SSGAN's rotation head."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import torch
from torch import nn

import ganhub
from ganhub import testing
from ganhub.config.resolve import resolve
from ganhub.engine.heads import HeadedDiscriminator, head_logits, headed_discriminator
from ganhub.engine.loop import fit
from ganhub.engine.run import Run
from ganhub.engine.system import BuildHints, PhaseOutput
from ganhub.errors import ConfigError
from ganhub.tricks.heads import quarter_turns
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN

TINY_STYLEGAN = ["plugin=stylegan", "preset=tiny", "trainer.batch_size=4", "sample.frames=2"]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models: a second intra-op thread only adds barriers (slow on a busy CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _grads(module: nn.Module) -> float:
    """Sum of |grad| over a module's parameters (0 for parameters that got none)."""
    return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)


def _phase_losses(run: Run, group: str) -> tuple[PhaseOutput, dict[str, Any]]:
    """The first `group` phase's output on one batch, and each trick's extra loss on it."""
    phase = next(p for p in run.phases if p.group == group)
    out = phase.loss(next(run.batches()), run.ctx)
    return out, {t.name: t.extra_loss(phase, out, run.ctx) for t in run.tricks}


@pytest.mark.parametrize("conditional", [False, True], ids=["unconditional", "acgan"])
def test_a_heads_loss_reaches_the_trunk_and_only_its_own_head(
    conditional: bool, tmp_path: Path
) -> None:
    tricks = "[rotation_head,acgan]" if conditional else "[rotation_head]"
    cond = ["model.conditional=true"] if conditional else []
    run = make_run(resolve([*TINY_DCGAN, *cond, f"tricks={tricks}", f"out_dir={tmp_path}"]))
    D: Any = run.system.D  # a HeadedDiscriminator, or a ProjectionD when conditional
    trunk, adversarial = D.net[0], D.net[-1]  # first conv; the last conv is the real/fake logit
    _, losses = _phase_losses(run, "D")
    run.system.zero_grad(set_to_none=True)
    losses["rotation_head"].backward()
    assert _grads(trunk) > 0 and _grads(D.heads["rotation"]) > 0
    assert _grads(adversarial) == 0
    if conditional:  # the class head and the projection embedding get nothing either
        assert _grads(D.heads["class"]) == 0 and _grads(D.embed) == 0
        run.system.zero_grad(set_to_none=True)
        _, losses = _phase_losses(run, "D")
        losses["acgan"].backward()
        assert _grads(D.heads["class"]) > 0 and _grads(D.heads["rotation"]) == 0


def test_the_g_phase_rotation_loss_trains_g_through_the_head(tmp_path: Path) -> None:
    run = make_run(resolve([*TINY_DCGAN, "tricks=[rotation_head]", f"out_dir={tmp_path}"]))
    out, losses = _phase_losses(run, "G")
    assert out.aux["fake"].requires_grad and "rotation_fake" in out.aux
    run.system.zero_grad(set_to_none=True)
    losses["rotation_head"].backward()
    assert _grads(cast(nn.Module, run.system.G)) > 0
    assert set(out.stats) >= {"head/rotation_G"}


@pytest.mark.slow
def test_the_rotation_head_learns_and_logs_its_losses(tmp_path: Path) -> None:
    """120 steps of the tiny dcgan: D tells the quarter turns of real digits apart."""
    args = [*TINY_DCGAN, "tricks=[rotation_head]", "trainer.steps=120", "trainer.batch_size=16",
            "trainer.log_every=40", f"out_dir={tmp_path}"]  # fmt: skip
    run = make_run(resolve(args))
    rotated, turns = quarter_turns(run.system.real_samples(256, seed=1))

    def accuracy() -> float:
        with torch.no_grad():  # training-mode BatchNorm, as D judged its rotation batches
            predicted = head_logits(cast(nn.Module, run.system.D), "rotation", rotated).argmax(1)
        return float((predicted == turns).float().mean())

    before = accuracy()
    fit(run)
    after = accuracy()
    assert before < 0.4 and after > 0.6, (before, after)  # 4 classes: chance is 0.25
    lines = [json.loads(x) for x in (run.run_dir / "metrics.jsonl").read_text().splitlines()]
    logged = [m for m in lines if "head/rotation_D" in m]
    assert [m["step"] for m in logged] == [40, 80, 120]
    assert all("head/rotation_G" in m and "head/rotation_D_acc" in m for m in logged)
    assert logged[-1]["head/rotation_D"] < 0.8 * logged[0]["head/rotation_D"]
    loaded = ganhub.load(run.run_dir)  # the saved weights, heads included, load back
    assert loaded.sample(2, seed=0).shape == (2, 1, 32, 32)


@pytest.mark.parametrize(
    "base",
    [TINY_DCGAN, [*TINY_DCGAN, "model.conditional=true"], TINY_STYLEGAN],
    ids=["dcgan", "dcgan-conditional", "stylegan"],
)
def test_a_rotation_head_run_checkpoints_and_resumes_exactly(
    base: list[str], tmp_path: Path
) -> None:
    testing.check_trick("rotation_head", base, workdir=tmp_path)


def test_heads_are_built_only_when_asked_for(tmp_path: Path) -> None:
    plain = make_run(resolve([*TINY_STYLEGAN, "tricks=[]", f"out_dir={tmp_path}"])).system
    assert not isinstance(plain.D, HeadedDiscriminator)
    headed = make_run(resolve([*TINY_STYLEGAN, "tricks=[rotation_head]",
                               f"out_dir={tmp_path}"])).system  # fmt: skip
    assert isinstance(headed.D, HeadedDiscriminator)
    head = headed.D.heads["rotation"]
    assert head.out_features == 4 and head.in_features == headed.D.feature_dim
    assert "D.heads.rotation.bias" in headed.state_dict()
    # spectral norm walks D's modules, heads included (on dcgan: stylegan's equalised-rate
    # layers are no layers it normalises, and it is refused there)
    normalised = make_run(resolve([*TINY_DCGAN, "tricks=[rotation_head,spectral_norm]",
                                   f"out_dir={tmp_path}"])).system  # fmt: skip
    assert hasattr(normalised.D.heads["rotation"], "parametrizations")


def test_refusals_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"applies to image data.*'toy2d' run trains on vector"
    ) as e:
        resolve(["plugin=toy2d", "tricks=[rotation_head]"])
    with pytest.raises(ConfigError, match="cannot be combined with: pacgan"):
        resolve([*TINY_DCGAN, "tricks=[rotation_head,pacgan]"])
    with pytest.raises(ConfigError, match="turns square images, and this run's are 8x6") as f:
        quarter_turns(torch.zeros(2, 1, 8, 6))
    with pytest.raises(ConfigError, match=r"one discriminator with a 'rotation' head.*built 0"):
        headed_discriminator([nn.Linear(2, 1)], "rotation", "rotation_head")
    hints = BuildHints()
    hints.add_head("rotation", 4)
    with pytest.raises(ConfigError, match="head 'rotation', with 4 and 3 outputs") as g:
        hints.add_head("rotation", 3)
    assert all("\n" not in str(x.value) for x in (e, f, g))


def test_quarter_turns_are_blocks_of_the_batch_by_angle() -> None:
    x = torch.tensor([[0.0, 1.0], [2.0, 3.0]]).expand(2, 1, 2, 2) * torch.tensor([1.0, -1.0]).view(
        2, 1, 1, 1
    )
    rotated, turns = quarter_turns(x)
    assert turns.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert rotated[2, 0].tolist() == [[1.0, 3.0], [0.0, 2.0]]  # 90 degrees counter-clockwise
    assert rotated[4, 0].tolist() == [[3.0, 2.0], [1.0, 0.0]]  # 180
    assert rotated[6, 0].tolist() == [[2.0, 0.0], [3.0, 1.0]]  # 270
    assert torch.equal(rotated[7], -rotated[6])  # the second image, in the same block


def test_the_multitask_page_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its `ganhub run` lines resolve with the heads they name; its head trick trains."""
    import shlex

    text = (Path(__file__).resolve().parents[1] / "docs" / "multitask.md").read_text()
    heads, soft = text.split("## Soft parameter sharing")
    runs = [line for line in heads.splitlines() if line.startswith("ganhub run ")]
    assert len(runs) == 6
    for line in runs:
        assert "rotation_head" in resolve(shlex.split(line)[2:]).tricks
    source, *adapted = [line for line in soft.splitlines() if line.startswith("ganhub run ")]
    assert resolve(shlex.split(source)[2:]).tricks != ["ewc"] and len(adapted) == 2
    for line in adapted:  # soft sharing: the ewc trick, fisher-weighted or plain (L2-SP)
        assert resolve(shlex.split(line)[2:]).tricks == ["ewc"]
    (code,) = [part.split("```", 1)[0] for part in text.split("```python\n")[1:]]
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(
        compile(code.replace("trainer.steps=40", "trainer.steps=4"), "multitask.md", "exec"), scope
    )
    summary: dict[str, str] = scope["summary"]  # type: ignore[assignment]
    lines = (Path(summary["run_dir"]) / "metrics.jsonl").read_text().splitlines()
    last = json.loads(lines[-1])
    assert "head/flip_D" in last and "head/rotation_D" in last
    # the plugin's head is a task as the built-in one is: task_relations relates both
    assert {"task/cos_D_flip_head", "task/cos_D_rotation_head"} <= set(last)
