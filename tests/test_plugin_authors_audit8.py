"""A plugin author's mistakes said in one line: a system that assigns a module before its base
class's `__init__` ran, a `sample()` without the contract's keywords, and the way to install
again a plugin that was installed editable from a folder."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ganhub_toy2d.domain import Toy2dDomain
from ganhub_toy2d.system import Toy2dSystem
from torch import nn

import ganhub
from ganhub.config.schema import RunConfig
from ganhub.engine.system import BuildHints, GANSystem
from ganhub.errors import PluginError
from ganhub.failed_providers import editable_reinstall
from ganhub.hookspecs import hookimpl
from ganhub.plugins import Hub
from ganhub.testing import ContractError, check_domain

from .conftest import TINY_TOY

SAMPLE = "define sample(self, n, *, seed=None, use_ema=True, labels=None) (plugin 'audit8')"


class EarlySystem(Toy2dSystem):
    """toy2d that keeps a module of its own, assigned before `super().__init__` ran."""

    def __init__(self, config: Any, hints: BuildHints) -> None:
        self.head = nn.Linear(2, 2)
        super().__init__(config, hints)


class EarlyNet(nn.Module):
    """A network that assigns its layer before `nn.Module.__init__` ran."""

    def __init__(self) -> None:
        self.layer = nn.Linear(2, 2)
        super().__init__()


class EarlyNetSystem(Toy2dSystem):
    def __init__(self, config: Any, hints: BuildHints) -> None:
        super().__init__(config, hints)
        self.head = EarlyNet()


class NoLabelsSystem(Toy2dSystem):
    """toy2d whose sample() leaves out `labels=`."""

    def sample(self, n: int, *, seed: int | None = None, use_ema: bool = True) -> Any:  # type: ignore[override]
        return super().sample(n, seed=seed, use_ema=use_ema)


def _domain(name: str, system: type[Toy2dSystem]) -> Toy2dDomain:
    class Domain(Toy2dDomain):
        def build(self, config: RunConfig, hints: BuildHints) -> GANSystem:
            return system(config, hints)  # type: ignore[arg-type]

    Domain.name = name
    return Domain()


@pytest.fixture(scope="module")
def hub() -> Hub:
    def register_domains(register: Any) -> None:
        register("early2d", _domain("early2d", EarlySystem))
        register("earlynet2d", _domain("earlynet2d", EarlyNetSystem))
        register("nolabels2d", _domain("nolabels2d", NoLabelsSystem))

    domains = hookimpl(register_domains)
    return Hub.discover(extra=(("audit8", SimpleNamespace(register_domains=domains)),))


def _train(hub: Hub, plugin: str, tmp_path: Path) -> None:
    settings = [k for k in TINY_TOY if not k.startswith(("plugin=", "trainer.steps"))]
    keys = ["trainer.steps=1", "eval.metrics=[]", f"out_dir={tmp_path}"]
    ganhub.train([f"plugin={plugin}", *settings, *keys], hub=hub)


@pytest.mark.parametrize(
    ("plugin", "fix"),
    [
        ("early2d", "call super().__init__(config, hints) first in EarlySystem.__init__"),
        ("earlynet2d", "call super().__init__() first in EarlyNet.__init__"),
    ],
)
def test_a_module_assigned_before_init_names_the_call_that_fixes_it(
    hub: Hub, tmp_path: Path, plugin: str, fix: str
) -> None:
    """torch's own words said nothing of which class, nor of what to call."""
    with pytest.raises(PluginError) as err:
        _train(hub, plugin, tmp_path)
    assert str(err.value) == (
        f"domain '{plugin}': its build() raised AttributeError: cannot assign module before "
        f"Module.__init__() call: {fix} (plugin 'audit8'; GANHUB_DEBUG=1 shows the traceback)"
    )


def test_a_sample_without_labels_is_refused_as_the_run_builds_the_system(
    hub: Hub, tmp_path: Path
) -> None:
    """It trained, then failed with a bare TypeError once something passed `labels=`."""
    with pytest.raises(PluginError) as err:
        _train(hub, "nolabels2d", tmp_path)
    line = str(err.value)
    assert line == (
        "domain 'nolabels2d': NoLabelsSystem.sample(self, n, *, seed=None, use_ema=True) cannot "
        f"take what ganhub passes (n, seed=, use_ema=, labels=): {SAMPLE}"
    )
    overrides = [k for k in TINY_TOY if not k.startswith(("plugin=", "trainer.steps"))]
    with pytest.raises(ContractError, match=r"^domain 'nolabels2d': PluginError: NoLabelsSystem"):
        check_domain("nolabels2d", overrides, hub=hub, steps=2, workdir=tmp_path)


def _entry(project: object) -> dict[str, object]:
    return {"name": "ringz", "plugin": "ringz", "dist": "ganhub-ringz", "version": "0.1.0",
            "project": project}  # fmt: skip


def test_a_plugin_installed_editable_is_installed_again_from_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its version was never on an index: `pip install 'ganhub-ringz==0.1.0'` found nothing."""
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    project = tmp_path / "my plugins" / "ganhub-ringz"
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "ganhub-ringz"\n')
    quoted = f"'{project}'"  # the space: quoted for the shell
    assert editable_reinstall(_entry(str(project))) == (
        f"it came from 'ganhub-ringz' 0.1.0, installed editable from {project}: "
        f"pip install -e {quoted}"
    )
    (project / "pyproject.toml").unlink()
    assert editable_reinstall(_entry(str(project))) == (
        f"it came from 'ganhub-ringz' 0.1.0, installed editable from {project}, which holds no "
        "project any more: install it again from its project's folder (pip install -e FOLDER)"
    )


@pytest.mark.parametrize("project", [None, 3, "ganhub-ringz", "/tmp/x\n; rm -rf ~"])
def test_a_recorded_folder_is_shown_only_when_it_is_an_absolute_printable_path(
    project: object,
) -> None:
    """requires.json travels with the run: it is input, never a command to repeat."""
    assert editable_reinstall(_entry(project)) is None


# -- with the patches to ganhub/wiring.py, ganhub/provenance.py and ganhub/console.py --------

RINGZ = """\
from ganhub.hookspecs import hookimpl
from ganhub_toy2d.domain import Toy2dDomain


class RingzDomain(Toy2dDomain):
    name = "ringz"


@hookimpl
def register_domains(register):
    register("ringz", RingzDomain())
"""


def test_a_resume_without_the_editable_plugin_installs_it_again_from_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run records the folder; the resume said `pip install 'ganhub-ringz==0.1.0'`."""
    import json

    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    project = tmp_path / "ganhub-ringz"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "ganhub-ringz"\n')
    (project / "ganhub_ringz.py").write_text(RINGZ)
    info = tmp_path / "site" / "ganhub_ringz-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ganhub-ringz\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[ganhub]\nringz = ganhub_ringz\n")
    url = {"url": project.as_uri(), "dir_info": {"editable": True}}
    (info / "direct_url.json").write_text(json.dumps(url))
    with monkeypatch.context() as installed:
        installed.syspath_prepend(str(tmp_path / "site"))
        installed.syspath_prepend(str(project))
        _train(Hub.discover(), "ringz", tmp_path / "runs")
    (run,) = (tmp_path / "runs").iterdir()
    with pytest.raises(PluginError) as err:
        ganhub.train([f"resume={run}", "trainer.steps=2"], hub=Hub.discover())
    assert str(err.value).endswith(
        "which no installed plugin provides; it came from 'ganhub-ringz' 0.1.0, installed "
        f"editable from {project}: pip install -e {project}"
    )


def test_a_warning_of_one_process_says_its_rank(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """torchrun passes each process's stderr through unmarked (without --tee): a line only
    one process said named none; the job's warnings, said by rank 0 alone, stay as they are."""
    from ganhub.console import warn

    monkeypatch.setenv("WORLD_SIZE", "4")
    for rank in ("0", "3"):
        monkeypatch.setenv("RANK", rank)
        warn("ganhub: warning: this process's own", every_rank=True)
        warn("ganhub: warning: the job's")
    assert capsys.readouterr().err.splitlines() == [
        "[rank 0] ganhub: warning: this process's own",
        "ganhub: warning: the job's",
        "[rank 3] ganhub: warning: this process's own",
    ]
    monkeypatch.setenv("WORLD_SIZE", "1")
    warn("ganhub: warning: this process's own", every_rank=True)
    assert capsys.readouterr().err == "ganhub: warning: this process's own\n"
