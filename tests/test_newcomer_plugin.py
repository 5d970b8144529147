"""docs/plugins.md followed by a newcomer: the steps it added after a walk through the tutorial
with a package of one's own (scoring a trained run with the new metric, a domain's
`config_class` as a class attribute) run as the page says."""

from __future__ import annotations

import json
import shlex
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

import ganhub
from ganhub.hookspecs import Register, hookimpl
from ganhub.plugins import Hub

from .test_scaffold import TUTORIAL, tutorial_blocks, tutorial_files, write_tree


@pytest.fixture
def spiral(tmp_path: Path) -> Iterator[types.ModuleType]:
    """The package the tutorial builds, importable from a scratch folder (not installed)."""
    root = write_tree(tmp_path / "ganhub-spiral", tutorial_files())
    sys.path.insert(0, str(root))
    try:
        import ganhub_spiral

        yield ganhub_spiral
    finally:
        sys.path.remove(str(root))
        for module in [m for m in sys.modules if m.split(".")[0] == "ganhub_spiral"]:
            del sys.modules[module]


def test_the_tutorial_scores_a_trained_run_with_its_metric(
    spiral: types.ModuleType, workdir: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Section 8's `ganhub eval runs/first ...` line, on a run made as section 1 makes
    `runs/first` (which evaluated nothing): it prints the metric and writes eval.json."""
    hub = Hub.discover(extra=(("spiral", spiral),))
    monkeypatch.setattr("ganhub.plugins.get_hub", lambda: hub)
    ganhub.train(
        ["plugin=spiral", "preset=tiny", "trainer.steps=2", "trainer.progress=false",
         "loggers=[]", "name=first"],
        hub=hub,
    )  # fmt: skip
    (line,) = [line for b in tutorial_blocks() if b.language == "bash"
               for line in b.code.splitlines() if line.startswith("ganhub eval ")]  # fmt: skip
    args = shlex.split(line)[1:]
    assert args[:2] == ["eval", "runs/first"]
    code, out, err = cli(*args)
    assert code == 0, err
    assert out.splitlines()[1].split()[:2] == ["metric", "mean"]
    assert any(row.startswith("spiral_swd ") for row in out.splitlines())
    scores = json.loads((workdir / "runs/first/eval.json").read_text())
    assert scores["metrics"] == ["spiral_swd"] and scores["better"]["spiral_swd"] == "lower"
    assert len(scores["seeds"]) == int(args[args.index("--seeds") + 1])
    assert "`runs/first/eval.json`" in TUTORIAL.read_text()


def test_a_config_class_given_as_a_class_attribute_is_read(spiral: types.ModuleType) -> None:
    """Section 7: `config_class = SpiralConfig` on the class works as the property does."""
    from ganhub_spiral.config import SpiralConfig
    from ganhub_spiral.domain import SpiralDomain

    from ganhub.config.resolve import resolve

    assert "(`config_class = SpiralConfig`)" in TUTORIAL.read_text()

    class Attribute(SpiralDomain):
        name = "spiral_attr"
        config_class = SpiralConfig

    plugin = types.ModuleType("spiral_attr_hooks")

    @hookimpl
    def register_domains(register: Register) -> None:
        register("spiral_attr", Attribute())

    plugin.register_domains = register_domains  # type: ignore[attr-defined]
    hub = Hub.discover(extra=(("spiral_attr", plugin),))
    assert hub.plugins["spiral_attr"].status == "ok", hub.plugins["spiral_attr"].error
    config = resolve(["plugin=spiral_attr", "data.turns=2"], hub=hub)
    assert isinstance(config, SpiralConfig) and config.data.turns == 2


# -- the messages a newcomer met ------------------------------------------------------------


def _plugin(name: str, domain: object) -> types.ModuleType:
    """A hook module that registers `domain` under `name`, for an in-process hub."""
    plugin = types.ModuleType(f"{name}_hooks")

    @hookimpl
    def register_domains(register: Register) -> None:
        register(name, domain)

    plugin.register_domains = register_domains  # type: ignore[attr-defined]
    return plugin


def test_a_config_class_written_as_a_plain_method_is_named_with_the_fix() -> None:
    """`def config_class(self)` without @property: the error said `<bound method ... at
    0x7f...>` is not a RunConfig subclass; now it says what to write."""
    from ganhub.config.schema import RunConfig
    from ganhub.domain import Domain

    class Forgot(Domain):
        name = "nc_forgot"

        def config_class(self) -> type[RunConfig]:  # type: ignore[override]
            return RunConfig

        def build(self, config, hints):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    hub = Hub.discover(extra=(("nc_forgot", _plugin("nc_forgot", Forgot())),))
    error = hub.plugins["nc_forgot"].error or ""
    assert error.endswith(
        "whose config_class is a method, which ganhub reads as an attribute: mark it "
        "@property, or set config_class = YourConfig on the class"
    ), error
    assert "0x" not in error and "\n" not in error


def test_adding_an_installed_plugin_again_keeps_it_loaded(spiral: types.ModuleType) -> None:
    """Section 11's snippet after `pip install -e .`: the module its entry point loaded,
    passed again as `extra`, was refused as loaded twice and listed as failed."""
    hub = Hub.discover(extra=(("spiral", spiral),))
    hub.add("spiral", spiral)  # as Hub.discover(extra=...) does for an installed plugin
    assert hub.plugins["spiral"].status == "ok", hub.plugins["spiral"].error
    assert hub.domains.get("spiral").name == "spiral"


def test_an_unknown_domain_says_when_ganhub_runs_outside_the_active_virtualenv(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pip install -e .` in a --system-site-packages venv, then the base `ganhub run`."""
    from ganhub.config.resolve import resolve
    from ganhub.errors import GanhubError

    monkeypatch.setenv("VIRTUAL_ENV", str(workdir / "venv"))
    with pytest.raises(GanhubError) as caught:
        resolve(["plugin=nc_elsewhere"])
    message = str(caught.value)
    assert message.startswith("unknown domain 'nc_elsewhere'") and "\n" not in message
    assert f"not from the active virtualenv {workdir / 'venv'}" in message
    assert "run `python -m ganhub ...` there" in message
