"""A domain's phase that returns the wrong thing (a float or a dict, not a PhaseOutput; a
PhaseOutput whose loss is a Python float) is named in one line with the plugin that registered
the domain, the phase function's qualified name and its file:line, so its author finds it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ganhub_toy2d.domain import Toy2dDomain
from ganhub_toy2d.system import Toy2dSystem

import ganhub
from ganhub.config.schema import RunConfig
from ganhub.engine.system import BuildHints, GANSystem, PhaseOutput
from ganhub.errors import PluginError
from ganhub.hookspecs import hookimpl
from ganhub.plugins import Hub

from .conftest import TINY_TOY

DEF_LINE = "    def d_step(self, batch: Any, ctx: Any) -> Any:"


class WrongReturnSystem(Toy2dSystem):
    """toy2d whose D phase returns what `returns` says."""

    returns = "float"

    def d_step(self, batch: Any, ctx: Any) -> Any:
        out = super().d_step(batch, ctx)
        if self.returns == "dict":
            return {"loss": out.loss}
        if self.returns == "float loss":
            return PhaseOutput(out.loss.item())
        return out.loss.item()


class WrongReturnDomain(Toy2dDomain):
    name = "wrongret2d"
    returns = "float"

    def build(self, config: RunConfig, hints: BuildHints) -> GANSystem:
        system = WrongReturnSystem(config, hints)  # type: ignore[arg-type]
        system.returns = self.returns
        return system


@pytest.fixture(scope="module")
def hub() -> Hub:
    @hookimpl
    def register_domains(register: Any) -> None:
        register("wrongret2d", WrongReturnDomain())

    return Hub.discover(extra=(("wrongret", SimpleNamespace(register_domains=register_domains)),))


NOT_PHASE_OUTPUT = "domain 'wrongret2d': its phase 'D' ({place}) returned {type}, not a PhaseOutput"


@pytest.mark.parametrize(
    ("returns", "said"),
    [
        ("float", NOT_PHASE_OUTPUT.replace("{type}", "float")),
        ("dict", NOT_PHASE_OUTPUT.replace("{type}", "dict")),
        ("float loss", "phase 'D': the domain's phase (or its loss 'nonsaturating') gave a float, "
         "not a 0-dim tensor; give the tensor itself (no float(), .item() or .tolist()): a number "
         "has no gradient (the phase: {place}, of domain 'wrongret2d', plugin 'wrongret'; the "
         "loss: plugin 'ganhub.losses.adversarial' from ganhub"),
    ],
    ids=["float", "dict", "float loss"],
)  # fmt: skip
def test_a_wrong_return_names_the_plugin_and_the_phase_function_where_it_is(
    returns: str, said: str, hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: `its phase 'D' (d_step()) returned float`, which of the system's classes and
    files unsaid; for the float loss, neither the plugin nor the phase function."""
    monkeypatch.setattr(WrongReturnDomain, "returns", returns)
    line = Path(__file__).read_text().splitlines().index(DEF_LINE) + 1
    keys = [k for k in TINY_TOY if not k.startswith(("plugin=", "trainer.steps"))]
    with pytest.raises(PluginError) as caught:
        ganhub.train(
            [
                "plugin=wrongret2d",
                *keys,
                "trainer.steps=1",
                "eval.metrics=[]",
                f"out_dir={tmp_path}",
            ],
            hub=hub,
        )
    message = str(caught.value)
    place = f"WrongReturnSystem.d_step, {__file__}:{line}"
    assert message.startswith(said.replace("{place}", place)), message
    assert "plugin 'wrongret'" in message and "\n" not in message
