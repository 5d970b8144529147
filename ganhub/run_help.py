"""`ganhub run plugin=NAME --help`: a domain's keys in the order a user reads them.

The domain's own sections come first (data, model and its other sections), then the loss,
optim, trainer and eval keys every domain shares, then the run's own keys (seed, device, where
it is written, loggers), then the tricks the resolved config enables with their options, and
last a one-line list of the other installed tricks with the command that shows their options.
Options of a trick or logger that is not enabled are not shown: a run refuses them until the
trick or logger is enabled, so help that listed them would name keys that cannot be set.
Every default shown is the value `ganhub config` resolves for the same command line.
"""

from __future__ import annotations

import shlex
import textwrap
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ganhub.config.schema import RunConfig
    from ganhub.domain import Domain
    from ganhub.plugins import Hub
    from ganhub.registry import Entry
    from ganhub.tricks import Trick

WIDTH = 100
# keys every domain shares that describe the run itself rather than what it trains
_RUN_KEYS = (
    "preset", "seed", "deterministic", "device", "precision", "out_dir", "name", "resume",
    "init_from", "loggers", "logger",
)  # fmt: skip
_SHARED = ("loss", "optim", "trainer", "eval")


def plugin_help(items: list[str], files: tuple[str, ...], plugin: str, given: str) -> str:
    """The help text of `ganhub run ITEMS --help` for domain `plugin`; `given` is how the
    usage line names the run (`plugin=NAME` or `resume=RUN_DIR`). A command line that does
    not resolve raises the one-line error `ganhub config` gives for it."""
    from ganhub.config.resolve import config_class, describe_keys, resolve
    from ganhub.config.schema import RunConfig
    from ganhub.errors import one_line
    from ganhub.plugins import get_hub

    hub = get_hub()
    domain = hub.require_domain(plugin)
    # training=False: what only training needs (the data folder exists...) is left unchecked,
    # so help for a run whose data is not there yet still shows its keys
    config = resolve(items, files, training=False)
    tricks, loggers = list(config.tricks), list(config.loggers)
    cls = config_class(domain.config_class, hub, tricks, loggers)
    resolved = _flat(config.model_dump())
    rows = {
        key: (typ, resolved.get(key, default), desc)
        for key, typ, default, desc in describe_keys(cls)
        if key != "plugin"
    }
    own = [name for name in cls.model_fields if name not in RunConfig.model_fields]
    width = max(len(key) for key in rows)

    def block(sections: list[str]) -> list[str]:
        lines: list[str] = []
        for section in sections:
            keys = [k for k in rows if k == section or k.startswith(section + ".")]
            lines += _rows(keys, rows, width)
        return lines

    loss_row = rows["loss"]
    rows["loss"] = (*loss_row[:2], f"{loss_row[2]}; installed: {', '.join(hub.losses.names())}")
    lines = [f"ganhub run {one_line(given, 200)} [key=value ...]", ""]
    lines += [textwrap.fill(domain.description, WIDTH), ""]
    if domain.presets:
        lines += [f"presets: {', '.join(domain.presets)} (preset=NAME)", ""]
    lines += [
        *_wrapped(
            "Each key as KEY  TYPE = DEFAULT, then what it does; the defaults are what this "
            "command line resolves to (as ganhub config prints it)."
        ),
        "",
        f"{plugin} keys:",
        *block(own),
        "",
        "loss, optimizers, training, evaluation:",
        *block(list(_SHARED)),
        "",
        "the run: seed, device, precision, where it is written, loggers:",
        *block(list(_RUN_KEYS)),
    ]
    unused = [e.name for e in hub.loggers if e.name not in loggers and e.obj.Config.model_fields]
    if unused:
        enable = f"loggers=[{','.join([*loggers, 'NAME'])}]"
        lines += _wrapped(f"options of {', '.join(unused)}: shown once enabled ({enable})", 2)
    enabled = f"enabled tricks (tricks=[{','.join(tricks)}]) and their options:"
    lines += ["", enabled if tricks else "tricks (none enabled):"]
    lines += block(["tricks", *(f"trick.{name}" for name in tricks)])
    return "\n".join([*lines, *_other_tricks(hub, domain, config, items, files, given)])


def _other_tricks(
    hub: Hub,
    domain: Domain,
    config: RunConfig,
    items: list[str],
    files: tuple[str, ...],
    given: str,
) -> list[str]:
    """The installed tricks the run does not enable: name and description, with what refuses
    one as the run stands (`_refusal`: its own problems(), the engine's and the domain's
    checks); those for another kind of data are only named."""
    modality = domain.modality_for(config)
    usable: list[Entry[type[Trick]]] = []
    elsewhere: list[Entry[type[Trick]]] = []
    for entry in hub.tricks:
        if entry.name in config.tricks:
            continue
        kinds = entry.obj.modalities
        (usable if kinds is None or modality in kinds else elsewhere).append(entry)
    if not usable and not elsewhere:
        return []
    listed = ",".join([*config.tricks, "NAME"])
    command = f"{_command_for(items, files, given)} tricks=[{listed}] --help"
    lines = ["", "other tricks; enable one to see its options:", f"  {command}"]
    width = max(len(e.name) for e in usable) if usable else 0
    indent = " " * (width + 4)
    try:  # what the domain says of the run as it stands (a data folder not there yet...)
        checked: set[str] | None = set(map(str, domain.check(config)))
    except Exception:  # its broken check is reported when the run starts
        checked = None
    for entry in usable:
        first = f"  {entry.name:<{width}}  "
        lines += textwrap.wrap(
            entry.description, WIDTH, initial_indent=first, subsequent_indent=indent
        )
        refused = _refusal(entry.obj, config, domain, items, files, checked)
        if refused:
            lines += textwrap.wrap(
                f"refused as this run stands: {refused}",
                WIDTH,
                initial_indent=indent,
                subsequent_indent=indent,
            )
    if elsewhere:
        names = ", ".join(e.name for e in elsewhere)
        lines += _wrapped(f"for other data than {modality} (ganhub list tricks): {names}", 2)
    return lines


def _refusal(
    trick: type[Trick],
    config: RunConfig,
    domain: Domain,
    items: list[str],
    files: tuple[str, ...],
    checked: set[str] | None,
) -> str:
    """The first reason a run of this command line with the trick enabled is refused, or '':
    the checks `ganhub config` makes of it (the trick's own problems(), the engine's: a task
    for a trick that relates tasks, targets for one that moves them, a class-conditional run
    for one that packs samples into one D input; the options' validators), then what the
    domain's check() says of it and not of the run as it stands (`checked`). Nothing is built
    and no step runs."""
    from ganhub.config.resolve import resolve
    from ganhub.errors import GanhubError, one_line

    enabled = f"tricks=[{','.join([*config.tricks, trick.name])}]"
    try:
        with_trick = resolve([*items, enabled], files, training=False)
        found = _new_domain_problems(domain, with_trick, checked)
    except GanhubError as exc:  # what `ganhub run` with the trick says
        return one_line(str(exc), 300)
    except Exception:  # a plugin's broken check: reported when its trick is enabled
        return ""
    return one_line(found, 300)


def _new_domain_problems(domain: Domain, config: RunConfig, checked: set[str] | None) -> str:
    """The first problem the domain's check() finds with the trick (`config`) that it does not
    find without it (`checked`; None: its check failed there, so it says nothing here)."""
    if checked is None:
        return ""
    return next((str(p) for p in domain.check(config) if str(p) not in checked), "")


def _wrapped(text: str, indent: int = 0) -> list[str]:
    pad = " " * indent
    return textwrap.wrap(text, WIDTH, initial_indent=pad, subsequent_indent=pad + "  ")


def _rows(keys: list[str], rows: dict[str, tuple[str, str, str]], width: int) -> list[str]:
    indent = " " * (width + 6)  # descriptions wrap under themselves, within WIDTH columns
    lines = []
    for key in keys:
        typ, default, desc = rows[key]
        lines.append(f"  {key:<{width}}  {typ} = {default}")
        if desc:
            lines.append(
                textwrap.fill(desc, WIDTH, initial_indent=indent, subsequent_indent=indent)
            )
    return lines


def _command_for(items: list[str], files: tuple[str, ...], given: str) -> str:
    """`ganhub run` with the user's items but their tricks=, to show another trick's options."""
    from ganhub.errors import one_line

    kept = [i for i in items if not i.startswith(("tricks=", "trick."))]
    if given.startswith("resume=") and not any(i.startswith("resume=") for i in kept):
        kept.insert(0, given)
    words = [*(f"--config {shlex.quote(f)}" for f in files), *map(shlex.quote, kept)]
    return one_line(" ".join(["ganhub run", *words]), 200)


def _flat(value: Any, prefix: str = "") -> dict[str, str]:
    """Each leaf key of a dumped config -> its value as --help shows it."""
    from ganhub.config.resolve import default_text

    if not isinstance(value, dict):
        return {prefix.rstrip("."): default_text(value)}
    flat: dict[str, str] = {}
    for key, sub in value.items():
        flat.update(_flat(sub, f"{prefix}{key}."))
    return flat


__all__ = ["plugin_help"]
