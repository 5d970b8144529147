"""The command line's old forms and other tools' option names: a deprecated `n=0` is refused
in the line `--n 0` gets, by every command that takes such forms, and `--class 3` (NVIDIA's
generate.py) is pointed at the command's own --label, not at the option spelled nearest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ganhub.clikit import split_overrides

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (["n=0"], ["--n", "0"]),
        (["n=abc"], ["--n", "abc"]),
        (["seed=-1"], ["--seed", "-1"]),
        (["seed=1", "n=0"], ["--seed", "1", "--n", "0"]),  # no notice for the good one first
    ],
)
def test_textgan_generate_checks_an_old_form_as_its_option(
    cli: Cli, workdir: Path, old: list[str], new: list[str]
) -> None:
    """`textgan generate RUN n=0` printed the deprecation notice, then `n=0: a whole number
    of at least 1 is needed` (n=abc: "Invalid value: n=abc: not a valid n")."""
    said = cli("textgan", "generate", ".", *old)
    assert said == cli("textgan", "generate", ".", *new)
    code, out, err = said
    assert code == 2 and not out and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"ganhub: error: {' '.join(new[-2:])}: "), err


def test_an_old_form_and_its_option_are_refused_through_the_deprecated_name(
    cli: Cli, workdir: Path
) -> None:
    """`ganhub generate RUN n=3 --n 4` (the old command name) kept one of them silently."""
    code, _, err = cli("generate", ".", "n=3", "--n", "4")
    assert code == 2 and "'n=3' and --n both given; keep --n" in err, err


def test_a_command_of_a_plugin_gets_its_options_checks_for_old_forms() -> None:
    """The shared helper runs the option's type and callback, before any notice."""

    def even(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
        if value is not None and value % 2:
            raise click.BadParameter("an even number is needed", ctx, param)
        return value

    @click.command()
    @click.option("--k", type=click.IntRange(0, 9), default=None, callback=even)
    @click.argument("items", nargs=-1)
    def demo(k: int | None, items: tuple[str, ...]) -> None:
        rest, old = split_overrides(items, ("k",), "demo")
        click.echo(f"{rest} {old}")

    runner = CliRunner()
    good = runner.invoke(demo, ["a=1", "k=4"])
    assert good.exit_code == 0 and "['a=1'] {'k': 4}" in good.stdout
    assert "'k=4' is deprecated for demo; write --k 4" in good.stderr
    for value, why in (("3", "an even number is needed"), ("12", "12 is not in the range")):
        bad = runner.invoke(demo, [f"k={value}"])
        assert bad.exit_code == 2 and why in bad.stderr and "deprecated" not in bad.stderr


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["stylegan", "mix", ".", "--class", "3"],
         "No such option '--class'; ganhub stylegan mix calls it --label (--label 3)"),
        (["stylegan", "explore", ".", "--trunc=0.5"],
         "No such option '--trunc'; ganhub stylegan explore calls it --psi (--psi 0.5)"),
        (["sample", ".", "--outdir", "out"],
         "No such option '--outdir'; ganhub sample calls it --out (--out out)"),
        (["sample", ".", "--seeds", "0-35"],
         "No such option '--seeds'; ganhub sample takes one seed per call, as --seed "
         "(--seed N)"),
        (["textgan", "generate", ".", "--seeds", "7"],
         "No such option '--seeds'; ganhub textgan generate takes one seed per call, as "
         "--seed (--seed 7)"),
    ],
)  # fmt: skip
def test_an_option_of_another_tool_is_pointed_at_ganhubs_name(
    cli: Cli, workdir: Path, args: list[str], line: str
) -> None:
    """`--class 3` said "Did you mean '--cols'?", `--trunc` "Did you mean '--n'?"."""
    code, out, err = cli(*args)
    assert code == 2 and not out and err.strip() == f"ganhub: error: {line}", err


def test_only_an_option_the_command_has_is_suggested(cli: Cli, workdir: Path) -> None:
    """`stylegan check` and `textgan generate` have no --label; a --seed taken several times
    is no answer to `--seeds` either."""
    for args in (
        ["stylegan", "check", ".", "--class", "3"],
        ["textgan", "generate", ".", "--class"],
    ):
        code, _, err = cli(*args)
        assert code == 2 and "No such option '--class'" in err and "--label" not in err, err

    from ganhub.clikit import alias_line

    many = click.Command("many", params=[click.Option(["--seed"], multiple=True, type=int)])
    assert alias_line("--seeds", many, "many", ["--seeds", "1"]) == ""
    one = click.Command("one", params=[click.Option(["--seed"], type=int)])
    assert "--seed 1" in alias_line("--seeds", one, "one", ["--seeds", "1"])
