"""`ganhub new-plugin NAME`: write a plugin package that installs and passes its own tests at once.

The package, `ganhub-NAME/`, has a pyproject.toml with the `ganhub` entry point, the import
package `ganhub_NAME` with a loss, a trick and a small 2D domain that trains in seconds on a
CPU, tests that run `ganhub.testing`'s contract checks, and a README. It is rendered from the
Jinja2 templates in `ganhub/templates/plugin/` (`_package_` and `_name_` in their paths stand
for the package and the plugin name).

NAME is input: it is checked before anything is written (a lowercase Python identifier that
makes a valid distribution name, not taken by an installed plugin), and an existing folder is
never overwritten. This module imports click only, so `ganhub --help` stays fast.
"""

from __future__ import annotations

import ast
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ganhub.clikit import HELP
from ganhub.errors import UsageError, one_line

if TYPE_CHECKING:
    import jinja2

    from ganhub.plugins import Hub

TEMPLATES = "templates/plugin"  # inside the ganhub package
MAX_NAME = 40
_NAME = re.compile(r"[a-z](?:[a-z0-9_]*[a-z0-9])?\Z")
VALID = (
    "lowercase letters, digits and underscores, starting with a letter and not ending with an "
    f"underscore, at most {MAX_NAME} characters (e.g. 'spiral', 'my_gan')"
)


@dataclass(frozen=True)
class PluginNames:
    """Every name the generated package uses, derived from NAME."""

    name: str  # the entry point, the domain (plugin=NAME) and the prefix of what it registers
    package: str  # the import package: ganhub_NAME
    dist: str  # the distribution and its folder: ganhub-NAME
    title: str  # the prefix of its class names: NAME in CamelCase

    @property
    def registered(self) -> dict[str, str]:
        """What the generated plugin registers, by kind."""
        return {
            "domains": self.name,
            "losses": f"{self.name}_squared_hinge",
            "tricks": f"{self.name}_clip",
        }


def plugin_names(name: str) -> PluginNames:
    """The names of the package for NAME; a one-line UsageError when NAME is not valid."""
    shown = one_line(name, 60)
    if not _NAME.match(name) or len(name) > MAX_NAME:
        close = _suggest(name)
        hint = f" (did you mean '{close}'?)" if close else ""
        raise UsageError(f"plugin name '{shown}': use {VALID}{hint}")
    if name == "ganhub" or name.startswith("ganhub_"):
        bare = name.removeprefix("ganhub").lstrip("_") or "my_gan"
        raise UsageError(
            f"plugin name '{shown}': leave out the 'ganhub' prefix (ganhub new-plugin {bare} "
            f"writes ganhub-{bare})"
        )
    title = "".join(part.capitalize() for part in name.split("_"))
    return PluginNames(name, f"ganhub_{name}", f"ganhub-{name}", title)


def _suggest(name: str) -> str:
    """A valid name close to `name` ('My-GAN' -> 'my_gan'), or '' when there is none."""
    text = re.sub(r"[^a-z0-9]+", "_", name.strip().lower())
    text = re.sub(r"^[0-9_]+", "", text)[:MAX_NAME].strip("_")
    return text if _NAME.match(text) and text != name else ""


def render(names: PluginNames) -> dict[str, str]:
    """The package's files, {relative path: text}, rendered from the templates."""
    import ganhub

    env = _environment()
    values = {
        "name": names.name,
        "package": names.package,
        "dist": names.dist,
        "title": names.title,
        "ganhub_version": ganhub.__version__,
    }
    files: dict[str, str] = {}
    for template in sorted(env.list_templates(extensions=["j2"])):
        # the tokens are replaced in the template's own path, which holds no user input;
        # `dot_` names a hidden file (package-data globs skip files whose names start with .)
        parts = [
            names.package if part == "_package_" else part.replace("_name_", names.name)
            for part in template.removesuffix(".j2").split("/")
        ]
        parts[-1] = (
            "." + parts[-1].removeprefix("dot_") if parts[-1].startswith("dot_") else parts[-1]
        )
        files["/".join(parts)] = env.get_template(template).render(values)
    hidden = _shadowed(files)
    if hidden:
        raise UsageError(
            f"plugin name '{names.name}': the generated {hidden[0]} would hide a name that "
            "module imports; choose another name"
        )
    return files


def _environment() -> jinja2.Environment:
    import jinja2

    # Python and TOML, not HTML: every value is a checked identifier, so nothing needs escaping.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ganhub", TEMPLATES),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )


def _shadowed(files: dict[str, str]) -> list[str]:
    """Classes and functions a generated module defines under a name it also imports
    (NAME 'run' would make a class RunConfig next to ganhub's RunConfig)."""
    out = []
    for path, text in files.items():
        if not path.endswith(".py"):
            continue
        tree = ast.parse(text)
        imported = {
            (a.asname or a.name).split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for a in node.names
        }
        for node in tree.body:
            if isinstance(node, ast.ClassDef | ast.FunctionDef) and node.name in imported:
                out.append(f"'{node.name}' in {path}")
    return out


def check_available(names: PluginNames, hub: Hub) -> None:
    """Refuse a NAME whose entry point, domain, loss or trick an installed plugin already has."""
    if names.name in hub.plugins:
        info = hub.plugins[names.name]
        owner = "ganhub's built-in plugin" if info.dist == "ganhub" else f"'{info.dist}'"
        raise UsageError(
            f"plugin name '{names.name}' is taken by {owner}; choose another name "
            "(ganhub plugins lists the installed ones)"
        )
    command = _command_names(hub).get(names.name)
    if command is not None:  # `ganhub NAME <verb>` would replace or join it
        raise UsageError(
            f"plugin name '{names.name}' is the command 'ganhub {command}'; its own commands "
            "would clash with it, choose another name"
        )
    for kind, entry in names.registered.items():
        registry = hub.registry(kind)
        if entry in registry:
            raise UsageError(
                f"plugin name '{names.name}': {registry.singular} '{entry}' is already "
                f"registered by plugin '{registry.entry(entry).plugin}'; choose another name"
            )


def _command_names(hub: Hub) -> dict[str, str]:
    """The commands of the running `ganhub` (or of a CLI built from `hub`), by the plugin
    name each would take (`new-plugin` as `new_plugin`)."""
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root().command if ctx is not None else None
    if not isinstance(root, click.Group):
        root = click.Group("ganhub")
        hub.add_commands(root)
    return {name.replace("-", "_"): name for name in root.commands}


def write_plugin(name: str, directory: Path, hub: Hub | None = None) -> tuple[Path, list[Path]]:
    """Write `directory/ganhub-NAME/`; return it and the files written. Nothing is written
    when NAME is invalid or taken, or when the folder exists."""
    from ganhub.plugins import get_hub

    names = plugin_names(name)
    files = render(names)
    check_available(names, hub or get_hub())
    target = directory / names.dist
    try:
        target.mkdir()  # exclusive: an existing folder (or file, or link) is never touched
    except FileExistsError:
        raise UsageError(
            f"'{target}' already exists; nothing was written (choose another NAME or --dir)"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot create '{target}': {exc.strerror}") from None
    written = []
    try:
        for relative, text in files.items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)  # ours alone: it did not exist before
        raise
    return target, written


@click.command(name="new-plugin", context_settings=HELP)
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Existing folder to create ganhub-NAME/ in.",
)
def new_plugin(name: str, directory: Path) -> None:
    """Write a new plugin package: ganhub new-plugin NAME [--dir DIR].

    \b
    Creates DIR/ganhub-NAME/ (never over an existing folder):
      pyproject.toml      the `ganhub` entry point NAME = "ganhub_NAME"
      ganhub_NAME/        a domain NAME (an MLP GAN on 2D points, seconds on a CPU),
                          a loss NAME_squared_hinge and a trick NAME_clip
      tests/              ganhub.testing's contract checks on all three
      README.md
      .gitignore          runs/ (what `ganhub run` writes here), caches
    It installs (pip install -e ganhub-NAME) and passes its own tests at once.
    NAME: lowercase letters, digits and underscores, starting with a letter, not
    ending with an underscore, at most 40 characters, not taken by an installed plugin or
    command.
    """
    target, written = write_plugin(name, directory)
    names = plugin_names(name)
    registered = names.registered
    click.echo(
        f"created {target}/ with the domain '{registered['domains']}', the loss "
        f"'{registered['losses']}' and the trick '{registered['tricks']}':"
    )
    for path in written:
        click.echo(f"  {path.relative_to(target)}")
    quoted = shlex.quote(str(target))
    # a virtualenv that inherits ganhub has no `ganhub` command: the shell runs the base
    # Python's, which never sees what `pip install -e` put in the virtualenv; the install line
    # names the interpreter this ganhub runs from, which the virtualenv inherits
    from ganhub.failed_providers import other_environment, pip_install

    elsewhere = other_environment()
    click.echo("next:")
    click.echo(f"  {pip_install(quoted)}")
    click.echo(f"  python -m pytest {shlex.quote(str(target / 'tests'))}")
    click.echo(f"  {'python -m ganhub' if elsewhere else 'ganhub'} run plugin={names.name}")
    if elsewhere:
        click.echo(f"note: {elsewhere}")


__all__ = ["PluginNames", "check_available", "new_plugin", "plugin_names", "render", "write_plugin"]
