"""A domain whose phases run D themselves, not through the context (`ctx.d_loss`,
`ctx.g_loss`, `ctx.discriminate`), leaves the tricks on D's inputs, the targets tricks and the
loss out: the run says so in one line after its first D phase, instead of training as if they
applied."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from ganhub_toy2d.domain import Toy2dDomain
from ganhub_toy2d.system import Toy2dSystem

import ganhub
from ganhub.config.schema import RunConfig
from ganhub.engine.context import TrainContext
from ganhub.engine.system import BuildHints, GANSystem, PhaseOutput
from ganhub.errors import PluginError
from ganhub.hookspecs import hookimpl
from ganhub.plugins import Hub

from .conftest import TINY_TOY


class DirectSystem(Toy2dSystem):
    """toy2d with phases of their own that call D directly and write the loss out."""

    def d_step(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        real = self.real_of(batch)
        fake = self.G(torch.randn(real.shape[0], *self.latent_shape)).detach()
        loss = F.softplus(-self.D(real)).mean() + F.softplus(self.D(fake)).mean()
        return PhaseOutput(loss, {})

    def g_step(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        n = self.real_of(batch).shape[0]
        return PhaseOutput(F.softplus(-self.D(self.G(torch.randn(n, *self.latent_shape)))).mean())


class DirectDomain(Toy2dDomain):
    """The toy2d domain with `DirectSystem`."""

    name = "direct2d"

    def build(self, config: RunConfig, hints: BuildHints) -> GANSystem:
        return DirectSystem(config, hints)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def hub() -> Hub:
    domains = hookimpl(lambda register: register("direct2d", DirectDomain()))
    return Hub.discover(extra=(("direct2d", SimpleNamespace(register_domains=domains)),))


def _warnings(hub: Hub, plugin: str, tmp_path: Path, capsys: Any, *keys: str) -> list[str]:
    settings = [k for k in TINY_TOY if not k.startswith(("plugin=", "tricks=", "trainer.steps"))]
    settings += ["trainer.steps=1", "eval.metrics=[]"]
    ganhub.train([f"plugin={plugin}", *settings, *keys, f"out_dir={tmp_path}"], hub=hub)
    err = capsys.readouterr().err
    return [line for line in err.splitlines() if "first D phase" in line]


def test_tricks_on_d_inputs_that_a_domain_bypasses_are_named(
    hub: Hub, tmp_path: Path, capsys: Any
) -> None:
    keys = ["tricks=[instance_noise,label_smoothing]", "loss=lsgan"]
    lines = _warnings(hub, "direct2d", tmp_path, capsys, *keys)
    assert lines == [
        "ganhub: warning: trick instance_noise saw no discriminator input in the first D "
        "phase: domain 'direct2d' runs its discriminator itself, so it changes nothing; route "
        "them through ctx.d_loss / ctx.g_loss, or ctx.discriminate(D, x) (docs/plugins.md)",
        "ganhub: warning: loss=lsgan, label_smoothing computed no D loss in the first D phase: "
        "domain 'direct2d' runs its discriminator itself and its loss, so they change "
        "nothing; compute it with ctx.d_loss, ctx.adversarial_d_loss or "
        "ctx.loss.d_loss(real_logits, fake_logits, ctx.targets) (docs/plugins.md)",
    ]


def test_a_domain_that_goes_through_the_context_gets_no_warning(
    hub: Hub, tmp_path: Path, capsys: Any
) -> None:
    keys = ["tricks=[instance_noise,label_smoothing]", "loss=lsgan"]
    assert _warnings(hub, "toy2d", tmp_path, capsys, *keys) == []
    # nothing to bypass: the default loss, no trick on D's inputs or targets
    assert _warnings(hub, "direct2d", tmp_path, capsys, "tricks=[]") == []


def test_pacgan_on_a_domain_that_runs_d_itself_says_nothing_was_packed(
    hub: Hub, tmp_path: Path
) -> None:
    """D is widened for packs but gets single samples: the error named `build()` before."""
    settings = [k for k in TINY_TOY if not k.startswith(("plugin=", "tricks=", "trainer.steps"))]
    keys = ["plugin=direct2d", *settings, "tricks=[pacgan]", "trainer.steps=1", "eval.metrics=[]"]
    with pytest.raises(PluginError) as caught:
        ganhub.train([*keys, f"out_dir={tmp_path}"], hub=hub)
    message = str(caught.value)
    assert "but the phase ran D itself, so no input was packed" in message, message
    assert "build() must" not in message
