"""Config resolution: overrides, YAML, presets, shorthands, and one clear line per bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ganhub.config.overrides import merge_sources, parse_override
from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError, PluginError


def test_overrides_parse_yaml_values() -> None:
    assert parse_override("trainer.steps=10") == (["trainer", "steps"], 10)
    assert parse_override("tricks=[ema,r1]") == (["tricks"], ["ema", "r1"])
    assert parse_override("optim.G.lr=1e-4")[1] in ("1e-4", 1e-4)  # YAML 1.1: pydantic coerces
    assert parse_override("trainer.progress=false")[1] is False
    assert parse_override("name=null") == (["name"], None)
    with pytest.raises(ConfigError, match=r"^name= has no value"):  # not null: see test_user_input
        parse_override("name=")


def test_dotted_overrides_reach_nested_fields() -> None:
    cfg = resolve(
        [
            "plugin=toy2d",
            "trainer.steps=7",
            "optim.D.lr=1e-4",
            "tricks=[ema,r1]",
            "trick.r1.gamma=3",
        ]
    )
    assert cfg.trainer.steps == 7
    assert cfg.optim.D.lr == pytest.approx(1e-4)
    assert cfg.tricks == ["ema", "r1"]
    assert cfg.trick.r1.gamma == 3  # type: ignore[attr-defined]


def test_domain_defaults_presets_yaml_and_overrides_layer_in_order(tmp_path: Path) -> None:
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("plugin: toy2d\npreset: grid\ntrainer:\n  batch_size: 64\n  steps: 11\n")
    cfg = resolve(["trainer.steps=12"], files=[yaml_file])
    assert cfg.data.dataset == "grid"  # preset  # type: ignore[attr-defined]
    assert cfg.trainer.batch_size == 64  # yaml over the domain default (256)
    assert cfg.trainer.steps == 12  # override over yaml over preset (4000)
    inline = resolve(["plugin=toy2d", f"config={yaml_file}", "trainer.batch_size=8"])
    assert (inline.trainer.steps, inline.trainer.batch_size) == (11, 8)


def test_shorthand_sets_the_sections_main_field() -> None:
    cfg = resolve(["plugin=toy2d", "data=grid"])
    assert cfg.data.dataset == "grid"  # type: ignore[attr-defined]
    merged = merge_sources(["data=folder", "data.path=/tmp"])
    assert merged["data"] == {"__shorthand__": "folder", "path": "/tmp"}
    # the other order keeps data.path too (it was dropped: medgan trained on its phantoms)
    merged = merge_sources(["data.path=/tmp", "data=folder"])
    assert merged["data"] == {"path": "/tmp", "__shorthand__": "folder"}
    for order in (["data.n_samples=100", "data=phantom"], ["data=phantom", "data.n_samples=100"]):
        cfg = resolve(["plugin=medgan", *order])
        assert (cfg.data.source, cfg.data.n_samples) == ("phantom", 100)  # type: ignore[attr-defined]


def test_resolved_config_round_trips_through_yaml(tmp_path: Path) -> None:
    import yaml

    cfg = resolve(["plugin=dcgan", "tricks=[ema]", "trick.ema.decay=0.99", "model.image_size=64"])
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    again = resolve([f"config={path}"])
    assert again.model_dump() == cfg.model_dump()


BAD_INPUTS = [
    (["plugin=toy3d"], PluginError, "unknown domain 'toy3d' (did you mean 'toy2d'?)"),
    ([], ConfigError, "no plugin given: add plugin=NAME"),
    (
        ["plugin=dcgan", "eval.metrics=[fd_digits]"],
        ConfigError,
        "eval.metrics: 'fd_digits' is a value the metric 'fid' reports, not a metric; use "
        "eval.metrics=[fid]",
    ),
    (
        ["plugin=toy2d", "trainer.stpes=5"],
        ConfigError,
        "unknown key 'trainer.stpes' (did you mean 'trainer.steps'?)",
    ),
    (  # the second replaced the first without a word: it trained tiny on the ring
        ["plugin=toy2d", "preset=grid", "preset=tiny"],
        ConfigError,
        "preset: grid, tiny: a run takes one preset; give one, and the keys you want of another",
    ),
    (  # it was "unknown toy2d preset '['grid', 'tiny']'"
        ["plugin=toy2d", "preset=[grid,tiny]"],
        ConfigError,
        "preset: grid, tiny: a run takes one preset",
    ),
    (  # 'model.' counted as alike: it suggested model.g_norm
        ["plugin=dcgan", "model.z_dm=3"],
        ConfigError,
        "unknown key 'model.z_dm'; valid keys under 'model': ",
    ),
    (  # the spelling nearest by distance was optim.G
        ["plugin=toy2d", "optim.d.lr=0.001"],
        ConfigError,
        "unknown key 'optim.d' (did you mean 'optim.D'?)",
    ),
    (
        ["plugin=toy2d", "trainer.steps=abc"],
        ConfigError,
        "trainer.steps='abc': must be a whole number",
    ),
    (
        ["plugin=toy2d", "trainer.steps=-5"],
        ConfigError,
        "trainer.steps=-5: must be above 0",
    ),
    (
        ["plugin=toy2d", "optim.G.name=adamm"],
        ConfigError,
        "optim.G.name='adamm': must be one of 'adam'",
    ),
    (
        ["plugin=toy2d", "loss=hinge", "tricks=[label_smoothing]"],
        ConfigError,
        "does not suit loss 'hinge'",
    ),
    (
        ["plugin=toy2d", "tricks=[gp]"],
        ConfigError,
        "trick 'gp' with trick.gp.variant=wgan does not suit loss 'nonsaturating'",
    ),
    (["plugin=toy2d", "tricks=[diffaug]"], ConfigError, "applies to image data"),
    (
        ["plugin=toy2d", "tricks=[n_critic,balance]"],
        ConfigError,
        "cannot be combined with: balance",
    ),
    (["plugin=toy2d", "tricks=[emaa]"], ConfigError, "unknown trick 'emaa' (did you mean 'ema'?)"),
    (["plugin=toy2d", "loss=hing"], ConfigError, "unknown loss 'hing' (did you mean 'hinge'?)"),
    (
        ["plugin=toy2d", "preset=rng"],
        PluginError,
        "unknown toy2d preset 'rng' (did you mean 'ring'?)",
    ),
    (["plugin=toy2d", "device=gpu"], ConfigError, "'gpu' is not a device"),
    (
        ["plugin=toy2d", "trainer.batch_size=30", "trainer.grad_accum=4"],
        ConfigError,
        "must divide trainer.batch_size=30",
    ),
    (
        ["plugin=toy2d", "tricks=[pacgan]", "trainer.batch_size=33"],
        ConfigError,
        "trick.pacgan.pack=2 must divide",
    ),
    (["plugin=dcgan", "data=folder"], ConfigError, "data.path is required for folder data"),
    (
        ["plugin=dcgan", "data=folder", "data.path=/no/such/dir"],
        ConfigError,
        "data.path='/no/such/dir': folder does not exist",
    ),
    (["plugin=toy2d", "trick=[ema]"], ConfigError, "trick"),
    (["plugin=toy2d", "trainer"], ConfigError, "'trainer' is not an override; write key=value"),
    (
        ["plugin=toy2d", "config=/no/such.yaml"],
        ConfigError,
        "config file '/no/such.yaml' does not exist",
    ),
]


@pytest.mark.parametrize(
    ("args", "error", "message"), BAD_INPUTS, ids=[" ".join(a[0][1:]) or "none" for a in BAD_INPUTS]
)
def test_bad_input_is_one_clear_error(args: list[str], error: type, message: str) -> None:
    with pytest.raises(error) as info:
        resolve(args)
    assert message in str(info.value)
    assert len(str(info.value).splitlines()) == 1


def test_bad_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("plugin: toy2d\ntrainer: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml' is not valid YAML at line"):
        resolve([f"config={bad}"])


def test_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no images"):
        resolve(["plugin=dcgan", "data=folder", f"data.path={tmp_path}"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "plugin=toy3d"], "unknown domain 'toy3d'"),
        (["run", "plugin=toy2d", "trainer.stpes=5"], "unknown key 'trainer.stpes'"),
        (["run", "plugin=toy2d", "trainer.steps=-1"], "must be above 0"),
        (["run", "plugin=toy2d", "loss=hinge", "tricks=[label_smoothing]"], "does not suit loss"),
        (["run", "plugin=dcgan", "data=folder", "data.path=/nope"], "folder does not exist"),
        (["config", "plugin=toy2d", "loss=nope"], "unknown loss 'nope'"),
    ],
)
def test_cli_reports_bad_input_in_one_line_with_exit_2(
    cli, workdir, args: list[str], message: str
) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (workdir / "runs").exists()  # nothing written for a bad config


def test_gradient_penalty_with_batchnorm_discriminator_stops_before_training(cli, workdir) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli(
        "run",
        "plugin=dcgan",
        "preset=tiny",
        "loss=wasserstein",
        "tricks=[gp]",
        "trainer.progress=false",
    )
    assert code == 2
    assert "BatchNorm in discriminator 'D'" in err and "model.d_norm=none" in err


def test_overriding_one_key_keeps_the_domains_other_section_defaults() -> None:
    cfg = resolve(["plugin=toy2d", "trainer.steps=3"])
    assert cfg.trainer.batch_size == 256 and cfg.trainer.log_every == 100  # toy2d's, not generic
    assert cfg.optim.G.lr == pytest.approx(1e-3)
    cfg = resolve(["plugin=toy2d", "optim.G.betas=[0.0,0.99]"])
    assert cfg.optim.G.lr == pytest.approx(1e-3) and cfg.optim.D.lr == pytest.approx(1e-3)
    cfg = resolve(["plugin=toy2d", "data=grid"])
    assert cfg.data.n_samples == 100_000  # type: ignore[attr-defined]
    cfg = resolve(["plugin=dcgan", "model.image_size=64"])
    assert cfg.model.g_channels == 32 and cfg.trainer.steps == 2500  # type: ignore[attr-defined]


def test_choice_dependent_defaults_sit_between_the_class_defaults_and_the_user() -> None:
    from types import SimpleNamespace
    from typing import ClassVar

    from ganhub_toy2d.domain import Toy2dDomain

    from ganhub.hookspecs import hookimpl
    from ganhub.plugins import Hub

    class GridNeedsLonger(Toy2dDomain):
        name = "toy2d_long"
        presets: ClassVar[dict[str, Any]] = {"short": {"trainer": {"steps": 7}}}

        def defaults_for(self, chosen: dict[str, Any]) -> dict[str, Any]:
            grid = chosen.get("data", {}).get("dataset") == "grid"
            return {"trainer": {"steps": 4000, "log_every": 40}} if grid else {}

    plugin = SimpleNamespace(
        register_domains=hookimpl(lambda register: register("toy2d_long", GridNeedsLonger()))
    )
    hub = Hub.discover(extra=(("long", plugin),))
    base = resolve(["plugin=toy2d_long"], hub=hub).trainer
    grid = resolve(["plugin=toy2d_long", "data.dataset=grid"], hub=hub).trainer
    assert (grid.steps, grid.log_every) == (4000, 40) and base.steps != 4000
    assert (
        resolve(["plugin=toy2d_long", "data.dataset=grid", "preset=short"], hub=hub).trainer.steps
        == 7
    )
    user = resolve(["plugin=toy2d_long", "data.dataset=grid", "trainer.steps=9"], hub=hub).trainer
    assert (user.steps, user.log_every) == (9, 40)


@pytest.mark.parametrize(
    ("derived", "message"),
    [
        ({"trainer": {"stepz": 10}}, r"^domain 'toy2d_odd' derived unknown key 'trainer\.stepz'"),
        (
            {"trainer": {"steps": -1}},
            r"^domain 'toy2d_odd' derived trainer\.steps=-1: must be above 0",
        ),
    ],
)
def test_a_bad_key_a_domain_derives_is_blamed_on_its_plugin(
    derived: dict[str, Any], message: str
) -> None:
    """`unknown key 'trainer.stepz'` was shown to a user who never typed it."""
    from types import SimpleNamespace
    from typing import ClassVar

    from ganhub_toy2d.domain import Toy2dDomain

    from ganhub.hookspecs import hookimpl
    from ganhub.plugins import Hub

    class Odd(Toy2dDomain):
        name = "toy2d_odd"
        presets: ClassVar[dict[str, Any]] = {}

        def defaults_for(self, chosen: dict[str, Any]) -> dict[str, Any]:
            return derived

    plugin = SimpleNamespace(
        register_domains=hookimpl(lambda register: register("toy2d_odd", Odd()))
    )
    hub = Hub.discover(extra=(("odd", plugin),))
    with pytest.raises(ConfigError, match=message + r".*a bug of its plugin's defaults_for\(\)"):
        resolve(["plugin=toy2d_odd"], hub=hub)
    with pytest.raises(ConfigError, match=r"^trainer\.steps=0: "):  # the user's own key: theirs
        resolve(["plugin=toy2d_odd", "trainer.steps=0"], hub=hub)


def test_a_domain_check_that_raises_is_one_line_naming_the_domain() -> None:
    """It was a raw traceback, from `ganhub config` too."""
    from types import SimpleNamespace

    from ganhub_toy2d.domain import Toy2dDomain

    from ganhub.hookspecs import hookimpl
    from ganhub.plugins import Hub

    class Crashing(Toy2dDomain):
        name = "toy2d_crash"

        def check(self, config: Any) -> list[str]:
            raise KeyError("oops")

    plugin = SimpleNamespace(
        register_domains=hookimpl(lambda register: register("toy2d_crash", Crashing()))
    )
    hub = Hub.discover(extra=(("crash", plugin),))
    with pytest.raises(
        PluginError, match=r"^domain 'toy2d_crash': its check\(\) raised KeyError: 'oops'"
    ):
        resolve(["plugin=toy2d_crash"], hub=hub)


def test_the_saved_config_holds_the_enabled_tricks_options_only() -> None:
    """A config names only what its run uses, so it opens wherever those plugins exist."""
    cfg = resolve(["plugin=toy2d", "tricks=[ema,r1]", "trick.r1.gamma=3"])
    assert set(cfg.model_dump()["trick"]) == {"ema", "r1"}
    assert cfg.trick.r1.gamma == 3  # type: ignore[attr-defined]


def test_options_of_a_trick_that_is_not_enabled_are_refused() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^trick\.r1\.gamma set, but trick 'r1' is not enabled \(tricks=\[ema\]\); "
        r"enable it with tricks=\[ema,r1\]",
    ):
        resolve(["plugin=toy2d", "tricks=[ema]", "trick.r1.gamma=3"])
    # the suggestion is one that resolves: not tricks=[reweight,resample], refused as a pair
    with pytest.raises(ConfigError, match=r"enable it with tricks=\[resample\] \(instead of reweight\)"):  # fmt: skip
        resolve(["plugin=dcgan", "data=shapes", "tricks=[reweight]", "trick.resample.steps=5"])
    resolve(["plugin=dcgan", "data=shapes", "tricks=[resample]", "trick.resample.steps=5"])


def test_a_list_typed_without_brackets_gets_the_bracketed_form() -> None:
    with pytest.raises(ConfigError, match=r"^tricks='ema,r1': .* \(write tricks=\[ema,r1\]\)$"):
        resolve(["plugin=toy2d", "tricks=ema,r1"])


@pytest.mark.parametrize("key", ["logger.jsonl.x=1", "logger.jsonl=1", "logger.tensorboard.x=1"])
def test_options_of_a_logger_that_takes_none_are_refused_by_name(key: str) -> None:
    """It was "unknown key 'logger.jsonl'; valid keys under 'logger': " with an empty list."""
    name = key.split(".")[1].split("=")[0]
    with pytest.raises(ConfigError, match=rf"^logger\.{name}: logger '{name}' takes no options"):
        resolve(["plugin=toy2d", "loggers=[jsonl,tensorboard]", key])


def test_renamed_keys_are_refused_in_one_line_naming_the_new_key(tmp_path: Path) -> None:
    """Domain.renamed_keys: a user's old key, and an old key in a saved run's config.yaml."""
    from ganhub.config.resolve import refuse_renamed

    renamed = {"model.size": "model.image_size", "ada.*": "trick.ada.*",
               "old.flag": "was removed: leave it out"}  # fmt: skip
    with pytest.raises(ConfigError, match=r"^model\.size was renamed model\.image_size; write model\.image_size=64$"):  # fmt: skip
        refuse_renamed({"model": {"size": 64}}, renamed)
    with pytest.raises(ConfigError, match=r"^ada\.kimg was renamed trick\.ada\.kimg; write"):
        refuse_renamed({"ada": {"kimg": 20}}, renamed)
    with pytest.raises(ConfigError, match=r"^old\.flag=true: was removed: leave it out$"):
        refuse_renamed({"old": {"flag": True}}, renamed)
    refuse_renamed({"model": {"image_size": 64}, "adam": {"x": 1}}, renamed)  # nothing old

    run = tmp_path / "old-run"
    run.mkdir()
    (run / "config.yaml").write_text("plugin: stylegan\nmodel:\n  resolution: 32\n")
    with pytest.raises(
        ConfigError,
        match=rf"^{run}/config\.yaml was written by an earlier ganhub: model\.resolution was "
        r"renamed model\.image_size; write model\.image_size=32 \(edit the file\)$",
    ):
        resolve([f"resume={run}"])


def _path_keys(model: type, prefix: str = "") -> list[str]:
    """Every dotted key of a config class whose type holds a Path."""
    from pydantic import BaseModel

    from ganhub.config.schema import holds_path

    keys = []
    for name, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            keys += _path_keys(sub, f"{prefix}{name}.")
        elif holds_path(sub):
            keys.append(prefix + name)
    return keys


def _every_path_key() -> list[tuple[str, str]]:
    from ganhub.plugins import get_hub

    hub = get_hub()
    return [
        (entry.name, key) for entry in hub.domains for key in _path_keys(entry.obj.config_class)
    ]


@pytest.mark.parametrize(("plugin", "key"), _every_path_key())
def test_every_path_key_expands_home_and_variables(plugin: str, key: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`key=~/...` and `$VAR` work although the shell expands neither after `key=`: the
    section that owns the key validates it (the whole config for top-level keys)."""
    from ganhub.plugins import get_hub

    monkeypatch.setenv("HOME", "/home/someone")
    monkeypatch.setenv("GANHUB_TEST_ROOT", "/data/set")
    section = get_hub().domains.get(plugin).config_class
    *parents, leaf = key.split(".")
    for part in parents:
        section = section.model_fields[part].annotation  # type: ignore[assignment]
    kind = str(section.model_fields[leaf].annotation)
    typed = "~/a/$GANHUB_TEST_ROOT/b"
    many = "list" in kind or "tuple" in kind
    raw: dict = {leaf: [typed, typed] if many else typed}
    if not parents:
        raw |= {"plugin": plugin, "tricks": []}
    value = getattr(section.model_validate(raw), leaf)
    assert str(value[0] if many else value) == "/home/someone/a/data/set/b"


def test_a_folder_under_home_trains_from_key_equals_tilde(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    from PIL import Image

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "imgs").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "imgs" / "a.png")
    config = resolve(["plugin=dcgan", "data.path=~/imgs"])
    assert config.data.path == tmp_path / "imgs" and config.data.source == "folder"  # type: ignore[attr-defined]


def test_paths_read_before_validation_expand_home_too(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`resume=~/...`, `config=~/...`, `--config=~/...` and the folders that choice defaults
    scan before validation (cyclegan's epochs, a conditional run's class sub-folders) and the
    options of `ganhub tune` all take `~` as `data.path=~/...` does."""
    import numpy as np
    from ganhub_tune.cli import parse_options
    from PIL import Image

    from ganhub.config.overrides import merge_sources
    from ganhub.config.resolve import read_saved

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "my.yaml").write_text("plugin: toy2d\ntrainer:\n  steps: 7\n")
    assert resolve(["config=~/my.yaml"]).trainer.steps == 7
    assert merge_sources([], ["~/my.yaml"])["trainer"] == {"steps": 7}
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("plugin: toy2d\n")
    assert read_saved("~/runs/r") == {"plugin": "toy2d"}

    grey = np.zeros((8, 8, 3), np.uint8)
    for side, n in (("trainA", 6), ("trainB", 4)):
        (tmp_path / "h2z" / side).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(grey + i).save(tmp_path / "h2z" / side / f"{i}.png")
    config = resolve(["plugin=cyclegan", "data.path=~/h2z", "epochs=1", "epochs_decay=1",
                      "trainer.batch_size=2"])  # fmt: skip
    assert config.trainer.steps == 6  # two epochs of the larger side (6 images) at batch 2

    for name in ("cat", "dog"):
        (tmp_path / "pets" / name).mkdir(parents=True)
        Image.fromarray(grey).save(tmp_path / "pets" / name / "a.png")
    config = resolve(["plugin=stylegan", "data.path=~/pets", "model.conditional=true",
                      "model.image_size=8"])  # fmt: skip
    assert config.condition.classes == ["cat", "dog"]  # type: ignore[attr-defined]

    options = parse_options(["plugin=toy2d", "out=~/studies", "search=~/space.yaml"])
    assert options.out_dir == tmp_path / "studies" and options.search == tmp_path / "space.yaml"


def test_a_short_tuple_says_how_many_items_it_needs() -> None:
    with pytest.raises(ConfigError, match=r"^optim\.G\.betas=\[0\.5\]: needs 2 items$"):
        resolve(["plugin=toy2d", "optim.G.betas=[0.5]"])
