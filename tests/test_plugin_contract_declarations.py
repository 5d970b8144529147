"""What a plugin author declares is checked where it matters: a domain's `modality` against its
system's capabilities, `supports_pack` against what its discriminator takes; `check_trick`
blames the trick for state it loses on resume; a wrong `data()` names the type to return.

Every plugin here is built in-process (toy2d's system under another name), no package needed.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import nn

import ganhub
from ganhub.domain import Domain
from ganhub.errors import PluginError
from ganhub.hookspecs import hookimpl
from ganhub.plugins import Hub
from ganhub.testing import ContractError, check_domain, check_trick
from ganhub.tricks import Trick

from .conftest import TINY_TOY

ODD = [a if a != "plugin=toy2d" else "plugin=odd2d" for a in TINY_TOY]
SMALL = ["model.g_hidden=16", "model.d_hidden=16", "data.n_samples=1000", "eval.n_samples=500"]
CHECK = ["tricks=[]", "trainer.batch_size=32", *SMALL]  # check_domain's overrides


def _hub(**hooks: Any) -> Hub:
    """A hub with plugin 'odd' registering `hooks` (kind -> (name, object))."""
    plugin = SimpleNamespace(
        **{
            f"register_{kind}": hookimpl(lambda register, obj=obj: register(*obj))
            for kind, obj in hooks.items()
        }
    )
    return Hub.discover(extra=(("odd", plugin),))


def _one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(err.value)
    assert len(text.splitlines()) == 1, text
    return text


# -- 1. a domain that leaves out `modality` ------------------------------------------------


class NoModality(Domain):
    """toy2d's vector system under a Domain class that sets no modality (so: "image")."""

    name = "odd2d"
    supports_pack = True

    @property
    def config_class(self) -> Any:
        from ganhub_toy2d.config import Toy2dConfig

        return Toy2dConfig

    def build(self, config: Any, hints: Any) -> Any:
        from ganhub_toy2d.system import Toy2dSystem

        return Toy2dSystem(config, hints)


MODALITY = (
    "domain 'odd2d': its modality is \"image\" (the default, as the Domain class sets none) but "
    'its system\'s capabilities() declare "vector"; set `modality = "vector"` on the Domain '
    "class"
)


def test_a_run_refuses_a_domain_whose_modality_is_not_its_systems(workdir: Path) -> None:
    """It trained as an image domain: diffaug broadcast (B, 1) to (B, 1, B, 1) silently."""
    hub = _hub(domains=("odd2d", NoModality()))
    with pytest.raises(PluginError) as err:
        ganhub.train([*ODD, "tricks=[diffaug]"], hub=hub)
    assert _one_line(err).startswith(MODALITY)
    assert not list((workdir / "runs").glob("*"))  # refused before a run directory existed


def test_check_domain_refuses_a_domain_whose_modality_is_not_its_systems(tmp_path: Path) -> None:
    hub = _hub(domains=("odd2d", NoModality()))
    with pytest.raises(ContractError) as err:
        check_domain("odd2d", CHECK, hub=hub, workdir=tmp_path)
    reason = MODALITY.removeprefix("domain 'odd2d': ")  # the domain named once
    assert _one_line(err).startswith(f"domain 'odd2d': PluginError: {reason}")


# -- 2. a domain that declares supports_pack and ignores hints.pack ------------------------


class Unpacked(nn.Module):
    """toy2d's D on one point at a time: packed inputs are split back into points."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x.reshape(-1, 2))
        return out


def _ignores_pack(discriminator: type[nn.Module] | None) -> Domain:
    """toy2d as 'odd2d', its D built for single points whatever hints.pack says."""
    from ganhub_toy2d.domain import Toy2dDomain

    class IgnoresPack(Toy2dDomain):
        name = "odd2d"

        def build(self, config: Any, hints: Any) -> Any:
            system = super().build(config, hints)
            if discriminator is None:  # the newcomer's slip: mlp(2, ...) without * hints.pack
                system.D = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
            else:
                system.D = discriminator()
            return system

    return IgnoresPack()


def test_a_packed_d_that_fails_is_named_as_the_domains_fault(workdir: Path) -> None:
    """It was `RuntimeError: mat1 and mat2 shapes cannot be multiplied` from the engine."""
    hub = _hub(domains=("odd2d", _ignores_pack(None)))
    with pytest.raises(PluginError) as err:
        ganhub.train([*ODD, "tricks=[pacgan]"], hub=hub)
    text = _one_line(err)
    assert text.startswith(
        "domain 'odd2d': its discriminator failed on a packed input (hints.pack=2, "
        "tricks=[pacgan]) with RuntimeError: mat1 and mat2 shapes cannot be multiplied"
    )
    assert "supports_pack = True" in text and "build() must make D take hints.pack" in text


def test_a_packed_run_of_a_domain_that_packs_is_unchanged(workdir: Path) -> None:
    summary = ganhub.train([*TINY_TOY, "tricks=[pacgan]"])
    assert summary["steps"] == 4


def test_check_domain_packs_a_batch_when_the_domain_declares_supports_pack(tmp_path: Path) -> None:
    """check_domain passed, then `ganhub run plugin=X tricks=[pacgan]` died in a traceback."""
    hub = _hub(domains=("odd2d", _ignores_pack(None)))
    with pytest.raises(ContractError) as err:
        check_domain("odd2d", CHECK, hub=hub, workdir=tmp_path)
    text = _one_line(err)
    assert text.startswith(
        "domain 'odd2d': PluginError: its discriminator failed on a packed input"
    )
    assert "supports_pack" in text


def test_check_domain_wants_one_logit_per_pack(tmp_path: Path) -> None:
    """A D that splits the packed input back into samples trains, but judges no pack."""
    hub = _hub(domains=("odd2d", _ignores_pack(Unpacked)))
    with pytest.raises(ContractError) as err:
        check_domain("odd2d", CHECK, hub=hub, workdir=tmp_path)
    assert _one_line(err) == (
        "domain 'odd2d': it declares supports_pack = True, but with tricks=[pacgan] "
        "(hints.pack=2) its discriminator gave 32 logits for 16 packed inputs, not one per pack; "
        "build() must make D take hints.pack samples at once"
    )


# -- 3. a trick that loses its state on resume ---------------------------------------------


class Forgets(Trick):
    """Scales D's inputs by a step count it keeps in an attribute, not in its state_dict()."""

    name = "odd_forgets"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.seen = 0

    def d_input(self, x: torch.Tensor, ctx: Any) -> torch.Tensor:
        return x * (1.0 + 0.1 * self.seen)

    def after_step(self, step: int, system: Any) -> None:
        self.seen += 1


def test_check_trick_blames_the_trick_that_loses_its_state(tmp_path: Path) -> None:
    """It said "domain 'toy2d': a run resumed at step 2 does not continue exactly"."""
    hub = _hub(tricks=("odd_forgets", Forgets))
    base = [a for a in TINY_TOY if not a.startswith(("tricks=", "trainer.steps="))]
    with pytest.raises(ContractError) as err:
        check_trick("odd_forgets", base, hub=hub, workdir=tmp_path)
    text = _one_line(err)
    assert text.startswith(
        "trick 'odd_forgets': a run with it resumed at step 2 does not continue exactly: "
    )
    assert text.endswith("from state_dict(), restore it in load_state_dict()")
    assert "domain" not in text


# -- 4. data() of the wrong type -----------------------------------------------------------


def test_data_of_the_wrong_type_names_the_batch_source_to_return(workdir: Path) -> None:
    """It said "data() returned Tensor, not Batches": a class the docs never name."""
    from ganhub_toy2d.domain import Toy2dDomain

    class BareData(Toy2dDomain):
        name = "odd2d"

        def build(self, config: Any, hints: Any) -> Any:
            system = super().build(config, hints)
            system.data = lambda: torch.zeros(64, 2)
            return system

    with pytest.raises(PluginError) as err:
        ganhub.train(ODD, hub=_hub(domains=("odd2d", BareData())))
    assert _one_line(err) == (
        "domain 'odd2d': data() returned Tensor, not a ganhub.data.BatchSource: return "
        "TensorBatches(tensor) (or LoaderBatches(dataset))"
    )
