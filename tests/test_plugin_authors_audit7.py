"""A domain that computes D's loss with the run's loss object itself (`ctx.loss.d_loss`), and
warnings under torchrun: said once for the job by rank 0, not once per process."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from ganhub_toy2d.domain import Toy2dDomain
from ganhub_toy2d.system import Toy2dSystem

import ganhub
from ganhub.config.schema import RunConfig
from ganhub.console import Console
from ganhub.engine.context import TrainContext
from ganhub.engine.system import BuildHints, GANSystem, PhaseOutput
from ganhub.hookspecs import hookimpl
from ganhub.losses import Targets
from ganhub.plugins import Hub

from .conftest import TINY_TOY


class LossObjectSystem(Toy2dSystem):
    """toy2d whose D phase runs D itself and scores its logits with `ctx.loss.d_loss`; with
    `targets=False` it leaves the run's targets out (the loss's default targets)."""

    targets = True

    def d_step(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        real = self.real_of(batch)
        fake = self.G(torch.randn(real.shape[0], *self.latent_shape)).detach()
        real_logits, fake_logits = self.D(ctx.d_input(real)), self.D(ctx.d_input(fake))
        if self.targets:
            return PhaseOutput(ctx.loss.d_loss(real_logits, fake_logits, ctx.targets))
        return PhaseOutput(ctx.loss.d_loss(real_logits, fake_logits))


class LossObjectDomain(Toy2dDomain):
    """The toy2d domain with `LossObjectSystem`."""

    name = "lossobj2d"
    targets = True

    def build(self, config: RunConfig, hints: BuildHints) -> GANSystem:
        system = LossObjectSystem(config, hints)  # type: ignore[arg-type]
        system.targets = self.targets
        return system


class NoTargetsDomain(LossObjectDomain):
    name = "notargets2d"
    targets = False


@pytest.fixture(scope="module")
def hub() -> Hub:
    def register_domains(register: Any) -> None:
        register("lossobj2d", LossObjectDomain())
        register("notargets2d", NoTargetsDomain())

    domains = hookimpl(register_domains)
    return Hub.discover(extra=(("lossobj2d", SimpleNamespace(register_domains=domains)),))


def _warnings(hub: Hub, plugin: str, tmp_path: Path, capsys: Any) -> list[str]:
    settings = [k for k in TINY_TOY if not k.startswith(("plugin=", "tricks=", "trainer.steps"))]
    keys = ["trainer.steps=1", "eval.metrics=[]", "tricks=[label_smoothing]", "loss=lsgan"]
    ganhub.train([f"plugin={plugin}", *settings, *keys, f"out_dir={tmp_path}"], hub=hub)
    return [line for line in capsys.readouterr().err.splitlines() if "first D phase" in line]


def test_a_d_loss_computed_with_the_run_loss_object_counts(
    hub: Hub, tmp_path: Path, capsys: Any
) -> None:
    """The loss and label smoothing apply: no "computed no D loss" warning."""
    assert _warnings(hub, "lossobj2d", tmp_path, capsys) == []


def test_the_loss_object_without_the_run_targets_leaves_out_the_targets_tricks(
    hub: Hub, tmp_path: Path, capsys: Any
) -> None:
    """loss=lsgan applies; label smoothing, which the run's targets carry, does not."""
    assert _warnings(hub, "notargets2d", tmp_path, capsys) == [
        "ganhub: warning: trick label_smoothing moved no D target in the first D phase: "
        "domain 'notargets2d' computes its D loss with targets other than ctx.targets, so "
        "it changes nothing; pass ctx.targets to ctx.loss.d_loss, or use ctx.d_loss "
        "(docs/plugins.md)"
    ]


def test_the_context_counts_without_changing_the_registered_loss(hub: Hub) -> None:
    """The registry's loss is shared by every run of a process: each context counts its own."""
    loss = hub.losses.get("lsgan")
    ctx = TrainContext(loss, Targets(real=0.9))
    real, fake = torch.ones(4, 1), torch.zeros(4, 1)
    assert torch.equal(
        ctx.loss.d_loss(real, fake, ctx.targets), loss.d_loss(real, fake, Targets(0.9))
    )
    ctx.adversarial_d_loss(real, fake)
    assert (ctx.d_losses, ctx.d_targets) == (2, 2)
    assert ctx.loss.name == "lsgan" and "d_loss" not in vars(loss)
    assert TrainContext(loss).d_losses == 0


def test_run_warnings_are_said_by_rank_0_only(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    """Under torchrun every process meets the same run-level warning: rank 0 says it; a line
    only one process may meet (its own failure) is said by that process."""
    monkeypatch.setenv("RANK", "1")
    console = Console(quiet=True)
    console.warn("ganhub: warning: run-level")
    console.warn("ganhub: warning: this process's own", every_rank=True)
    assert capsys.readouterr().err.splitlines() == ["ganhub: warning: this process's own"]
    monkeypatch.setenv("RANK", "0")
    console.warn("ganhub: warning: run-level")
    assert capsys.readouterr().err.splitlines() == ["ganhub: warning: run-level"]
