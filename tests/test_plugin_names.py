"""An installed plugin whose entry-point name is not its domain's (`wsip = "ganhub_wisp"` for
the domain `wisp`) loads, but `ganhub plugins` and GANHUB_DISABLE_PLUGINS know it by the
misspelt name: the hub records one line naming the entry point, the package, the domain and the
rename, which `ganhub plugins` shows under the plugin."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from ganhub.plugins import Hub

HOOKS = """from ganhub.hookspecs import hookimpl
from ganhub_toy2d.domain import Toy2dDomain


class WispDomain(Toy2dDomain):
    name = "{domain}"


@hookimpl
def register_domains(register):
    register("{domain}", WispDomain())
"""


def _install(tmp_path: Path, entry: str, domain: str, editable: bool) -> str:
    """A distribution `ganhub-wisp` in tmp_path/site (on sys.path once the caller prepends it),
    its entry point `entry` naming a module that registers the domain `domain`; the module."""
    module = f"ganhub_wisp_{tmp_path.name}".replace("-", "_")
    project, site = tmp_path / "project", tmp_path / "site"
    (project / module).mkdir(parents=True)
    (project / module / "__init__.py").write_text(HOOKS.format(domain=domain))
    info = site / "ganhub_wisp-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ganhub-wisp\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[ganhub]\n{entry} = {module}\n")
    if editable:  # pip's record of the checkout it installed from (`pip install -e .`)
        url = {"url": project.as_uri(), "dir_info": {"editable": True}}
        (info / "direct_url.json").write_text(json.dumps(url))
    return module


def test_a_misspelt_entry_point_names_itself_the_package_the_domain_and_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The author's own editable install: the line says what to write where, and that pip
    must install it again (ganhub reads the installed entry points, not pyproject.toml)."""
    module, domain = _install(tmp_path, "wsip", "wisp", editable=True), "wisp"
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.syspath_prepend(str(tmp_path / "project"))
    hub = Hub.discover()
    assert hub.domains.entry(domain).plugin == "wsip"  # it loads, under the misspelt name
    project = tmp_path / "project"
    assert hub.plugins["wsip"].warning == (
        f"entry point 'wsip' of ganhub-wisp (module {module}) registers the domain '{domain}' "
        "under the plugin name 'wsip' (`ganhub plugins` and GANHUB_DISABLE_PLUGINS know it as "
        f"'wsip'); name it after its domain: {domain} = \"{module}\" under "
        f"[project.entry-points.ganhub] in {project / 'pyproject.toml'}, then install it "
        f"again: pip install -e {project}"
    )
    # the built-ins keep the rule: toy2d's entry point is `toy2d`; tune registers no domain
    assert [name for name, info in hub.plugins.items() if info.warning] == ["wsip"]


@pytest.mark.parametrize("entry", ["wisp", "wsip"])
def test_an_installed_plugin_is_warned_only_when_its_entry_point_is_not_its_domain(
    entry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Named after its domain: no warning. Misspelt in a package from an index: its users
    cannot rename it, so the line says whom to ask."""
    _install(tmp_path, entry, "wisp", editable=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.syspath_prepend(str(tmp_path / "project"))
    hub = Hub.discover()
    assert hub.domains.entry("wisp").plugin == entry
    warned = {info.name: info.warning for info in hub.plugins.values() if info.warning}
    if entry == "wisp":
        assert warned == {}
    else:
        assert warned["wsip"].endswith(
            "; ask the authors of 'ganhub-wisp' to name the entry point 'wisp' after its domain"
        ), warned


def test_ganhub_plugins_shows_the_warning_under_the_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one place the line is shown: `ganhub plugins`, under the plugin it concerns."""
    from click.testing import CliRunner

    from ganhub.commands import plugins
    from ganhub.plugins import reset_hub

    _install(tmp_path, "wsip", "wisp", editable=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.syspath_prepend(str(tmp_path / "project"))
    reset_hub()
    try:
        result = CliRunner().invoke(plugins, [])
    finally:
        reset_hub()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.lstrip().startswith("wsip"))
    warned = [i for i, line in enumerate(lines) if line.startswith("    warning: ")]
    assert warned and warned[0] > at, result.output
    assert lines[warned[0]].startswith("    warning: entry point 'wsip' of ganhub-wisp")


@pytest.mark.parametrize("entry", ["wisp", "wsip"])
def test_the_authors_contract_checks_catch_a_misspelt_entry_point(
    entry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`check_domain` (what an author's tests run on the installed package) refuses the
    domain before it trains anything, with the line `ganhub plugins` shows."""
    from ganhub.testing import ContractError, check_domain, check_entry_point

    _install(tmp_path, entry, "wisp", editable=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.syspath_prepend(str(tmp_path / "project"))
    hub = Hub.discover()
    if entry == "wisp":
        check_entry_point("wisp", hub=hub)
        return
    with pytest.raises(ContractError) as caught:
        check_domain("wisp", ["trainer.batch_size=-1"], hub=hub)  # refused before it resolves
    assert str(caught.value) == f"domain 'wisp':\n  {hub.plugins['wsip'].warning}"
    assert str(caught.value).startswith("domain 'wisp':\n  entry point 'wsip' of ganhub-wisp")


def test_a_domain_registered_in_process_has_no_entry_point_to_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Hub.discover(extra=...)` (the tutorial's try-before-installing): any name goes."""
    from ganhub.testing import check_entry_point

    module = _install(tmp_path, "wsip", "wisp", editable=False)
    monkeypatch.syspath_prepend(str(tmp_path / "project"))  # importable, not installed
    hub = Hub.discover(extra=(("wsip", importlib.import_module(module)),))
    assert hub.domains.entry("wisp").plugin == "wsip"
    check_entry_point("wisp", hub=hub)


@pytest.mark.parametrize("which", ["template", "example"])
def test_a_plugin_authors_sample_png_names_its_step_and_run(
    which: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scaffold's and the example's `write_samples` take the engine's `run_dir=` and
    `step=`: the PNG names its run and step, wherever it is copied to."""
    from PIL import Image

    from ganhub.config.resolve import resolve
    from ganhub.engine.loop import fit
    from ganhub.scaffold import write_plugin
    from ganhub.wiring import make_run

    if which == "template":
        name, module, small = "quill", "ganhub_quill", ["preset=tiny"]
        root, _ = write_plugin(name, tmp_path)
    else:
        name, module, small = "moons", "ganhub_example", ["trainer.batch_size=32", "hidden=16"]
        root = Path(__file__).parents[1] / "examples" / "ganhub-example-plugin"
    monkeypatch.syspath_prepend(str(root))
    hub = Hub.discover(extra=((name, importlib.import_module(module)),))
    args = [f"plugin={name}", *small, "trainer.steps=2", "trainer.progress=false", "loggers=[]",
            "device=cpu", "name=first", f"out_dir={tmp_path / 'runs'}"]  # fmt: skip
    run = make_run(resolve(args, hub=hub), hub)
    fit(run)
    with Image.open(run.run_dir / "samples" / "step_0000002.png") as png:
        source = png.info["Source"]  # a PNG's text chunks
    assert source == f"ganhub {name}: step 2, seed 0, run first"
