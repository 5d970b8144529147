"""Docs stay honest: every hook, loss, trick and command is documented."""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest

from ganhub import hookspecs
from ganhub.errors import GanhubError
from ganhub.plugins import Hub, get_hub

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = [DOCS.parent / "README.md", *sorted(DOCS.rglob("*.md"))]


def test_every_hook_has_a_section_in_the_reference() -> None:
    text = (DOCS / "hooks.md").read_text()
    specs = [name for name, f in vars(hookspecs).items() if hasattr(f, "ganhub_spec")]
    missing = [name for name in specs if f"### `{name}`" not in text]
    assert not missing, f"docs/hooks.md lacks sections for: {missing}"


def test_every_module_the_plugin_guide_imports_has_a_reference_page() -> None:
    """The guide and the scaffold's templates are the plugin contract in use: each ganhub
    module they import from is on the API reference page (some were not)."""
    sources = [DOCS / name for name in ("plugins.md", "hooks.md", "architecture.md", "tricks.md")]
    sources += sorted((DOCS.parent / "ganhub" / "templates").rglob("*.j2"))
    imported = {
        module
        for path in sources
        for module in re.findall(r"from (ganhub(?:\.\w+)*) import", path.read_text())
    }
    index = (DOCS / "reference" / "index.md").read_text()
    missing = sorted(m for m in imported if f"[`{m}`]" not in index)
    assert not missing, f"docs/reference/index.md lacks: {missing}"


def test_every_builtin_loss_and_trick_is_documented() -> None:
    hub = get_hub()
    text = (DOCS / "tricks.md").read_text()
    for entry in list(hub.tricks) + list(hub.losses):
        if entry.plugin.startswith("ganhub."):
            assert f"`{entry.name}`" in text, f"docs/tricks.md does not describe {entry.name}"


def test_the_tricks_page_says_where_writing_a_trick_is_explained() -> None:
    """tricks.md points to the tutorial's trick sections (`mkdocs build --strict` checks that
    the anchors exist)."""
    text = (DOCS / "tricks.md").read_text()
    assert "(plugins.md#5-a-trick-and-how-it-logs-a-scalar)" in text
    assert "(plugins.md#6-a-penalty-trick)" in text


def test_every_builtin_command_is_in_the_cli_page() -> None:
    text = (DOCS / "cli.md").read_text()
    for command in ("run", "config", "plugins", "list", "sample", "eval", "report", "features"):
        assert f"ganhub {command}" in text


def _shipped(command: Any) -> bool:
    """Whether a command comes from ganhub's own packages (pyproject's package-dir), not from
    a third-party plugin installed beside it (its docs are its own)."""
    import tomllib

    project = tomllib.loads((DOCS.parent / "pyproject.toml").read_text())
    roots = set(project["tool"]["setuptools"]["package-dir"])
    verbs = getattr(command, "commands", {}).values()
    callbacks = [c for c in (command.callback, *(v.callback for v in verbs)) if c is not None]
    return {c.__module__.split(".")[0] for c in callbacks} <= roots


def test_every_registered_command_is_in_the_cli_page() -> None:
    from ganhub.cli import build_cli

    text = (DOCS / "cli.md").read_text()
    for name, command in build_cli().commands.items():
        if not _shipped(command):
            continue
        assert f"`ganhub {name}" in text, f"docs/cli.md does not describe `ganhub {name}`"
        for verb in getattr(command, "commands", {}):  # a domain's group: every verb too
            if name != "features":  # features train|list are described in prose
                assert f"`ganhub {name} {verb}" in text, f"docs/cli.md lacks `ganhub {name} {verb}`"


def _blocks(text: str, language: str) -> list[str]:
    """The fenced code blocks of one language in a Markdown text."""
    parts = text.split("```" + language + "\n")[1:]
    return [part.split("```", 1)[0] for part in parts]


def _fenced(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order; the language is "" when unnamed."""
    blocks, language, body = [], None, []  # type: ignore[var-annotated]
    for line in text.splitlines():
        if line.startswith("```"):
            if language is None:
                language, body = line[3:].split(" ")[0], []
            else:
                blocks.append((language, "\n".join(body)))
                language = None
        elif language is not None:
            body.append(line)
    return blocks


def _command_lines(prefix: str = "ganhub ") -> list[tuple[str, str]]:
    """(page, line) for every line of the bash blocks of README and docs/ that starts with
    `prefix`, continuation backslashes joined and trailing comments dropped."""
    found = []
    for page in PAGES:
        for language, body in _fenced(page.read_text()):
            if language != "bash":
                continue
            for line in body.replace("\\\n", " ").splitlines():
                line = line.split(" #")[0].strip()
                if line.startswith(prefix):
                    found.append((page.name, line))
    return found


def _run_lines() -> list[tuple[str, str]]:
    """(page, line) for every `ganhub run` line of the bash blocks of README and docs/."""
    return _command_lines("ganhub run ")


# lines that name what only the reader has (their data, a run directory, their config file),
# placeholders, and the tutorial's own plugin (tests/test_scaffold.py builds and runs it)
USER_SPECIFIC = re.compile(
    r"data\.path=|resume=|config=|--config|\.\.\.|=(?:NAME|DIR)\b|plugin=spiral|spiral_swd"
)


def test_every_run_line_in_the_docs_is_a_valid_config() -> None:
    """Every `ganhub run` line of README and docs/ resolves as written (keys, values, tricks
    that suit the loss), except those that need the reader's own files."""
    from ganhub.config.resolve import resolve

    lines = [(page, line) for page, line in _run_lines() if "--help" not in line]
    checked = [(page, line) for page, line in lines if not USER_SPECIFIC.search(line)]
    assert len(checked) > 40, "the extraction found too few lines: is the fence format changed?"
    bad = []
    for page, line in checked:
        try:
            resolve(shlex.split(line)[2:])
        except GanhubError as exc:
            bad.append(f"{page}: {line}\n    {exc}")
    assert not bad, "doc lines ganhub refuses:\n" + "\n".join(bad)


def test_every_run_help_line_in_the_docs_prints_help(cli) -> None:  # type: ignore[no-untyped-def]
    """`ganhub run plugin=X [preset=Y] --help` as the docs show it: exit 0, the domain's
    usage line and its keys with their defaults."""
    lines = {line for _, line in _run_lines() if line.endswith("--help")}
    assert lines
    for line in sorted(lines):
        args = shlex.split(line)[1:]
        code, out, err = cli(*args)
        assert code == 0, f"{line}: exit {code}\n{err}"
        assert out.startswith(f"ganhub run {args[1]} [key=value ...]") and "trainer" in out, line


def _only_check_overrides(*_: Any, overrides: tuple[str, ...] = (), **__: Any) -> None:
    """A command body that only checks its key=value items, wherever click left them."""
    from ganhub.config.overrides import parse_override

    for item in (*overrides, *click.get_current_context().args):
        parse_override(item)


def _parse_only(command: click.Command, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `command` and every command under it parse its arguments and do nothing else,
    until the test ends (plugins' command objects are shared by every `build_cli`)."""
    monkeypatch.setattr(command, "callback", _only_check_overrides)
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None
            _parse_only(sub, monkeypatch)


def test_every_command_line_in_the_docs_and_the_help_parses(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Each `ganhub VERB ...` line of the docs' bash blocks (run lines have their own test) and
    each example in `ganhub --help` names a command that exists with options it takes. Paths
    are not looked up: the docs name the reader's run directories and files."""
    from ganhub.cli import build_cli

    cli = build_cli()
    _parse_only(cli, monkeypatch)
    monkeypatch.setattr(click.Path, "convert", lambda self, value, param, ctx: value)
    examples = [("ganhub --help", line.strip().split("  ")[0])
                for line in (cli.help or "").splitlines() if line.strip().startswith("ganhub ")]  # fmt: skip
    lines = [(page, line) for page, line in _command_lines() if not line.startswith("ganhub run ")]
    # the plugin tutorial's own command: tests/test_scaffold.py installs the plugin and runs it
    lines = [(page, line) for page, line in lines if not line.startswith("ganhub spiral ")]
    assert len(lines) > 40 and len(examples) >= 4, "the extraction found too few lines"
    bad = []
    for page, line in lines + examples:
        args = shlex.split(line)[1:]
        if args[0] == "run":  # `ganhub run plugin=X --help` exits before parsing the rest
            continue
        try:
            cli.main(args, prog_name="ganhub", standalone_mode=False)
        except click.UsageError as exc:
            bad.append(f"{page}: {line}\n    {exc.format_message()}")
        except GanhubError as exc:
            bad.append(f"{page}: {line}\n    {exc}")
    assert not bad, "doc lines the CLI refuses:\n" + "\n".join(bad)


def _example_files() -> dict[str, Callable[[Path], Path]]:
    """The files the docs' `ganhub data check FILE` transcripts were printed for, by name: the
    same builders the data-check tests use."""
    from .plugins.test_stylegan_data import _problem_set
    from .plugins.test_textgan_data import _lines_fixture

    return {"photos": _problem_set, "lines.txt": _lines_fixture}


# The run directories the docs' `ganhub eval RUN` transcripts were printed for, by path, and
# the `ganhub run` line that makes each (the page shows it too).
EXAMPLE_RUNS = {"runs/smoke": "ganhub run plugin=dcgan preset=tiny trainer.steps=30 name=smoke"}


def _transcripts() -> list[tuple[str, str, str]]:
    """(page, command, printed text) of every console transcript (a block whose first line is
    `$ ganhub ...`) whose command takes no file or run directory, or one of `_example_files`,
    or evaluates one of `EXAMPLE_RUNS`."""
    found = []
    examples = set(_example_files())
    for page in PAGES:
        for _, body in _fenced(page.read_text()):
            if not body.startswith("$ ganhub "):
                continue
            # one block may hold several commands, each followed by what it printed
            for chunk in ("\n" + body).split("\n$ ")[1:]:
                command, _, printed = chunk.partition("\n")
                args = shlex.split(command)[1:]
                positional = [a for a in args if "=" not in a and not a.startswith("-")]
                example = positional[:2] == ["data", "check"] and positional[2:3] in (
                    [name] for name in examples
                )
                evaluated = positional[:1] == ["eval"] and positional[1:2] in (
                    [run] for run in EXAMPLE_RUNS
                )
                if positional in (["data", "check"], ["run"]) or example or evaluated:
                    found.append((page.name, command, printed.rstrip("\n")))
    return found


@pytest.mark.slow
def test_console_transcripts_in_the_docs_are_what_ganhub_prints(cli, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    """README's error example, the `ganhub data check` reports of the embedded data and those
    of the example files (made here by the data tests' builders) are printed, word for word,
    by the current ganhub (stdout, then stderr)."""
    transcripts = _transcripts()
    pages = {page for page, _, _ in transcripts}
    assert {"README.md", "cyclegan.md", "evaluation.md", "medgan.md", "stylegan.md",
            "textgan.md"} <= pages  # fmt: skip
    for name, build in _example_files().items():
        build(workdir / name)
    run_lines = {line for _, line in _run_lines()}
    for run_dir, line in EXAMPLE_RUNS.items():
        assert line in run_lines, f"no page shows how {run_dir} is made: `{line}`"
        code, _, err = cli(*shlex.split(line)[1:])
        assert code == 0, err
    for page, command, printed in transcripts:
        args = shlex.split(command)[1:]
        _, out, err = cli(*args)
        # eval's per-metric progress (with timings) goes to stderr; the docs show its table
        text = out if args[0] == "eval" else out + err
        got = "\n".join(line.rstrip() for line in text.rstrip("\n").splitlines())
        assert _same_transcript(got, printed), f"{page}: `{command}` now prints:\n{got}"


NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


# The local digits classifier is trained on the machine that first scores with it, and another
# CPU's rounding gives another classifier: its confidence on a collapsed generator's blob, an
# image no digit resembles, was 0.40 on one CPU and 0.52 on another, and the spread of KID over
# subsets 139 +- 17 and 144 +- 21 (fd_digits and kd_digits 0.5 % apart). Such a line is held
# to half its printed value.
CPU_TRAINED = ("digit_confidence", "kd_digits_std")


def _same_transcript(got: str, printed: str) -> bool:
    """The same text, integers included; decimals (metric values) within 2 % or 1e-3, the
    difference another CPU's floating-point kernels make after a short training run. The 2 %
    are of the line's first number: a table row's std over seeds is a difference of nearly
    equal scores, which such rounding moves by 2 % of the mean, not of the std (kd_digits
    2055.68 +- 14.25 on one CPU, 2055.86 +- 11.13 on another)."""
    if NUMBER.split(got) != NUMBER.split(printed):
        return False
    for line_got, line_printed in zip(got.splitlines(), printed.splitlines(), strict=True):
        pairs = list(zip(NUMBER.findall(line_got), NUMBER.findall(line_printed), strict=True))
        scale = max((abs(float(b)) for _, b in pairs[:1]), default=0.0)
        share = 0.5 if line_got.split()[:1] and line_got.split()[0] in CPU_TRAINED else 0.02
        for a, b in pairs:
            if a == b:
                continue
            if not any(c in a + b for c in ".e"):
                return False
            if abs(float(a) - float(b)) > max(share * max(scale, abs(float(b))), 1e-3):
                return False
    return True


def test_conditional_page_runs_as_written(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Its `ganhub run` lines resolve, and its Python snippets run (in a scratch folder)."""
    import shlex

    from ganhub.config.resolve import resolve

    text = (DOCS / "conditional.md").read_text()
    runs = [line for block in _blocks(text, "bash") for line in block.splitlines()
            if line.startswith("ganhub run ")]  # fmt: skip
    assert runs
    for line in runs:
        assert resolve(shlex.split(line.split("#")[0])[2:]).model.conditional  # type: ignore[attr-defined]
    monkeypatch.chdir(tmp_path)
    for block in _blocks(text, "python"):
        exec(
            compile(
                block.replace(
                    "trainer__steps=100",
                    "trainer__steps=4, trainer__progress=False, eval__metrics=[]",
                ),
                "conditional.md",
                "exec",
            ),
            {},
        )
    assert (tmp_path / "out").is_dir()


def test_user_facing_text_speaks_of_ganhub_not_of_how_it_was_made() -> None:
    """Docs, README, help texts and messages never cite the project's own notes ("the seed's
    two-step rule", "the seed's defaults table") or its issue numbers."""
    import re

    root = DOCS.parent
    internal = re.compile(
        r"\bthe seed's\b|\bthe seed (?:article|text|digest)\b|seed[- ]digest|\bissue #?\d+\b", re.I
    )
    files = [root / "README.md", *DOCS.rglob("*.md"), *(root / "ganhub").rglob("*.py"),
             *(root / "plugins").rglob("*.py"), *(root / "ganhub").rglob("*.j2")]  # fmt: skip
    found = [
        f"{path.relative_to(root)}:{n}: {line.strip()[:80]}"
        for path in files
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if internal.search(line)
    ]
    assert not found, "internal wording in user-facing text:\n" + "\n".join(found)


@pytest.fixture
def tutorial_hub(tmp_path: Path) -> Iterator[Hub]:
    """The package docs/plugins.md builds, imported from a scratch folder, in a hub of its own."""
    from .test_scaffold import tutorial_files, write_tree

    root = write_tree(tmp_path / "ganhub-spiral", tutorial_files())
    sys.path.insert(0, str(root))
    try:
        import ganhub_spiral

        yield Hub.discover(extra=(("spiral", ganhub_spiral),))
    finally:
        sys.path.remove(str(root))
        for module in [m for m in sys.modules if m.split(".")[0] == "ganhub_spiral"]:
            del sys.modules[module]


def test_the_tutorial_weight_clip_is_the_constraint_wgan_asks_for(tutorial_hub: Hub) -> None:
    """The tutorial's `loss=wasserstein tricks=[spiral_clip]` run is not told to add gp or
    spectral_norm (which the clip trick excludes): clipping bounds D, and says so."""
    from ganhub.config.resolve import resolve
    from ganhub.tricks import build_tricks, trick_warnings

    (line,) = [line for page, line in _run_lines()
               if page == "plugins.md" and "loss=wasserstein" in line]  # fmt: skip
    config = resolve(shlex.split(line)[2:], hub=tutorial_hub)
    tricks = build_tricks(config, {name: tutorial_hub.tricks.get(name) for name in config.tricks})
    assert trick_warnings(tutorial_hub.losses.get(config.loss), tricks) == []


def test_the_tutorial_logger_keeps_no_line_twice_after_a_resume(
    tutorial_hub: Hub, tmp_path: Path
) -> None:
    """A resumed run logs again the steps after its checkpoint: the tutorial's appending
    logger drops their lines in `resumed_at`, a line a crash cut short too."""
    from ganhub.config.resolve import resolve

    config = resolve(["plugin=spiral", "loggers=[spiral_text]"], hub=tutorial_hub)
    text_logger = tutorial_hub.loggers.get("spiral_text")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    first = text_logger(run_dir, config)
    for step in (1, 2, 3):
        first.log(step, {"loss/D": 1.0})
    first.log_artifacts(3, [run_dir / "step_0000003.png"])
    first.close()
    with (run_dir / "spiral.log").open("a") as log:
        log.write("step=4 loss/")  # the crash
    resumed = text_logger(run_dir, config)  # the checkpoint was at step 2
    resumed.resumed_at(2)
    resumed.log(3, {"loss/D": 0.5})
    resumed.close()
    lines = (run_dir / "spiral.log").read_text().splitlines()
    assert lines == ["step=1 loss/D=1", "step=2 loss/D=1", "step=3 loss/D=0.5"]


def test_export_force_is_described_as_it_behaves(tmp_path: Path) -> None:
    """`--force` replaces an earlier export only: cli.md said any non-empty --out, and the
    first refusal of another folder told to pass --force, which then refused it too."""
    from ganhub.errors import UsageError
    from ganhub.export import _check_destination, export_command

    (force,) = [p for p in export_command.params if p.name == "force"]
    text = (DOCS / "cli.md").read_text()
    section = text[text.index("## `ganhub export`") :]
    (row,) = [line for line in section.splitlines() if line.startswith("| `--force`")]
    assert "earlier export" in (force.help or "") and "earlier export" in row
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.png").write_bytes(b"")
    with pytest.raises(UsageError, match="--force to replace it if it is an earlier export"):
        _check_destination(folder, tmp_path / "run", force=False)
    with pytest.raises(UsageError, match="is not a ganhub export"):
        _check_destination(folder, tmp_path / "run", force=True)


def test_the_hooks_page_snippet_runs_as_written(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (block,) = _blocks((DOCS / "hooks.md").read_text(), "python")
    exec(compile(block, "hooks.md", "exec"), {})
    printed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert [n for n in printed if n.isdigit()] == ["10", "20"]


def test_the_performance_page_commands_resolve() -> None:
    """docs/performance.md's `ganhub run` lines are valid configs with the trainer options they
    show (cuda_graphs, threads...) resolved as shown."""
    import shlex

    from ganhub.config.resolve import resolve

    text = (DOCS / "performance.md").read_text()
    runs = [line for block in _blocks(text, "bash") for line in block.splitlines()
            if line.startswith("ganhub run ")]  # fmt: skip
    assert any("trainer.cuda_graphs=true" in line for line in runs)
    for line in runs:
        args = shlex.split(line)[2:]
        trainer = resolve(args).trainer
        for key, value in (a.split("=", 1) for a in args if a.startswith("trainer.")):
            assert str(getattr(trainer, key.split(".")[1])).lower() == value.lower(), line
