"""Config input a user gets wrong: `--help` with bad keys, keys under a number, list typos,
YAML files (their name in the error, duplicate keys, files that are no config) and numbers
float32 or int64 cannot hold. Each error is one line naming the key or file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import ganhub
from ganhub.config.overrides import dump_yaml, load_yaml
from ganhub.config.resolve import read_saved, resolve
from ganhub.config.schema import with_absolute_paths
from ganhub.errors import ConfigError


def _error(overrides: list[str], files: tuple[Path, ...] = ()) -> str:
    with pytest.raises(ConfigError) as info:
        resolve(overrides, files)
    message = str(info.value)
    assert "\n" not in message
    return message


def _one_line(code: int, err: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganhub: error: "), err
    return lines[0]


def _run_dir(path: Path, change: dict[str, dict[str, int]]) -> Path:
    """A folder with the config.yaml a toy2d run writes, its `trainer` section changed."""
    config = resolve(["plugin=toy2d"])
    data = with_absolute_paths(config, config.model_dump(mode="json"))
    data["trainer"].pop("steps")
    data["trainer"].update(change["trainer"])
    path.mkdir()
    (path / "config.yaml").write_text(dump_yaml(data, sort_keys=False), encoding="utf-8")
    return path


# -- 1: --help with keys that do not resolve ------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["preset=nosuch"], "unknown toy2d preset 'nosuch'; available: "),
        (["preset=tiny", "trainer.stesp=1"], "unknown key 'trainer.stesp' (did you mean"),
    ],
)
def test_help_with_a_bad_key_is_the_error_config_gives(cli, args: list[str], expected: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("run", "plugin=toy2d", *args, "--help")
    assert expected in _one_line(code, err)
    assert out == ""  # no help with the class defaults (trainer.steps 1000) in its place
    assert _one_line(*cli("config", "plugin=toy2d", *args)[::2]) == _one_line(code, err)


def test_help_shows_the_domains_and_the_presets_values(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("run", "plugin=toy2d", "--help")
    assert code == 0 and " trainer.steps" in out
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines() if " = " in line}
    assert (rows["trainer.steps"], rows["trainer.batch_size"]) == ("15000", "256")
    code, out, _ = cli("run", "plugin=toy2d", "preset=tiny", "--help")
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines() if " = " in line}
    assert code == 0 and rows["trainer.steps"] == "20"


# -- 2: the suggestion for a list typed without its brackets --------------------------------


@pytest.mark.parametrize("typed", ["ema", "[ema", "[[ema]", "ema]", "[[ema"])
def test_a_list_typo_suggests_the_list(typed: str) -> None:
    message = _error(["plugin=toy2d", f"tricks={typed}"])
    assert message.endswith("must be a list (write tricks=[ema])"), message


def test_a_list_typo_with_no_simple_fix_suggests_nothing() -> None:
    assert "(write" not in _error(["plugin=toy2d", "tricks=a b"])


# -- 3: a key under a key that holds one value ----------------------------------------------


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("trainer.steps.x=3", "trainer.steps.x=3: trainer.steps is a number (int), it has no key 'x'"),
        ("optim.G.lr.x=3", "optim.G.lr.x=3: optim.G.lr is a number (float), it has no key 'x'"),
        ("tricks.x=1", "tricks.x=1: tricks is a list ([str]), it has no key 'x'"),
        ("seed={0: 1}", "seed.0=1: seed is a number (int), it has no key '0'"),
        ("seed={}", "seed={}: seed is a number (int)"),
    ],
)  # fmt: skip
def test_a_key_under_a_single_value_is_named(item: str, expected: str) -> None:
    assert _error(["plugin=toy2d", item]) == expected


# -- 4: errors of a YAML file name it, and stay short -----------------------------------------


def test_an_unknown_key_in_a_config_file_names_the_file(workdir: Path) -> None:
    path = workdir / "unk.yaml"
    path.write_text("plugin: toy2d\ntrainer: {stepz: 3}\n", encoding="utf-8")
    message = _error([], (path,))
    assert message.startswith(f"config file '{path}': unknown key 'trainer.stepz'"), message
    # the same key typed on the command line is the user's, not the file's
    path.write_text("plugin: toy2d\n", encoding="utf-8")
    assert _error(["trainer.stepz=3"], (path,)).startswith("unknown key 'trainer.stepz'")
    assert _error([f"config={path}", "trainer.stepz=3"]).startswith("unknown key")


def test_a_bad_preset_or_value_in_a_config_file_names_the_file(workdir: Path) -> None:
    path = workdir / "bad.yaml"
    path.write_text("plugin: toy2d\npreset: nope\n", encoding="utf-8")
    assert _error([], (path,)).startswith(f"config file '{path}': unknown toy2d preset 'nope'")
    path.write_text("plugin: toy2d\ntrainer: {batch_size: -1}\n", encoding="utf-8")
    assert _error([], (path,)).startswith(f"config file '{path}': trainer.batch_size=-1: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tricks: [emaa]\n", "unknown trick 'emaa' (did you mean 'ema'?)"),
        ("loss: hingee\n", "unknown loss 'hingee'"),
        ("loss: {name: hinge}\n", "loss.name='hinge': loss is a single value"),
        ("trainer: {batch_size: 10, grad_accum: 3}\n", "trainer.grad_accum=3 must divide"),
        ("eval: {metrics: [fdd]}\n", "unknown metric 'fdd'"),
    ],
)
def test_a_bad_name_or_combination_in_a_config_file_names_the_file(
    workdir: Path, text: str, expected: str
) -> None:
    path = workdir / "names.yaml"
    path.write_text("plugin: toy2d\n" + text, encoding="utf-8")
    message = _error([], (path,))
    assert message.startswith(f"config file '{path}': {expected}"), message


def test_a_bad_name_typed_on_the_command_line_names_no_file(workdir: Path) -> None:
    path = workdir / "fine.yaml"
    path.write_text("plugin: toy2d\ntricks: [ema]\n", encoding="utf-8")
    assert _error(["tricks=[emaa]"], (path,)).startswith("unknown trick 'emaa'")
    assert _error(["trainer.grad_accum=3", "trainer.batch_size=10"], (path,)).startswith(
        "trainer.grad_accum=3 must divide"
    )


def test_a_saved_config_that_was_edited_names_its_file(workdir: Path) -> None:
    run = _run_dir(workdir / "run", {"trainer": {"stepz": 3}})
    saved = run / "config.yaml"
    for message in (_error([f"resume={run}"]), _error(["plugin=toy2d", f"resume={run}"])):
        assert message.startswith(f"config file '{saved}': unknown key 'trainer.stepz'"), message
    with pytest.raises(ConfigError, match=f"^config file '{saved}': unknown key 'trainer.stepz'"):
        ganhub.load(run)


def test_a_file_of_many_unknown_keys_gives_a_short_line(workdir: Path) -> None:
    path = workdir / "big.yaml"
    path.write_text(
        "plugin: toy2d\ntrainer:\n" + "".join(f"  k{i}: {i}\n" for i in range(500)), "utf-8"
    )
    message = _error([], (path,))
    assert len(message) < 1000, message
    assert message.count("valid keys") == 1 and "and 497 more;" in message, message


def test_a_text_file_given_as_config_is_not_echoed(workdir: Path) -> None:
    path = workdir / "shadow"  # /etc/shadow's lines end in ':', so YAML reads them as keys
    path.write_text("".join(f"user{i}:*:20228:0:99999:7:::\n" for i in range(300)), "utf-8")
    message = _error(["plugin=toy2d"], (path,))
    assert message.startswith(f"config file '{path}': unknown keys 'user0:"), message
    assert len(message) < 1000 and "and 297 more;" in message, message


def test_many_problems_are_counted_not_listed() -> None:
    items = [f"trainer.{key}=-1" for key in ("steps", "batch_size", "log_every", "sample_every")]
    message = _error(["plugin=toy2d", *items, "seed=-1", "optim.G.lr=-1"])
    assert message.endswith("; ... and 2 more problems"), message


# -- 5: duplicate keys in YAML ----------------------------------------------------------------


def test_a_duplicate_key_in_a_config_file_is_refused_with_its_lines(workdir: Path) -> None:
    path = workdir / "dup.yaml"
    path.write_text("plugin: toy2d\ntrainer: {steps: 3}\ntrainer: {batch_size: 4}\n", "utf-8")
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    assert str(info.value) == (
        f"config file '{path}' gives the key 'trainer' twice (lines 2 and 3); YAML keys must "
        "be unique: merge the two into one"
    )
    path.write_text("plugin: toy2d\ntrainer:\n  steps: 3\n  steps: 4\n", "utf-8")
    assert "the key 'trainer.steps' twice (lines 3 and 4)" in _error([], (path,))


def test_a_duplicate_key_in_a_runs_config_or_a_value_is_refused(workdir: Path) -> None:
    run = _run_dir(workdir / "run", {"trainer": {"steps": 3}})
    with (run / "config.yaml").open("a", encoding="utf-8") as f:
        f.write("seed: 1\n")
    with pytest.raises(ConfigError, match="gives the key 'seed' twice"):
        read_saved(run)
    message = _error(["plugin=toy2d", "trick.ema={decay: 0.9, decay: 0.8}"])
    assert message.startswith("trick.ema={decay: 0.9, decay: 0.8}: names the key 'decay' twice")


# -- 6: numbers float32 or int64 cannot hold --------------------------------------------------


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("optim.G.lr=1e-50", "optim.G.lr=1e-50: 1e-50 is too small for float32 and would become 0"),
        ("optim.D.betas=[1e-45,0.9]", "optim.D.betas=[1e-45,0.9]: (1e-45, 0.9) is too small"),
        ("trainer.steps=99999999999999999999", "trainer.steps=99999999999999999999: "
         "99999999999999999999 is out of int64's range (|x| < 9.2e18)"),
    ],
)  # fmt: skip
def test_numbers_that_do_not_fit_are_refused(item: str, expected: str) -> None:
    assert _error(["plugin=toy2d", item]).startswith(expected)


def test_zero_and_the_smallest_normal_float32_still_fit() -> None:
    config = resolve(["plugin=toy2d", "optim.G.weight_decay=0", "optim.G.eps=1.2e-38"])
    assert config.optim.G.eps == 1.2e-38


def test_usage_errors_of_files_exit_2(cli, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    path = workdir / "dup.yaml"
    path.write_text("plugin: toy2d\nseed: 1\nseed: 2\n", "utf-8")
    line = _one_line(*cli("config", "--config", str(path))[::2])
    assert "gives the key 'seed' twice (lines 2 and 3)" in line


def test_a_run_directory_that_does_not_exist_is_named_so(workdir: Path, cli: Any) -> None:
    """It said "'runs/x' is not a ganhub run directory (runs/x/config.yaml is missing)"."""
    code, _, err = cli("run", "resume=runs/nosuch")
    assert code == 2 and err.strip() == "ganhub: error: 'runs/nosuch': no such run directory"
    (workdir / "empty").mkdir()
    code, _, err = cli("run", "resume=empty")
    assert code == 2 and "'empty' is not a ganhub run directory" in err


def test_a_folder_of_runs_given_as_a_run_names_the_runs_in_it(workdir: Path, cli: Any) -> None:
    """`ganhub report runs` (the folder of runs, not one) said only "no config.yaml"."""
    for name in ("b", "a", "c", "d"):
        (workdir / "runs" / name).mkdir(parents=True)
        (workdir / "runs" / name / "config.yaml").write_text("plugin: toy2d\n")
    (workdir / "runs" / "notes").mkdir()  # no run: not named
    (workdir / "runs" / "e").symlink_to(workdir / "runs" / "a")  # a link: not followed
    want = "the run directories in it: runs/a, runs/b, runs/c and 1 more (give one)"
    for command in (["report", "runs"], ["eval", "runs"], ["run", "resume=runs"]):
        code, _, err = cli(*command)
        assert code == 2 and err.count("\n") == 1 and want in err, (command, err)


def test_the_name_rule_says_ascii(cli: Any) -> None:
    """`name=été` was refused as not "letters, digits and . _ + -": é is a letter."""
    code, _, err = cli("config", "plugin=toy2d", "name=été")
    assert code == 2 and "ASCII letters, digits and . _ + -" in err, err


def test_duplicate_keys_in_a_search_space_or_a_run_folder_config_name_the_key(
    workdir: Path,
) -> None:
    """tune's search space and the report's reader said only "not valid YAML"."""
    from ganhub_tune.space import load_space

    from ganhub.errors import UsageError
    from ganhub.metrics.rundata import read_config

    (workdir / "space.yaml").write_text("params:\n  optim.G.lr: [1e-4, 1e-3]\nparams: {}\n")
    with pytest.raises(ConfigError, match=r"search=space\.yaml gives the key 'params' twice \(lines 1 and 3\)"):  # fmt: skip
        load_space("space.yaml")
    (workdir / "run").mkdir()
    (workdir / "run" / "config.yaml").write_text("trainer:\n  steps: 3\n  steps: 4\n")
    with pytest.raises(UsageError, match=r"config\.yaml gives the key 'trainer\.steps' twice"):
        read_config(workdir / "run")


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["data=digits", "data.path=mine"],
         "data.path='mine' is only read with data=folder or a torchvision set, and data=digits"),
        (["data=shapes", "data.labels=labels.csv"],
         "data.labels='labels.csv' is only read with data=folder, and data=shapes"),
    ],
)  # fmt: skip
def test_a_path_beside_embedded_data_is_refused(
    items: list[str], expected: str, tmp_path: Path
) -> None:
    """dcgan trained on the embedded set and ignored the folder without a word."""
    with pytest.raises(ConfigError, match=re.escape(expected)):
        resolve(["plugin=dcgan", *items])
    # data.path alone still means folder data, and a torchvision root takes it
    from PIL import Image

    folder = tmp_path / "mine"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(folder / "a.png")
    assert resolve(["plugin=dcgan", f"data.path={folder}"]).data.source == "folder"  # type: ignore[attr-defined]
    assert resolve(["plugin=dcgan", "data=mnist", f"data.path={folder}"]).data.path == folder  # type: ignore[attr-defined]


def test_a_shard_gives_its_channels(tmp_path: Path) -> None:
    """A grey shard (converted with data.channels=1) was refused until data.channels=1 was
    given again: its manifest says it."""
    import torch

    from ganhub.data.shards import write_shard

    shard = tmp_path / "grey.safetensors"
    write_shard(shard, torch.zeros(4, 1, 8, 8), {"plugin": "dcgan"})
    assert resolve(["plugin=dcgan", f"data.path={shard}"]).data.channels == 1  # type: ignore[attr-defined]
    with pytest.raises(
        ConfigError, match=r"the shard holds 1-channel images; set data\.channels=1"
    ):
        resolve(["plugin=dcgan", f"data.path={shard}", "data.channels=3"])


# -- options of a logger that does not exist, and options given as the list of names --------


@pytest.mark.parametrize("loggers", [[], ["loggers=[jsonl,mlflow]"]])
def test_a_misspelt_loggers_options_name_the_logger_meant(loggers: list[str]) -> None:
    """It said "unknown key 'logger.mlfow'; valid keys under 'logger': none" when no enabled
    logger had options."""
    message = _error(["plugin=toy2d", *loggers, "logger.mlfow.experiment=x"])
    assert message == (
        "logger.mlfow: no logger is named 'mlfow' (did you mean 'mlflow'?); loggers with "
        "options: mlflow, wandb"
    )


@pytest.mark.parametrize(("typed", "fix"), [("logger=foo", "loggers=[foo]"),
                                            ("trick=ema", "tricks=[ema]")])  # fmt: skip
def test_options_given_as_names_suggest_a_list_the_config_takes(typed: str, fix: str) -> None:
    """`logger=foo` suggested `loggers=foo`, which is refused in turn."""
    assert _error(["plugin=toy2d", typed]).endswith(f" write {fix}")


@pytest.mark.parametrize(("typed", "message"), [
    ("tricks=[ema,ema]", "tricks=[ema,ema]: trick listed twice: ema"),
    ("loggers=[jsonl,jsonl]", "loggers=[jsonl,jsonl]: logger listed twice: jsonl"),
    ("trick=[ema,r1]", "trick=[ema,r1]: 'trick' holds per-trick options"),
])  # fmt: skip
def test_lists_are_shown_as_typed_and_a_logger_twice_is_refused(typed: str, message: str) -> None:
    """A list showed as Python's repr (`tricks=['ema', 'ema']`); a logger listed twice was kept,
    writing every record twice."""
    assert _error(["plugin=toy2d", typed]).startswith(message)
