"""A trick that packs several samples into one D input (`Trick.packs_inputs`: PacGAN) cannot
run in a class-conditional run: each packed input would hold samples of several classes. The
config refuses it when it resolves (`ganhub config`, `ganhub run`, the Python API), from the
declaration alone, before any trick is made or any model built; the build keeps a safety net
for a trick that packs without declaring it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError, PluginError
from ganhub.hookspecs import hookimpl
from ganhub.plugins import Hub
from ganhub.tricks import Trick

from .conftest import TINY_DCGAN

COND = [*TINY_DCGAN, "model.conditional=true"]
Cli = Any


class Packer(Trick):
    """A third-party packing trick that must never be made in a refused run."""

    name = "packer"
    packs_inputs = True

    def __init__(self, options: Any, config: Any) -> None:
        raise AssertionError("the refusal made the trick")

    def adjust_build(self, hints: Any) -> None:
        raise AssertionError("the refusal asked adjust_build")


def test_ganhub_config_refuses_pacgan_in_a_conditional_run_in_one_line(cli: Cli) -> None:
    """`ganhub config` printed the config; only `ganhub run` refused it, once D was built."""
    code, out, err = cli("config", *COND, "tricks=[pacgan]")
    assert code == 2 and not out, out
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(
        "ganhub: error: trick 'pacgan' packs several samples into one D input, and this 'dcgan' "
        "run is class-conditional"
    ), err
    assert "drop pacgan from tricks" in err, err


def test_a_declared_packing_trick_is_refused_from_its_declaration() -> None:
    """Any trick declaring packs_inputs is refused alike, without being made or asked to
    adjust the build (acgan's adjust_build raises without a condition, for one)."""
    plugin = SimpleNamespace(register_tricks=hookimpl(lambda register: register("packer", Packer)))
    hub = Hub.discover(extra=(("packer_plugin", plugin),))
    with pytest.raises(ConfigError, match=r"^trick 'packer' packs several samples .*conditional"):
        resolve([*COND, "tricks=[packer]"], hub=hub)
    assert resolve([*TINY_DCGAN, "tricks=[packer]"], hub=hub).tricks == ["packer"]


def test_the_build_still_refuses_a_trick_that_packs_without_declaring_it() -> None:
    """The safety net at D's wrapping names the declaration the trick lacks."""
    from ganhub.conditioning import Condition, LabelSpec
    from ganhub.plugins import get_hub

    mechanisms = {e.name: e.obj for e in get_hub().conditioners}
    condition = Condition(LabelSpec((10,)), mechanisms["cbn"], mechanisms["projection"], pack=2)
    with pytest.raises(PluginError, match=r"BuildHints.pack=2 .* must declare packs_inputs"):
        condition.wrap_discriminator(None)  # type: ignore[arg-type]
