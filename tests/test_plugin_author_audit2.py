"""A newcomer's plugin, walked from `ganhub new-plugin` to a broken config: what ganhub says
names the option to fix, in one line, and the scaffold's files read right for any name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import Field

import ganhub
from ganhub.config.schema import Section
from ganhub.errors import PluginError
from ganhub.hookspecs import hookimpl
from ganhub.plugins import Hub
from ganhub.tricks import Trick

from .conftest import TINY_TOY


def _hub(kind: str, name: str, obj: Any) -> Hub:
    """An empty hub (no built-ins: fast) with plugin 'orbit' registering `obj` as `name`."""
    hub = Hub()
    hooks = {f"register_{kind}": hookimpl(lambda register: register(name, obj))}
    hub.add("orbit", SimpleNamespace(**hooks))
    return hub


def _refused(hub: Hub) -> str:
    info = hub.plugins["orbit"]
    assert info.status == "error" and info.registered == {}, info
    assert len(info.error.splitlines()) == 1, info.error
    return info.error


class Inner(Section):
    """A section inside a section, one of whose options has no default."""

    width: int = Field(description="no default")


class Model(Section):
    """A domain's `model` section that a newcomer added an option to, without a default."""

    hidden: int = Field(16, gt=0, description="width")
    depth: int = Field(gt=0, description="hidden layers, no default")


class Nested(Section):
    """A `model` section whose own sub-section lacks a default."""

    hidden: int = Field(16, gt=0, description="width")
    head: Inner = Field(default_factory=Inner)


def _domain(section: type[Section]) -> Any:
    from ganhub_toy2d.config import Toy2dConfig
    from ganhub_toy2d.domain import Toy2dDomain

    config = type(
        "OrbitConfig",
        (Toy2dConfig,),
        {"__annotations__": {"extra": section}, "extra": Field(default_factory=section)},
    )
    return type("OrbitDomain", (Toy2dDomain,), {"name": "orbit", "config_class": config})()


@pytest.mark.parametrize(("section", "key"), [(Model, "extra.depth"), (Nested, "extra.head.width")])
def test_a_section_option_without_a_default_is_named_with_its_full_key(
    section: type[Section], key: str
) -> None:
    """It was "whose config cannot be made with its defaults (ValidationError: 1 validation
    error for Model": the first line of pydantic's message, naming neither option nor key."""
    error = _refused(_hub("domains", "orbit", _domain(section)))
    assert f"whose config option '{key}' has no default (every option needs one)" in error, error
    assert "validation error for" not in error


def test_a_trick_options_section_without_a_default_is_named_with_its_full_key() -> None:
    class ClipConfig(Section):
        """Options with a section whose option lacks a default."""

        bound: Model = Field(default_factory=Model, description="the bound")

    class Clip(Trick):
        """A trick whose Config cannot be made."""

        name = "orbit_clip"
        Config = ClipConfig

        def after_step(self, step: int, system: Any) -> None:
            """Nothing."""

    error = _refused(_hub("tricks", "orbit_clip", Clip))
    assert "whose Config option 'bound.depth' has no default (every option needs one)" in error


def test_a_default_factory_that_raises_is_still_reported_as_it_is() -> None:
    def broken() -> Model:
        raise RuntimeError("no GPU here")

    class Raising(Section):
        """A section made by a factory that raises."""

        model: Model = Field(default_factory=broken)

    error = _refused(_hub("domains", "orbit", _domain(Raising)))
    assert "cannot be made with its defaults (RuntimeError: no GPU here)" in error, error


# -- a scaffolded plugin that was never installed ---------------------------------------------


@pytest.mark.parametrize(("inside", "command"), [(False, "pip install -e ganhub-comet"),
                                                 (True, "pip install -e .")])  # fmt: skip
def test_a_scaffolded_plugin_not_yet_installed_is_named_with_the_install_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any, inside: bool, command: str
) -> None:
    """It was "unknown domain 'comet'; available: cyclegan, ...": the folder ganhub had just
    written was never mentioned, nor that ganhub finds plugins only once they are installed."""
    assert cli("new-plugin", "comet")[0] == 0
    if inside:
        monkeypatch.chdir(tmp_path / "ganhub-comet")
    for args in (["plugin=comet"], ["plugin=toy2d", "loss=comet_squared_hinge"]):
        code, out, err = cli("run", *args, "trainer.steps=1")
        assert code == 2 and out == "", out
        assert len(err.strip().splitlines()) == 1, err
        assert err.strip().endswith(f"which is not installed: {command}"), err
    assert not (tmp_path / "runs").exists()


def test_an_installed_plugin_or_an_unrelated_name_gets_no_install_line(cli: Any) -> None:
    assert cli("new-plugin", "comet")[0] == 0
    code, _, err = cli("run", "plugin=toy2d", "loss=hingee", "trainer.steps=1")
    assert code == 2 and "did you mean 'hinge'" in err and "pip install" not in err, err
    # an installed plugin of that name (the built-in toy2d here) is never said to be missing
    (Path("ganhub-toy2d").mkdir())
    Path("ganhub-toy2d/pyproject.toml").write_text(
        '[project]\nname = "ganhub-toy2d"\n[project.entry-points.ganhub]\ntoy2d = "ganhub_toy2d"\n'
    )
    code, _, err = cli("run", "plugin=toy2d", "loss=toy2d_nope", "trainer.steps=1")
    assert code == 2 and "pip install" not in err, err


def test_the_scaffolded_tests_say_to_install_the_plugin_first(tmp_path: Path, cli: Any) -> None:
    """The first generated test failed with `KeyError: 'comet'` when run before installing."""
    assert cli("new-plugin", "comet")[0] == 0
    package = tmp_path / "ganhub-comet"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "entry_point"],
        cwd=package,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout
    assert "ganhub finds no plugin 'comet': pip install -e . first" in done.stdout
    assert "KeyError" not in done.stdout


# -- where an installed plugin's code raised ---------------------------------------------------


def _installed(root: Path, monkeypatch: pytest.MonkeyPatch, code: str) -> Path:
    """An installed distribution `ganhub-lint`, entry point `lint`, whose module is `code`."""
    info = root / "ganhub_lint-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ganhub-lint\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[ganhub]\nlint = ganhub_lint\n")
    module = root / "ganhub_lint.py"
    module.write_text(code)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delitem(sys.modules, "ganhub_lint", raising=False)
    return module


def _line_of(module: Path, text: str) -> int:
    return next(i for i, line in enumerate(module.read_text().splitlines(), 1) if text in line)


def test_a_lifecycle_hook_that_raises_is_named_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It said which plugin and hook, not where: the plugin's file and line were only in the
    traceback GANHUB_DEBUG=1 shows."""
    module = _installed(
        tmp_path / "site",
        monkeypatch,
        "from ganhub.hookspecs import hookimpl\n\n\n"
        "@hookimpl\n"
        "def after_step(step, metrics):\n"
        "    print(step, metrics['loss/D'])  # metrics is None off the logging steps\n",
    )
    with pytest.raises(PluginError) as err:
        ganhub.train([*TINY_TOY, "trainer.log_every=2"], hub=Hub.discover())
    text = str(err.value)
    line = _line_of(module, "print(step")
    assert text.startswith("plugin 'lint': its after_step hook raised TypeError: "), text
    assert text.endswith(f", at {module}:{line} (GANHUB_DISABLE_PLUGINS=lint runs without it)")


def test_a_trick_that_raises_is_named_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _installed(
        tmp_path / "site",
        monkeypatch,
        "from ganhub.hookspecs import hookimpl\n"
        "from ganhub.tricks import Trick\n\n\n"
        "class Clip(Trick):\n"
        "    name = 'lint_clip'\n\n"
        "    def after_step(self, step, system):\n"
        "        raise ValueError('clip went wrong')\n\n\n"
        "@hookimpl\n"
        "def register_tricks(register):\n"
        "    register('lint_clip', Clip)\n",
    )
    with pytest.raises(PluginError) as err:
        ganhub.train([*TINY_TOY, "tricks=[lint_clip]"], hub=Hub.discover())
    line = _line_of(module, "raise ValueError")
    assert str(err.value) == (
        "trick 'lint_clip': its after_step() raised ValueError: clip went wrong (plugin 'lint' "
        f"from ganhub-lint 0.1, at {module}:{line}; GANHUB_DEBUG=1 shows the traceback)"
    )
