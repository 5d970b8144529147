"""The third-party example plugin: pip-installed on its own, found by entry point, run by the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ganhub-example-plugin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Install the example into its own directory (not site-packages) and return an env using it."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return {**os.environ, "PYTHONPATH": str(target)}


def ganhub(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ganhub", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_example_names_all_it_registers_after_its_entry_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Named `example` while registering `smooth_hinge` and `weight_clip`, it broke the naming
    rule it is the example of: a plugin `weight` registering `weight_clip` had it refused."""
    import importlib
    from types import SimpleNamespace

    import tomllib

    from ganhub.hookspecs import hookimpl
    from ganhub.plugins import Hub
    from ganhub.registry import follows_naming

    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    ((name, module),) = project["entry-points"]["ganhub"].items()
    assert name == "moons"
    # an empty Hub: Hub.discover would also find the entry point of a stale egg-info there
    monkeypatch.syspath_prepend(str(EXAMPLE))
    try:
        base = importlib.import_module(f"{module}.trick").WeightClip
        rival = type("Clip", (base,), {"name": "weight_clip"})
        hub = Hub()
        hub.add(name, importlib.import_module(module))
        hub.add("weight", SimpleNamespace(register_tricks=hookimpl(
            lambda register: register("weight_clip", rival))))  # fmt: skip
    finally:  # the next test imports the installed copy
        for loaded in [m for m in sys.modules if m.split(".")[0] == module]:
            del sys.modules[loaded]
    info = hub.plugins[name]
    assert info.status == "ok", info.error
    assert hub.plugins["weight"].status == "ok", hub.plugins["weight"].error
    registered = [n for names in info.registered.values() for n in names]
    assert sorted(registered) == ["moons", "moons_smooth_hinge", "moons_weight_clip"]
    assert all(follows_naming(n, name, project["name"]) for n in registered)


@pytest.mark.slow
def test_installed_plugin_is_discovered_and_trains_through_the_cli(
    installed: dict[str, str], tmp_path: Path
) -> None:
    site = Path(installed["PYTHONPATH"])
    (entry_points,) = site.glob("ganhub_example_plugin-*.dist-info/entry_points.txt")
    assert "[ganhub]\nmoons = ganhub_example" in entry_points.read_text()

    listing = ganhub(installed, tmp_path, "plugins")
    assert listing.returncode == 0, listing.stderr
    assert "moons  ganhub-example-plugin 0.1.0  [ok]" in listing.stdout
    assert "losses: moons_smooth_hinge" in listing.stdout
    assert "tricks: moons_weight_clip" in listing.stdout
    assert "domains: moons" in listing.stdout

    trained = ganhub(
        installed, tmp_path, "run", "plugin=moons", "loss=moons_smooth_hinge",
        "tricks=[moons_weight_clip,ema]",
        "trainer.steps=30", "trainer.progress=false", "name=moons",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "runs/moons/samples/step_0000030.png").is_file()
    critic = ganhub(
        installed, tmp_path, "run", "plugin=moons", "loss=wasserstein",
        "tricks=[moons_weight_clip]", "trainer.steps=2", "trainer.progress=false", "name=wgan",
    )  # fmt: skip
    assert critic.returncode == 0 and "constraint" not in critic.stderr, critic.stderr  # WGAN's
    bad = ganhub(
        installed, tmp_path, "run", "plugin=moons", "tricks=[moons_weight_clip,spectral_norm]"
    )
    assert bad.returncode == 2 and "cannot be combined with: spectral_norm" in bad.stderr
    for args in (["--help"], ["plugins"]):  # the installed plugin keeps the CLI torch-free
        probe = subprocess.run(
            [sys.executable, "-c", "import sys\nfrom ganhub.cli import main\ntry:\n"
             f"    main({args!r})\nexcept SystemExit:\n    pass\n"
             "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')"],
            env=installed, cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert probe.stdout.strip().endswith("NO-TORCH"), (args, probe.stdout, probe.stderr)


@pytest.mark.slow
def test_the_example_runs_its_own_contract_tests(installed: dict[str, str], tmp_path: Path) -> None:
    """The plugin's tests call ganhub.testing, as a third-party author's would, and pass."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        env=installed, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " passed" in proc.stdout


@pytest.mark.slow
def test_a_run_made_with_the_plugin_installed_opens_after_it_is_uninstalled(
    installed: dict[str, str], tmp_path: Path, cli
) -> None:
    """The saved config names only what the run used: a toy2d run trained while the example
    (with its trick's options) was installed samples and resumes once it is gone; a run that
    did use the plugin says which distribution to install, in one line. "Gone" is this test
    process, which never had the example on its path: the CLI runs here, in-process."""
    plain = ganhub(installed, tmp_path, "run", "plugin=toy2d", "trainer.steps=20",
                   "trainer.progress=false", "name=plain")  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert "moons_weight_clip" not in (tmp_path / "runs/plain/config.yaml").read_text()
    used = ganhub(installed, tmp_path, "run", "plugin=toy2d", "loss=moons_smooth_hinge",
                  "trainer.steps=20", "trainer.progress=false", "name=used")  # fmt: skip
    assert used.returncode == 0, used.stderr

    assert "ganhub_example" not in sys.modules  # this process is the one without the plugin
    code, _, err = cli("sample", "runs/plain", "--n", "16")
    assert code == 0, err
    code, out, err = cli("run", "resume=runs/plain", "trainer.steps=30", "trainer.progress=false")
    assert code == 0 and "done at step 30" in out, err

    code, _, err = cli("sample", "runs/used")
    assert code == 2
    (line,) = err.strip().splitlines()
    assert "uses loss 'moons_smooth_hinge'" in line
    assert "pip install 'ganhub-example-plugin==0.1.0'" in line
    code, _, err = cli("run", "resume=runs/used", "trainer.steps=30")
    assert code == 2  # resume says which distribution to install, as sample does
    (line,) = err.strip().splitlines()
    assert "uses loss 'moons_smooth_hinge'" in line
    assert "pip install 'ganhub-example-plugin==0.1.0'" in line
