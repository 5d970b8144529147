"""An installed plugin is untrusted input: a domain whose data() raises, or a trick whose
targets() returns nothing, is named in one line; a run names the package of every metric and
logger it used when one is missing; `ganhub data` says when a domain reads no data folder; and
GANHUB_DISABLE_PLUGINS switches off a plugin whose lifecycle hook breaks every run."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

import ganhub
from ganhub.domain import Domain
from ganhub.errors import PluginError
from ganhub.hookspecs import hookimpl
from ganhub.loggers import Logger
from ganhub.metrics import Directions, Metric
from ganhub.plugins import Hub
from ganhub.tricks import Trick

from .conftest import TINY_TOY


def _hub(name: str = "odd", **hooks: Any) -> Hub:
    """The installed plugins, and an in-process one that registers `hooks`' entries."""
    plugin = SimpleNamespace(**{
        f"register_{kind}": hookimpl(lambda register, obj=obj: register(*obj))
        for kind, obj in hooks.items()
    })  # fmt: skip
    return Hub.discover(extra=((name, plugin),))


def _odd2d(**methods: Any) -> Any:
    """toy2d as a third-party domain `odd2d`, its class's methods replaced by `methods`."""
    from ganhub_toy2d.domain import Toy2dDomain

    return type("Odd2d", (Toy2dDomain,), {"name": "odd2d", **methods})()


ODD_TOY = [a if a != "plugin=toy2d" else "plugin=odd2d" for a in TINY_TOY]


# -- 1. a domain whose data() raises --------------------------------------------------------


def _data_raising(exc: Exception) -> Any:
    def build(self: Any, config: Any, hints: Any) -> Any:
        from ganhub_toy2d.domain import Toy2dDomain

        system = Toy2dDomain.build(self, config, hints)

        def data() -> Any:
            raise exc

        system.data = data
        return system

    return _odd2d(build=build)


@pytest.mark.parametrize(
    "exc",
    [ValueError("no column 'x' in the table"), FileNotFoundError("/nope/data.csv")],
    ids=["value", "oserror-without-a-file"],
)
def test_a_data_method_that_raises_is_named_in_one_line(workdir: Path, exc: Exception) -> None:
    """Both were tracebacks out of Run.__init__."""
    hub = _hub(domains=("odd2d", _data_raising(exc)))
    with pytest.raises(PluginError) as err:
        ganhub.train(ODD_TOY, hub=hub)
    message = str(err.value)
    assert message.startswith(f"domain 'odd2d': its data() raised {type(exc).__name__}: ")
    assert "(plugin 'odd'" in message and len(message.splitlines()) == 1


def test_a_data_error_naming_a_file_passes_as_the_user_s(workdir: Path, cli: Any) -> None:
    """An OSError naming a file (a data path the user gave) is shown as the file's error."""
    from ganhub.plugins import get_hub, reset_hub

    missing = FileNotFoundError(2, "No such file or directory", "/nope/data.csv")
    hub = _hub(domains=("odd2d", _data_raising(missing)))
    with pytest.raises(FileNotFoundError):
        ganhub.train(ODD_TOY, hub=hub)
    try:
        plugin = SimpleNamespace(
            register_domains=hookimpl(lambda register: register("odd2d", _data_raising(missing)))
        )
        get_hub().add("odd", plugin)
        code, _, err = cli("run", *ODD_TOY)
        assert (code, err) == (2, "ganhub: error: /nope/data.csv: No such file or directory\n")
    finally:
        reset_hub()


def test_ganhub_data_check_names_the_domain_whose_data_raises(workdir: Path, cli: Any) -> None:
    """The default inspect_data builds the system and reads its data(): a traceback before
    (convert_data and cleaned_copy_files are called the same way)."""
    from ganhub.plugins import get_hub, reset_hub

    broken = _data_raising(ValueError("no column 'x' in the table"))
    try:
        plugin = SimpleNamespace(
            register_domains=hookimpl(lambda register: register("odd2d", broken))
        )
        get_hub().add("odd", plugin)
        code, _, err = cli("data", "check", "plugin=odd2d")
    finally:
        reset_hub()
    assert code != 0 and len(err.splitlines()) == 1, err
    assert err.startswith("ganhub: error: domain 'odd2d': its inspect_data() raised ValueError: "
                          "no column 'x' in the table (plugin 'odd'")  # fmt: skip


# -- 2. a trick whose targets() returns no Targets ------------------------------------------


class NoTargets(Trick):
    """Forgets to return the targets."""

    name = "no_targets"

    def targets(self, targets: Any) -> Any:
        self.seen = targets  # and no `return`


def test_a_targets_method_that_returns_none_names_the_trick_not_the_loss(workdir: Path) -> None:
    """It was "loss 'nonsaturating': its d_loss() raised AttributeError: 'NoneType' object has
    no attribute 'real'", blaming the built-in loss."""
    hub = _hub(tricks=("no_targets", NoTargets))
    with pytest.raises(PluginError) as err:
        ganhub.train([*TINY_TOY, "tricks=[no_targets]", "loss=nonsaturating"], hub=hub)
    message = str(err.value)
    assert message.startswith(
        "trick 'no_targets': its targets() returned NoneType, not a ganhub.losses.Targets"
    )
    assert "(plugin 'odd')" in message and "nonsaturating" not in message


# -- 3. the metrics and loggers a run used are recorded and checked --------------------------


class SpiralSwd(Metric):
    """A metric of a third-party package."""

    name = "spiral_swd"
    better: ClassVar[Directions] = {"spiral_swd": "lower"}

    def compute(self, system: Any, n_samples: int, seed: int) -> Any:
        return {"spiral_swd": 0.5}


class NullLogger(Logger):
    """A logger of a third-party package."""

    def log(self, step: int, metrics: dict[str, float]) -> None:
        pass


def _packaged(dist: str, **hooks: Any) -> Hub:
    """The installed plugins, and plugin 'spiral' of the distribution `dist` 0.1.0."""
    hub = Hub.discover()
    plugin = SimpleNamespace(**{
        f"register_{kind}": hookimpl(lambda register, obj=obj: register(*obj))
        for kind, obj in hooks.items()
    })  # fmt: skip
    hub.add("spiral", plugin, dist=dist, version="0.1.0")
    return hub


def test_a_run_names_the_package_of_a_metric_it_used_that_is_missing(
    workdir: Path, cli: Any
) -> None:
    """A run opened without its metric's plugin said "unknown metric 'spiral_swd'; available:
    ..." with no pip line: requires.json did not record metrics."""
    hub = _packaged("ganhub-spiral", metrics=("spiral_swd", SpiralSwd()))
    ganhub.train([*TINY_TOY, "eval.metrics=[spiral_swd]", "name=m"], hub=hub)
    run = workdir / "runs" / "m"
    requires = json.loads((run / "requires.json").read_text())
    assert requires["metrics"] == [
        {"name": "spiral_swd", "plugin": "spiral", "dist": "ganhub-spiral", "version": "0.1.0"}
    ]
    wanted = (
        f"run '{run}' uses metric 'spiral_swd', which no installed plugin provides; it came "
        "from the distribution 'ganhub-spiral': pip install 'ganhub-spiral==0.1.0'"
    )
    with pytest.raises(PluginError, match=f"^{re.escape(wanted)}$"):
        ganhub.train([f"resume={run}", "trainer.steps=6"], hub=Hub.discover())
    code, out, err = cli("eval", str(run))
    assert (code, out, err) == (2, "", f"ganhub: error: {wanted}\n")
    # what does not score with it needs no metric plugin: sampling, or scoring others
    assert ganhub.load(run, hub=Hub.discover()).step == 4
    code, _, err = cli("eval", str(run), "eval.metrics=[mode_coverage_2d]")
    assert code == 0, err
    ganhub.train([f"resume={run}", "trainer.steps=6", "eval.metrics=[]"], hub=Hub.discover())

    # a run written before requires.json listed metrics opens as it did
    del requires["metrics"]
    (run / "requires.json").write_text(json.dumps(requires))
    assert ganhub.load(run, hub=Hub.discover()).step == 6


def test_a_run_names_the_package_of_a_logger_it_used_that_is_missing(workdir: Path) -> None:
    """Loggers were recorded in requires.json but never checked: "unknown logger"."""
    hub = _packaged("ganhub-spiral-logs", loggers=("spiral_log", NullLogger))
    ganhub.train([*TINY_TOY, "loggers=[jsonl,spiral_log]", "name=l"], hub=hub)
    run = workdir / "runs" / "l"
    with pytest.raises(PluginError, match=r"pip install 'ganhub-spiral-logs==0\.1\.0'$"):
        ganhub.train([f"resume={run}", "trainer.steps=6"], hub=Hub.discover())
    ganhub.train([f"resume={run}", "trainer.steps=6", "loggers=[jsonl]"], hub=Hub.discover())


def test_a_run_of_a_switched_off_plugin_says_so(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not "pip install" a package that is installed: the user switched it off."""
    hub = _packaged("ganhub-spiral", metrics=("spiral_swd", SpiralSwd()))
    ganhub.train([*TINY_TOY, "eval.metrics=[spiral_swd]", "name=m"], hub=hub)
    monkeypatch.setenv("GANHUB_DISABLE_PLUGINS", "spiral")
    hub = _packaged("ganhub-spiral", metrics=("spiral_swd", SpiralSwd()))
    assert hub.plugins["spiral"].status == "disabled" and "spiral_swd" not in hub.metrics
    with pytest.raises(PluginError, match=r"of plugin 'spiral', which GANHUB_DISABLE_PLUGINS"):
        ganhub.train([f"resume={workdir / 'runs' / 'm'}", "trainer.steps=6"], hub=hub)


# -- 4. `ganhub data` for a domain that reads no data folder -------------------------------


def test_converting_the_data_of_a_domain_without_data_path_is_refused(
    workdir: Path, cli: Any
) -> None:
    """The default convert_data (a `ganhub new-plugin` domain's) wrote a shard the domain
    could never be pointed at."""
    from ganhub.plugins import get_hub, reset_hub

    domain = _odd2d(convert_data=Domain.convert_data)  # the default, as a new plugin has it
    try:
        get_hub().add("odd", SimpleNamespace(register_domains=hookimpl(
            lambda register: register("odd2d", domain))))  # fmt: skip
        args = ["data", "convert", "plugin=odd2d", "--to", "shard", "--out", "s.safetensors"]
        code, out, err = cli(*args)
    finally:
        reset_hub()
    assert code == 2 and out == "" and len(err.splitlines()) == 1, err
    assert err.startswith("ganhub: error: --to shard: domain 'odd2d' has no data.path key")
    assert not list(workdir.glob("s.*"))


def test_checking_a_folder_for_a_domain_that_reads_none_says_so(workdir: Path, cli: Any) -> None:
    """It said "unknown key 'data.path'", a key the user never typed."""
    (workdir / "points").mkdir()
    for command in (["check"], ["clean", "--list", "kept.txt"]):
        code, _, err = cli("data", *command, "points", "plugin=toy2d")
        assert code == 2 and "data.path" not in err, err
        assert err == (
            "ganhub: error: DATA points: domain 'toy2d' reads no data folder, it trains on data "
            "it makes itself (its data.* keys); `ganhub data check plugin=toy2d` checks that "
            "data\n"
        )


# -- 5. GANHUB_DISABLE_PLUGINS, and the hooks `ganhub plugins` lists ------------------------


def _broken_hook_package(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed distribution `ganhub-noisy`, entry point `noisy`, whose after_step hook
    raises in every run."""
    info = root / "ganhub_noisy-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ganhub-noisy\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[ganhub]\nnoisy = ganhub_noisy\n")
    (root / "ganhub_noisy.py").write_text(
        "from ganhub.hookspecs import hookimpl\n\n\n"
        "@hookimpl\n"
        "def before_train(run):\n    pass\n\n\n"
        "@hookimpl\n"
        "def after_step(run, step):\n    raise RuntimeError('broken hook')\n"
    )
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delitem(sys.modules, "ganhub_noisy", raising=False)


def test_a_plugin_can_be_switched_off_by_name(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken lifecycle hook broke every run, and only uninstalling its package helped."""
    _broken_hook_package(workdir / "site", monkeypatch)
    with pytest.raises(PluginError, match=r"^plugin 'noisy': its after_step hook raised") as err:
        ganhub.train(TINY_TOY, hub=Hub.discover())
    assert str(err.value).endswith(" (GANHUB_DISABLE_PLUGINS=noisy runs without it)")
    monkeypatch.delitem(sys.modules, "ganhub_noisy")
    monkeypatch.setenv("GANHUB_DISABLE_PLUGINS", "noisy")
    hub = Hub.discover()
    assert hub.plugins["noisy"].status == "disabled" and "ganhub_noisy" not in sys.modules
    assert hub.failures() == []  # the user's choice, not a plugin that failed
    ganhub.train(TINY_TOY, hub=hub)
    assert capsys.readouterr().err.count("GANHUB_DISABLE_PLUGINS") == 0


def test_a_name_that_switches_nothing_off_is_one_warning_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GANHUB_DISABLE_PLUGINS", "toy2dd, ganhub.commands")
    hub = Hub.discover()
    assert hub.plugins["toy2d"].status == hub.plugins["ganhub.commands"].status == "ok"
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "ganhub: warning: GANHUB_DISABLE_PLUGINS: 'ganhub.commands' is part of ganhub itself "
        "and is always loaded; ignored (ganhub plugins lists the plugins)",
        "ganhub: warning: GANHUB_DISABLE_PLUGINS: no installed plugin is named 'toy2dd' (did "
        "you mean 'toy2d'?); ignored (ganhub plugins lists the plugins)",
    ]


def test_ganhub_plugins_lists_the_hooks_of_each_plugin(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    """A plugin of lifecycle hooks only was shown `[ok]` with nothing under it."""
    from ganhub.plugins import reset_hub

    _broken_hook_package(workdir / "site", monkeypatch)
    reset_hub()
    try:
        code, out, _ = cli("plugins")
        assert code == 0
        assert "noisy  ganhub-noisy 0.1  [ok]\n    hooks: before_train, after_step\n" in out
        monkeypatch.setenv("GANHUB_DISABLE_PLUGINS", "noisy")
        reset_hub()
        code, out, _ = cli("plugins")
        assert code == 0
        assert (
            "noisy  ganhub-noisy 0.1  [disabled]\n    off:   GANHUB_DISABLE_PLUGINS names it, so "
            "none of it is loaded; remove 'noisy' from GANHUB_DISABLE_PLUGINS to load it\n"
        ) in out
    finally:
        reset_hub()


def test_a_run_names_the_package_of_a_conditioner_it_used_that_is_missing(workdir: Path) -> None:
    """A run built with a plugin's conditioning mechanism, opened without that plugin, was
    refused as a config mistake whose advice (`condition.generator=cbn`) builds another
    network than the saved weights: it names the pip line, as for a missing loss."""
    from torch import nn

    from ganhub.conditioning import Condition, Conditioner
    from ganhub.conditioning.nets import ConcatLabels

    from .conftest import TINY_DCGAN

    class WideConcat(Conditioner):
        name = "spiral_wide"
        side = "generator"

        def inputs(self, labels: Any, embed_dim: int) -> int:
            return 4 * embed_dim

        def wrap(self, net: nn.Module, condition: Condition) -> nn.Module:
            return ConcatLabels(net, condition.labels, 4 * condition.embed_dim)

    hub = _packaged("ganhub-spiral", conditioners=("spiral_wide", WideConcat()))
    keys = [*TINY_DCGAN, "model.conditional=true", "condition.generator=spiral_wide", "name=w"]
    ganhub.train([*keys, "trainer.steps=1"], hub=hub)
    run = workdir / "runs" / "w"
    wanted = (
        f"run '{run}' uses conditioner 'spiral_wide', which no installed plugin provides; it "
        "came from the distribution 'ganhub-spiral': pip install 'ganhub-spiral==0.1.0'"
    )
    with pytest.raises(PluginError, match=f"^{re.escape(wanted)}$"):
        ganhub.load(run, hub=Hub.discover())
    with pytest.raises(PluginError, match=f"^{re.escape(wanted)}$"):
        ganhub.train([f"resume={run}", "trainer.steps=2"], hub=Hub.discover())
    assert ganhub.load(run, hub=hub).step == 1
