"""Config input from a user audit: dotted keys inside YAML files and dicts, a single value
given where a section takes keys, `ganhub.train`'s first argument as a file or one string, and
suggestions for a nested key typed without its section."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import ganhub
from ganhub.config.overrides import dump_yaml, merge_sources
from ganhub.config.resolve import resolve
from ganhub.config.schema import RunConfig
from ganhub.errors import ConfigError, UsageError

from .test_config_input import _error


def _file(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def trained(monkeypatch: pytest.MonkeyPatch) -> list[RunConfig]:
    """`ganhub.train` resolves its config and stops there: the configs it would train."""
    import ganhub.engine.loop
    import ganhub.wiring

    seen: list[RunConfig] = []

    def fit(config: RunConfig) -> dict[str, Any]:
        seen.append(config)
        return {"steps": config.trainer.steps}

    monkeypatch.setattr(ganhub.wiring, "make_run", lambda config, hub: config)
    monkeypatch.setattr(ganhub.engine.loop, "fit", fit)
    return seen


TWICE = "the key 'trainer.steps' is given twice,"


# -- 1: a dotted key in a mapping is its nested form -------------------------------------------


def test_a_dotted_key_in_a_config_file_is_its_nested_form(workdir: Path, cli: Any) -> None:
    dotted = _file(
        workdir / "dotted.yaml", "plugin: toy2d\ntrainer.steps: 10\ntrick.ema.decay: 0.9\n"
    )
    nested = _file(workdir / "nested.yaml", "plugin: toy2d\ntrainer: {steps: 10}\n")
    config = resolve(["tricks=[ema]"], (dotted,))
    trick: Any = config.trick
    assert config.trainer.steps == 10 and trick.ema.decay == 0.9
    assert config.trainer == resolve([], (nested,)).trainer
    code, out, err = cli("config", "--config", str(dotted), "tricks=[ema]")
    assert code == 0, err
    assert "steps: 10" in out
    # both ways with one value is one key; keys under a dotted section join it
    same = _file(workdir / "same.yaml", "plugin: toy2d\ntrainer.steps: 7\ntrainer: {steps: 7}\n")
    assert resolve([], (same,)).trainer.steps == 7
    joined = "plugin: toy2d\ntrainer: {batch_size: 8}\ntrainer.steps: 6\n"
    config = resolve([], (_file(workdir / "joined.yaml", joined),))
    assert (config.trainer.steps, config.trainer.batch_size) == (6, 8)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("trainer.steps: 10\ntrainer: {steps: 11}\n", f"{TWICE} as 10 and as 11"),
        ("trainer: {steps: 11}\ntrainer.steps: 10\n", f"{TWICE} as 11 and as 10"),
        ("trainer: 10\ntrainer.steps: 5\n", "trainer=10: trainer takes keys (trainer.KEY=VALUE)"),
        ("trainer.steps: 5\ntrainer: 10\n", "trainer=10: trainer takes keys"),
        ("trainer.steps: 5\ntrainer.steps.x: 3\n", "trainer.steps.x=3: trainer.steps is a number"),
        ("trainer..steps: 5\n", "'trainer..steps' is not a valid key (empty part between dots)"),
        ("trainer.stepz: 5\n", "unknown key 'trainer.stepz' (did you mean 'trainer.steps'?)"),
        ("trainer.steps: -3\n", "trainer.steps=-3: must be above 0"),
        # alone, pydantic named the section's class ("instance of TrainerConfig"), not its keys
        ("trainer: 10\n", "trainer=10: trainer takes keys (trainer.KEY=VALUE), not a single"),
        ("eval: [fid]\n", "eval=[fid]: eval takes keys (eval.KEY=VALUE), not a single value"),
    ],
)  # fmt: skip
def test_a_dotted_key_a_file_gets_wrong_is_refused_naming_the_file(
    workdir: Path, text: str, expected: str
) -> None:
    path = _file(workdir / "bad.yaml", "plugin: toy2d\n" + text)
    message = _error([], (path,))
    assert message.startswith(f"config file '{path}': {expected}"), message


def test_a_dotted_key_in_a_saved_config_is_its_nested_form(workdir: Path) -> None:
    run = workdir / "run"  # a saved config a user edited, with a dotted key
    run.mkdir()
    data = resolve(["plugin=toy2d"]).model_dump(mode="json")
    data["trainer"].pop("steps")
    data["trainer.steps"] = 4
    (run / "config.yaml").write_text(dump_yaml(data), encoding="utf-8")
    assert resolve([f"resume={run}"], ()).trainer.steps == 4


def test_a_dotted_key_in_a_dict_given_to_the_api_is_its_nested_form(trained: list[Any]) -> None:
    ganhub.train({"plugin": "toy2d", "trainer.steps": 5, "optim.G": {"lr": 1e-3}})
    assert trained[-1].trainer.steps == 5 and trained[-1].optim.G.lr == 1e-3
    ganhub.train({"plugin": "toy2d", "trainer.steps": 5}, trainer__batch_size=8)
    assert (trained[-1].trainer.steps, trained[-1].trainer.batch_size) == (5, 8)
    ganhub.train({"plugin": "toy2d", "trainer.steps": 5}, trainer__steps=6)  # a keyword wins
    assert trained[-1].trainer.steps == 6
    with pytest.raises(
        ConfigError, match=r"^the config dict: the key 'trainer.steps' is given twice"
    ):
        ganhub.train({"plugin": "toy2d", "trainer.steps": 5, "trainer": {"steps": 6}})


# -- 2: a single value where a section takes keys is refused, whatever follows ----------------


@pytest.mark.parametrize(
    "items",
    [
        ["trainer=10", "trainer.steps=5"],
        ["trainer.steps=5", "trainer=10"],
        ["trainer=10", "trainer.progress=false", "trainer.steps=5"],
    ],
)
def test_a_single_value_for_a_section_is_not_dropped_by_later_keys(items: list[str]) -> None:
    message = _error(["plugin=toy2d", *items])
    assert message.startswith("trainer=10: trainer takes keys (trainer.KEY=VALUE)"), message
    assert "valid keys under 'trainer': batch_size," in message
    assert _error(["plugin=toy2d", "trainer=[1,2]", "trainer.steps=5"]).startswith(
        "trainer=[1,2]: trainer takes keys"
    )
    assert _error(["plugin=toy2d", "loss.x=1", "loss=hinge"]).startswith(
        "loss.x=1: loss is a single value (str), it has no key 'x'"
    )


def test_a_single_value_in_a_file_is_refused_naming_the_file(workdir: Path, cli: Any) -> None:
    path = _file(workdir / "scal.yaml", "plugin: toy2d\ntrainer: 10\n")
    for items, files in (
        (["trainer.progress=false"], (path,)),
        ([f"config={path}", "trainer.steps=5"], ()),
    ):
        message = _error(items, files)
        assert message.startswith(f"config file '{path}': trainer=10: trainer takes keys"), message
    code, _, err = cli("run", "--config", str(path), "trainer.progress=false")
    assert code == 2 and err.startswith(f"ganhub: error: config file '{path}': trainer=10:"), err
    # the single value typed after a file's keys is the user's: no file named
    steps = _file(workdir / "steps.yaml", "plugin: toy2d\ntrainer: {steps: 5}\n")
    assert _error(["trainer=10"], (steps,)).startswith("trainer=10: trainer takes keys")


def test_a_sections_shorthand_still_works_beside_its_keys_in_either_order(workdir: Path) -> None:
    for order in (["data=phantom", "data.n_samples=100"], ["data.n_samples=100", "data=phantom"]):
        data: Any = resolve(["plugin=medgan", *order]).model_dump()["data"]
        assert (data["source"], data["n_samples"]) == ("phantom", 100)
    assert merge_sources(["data=folder", "data.path=/tmp"])["data"] == {
        "__shorthand__": "folder",
        "path": "/tmp",
    }
    path = _file(workdir / "short.yaml", "plugin: medgan\ndata: phantom\ndata.n_samples: 100\n")
    for config in (resolve([], (path,)), resolve(["data.n_samples=100", f"config={path}"])):
        data = config.model_dump()["data"]
        assert (data["source"], data["n_samples"]) == ("phantom", 100)


def test_a_single_value_beside_keys_given_to_the_api_is_refused(trained: list[Any]) -> None:
    with pytest.raises(ConfigError, match=r"^trainer=10: trainer takes keys"):
        ganhub.train({"plugin": "toy2d", "trainer": 10}, trainer__steps=1)
    with pytest.raises(ConfigError, match=r"^trainer=10: trainer takes keys"):
        ganhub.train({"plugin": "toy2d"}, trainer=10, trainer__steps=1)
    assert trained == []


# -- 3: ganhub.train's first argument ----------------------------------------------------------


def test_train_takes_the_path_of_a_yaml_file(workdir: Path, trained: list[Any]) -> None:
    path = _file(workdir / "ok.yaml", "plugin: toy2d\ntrainer: {steps: 3}\n")
    assert ganhub.train(config="ok.yaml")["steps"] == 3
    assert ganhub.train(str(path), trainer__steps=2)["steps"] == 2
    assert ganhub.train(path)["steps"] == 3
    assert ganhub.train("config=ok.yaml")["steps"] == 3
    with pytest.raises(ConfigError, match=r"^config file 'nope.yaml' does not exist"):
        ganhub.train("nope.yaml")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("plugin=toy2d trainer.steps=5", "one string holds 2 overrides; pass a list with one "
         "'key=value' string each (['plugin=toy2d', 'trainer.steps=5'])"),
        (["plugin=toy2d trainer.steps=5"], "one string holds 2 overrides"),
        ("toy2d", "neither a 'key=value' override nor a YAML config file; give a file's path"),
    ],
)  # fmt: skip
def test_train_refuses_a_string_it_cannot_read_in_one_line(
    config: Any, expected: str, trained: list[Any]
) -> None:
    with pytest.raises(UsageError) as info:
        ganhub.train(config)
    assert expected in str(info.value) and "\n" not in str(info.value)
    assert str(info.value).startswith("ganhub.train(config="), info.value


def test_load_takes_one_override_as_a_string(workdir: Path) -> None:
    run = workdir / "run"
    run.mkdir()
    data = resolve(["plugin=toy2d"]).model_dump(mode="json")
    (run / "config.yaml").write_text(dump_yaml(data), encoding="utf-8")
    with pytest.raises(UsageError, match="has no readable checkpoint"):
        ganhub.load(run, overrides="eval.n_samples=10")
    with pytest.raises(UsageError, match="one string holds 2 overrides"):
        ganhub.load(run, overrides="eval.n_samples=10 seed=1")


# -- 4: a nested key typed without its section -------------------------------------------------


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("steps=5", "unknown key 'steps' (did you mean 'trainer.steps'?)"),
        ("trainer_steps=5", "unknown key 'trainer_steps' (did you mean 'trainer.steps'?)"),
        ("lr=0.1", "unknown key 'lr' (did you mean 'optim.G.lr' or 'optim.D.lr'?)"),
        ("optim.lr=0.1", "unknown key 'optim.lr' (did you mean 'optim.G.lr' or 'optim.D.lr'?)"),
        ("trainer.stpes=5", "unknown key 'trainer.stpes' (did you mean 'trainer.steps'?)"),
    ],
)
def test_a_nested_key_typed_without_its_section_is_suggested(item: str, expected: str) -> None:
    assert _error(["plugin=toy2d", item]).startswith(expected)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (
            ["trick.bogus.x=1"],
            "trick.bogus.x set, but that is an unknown trick 'bogus'; available:",
        ),
        (["tricks=[ema]", "trick.emaa.decay=0.9"], "unknown trick 'emaa' (did you mean 'ema'?)"),
    ],
)
def test_options_of_a_trick_that_does_not_exist_name_the_tricks(
    given: list[str], said: str
) -> None:
    """`trick.bogus.x=1` said "valid keys under 'trick': none" (no trick enabled)."""
    with pytest.raises(ConfigError, match=re.escape(said)):
        resolve(["plugin=dcgan", *given])


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("optim.D.name=Adam", " (did you mean 'adam'?)"),
        ("precision=BF16", " (did you mean 'bf16'?)"),
        ("optim.G.name=adan", " (did you mean 'adam'?)"),
        ("optim.G.name=xyz", ""),
    ],
)
def test_a_choice_typed_in_another_case_or_nearly_is_named(typed: str, hint: str) -> None:
    """`optim.D.name=Adam` listed the choices without pointing at 'adam', where an unknown
    loss or trick name gets a did-you-mean."""
    message = _error(["plugin=toy2d", typed])
    key, value = typed.split("=")
    assert message.startswith(f"{key}='{value}': must be one of "), message
    assert message.endswith(("'sgd'" if "name" in key else "'16'") + hint), message
