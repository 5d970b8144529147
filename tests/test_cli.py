"""Every command's --help is true, listings show the registries, run/sample/config work."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ganhub.config.resolve import resolve
from ganhub.plugins import get_hub

from .conftest import TINY_TOY


def test_top_level_help_lists_every_command(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("--help")
    assert code == 0
    for command in ("run", "config", "plugins", "list", "sample"):
        assert f"  {command} " in out


@pytest.mark.parametrize("command", ["run", "config", "plugins", "list", "sample"])
def test_each_command_help(cli, command: str) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli(command, "--help")
    assert code == 0
    assert f"Usage: ganhub {command}" in out


def test_run_help_for_a_plugin_lists_its_keys_with_type_default_and_description(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("run", "plugin=dcgan", "tricks=[ema]", "--help")  # an enabled trick's
    assert code == 0
    assert "presets: tiny, " in out and "paper" in out and "digits64" in out
    assert "model.image_size" in out and "32|64 = 32" in out
    assert "trick.ema.decay" in out and "EMA decay per step" in out
    assert (
        "data.source" in out
        and "digits|stacked_digits|shapes|folder|cifar10|mnist|fashion_mnist = digits" in out
    )


def test_list_shows_descriptions_and_plugins(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("list", "tricks")
    assert code == 0
    assert len(out.strip().splitlines()) == len(get_hub().tricks)
    assert "Gradient penalty" in out and "[ganhub.tricks.builtin]" in out
    code, out, _ = cli("list", "domains")
    assert "toy2d" in out and "[toy2d]" in out
    code, _, err = cli("list", "lossses")
    assert code == 2 and "Invalid value" in err


def test_plugins_lists_versions_sources_and_registrations(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("plugins")
    assert code == 0
    assert "toy2d  ganhub 0.1.0  [ok]" in out
    assert "domains: toy2d" in out and "metrics: mode_coverage_2d" in out
    assert "commands: adapt, config, data, export, list, new-plugin, plugins, run, sample" in out


def test_config_prints_the_resolved_yaml(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("config", "plugin=toy2d", "trainer.steps=7", "tricks=[ema]")
    assert code == 0
    data = yaml.safe_load(out)
    assert data["trainer"]["steps"] == 7 and data["tricks"] == ["ema"]
    assert list(data["trick"]) == ["ema"]  # the enabled tricks' options only: portable
    # toy2d's own ema decay (0.99) applies when ema is on; the other options stay generic
    assert data["trick"]["ema"]["decay"] == 0.99 and data["trick"]["ema"]["half_life_kimg"] is None


def test_run_then_sample(cli, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("run", *TINY_TOY, "name=r", "tricks=[ema]")
    assert code == 0, err
    (line,) = out.strip().splitlines()
    assert line.startswith("ganhub: done at step 4 (")
    assert "outputs in runs/r (samples: samples/step_0000004.png); modes=" in line
    run_dir = workdir / "runs/r"
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["tricks"] == ["ema"]
    code, out, err = cli(
        "sample", str(run_dir), "--n", "100", "--seed", "3", "--out", str(workdir / "out")
    )
    assert code == 0, err
    assert Path(out.strip()).is_file() and "sample_seed3_n100" in out
    code, out, err = cli("sample", str(run_dir), "n=10", "seed=4", f"out={workdir / 'old'}")
    assert code == 0 and "'n=10' is deprecated for ganhub sample; write --n 10" in err
    assert "sample_seed4_n10" in out and (workdir / "old").is_dir()
    code, _, err = cli("sample", str(run_dir), "count=3")
    assert code == 2 and "unknown key 'count'" in err
    # both spellings of one option: n=8 silently won over --n 4
    code, out, err = cli("sample", str(run_dir), "--n", "4", "n=8")
    assert code == 2 and "'n=8' and --n both given; keep --n" in err and not out


def _help_defaults(args: list[str]) -> dict[str, str]:
    """key -> default as `ganhub run ... --help` prints it."""
    from click.testing import CliRunner

    from ganhub.cli import build_cli

    out = CliRunner().invoke(build_cli(), ["run", *args, "--help"]).output
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] == "=":  # "  key  type = default"
            rows[parts[0]] = " ".join(parts[3:])
    return rows


@pytest.mark.parametrize("plugin", get_hub().domains.names())
def test_help_shows_what_ganhub_config_resolves(plugin: str) -> None:
    """`ganhub run plugin=X --help` shows the domain's defaults (and a preset's), not the
    generic ones: each key's shown default is the value `ganhub config` resolves."""
    from ganhub.config.resolve import default_text

    domain = get_hub().domains.get(plugin)
    presets = [[], *([f"preset={p}"] for p in list(domain.presets)[:1])]
    for extra in presets:
        args = [f"plugin={plugin}", *extra]
        shown = _help_defaults(args)
        config = resolve(args, training=False).model_dump()
        for key in (
            "trainer.steps",
            "trainer.batch_size",
            "trainer.checkpoint_every",
            "loss",
            "tricks",
        ):
            value = config
            for part in key.split("."):
                value = value[part]
            assert shown[key] == default_text(value), (args, key)


def test_a_group_without_a_command_shows_its_help_not_one_garbled_line(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("data")
    assert code == 2 and "Usage: ganhub data [OPTIONS] COMMAND" in err
    assert "\nCommands:\n" in err and "ganhub: error" not in err


def test_ganhub_help_shows_a_commands_help(cli) -> None:  # type: ignore[no-untyped-def]
    """`ganhub help data check` was "No such command 'help'"."""
    for command in ([], ["run"], ["data", "check"]):
        code, out, _ = cli("help", *command)
        assert code == 0 and out == cli(*command, "--help")[1], command
    code, _, err = cli("help", "data", "chek")
    assert code == 2 and "'ganhub data' has no command 'chek'; see 'ganhub data --help'" in err
    code, _, err = cli("help", "run", "x")
    assert code == 2 and "'ganhub run' has no commands ('x' is not one)" in err


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["config", "--confg", "x.yaml"], "No such option '--confg'. Did you mean '--config'?"),
        (["data", "check", "plugin=dcgan", "--jsn"], "No such option '--jsn'. Did you mean '--json'?"),
        # refused before click's check of the required --out it misspelt
        (["data", "convert", "plugin=dcgan", "--to", "shard", "--ot", "x"], "Did you mean '--out'?"),
        (["tune", "plugin=toy2d", "--trials", "3"], "No such option '--trials'."),
    ],
)  # fmt: skip
def test_a_mistyped_option_among_key_value_items_is_named(  # type: ignore[no-untyped-def]
    cli, args: list[str], line: str
) -> None:
    """It was taken for an override ("is not an override") or a DATA path ("does not exist")."""
    code, _, err = cli(*args)
    assert code == 2 and line in err and len(err.strip().splitlines()) == 1, err


def test_run_help_reads_config_files_and_lists_its_help_flag(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "my.yaml").write_text("plugin: toy2d\ntrainer:\n  steps: 77\n")
    code, out, _ = cli("run", "--config", str(tmp_path / "my.yaml"), "--help")
    assert code == 0 and "int = 77" in out.split("trainer.steps", 1)[1].splitlines()[0]
    for command in ("run", "config"):
        assert "-h, --help" in cli(command, "--help")[1]


def test_config_prints_what_a_run_writes_and_refuses_what_it_refuses(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "imgs").mkdir()
    from PIL import Image

    Image.new("RGB", (32, 32)).save(tmp_path / "imgs" / "a.png")
    code, out, err = cli("config", "plugin=dcgan", "data.path=imgs")
    assert code == 0, err
    assert yaml.safe_load(out)["data"]["path"] == str(tmp_path / "imgs")  # absolute, as saved
    code, _, err = cli("config", "plugin=toy2d", "trainer.keep_best=reverse_k")
    assert code == 2 and "trainer.keep_best=reverse_k: no metric reports that score (did you mean 'reverse_kl'?)" in err  # fmt: skip


def test_list_takes_a_kind_in_the_singular(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("list", "trick") == cli("list", "tricks") and cli("list", "loss")[0] == 0


def test_no_help_text_prints_a_line_wider_than_the_terminal() -> None:
    """Paragraphs click keeps as written (\\b blocks) printed unwrapped: `ganhub export --help`
    had a 170-character line, `ganhub adapt --help` a 144-character table row."""
    import click

    from ganhub.cli import build_cli

    def wide_lines(command: click.Command, path: str, parent: click.Context | None) -> list[str]:
        ctx = click.Context(command, info_name=path.split()[-1], parent=parent,
                            terminal_width=100, max_content_width=100)  # fmt: skip
        found = [
            f"{path}: {line}" for line in command.get_help(ctx).splitlines() if len(line) > 100
        ]
        for name, sub in getattr(command, "commands", {}).items():
            if not sub.hidden:
                found += wide_lines(sub, f"{path} {name}", ctx)
        return found

    assert wide_lines(build_cli(), "ganhub", None) == []


@pytest.mark.parametrize("command", [["report"], ["eval"], ["interpret", "features"]])
def test_an_option_without_its_value_points_to_its_commands_help(cli, command) -> None:  # type: ignore[no-untyped-def]
    """click raises that error without the command's context: the hint said 'ganhub --help'."""
    code, _, err = cli(*command, "runs/x", "--out")
    assert code == 2 and f"(see 'ganhub {' '.join(command)} --help')" in err, err
