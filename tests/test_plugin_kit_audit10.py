"""ganhub.testing's checks name what a plugin declares through a method's return and ganhub
reads only later: a trick's `follows_run_length()` and `constrains_d()`, a loss's
`decision_threshold()`, a system's `follows_run_length()`, its samples' dtype and its default
feature network. A loss that gives NaN is said in one line, not six."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ganhub_toy2d.domain import Toy2dDomain
from ganhub_toy2d.system import Toy2dSystem

from ganhub.capabilities import Capabilities
from ganhub.config.schema import RunConfig
from ganhub.engine.system import BuildHints, GANSystem
from ganhub.hookspecs import hookimpl
from ganhub.losses import AdversarialLoss, Targets
from ganhub.plugins import Hub
from ganhub.testing import ContractError, check_domain, check_loss, check_trick
from ganhub.tricks import Trick

from .conftest import TINY_TOY


class LengthFlag(Trick):
    """A trick that says whether it follows the run's length with a bool."""

    name = "kit_length_flag"

    def follows_run_length(self) -> Any:
        return True


class ClipSaysYes(Trick):
    """A trick whose constrains_d() answers with a word."""

    name = "kit_clip_yes"

    def constrains_d(self) -> Any:
        return "yes"


class WordThreshold(AdversarialLoss):
    """A loss whose decision threshold is a word."""

    name = "kit_word_threshold"

    def d_loss(self, real: Any, fake: Any, targets: Targets = Targets()) -> Any:
        return fake.mean() - real.mean()

    def g_loss(self, fake: Any, real: Any = None, targets: Targets = Targets()) -> Any:
        return -fake.mean()

    def decision_threshold(self, targets: Targets = Targets()) -> Any:
        return "zero"


class NanLoss(WordThreshold):
    """A loss that gives NaN (a log of a negative number, say)."""

    name = "kit_nan"

    def d_loss(self, real: Any, fake: Any, targets: Targets = Targets()) -> Any:
        return (fake.mean() - real.mean()) * float("nan")

    def decision_threshold(self, targets: Targets = Targets()) -> Any:
        return 0.0


class DoubleSystem(Toy2dSystem):
    """toy2d whose samples are float64 beside float32 data, whose follows_run_length() is one
    phrase, not a list of them, and whose default feature network does not exist."""

    def sample(self, n: int, *, seed: int | None = None, **kw: Any) -> Any:
        return super().sample(n, seed=seed, **kw).double()

    def follows_run_length(self) -> Any:
        return "the noise anneals over the run"

    def capabilities(self) -> Capabilities:
        return replace(super().capabilities(), features=("kit_no_such_net",))


class DoubleDomain(Toy2dDomain):
    name = "kit_double2d"

    def build(self, config: RunConfig, hints: BuildHints) -> GANSystem:
        return DoubleSystem(config, hints)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def hub() -> Hub:
    def register_tricks(register: Any) -> None:
        register(LengthFlag.name, LengthFlag)
        register(ClipSaysYes.name, ClipSaysYes)

    def register_domains(register: Any) -> None:
        register(DoubleDomain.name, DoubleDomain())

    plugin = SimpleNamespace(
        register_tricks=hookimpl(register_tricks), register_domains=hookimpl(register_domains)
    )
    return Hub.discover(extra=(("kit", plugin),))


@pytest.mark.parametrize(
    ("trick", "line"),
    [
        (
            "kit_length_flag",
            "follows_run_length() returned bool (True), not a str or None: the few words after",
        ),
        (
            "kit_clip_yes",
            "constrains_d() returned str ('yes'), not a bool: True only when the trick bounds",
        ),
    ],
)
def test_check_trick_names_a_declaration_of_the_wrong_type(
    hub: Hub, tmp_path: Path, trick: str, line: str
) -> None:
    """Both went through check_trick; a resume's banner then printed 'kit_length_flag True',
    and a WGAN without a Lipschitz constraint lost its warning to a truthy word."""
    with pytest.raises(ContractError) as err:
        check_trick(trick, TINY_TOY, hub=hub, workdir=tmp_path)
    lines = str(err.value).splitlines()
    assert lines[0] == f"trick '{trick}':"
    assert len(lines) == 2 and lines[1].strip().startswith(line)


def test_check_loss_names_a_decision_threshold_that_is_no_number() -> None:
    """A run logged D's accuracy against it and failed in the domain's phase 'D' instead."""
    with pytest.raises(ContractError) as err:
        check_loss(WordThreshold())
    assert str(err.value).splitlines()[1].strip() == (
        "decision_threshold() returned str ('zero'), not a float or None: the logit that "
        "separates D's real and fake calls (0.0 for logits), or None when there is none"
    )


def test_check_loss_says_a_nan_loss_in_one_line() -> None:
    """It said six, among them 'no gradient' and 'reduce over the batch with .mean()'."""
    with pytest.raises(ContractError) as err:
        check_loss(NanLoss())
    assert str(err.value) == (
        "loss 'kit_nan':\n  d_loss on logits (8,) of zeros gave nan, not a finite number"
    )


def test_check_domain_names_the_systems_wrong_declarations(hub: Hub, tmp_path: Path) -> None:
    """All three passed check_domain: float64 samples beside float32 data, a phrase where the
    banner adds a list (one entry per character), and a feature network nobody has."""
    setup = [a for a in TINY_TOY if not a.startswith("plugin=")]
    with pytest.raises(ContractError) as err:
        check_domain("kit_double2d", [*setup, "eval.metrics=[]"], hub=hub, workdir=tmp_path)
    lines = [line.strip() for line in str(err.value).splitlines()]
    assert lines[0] == "domain 'kit_double2d': its system:"
    assert lines[1].startswith("follows_run_length() returned str ('the noise anneals over the ")
    assert lines[2] == (
        "sample(2) gave dtype torch.float64 and real_samples(2) torch.float32: return samples "
        "of the real samples' dtype (torch.float32)"
    )
    assert lines[3].startswith(
        "capabilities() declare the default feature network 'kit_no_such_net', which ganhub "
        "cannot load: "
    )
    assert len(lines) == 4
