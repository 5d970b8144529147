"""A third-party piece's fault is named as that piece's, in one line: the trick whose d_input()
cut G's fakes from the graph or changed D's input (not the domain whose D then failed), what a
plugin added in-process should do about its failure, and a system that declares labels its
data does not have."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from ganhub_toy2d.domain import Toy2dDomain
from ganhub_toy2d.system import Toy2dSystem

from ganhub.capabilities import Capabilities
from ganhub.capability_checks import capability_problems
from ganhub.conditioning import LabelSpec
from ganhub.config.resolve import resolve
from ganhub.engine.loop import train_steps
from ganhub.engine.system import BuildHints, GANSystem
from ganhub.errors import GanhubError, PluginError
from ganhub.hookspecs import hookimpl
from ganhub.plugins import Hub
from ganhub.tricks import Trick
from ganhub.wiring import make_run

from .conftest import TINY_TOY

pytestmark = pytest.mark.usefixtures("one_thread")


def _d_input_trick(name: str, transform: Any, doc: str) -> type[Trick]:
    """A trick whose `d_input` is `transform` of D's input."""

    def d_input(self: Trick, x: torch.Tensor, ctx: Any) -> torch.Tensor:
        return transform(x)

    return type(name, (Trick,), {"name": name, "__doc__": doc, "d_input": d_input})


# G's fakes lose their gradient; D's first layer cannot take the output; float64 to a float32
# D; the input as it is
Detach = _d_input_trick("pf_detach", lambda x: x.detach(), "detaches what it is given")
Shrink = _d_input_trick("pf_shrink", lambda x: x[:, :-1], "drops a feature")
Double = _d_input_trick("pf_double", lambda x: x.double(), "casts to float64")
Same = _d_input_trick("pf_same", lambda x: x, "returns its input")


class BrokenDSystem(Toy2dSystem):
    """toy2d whose discriminator raises on every input: the domain's own fault."""

    def __init__(self, config: Any, hints: BuildHints) -> None:
        super().__init__(config, hints)

        def refuse(module: Any, args: Any) -> None:
            raise ValueError("this discriminator is broken")

        for d in self.discriminators():
            d.register_forward_pre_hook(refuse)


class BrokenDDomain(Toy2dDomain):
    name = "pf_broken_d2d"

    def build(self, config: Any, hints: BuildHints) -> GANSystem:
        return BrokenDSystem(config, hints)


class LabelsSystem(Toy2dSystem):
    """toy2d that declares class labels, though its points have none."""

    def capabilities(self) -> Capabilities:
        return replace(super().capabilities(), labels=LabelSpec((3,)))


class LabelsDomain(Toy2dDomain):
    name = "pf_labels2d"

    def build(self, config: Any, hints: BuildHints) -> GANSystem:
        return LabelsSystem(config, hints)


@pytest.fixture(scope="module")
def hub() -> Hub:
    def register_tricks(register: Any) -> None:
        for trick in (Detach, Shrink, Double, Same):
            register(trick.name, trick)

    def register_domains(register: Any) -> None:
        register(BrokenDDomain.name, BrokenDDomain())
        register(LabelsDomain.name, LabelsDomain())

    plugin = SimpleNamespace(
        register_tricks=hookimpl(register_tricks), register_domains=hookimpl(register_domains)
    )
    return Hub.discover(extra=(("pf", plugin),))


def _step_error(hub: Hub, *args: str) -> str:
    """The one line that a step of a tiny toy2d run with `args` fails with."""
    run = make_run(resolve([*TINY_TOY, *args], hub=hub), hub)
    with pytest.raises(PluginError) as err:
        train_steps(run, run.batches(), 1)
    run.close()
    assert "\n" not in str(err.value)
    return str(err.value)


def test_a_trick_that_detaches_d_input_is_named(hub: Hub) -> None:
    """It said "phase 'G': its loss does not depend on any weight of G", naming no trick."""
    line = _step_error(hub, "tricks=[instance_noise,pf_detach]")
    assert line.startswith(
        "trick 'pf_detach': its d_input() returned D's input without the gradient it came with"
    )
    assert "the loss of phase 'G' depends on no weight of G" in line
    assert line.endswith("(plugin 'pf')")


def test_a_gradient_lost_without_a_d_input_trick_names_the_phase(hub: Hub) -> None:
    """The plain GAN whose G phase is cut nowhere by a trick keeps the phase's own line."""
    run = make_run(resolve([*TINY_TOY, "tricks=[instance_noise]"], hub=hub), hub)
    phase = next(p for p in run.phases if p.group == "G")
    own = phase.loss

    def no_grad_loss(batch: Any, ctx: Any) -> Any:
        with torch.no_grad():
            return own(batch, ctx)

    phase.loss = no_grad_loss
    with pytest.raises(PluginError) as err:
        train_steps(run, run.batches(), 1)
    run.close()
    assert str(err.value).startswith(
        "phase 'G': its loss does not depend on any weight of G, so it cannot train it"
    )


@pytest.mark.parametrize(
    ("trick", "change", "raised"),
    [
        ("pf_shrink", "of shape (", "RuntimeError: mat1 and mat2 shapes cannot be multiplied"),
        ("pf_double", "of dtype torch.float32 into torch.float64", "RuntimeError: mat1 and"),
    ],
)
def test_a_trick_that_changes_d_input_is_blamed_not_the_domain(
    hub: Hub, trick: str, change: str, raised: str
) -> None:
    """It said "domain 'toy2d': its phase 'D' (d_step()) raised RuntimeError: mat1 and mat2
    shapes cannot be multiplied", naming the domain and not the trick."""
    line = _step_error(hub, f"tricks=[instance_noise,{trick}]")
    assert line.startswith(f"trick '{trick}': its d_input() turned D's input {change}")
    assert f", and then D raised {raised}" in line
    assert "(plugin 'pf';" in line
    assert "domain 'toy2d'" not in line


def test_a_failing_discriminator_names_the_tricks_its_input_went_through(hub: Hub) -> None:
    """The domain's own fault stays the domain's, saying which tricks D's input met first."""
    setup = [a for a in TINY_TOY if not a.startswith("plugin=")]
    line = _step_error(hub, *setup, "plugin=pf_broken_d2d", "eval.metrics=[]", "tricks=[pf_same]")
    assert line.startswith(
        "domain 'pf_broken_d2d': its phase 'D' (d_step()), on D inputs through the d_input() "
        "of trick 'pf_same', raised ValueError: this discriminator is broken"
    )


def test_pacgans_declared_packing_is_not_blamed_for_a_broken_discriminator(hub: Hub) -> None:
    """pacgan reshapes D's input by design (`packs_inputs`, D built for it): a D that fails
    on it is the domain's fault, not pacgan's."""
    setup = [a for a in TINY_TOY if not a.startswith("plugin=")]
    line = _step_error(hub, *setup, "plugin=pf_broken_d2d", "eval.metrics=[]", "tricks=[pacgan]")
    assert line.startswith("domain 'pf_broken_d2d': its discriminator failed on a packed input")
    assert "trick 'pacgan': its d_input()" not in line


def test_an_in_process_plugin_is_not_sent_to_its_authors() -> None:
    """Its fix said "report it to the authors of '(in-process)'": no distribution has it."""

    def register_tricks(register: Any) -> None:
        raise ValueError("a typo in the plugin")

    plugin = SimpleNamespace(register_tricks=hookimpl(register_tricks))
    hub = Hub.discover(extra=(("pfbroken", plugin),))
    fix = hub.plugins["pfbroken"].fix
    assert "report it to the authors" not in fix
    assert "Hub.discover(extra=...)" in fix
    with pytest.raises(GanhubError) as err:
        resolve([*TINY_TOY, "tricks=[pfbroken_noise]"], hub=hub)
    assert f"Fix: {fix}, or leave 'pfbroken_noise' out" in str(err.value)


def test_labels_declared_without_labelled_data_are_said(hub: Hub) -> None:
    """check_domain said "its declared capabilities: UsageError: the data has no labels",
    not which declaration was wrong."""
    setup = [a for a in TINY_TOY if not a.startswith("plugin=")]
    run = make_run(resolve([*setup, "plugin=pf_labels2d", "eval.metrics=[]"], hub=hub), hub)
    try:
        problems = capability_problems(run.system, hub)
    finally:
        run.close()
    assert len(problems) == 1
    assert problems[0].startswith(
        "capabilities() declare labels, but real_labelled() raised UsageError: the "
        "'pf_labels2d' data of this run has no labels"
    )
