"""Plugin discovery: built-ins through the hooks, broken plugins isolated, fixes suggested."""

from __future__ import annotations

import importlib.metadata as md
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from ganhub import hookspecs
from ganhub.errors import PluginError
from ganhub.hookspecs import hookimpl
from ganhub.plugin_fixes import fix_for_missing
from ganhub.plugins import DEFAULT_PLUGINS, Hub


def test_builtins_register_through_the_same_hooks() -> None:
    hub = Hub.discover()
    assert {"toy2d", "dcgan"} <= set(hub.domains.names())
    assert hub.losses.entry("hinge").plugin == "ganhub.losses.adversarial"
    assert hub.tricks.entry("ema").plugin == "ganhub.tricks.builtin"
    assert hub.domains.entry("toy2d").plugin == "toy2d"  # an entry point, like third-party code
    eps = {ep.name: ep.value for ep in md.entry_points(group="ganhub")}
    assert eps["toy2d"] == "ganhub_toy2d" and eps["dcgan"] == "ganhub_dcgan"
    assert all(hub.plugins[name].status == "ok" for name in DEFAULT_PLUGINS)


def test_in_process_plugin_registers_everything_and_records_its_name() -> None:
    from ganhub.losses.adversarial import HingeLoss
    from ganhub.tricks.weights import EMA

    plugin = SimpleNamespace(
        register_losses=hookimpl(
            lambda register: register(
                "hinge2", type("Hinge2", (HingeLoss,), {"name": "hinge2"})(), "another hinge"
            )
        ),
        register_tricks=hookimpl(
            lambda register: register("ema2", type("EMA2", (EMA,), {"name": "ema2"}))
        ),
    )
    hub = Hub.discover(extra=(("mine", plugin),))
    assert hub.losses.entry("hinge2").plugin == "mine"
    assert hub.losses.entry("hinge2").description == "another hinge"
    assert hub.plugins["mine"].registered["tricks"] == ["ema2"]


def test_a_plugin_that_raises_is_reported_and_the_others_still_load() -> None:
    def boom(register):  # type: ignore[no-untyped-def]
        raise RuntimeError("kaboom")

    hub = Hub.discover(extra=(("broken", SimpleNamespace(register_losses=hookimpl(boom))),))
    info = hub.plugins["broken"]
    assert info.status == "error" and "kaboom" in info.error
    assert "hinge" in hub.losses and "toy2d" in hub.domains


def test_duplicate_names_are_refused_with_both_plugins_named() -> None:
    from ganhub.losses.adversarial import HingeLoss

    dup = SimpleNamespace(register_losses=hookimpl(lambda register: register("hinge", HingeLoss())))
    hub = Hub.discover(extra=(("dup", dup),))
    assert hub.plugins["dup"].status == "error"
    assert (
        "registered twice: by 'ganhub.losses.adversarial' and by 'dup'" in hub.plugins["dup"].error
    )


def test_a_refused_plugin_registers_nothing_and_builtins_keep_their_names() -> None:
    """All or none: a clash on one name refuses the plugin's other entries too."""
    from ganhub_toy2d.metrics import ModeCoverage2D

    from ganhub.losses.adversarial import HingeLoss

    clash = SimpleNamespace(
        register_metrics=hookimpl(lambda register: register("my_metric", ModeCoverage2D())),
        register_losses=hookimpl(lambda register: register("hinge", HingeLoss())),
    )
    hub = Hub.discover(extra=(("clash", clash),))
    assert hub.plugins["clash"].status == "error" and hub.plugins["clash"].registered == {}
    assert "my_metric" not in hub.metrics
    assert hub.losses.entry("hinge").plugin == "ganhub.losses.adversarial"


def test_strict_mode_raises_for_plugin_authors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANHUB_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="plugin 'broken' failed to load: ZeroDivisionError: "):
        Hub.discover(
            extra=(("broken", SimpleNamespace(register_losses=hookimpl(lambda register: 1 / 0))),)
        )


def test_missing_optional_dependency_gives_the_extra_to_install() -> None:
    err = ModuleNotFoundError("No module named 'monai'", name="monai")
    assert fix_for_missing(err, "ganhub") == "pip install 'ganhub[medgan]'"
    err = ModuleNotFoundError("No module named 'somethingelse'", name="somethingelse")
    assert fix_for_missing(err, "ganhub") == "pip install somethingelse"


def test_a_domain_whose_requirement_is_missing_is_unavailable(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pkg = tmp_path / "needs_monai_plugin.py"
    pkg.write_text(
        "from ganhub.hookspecs import hookimpl\n"
        "__ganhub_requires__ = ('definitely_not_installed_pkg',)\n"
        "@hookimpl\n"
        "def register_domains(register):\n"
        "    raise AssertionError('must not be called')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    hub = Hub()
    hub._load("needsit", "needs_monai_plugin", dist="ganhub", version="0")
    info = hub.plugins["needsit"]
    assert info.status == "unavailable" and "definitely_not_installed_pkg" in info.error
    assert info.fix == "pip install definitely_not_installed_pkg"
    with pytest.raises(PluginError, match=r"plugin 'needsit' is unavailable.*Fix: pip install"):
        hub.require_domain("needsit")


def test_a_plugin_that_fails_to_import_is_unavailable(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "bad_import_plugin.py").write_text("import not_a_real_module_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    hub = Hub()
    hub._load("bad", "bad_import_plugin", dist="some-dist", version="1")
    assert hub.plugins["bad"].status == "unavailable"
    assert hub.plugins["bad"].fix == "pip install not_a_real_module_xyz"


def test_an_entry_point_naming_a_module_that_is_not_there_says_so() -> None:
    """`ganhub_eptpyo` for `ganhub_eptypo` was shown as a dependency: 'pip install ganhub_eptpyo'."""
    entry = md.EntryPoint(name="typo", value="ganhub_eptpyo_not_here", group="ganhub")
    hub = Hub()
    hub._load("typo", entry.value, dist="ganhub-typo", version="1", entry_point=entry)
    info = hub.plugins["typo"]
    assert info.status == "error" and "pip install" not in info.fix, info
    assert (
        "its entry point names module 'ganhub_eptpyo_not_here', which is not installed"
        in info.error
    )
    assert (
        info.fix == "correct the entry point in ganhub-typo's pyproject.toml and install it again"
    )


def test_a_typo_in_a_plugins_own_import_is_its_error_not_a_dependency(
    tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """`from .losss import` was 'unavailable' with the fix `pip install qa_relimp`: untrue, and
    it would install whatever PyPI holds under that name."""
    package = tmp_path / "qa_relimp"
    package.mkdir()
    (package / "__init__.py").write_text("from .losss import MyLoss\n")
    (package / "loss.py").write_text("class MyLoss: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = md.EntryPoint(name="qa_relimp", value="qa_relimp", group="ganhub")
    hub = Hub()
    hub._load("qa_relimp", entry.value, dist="ganhub-rel", version="1", entry_point=entry)
    info = hub.plugins["qa_relimp"]
    assert info.status == "error" and "No module named 'qa_relimp.losss'" in info.error
    assert info.fix == "report it to the authors of 'ganhub-rel'"  # not a pip line


def test_a_domain_in_another_entry_point_group_is_pointed_at(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`[project.entry-points."ganhub.plugins"]` made the domain plain 'unknown'."""
    info = tmp_path / "ganhub_wrong_group-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: ganhub-wrong-group\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text("[ganhub.plugins]\nwrongdemo = ganhub_wrong_group\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match=r"^unknown domain 'wrongdemo': ganhub-wrong-group "
                       r"declares it in the entry-point group 'ganhub\.plugins'; move it"):  # fmt: skip
        Hub().require_domain("wrongdemo")


def test_an_entry_point_named_after_a_builtin_module_is_refused(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """It replaced the built-in's record: `ganhub plugins` listed every built-in loss as the
    other package's, and runs' requires.json named it as the provider of `hinge`."""
    info = tmp_path / "ganhub_shadow-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ganhub-shadow\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[ganhub]\nganhub.losses.adversarial = shadow_mod\n")
    (tmp_path / "shadow_mod.py").write_text(
        "from ganhub.hookspecs import hookimpl\n@hookimpl\ndef after_train(run, summary): pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    hub = Hub.discover()
    assert hub.plugins["ganhub.losses.adversarial"].dist == "ganhub"
    assert hub.provider("losses", "hinge")["dist"] == "ganhub"
    refused = hub.plugins["ganhub.losses.adversarial (ganhub-shadow)"]
    assert refused.status == "error"
    assert "entry point name 'ganhub.losses.adversarial' is taken by ganhub's built-in" in (
        refused.error
    )


def test_a_plugin_that_raises_at_import_is_shown_with_where(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The error had no file or line, and GANHUB_DEBUG's traceback was cut to the first line."""
    (tmp_path / "boom_at_import.py").write_text(
        "from ganhub.hookspecs import hookimpl\nSCALE = 1 / 0\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("GANHUB_DEBUG", "1")
    hub = Hub()
    hub._load("boom", "boom_at_import", dist="boom-dist", version="1")
    info = hub.plugins["boom"]
    where = f"({tmp_path / 'boom_at_import.py'}:2)"
    assert info.error == f"ZeroDivisionError: division by zero {where}"
    assert "Traceback (most recent call last)" in info.trace and "SCALE = 1 / 0" in info.trace


def test_every_hookspec_has_a_typed_signature_and_docstring() -> None:
    import inspect

    specs = [f for name, f in vars(hookspecs).items() if hasattr(f, "ganhub_spec")]
    assert len(specs) >= 12
    for spec in specs:
        assert spec.__doc__ and spec.__doc__.strip()
        sig = inspect.signature(spec)
        assert all(p.annotation is not inspect.Parameter.empty for p in sig.parameters.values()), (
            spec.__name__
        )


def test_cli_startup_imports_no_optional_heavy_packages() -> None:
    code = (
        "import sys; from ganhub.cli import build_cli; build_cli();"
        "heavy = [m for m in ('monai', 'transformers', 'optuna', 'tensorboard', 'matplotlib', 'nibabel') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"ganhub --help imports {out}"


@pytest.mark.parametrize(
    ("hook", "value", "message"),
    [
        (
            "register_tricks",
            "instance",
            "registers trick 'mine' as an instance; register the class itself",
        ),
        (
            "register_losses",
            "class",
            "registers loss 'mine' as the class HingeLoss; register an instance: HingeLoss()",
        ),
        (
            "register_metrics",
            "other",
            "registers metric 'mine' as int; it must be a ganhub.metrics.Metric instance",
        ),
    ],
)
def test_a_component_of_the_wrong_kind_is_refused_when_registered(
    hook: str, value: str, message: str
) -> None:
    """Tricks and loggers are classes, losses and metrics instances: a mix-up fails at load
    with one line naming what to register, not deep in training."""
    from ganhub.losses.adversarial import HingeLoss
    from ganhub.tricks.weights import EMA

    obj = {
        ("register_tricks", "instance"): EMA.__new__(EMA),
        ("register_losses", "class"): HingeLoss,
        ("register_metrics", "other"): 3,
    }[(hook, value)]
    plugin = SimpleNamespace(**{hook: hookimpl(lambda register: register("mine", obj))})
    hub = Hub.discover(extra=(("mixed", plugin),))
    info = hub.plugins["mixed"]
    assert info.status == "error" and message in info.error
    assert "mine" not in hub.tricks and "mine" not in hub.losses and "mine" not in hub.metrics


def _trick_with(config: object) -> type:
    from ganhub.tricks import Trick

    return type("Odd", (Trick,), {"Config": config, "__doc__": "An odd trick."})


def _bad_configs() -> dict[str, tuple[str, object]]:
    from pydantic import Field

    from ganhub.config.schema import Section
    from ganhub.loggers import Logger

    class BelowItsBound(Section):
        clip: float = Field(-1.0, gt=0, description="must be positive")

    class WrongType(Section):
        n: int = Field("many", description="a count")  # type: ignore[assignment]

    class Required(Section):
        n: int = Field(description="a count")

    odd_logger = type("OddLogger", (Logger,), {"Config": BelowItsBound, "__doc__": "Logs."})
    return {
        "bound": ("tricks", _trick_with(BelowItsBound)),
        "type": ("tricks", _trick_with(WrongType)),
        "required": ("tricks", _trick_with(Required)),
        "dict": ("tricks", _trick_with(dict)),
        "logger": ("loggers", odd_logger),
        "modality": (
            "tricks",
            type("Odd", (_trick_with(Section),), {"modalities": frozenset({"vectr"})}),
        ),
    }


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("bound", "whose Config default clip=-1.0 is not valid: must be above 0"),
        ("type", "whose Config default n='many' is not valid: must be a whole number"),
        ("required", "whose Config option 'n' has no default"),
        ("modality", "whose modalities name 'vectr', not one of vector, image, volume, tokens"),
        ("dict", "whose Config <class 'dict'> is not a ganhub.config.schema.Section subclass"),
        ("logger", "registers logger 'odd' whose Config default clip=-1.0 is not valid"),
    ],
)
def test_options_whose_defaults_break_their_rules_are_refused_at_load(
    case: str, message: str
) -> None:
    """Such a trick trained, then its run refused to resume over a key nobody typed."""
    kind, obj = _bad_configs()[case]
    plugin = SimpleNamespace(
        **{f"register_{kind}": hookimpl(lambda register: register("odd", obj))}
    )
    hub = Hub.discover(extra=(("odd_plugin", plugin),))
    info = hub.plugins["odd_plugin"]
    assert info.status == "error" and message in info.error, info.error
    assert "odd" not in hub.registry(kind)


def test_a_domain_whose_config_class_is_not_a_run_config_is_refused() -> None:
    from ganhub_toy2d.domain import Toy2dDomain

    from ganhub.config.schema import Section

    odd = type("OddDomain", (Toy2dDomain,), {"config_class": Section})()
    hub = Hub.discover(extra=(("odd_domain", SimpleNamespace(
        register_domains=hookimpl(lambda register: register("odd", odd))
    )),))  # fmt: skip
    assert "is not a ganhub.config.schema.RunConfig subclass" in hub.plugins["odd_domain"].error


def test_a_domain_whose_defaults_or_presets_break_its_config_is_refused_at_load() -> None:
    """Every run of it was refused over `model.latent_dim=0`, a key the user never typed; a
    preset's misspelled key was reported as the user's unknown key."""
    from ganhub_toy2d.config import Toy2dConfig, Toy2dModel
    from ganhub_toy2d.domain import Toy2dDomain
    from pydantic import Field

    bad_model = type("BadModel", (Toy2dModel,), {"__annotations__": {"latent_dim": int},
                                                  "latent_dim": Field(0, gt=0)})  # fmt: skip
    bad_config = type("BadConfig", (Toy2dConfig,), {"__annotations__": {"model": bad_model},
                                                    "model": Field(default_factory=bad_model)})  # fmt: skip
    cases = {
        "defaults": ({"config_class": bad_config}, "whose config default model.latent_dim=0"),
        "preset": ({"presets": {"tiny": {"model": {"g_hiden": 8}}}},
                   "whose preset 'tiny' sets model.g_hiden, which its config does not have"),
    }  # fmt: skip
    for case, (attributes, message) in cases.items():
        odd = type("OddDomain", (Toy2dDomain,), attributes)()
        hub = Hub.discover(extra=((f"odd_{case}", SimpleNamespace(
            register_domains=hookimpl(lambda register, odd=odd: register("odd", odd))
        )),))  # fmt: skip
        info = hub.plugins[f"odd_{case}"]
        assert info.status == "error" and message in info.error, info.error


def test_hooks_that_would_never_run_are_refused_with_the_reason() -> None:
    """A misspelled hook loaded as [ok] and was never called; a missing @hookimpl was blamed
    on a shadowing file; a misspelled argument's reason was cut to its first line."""

    def steps(run, step, metrics):  # type: ignore[no-untyped-def]
        return None

    def losses(register):  # type: ignore[no-untyped-def]
        return None

    def wrong_argument(reg):  # type: ignore[no-untyped-def]
        return None

    plugins = {
        "typo": SimpleNamespace(after_steps=hookimpl(steps)),
        "bare": SimpleNamespace(register_losses=losses),
        "args": SimpleNamespace(register_losses=hookimpl(wrong_argument)),
    }
    hub = Hub.discover(extra=tuple(plugins.items()))
    expected = {
        "typo": "its @hookimpl 'after_steps' is no ganhub hook (did you mean 'after_step'?)",
        "bare": "its function 'register_losses' is named like a ganhub hook but lacks @hookimpl",
        "args": "Argument(s) {'reg'} are declared in the hookimpl but can not be found",
    }
    for name, message in expected.items():
        info = hub.plugins[name]
        assert info.status == "error" and message in info.error, info.error
    assert "hinge" in hub.losses and "toy2d" in hub.domains


def test_an_unknown_name_mentions_the_plugins_that_failed_to_load(cli) -> None:  # type: ignore[no-untyped-def]
    """`loss=boom_hinge` from a plugin that failed to load said only "unknown loss"."""
    from ganhub.plugins import get_hub, reset_hub

    def boom(register):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("division by zero")

    try:
        get_hub().add("boom", SimpleNamespace(register_losses=hookimpl(boom)))
        code, _, err = cli("run", "plugin=toy2d", "loss=boom_hinge")
        assert code == 2 and "unknown loss 'boom_hinge'" in err
        assert "(plugins that failed to load: boom; see ganhub plugins)" in err
        code, _, err = cli("run", "plugin=toy2d", "trainer.steps=x")
        assert code == 2 and "failed to load" not in err  # only names a plugin could hold
    finally:
        reset_hub()


@pytest.mark.parametrize("first_on_path", ["ganhub-aaa", "ganhub-zzz"])
def test_two_packages_with_one_entry_point_name_keep_the_same_owner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first_on_path: str
) -> None:
    """Which of two packages declaring entry point `twin` loads, and which is refused naming
    the other, no longer depends on the order of the import path: the first by name wins."""
    later = "ganhub-zzz" if first_on_path == "ganhub-aaa" else "ganhub-aaa"
    for dist in (later, first_on_path):  # each prepended: the last is first on the path
        root = tmp_path / dist
        module = dist.replace("-", "_")
        info = root / f"{module}-0.1.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[ganhub]\ntwin = {module}\n")
        (root / f"{module}.py").write_text("")
        monkeypatch.syspath_prepend(str(root))
    assert md.entry_points(group="ganhub", name="twin")[0].dist.name == first_on_path  # type: ignore[union-attr]
    hub = Hub.discover()
    assert hub.plugins["twin"].dist == "ganhub-aaa"
    refused = hub.plugins["twin (ganhub-zzz)"]
    assert refused.status == "error" and "is taken by 'ganhub-aaa'" in refused.error
