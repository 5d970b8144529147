"""`ganhub data check | clean | convert`: one command for every domain's data.

The domain decides what to look at (`Domain.inspect_data`, `Domain.convert_data`): the files
of a folder, zip or NIfTI set with their own rules, or the samples of its embedded data. These
commands never change the user's files: `clean` writes a cleaned copy or a file list.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ganhub.clikit import HELP, KeyValueCommand
from ganhub.errors import one_line
from ganhub.plural import counted

if TYPE_CHECKING:
    from ganhub.config.schema import RunConfig
    from ganhub.data.inspect import DataReport
    from ganhub.domain import Domain
    from ganhub.plugins import Hub

_ARGS = {**HELP, "ignore_unknown_options": True, "allow_extra_args": True}

_SETTING = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*=")


def _is_setting(arg: str) -> bool:
    """`key=value`, unless a file or folder of that name exists (`v=2/` is DATA)."""
    return bool(_SETTING.match(arg)) and not Path(arg).exists()


def _split(args: tuple[str, ...]) -> tuple[Path | None, tuple[str, ...]]:
    """DATA (the one argument that is no key=value setting) and the key=value overrides."""
    from ganhub.errors import UsageError

    paths = [a for a in args if not _is_setting(a)]
    if "" in paths:  # Path("") is ".": the current folder would be read without being named
        raise UsageError("DATA '' is an empty path; name the folder, file or zip ('.' here)")
    if len(paths) > 1:
        raise UsageError(f"one DATA path at a time, got {len(paths)}: {one_line(', '.join(paths))}")
    if paths and not Path(paths[0]).exists():
        from ganhub.data.links import dead_link

        dead = dead_link(Path(paths[0]))
        said = f"is a {dead}" if dead else "does not exist"
        raise UsageError(f"DATA '{one_line(paths[0])}' {said}")
    return (Path(paths[0]) if paths else None), tuple(a for a in args if _is_setting(a))


def _check_target(flag: str, target: Path, data: Path | None, *, new: bool) -> None:
    """Refuse an output that is DATA or lies inside it (DATA is never changed), and, when
    `new`, one that exists (nothing is overwritten)."""
    from ganhub.errors import UsageError

    if data is not None:
        source, resolved = data.resolve(), target.resolve()
        if resolved == source or source in resolved.parents:
            raise UsageError(f"{flag} {one_line(target)} is DATA or inside it; write it elsewhere")
    if new and (target.exists() or target.is_symlink()):
        raise UsageError(
            f"{flag} {one_line(target)} exists; choose a new path (nothing is overwritten)"
        )


@click.group(name="data", context_settings=HELP)
def data_group() -> None:
    """Check, clean and convert training data (any domain: plugin=NAME)."""


def _resolve(data: Path | None, overrides: tuple[str, ...]) -> tuple[RunConfig, Domain]:
    """The config a run on `data` would use: data.path=DATA plus the user's key=value items,
    refused in one line where `ganhub run` refuses it (the domain's check included)."""
    from ganhub.config.overrides import forget_key, merge_sources, not_text, set_dotted
    from ganhub.config.resolve import naming_source, validate
    from ganhub.errors import ConfigError, UsageError, plugin_code
    from ganhub.plugins import get_hub

    sources: dict[str, str] = {}
    raw = merge_sources(list(overrides), (), sources)
    hub = get_hub()
    if not raw.get("plugin"):
        raise UsageError(
            "which domain will train on this data? add plugin=NAME "
            f"(available: {', '.join(hub.domains.names())})"
        )
    if data is not None:
        _refuse_data_folder(data, raw["plugin"], hub)
        if problem := not_text(str(data)):  # as `ganhub run data.path=DATA` refuses it
            raise UsageError(f"DATA '{one_line(data, 200)}' {problem}")
        # set as a Path, not as the text `data.path=DATA`: DATA is a path the shell gave, and
        # must not be parsed as a value (a folder `null`, `true` or `[x]`) or expanded again
        set_dotted(raw, ["data", "path"], _literal(data))
        forget_key(sources, "data.path")
    # training=False: no loggers or metrics, which only training needs
    config = validate(raw, hub, training=False, sources=sources)
    domain = hub.require_domain(config.plugin)
    # the refusals `ganhub run` makes of these settings (dcgan's 1 or 3 channels, data.labels
    # without model.conditional, no data.path for folder data), made here too: a check or
    # conversion that passes them describes data no run could train on
    with (
        naming_source(sources),
        plugin_code(f"domain '{config.plugin}': its check()", "a bug of its plugin"),
    ):
        problems = list(domain.check(config))
    if problems:
        raise ConfigError("; ".join(problems))
    return config, domain


def _refuse_data_folder(data: Path, plugin: object, hub: Hub) -> None:
    """Refuse DATA for a domain with no data.path key (toy2d), which trains on data it makes
    itself, in words about that: DATA becomes data.path, a key the user never typed, and
    validation would call it unknown."""
    from ganhub.domain import reads_data_path
    from ganhub.errors import UsageError

    if not isinstance(plugin, str) or plugin not in hub.domains:
        return  # validation names the unknown plugin
    if not reads_data_path(hub.domains.get(plugin).config_class):
        raise UsageError(
            f"DATA {one_line(data, 200)}: domain '{plugin}' reads no data folder, it trains on "
            f"data it makes itself (its data.* keys); `ganhub data check plugin={plugin}` "
            "checks that data"
        )


def _literal(data: Path) -> Path:
    """DATA as data.path: as given, or absolute when it starts with `~` (a folder named `~`),
    which code reading data.path as text typed after `key=` (a conditional run's class names)
    would expand to the home folder."""
    return Path(os.path.abspath(data)) if str(data).startswith("~") else data


def _expanded(path: Path) -> Path:
    """An --out or --list path with `~` and `$VAR` expanded, as in data.path: after `--out=`
    the shell expands neither, and a literal `~` folder would be made."""
    from ganhub.config.schema import expand_path_text

    return Path(expand_path_text(str(path)))


@contextmanager
def _domain_code(config: RunConfig, method: str) -> Iterator[None]:
    """Run a domain's data method: what it raises is one line naming the domain and its plugin
    (the default methods call its `build().data()`), except ganhub's own errors and an OSError
    naming a file (the data the user pointed at), which show as they are."""
    from ganhub.plugin_guard import blame, hub_hint
    from ganhub.plugins import get_hub

    try:
        yield
    except Exception as exc:
        if not (isinstance(exc, OSError) and exc.filename is not None):
            hint = hub_hint(get_hub(), "domain", config.plugin)
            blame(exc, f"domain '{config.plugin}': its {method}", hint)
        raise


def inspect(data: Path | None, overrides: tuple[str, ...]) -> DataReport:
    """The domain's report on the data a run with these settings would read."""
    return _inspected(data, overrides)[2]


def _inspected(
    data: Path | None, overrides: tuple[str, ...]
) -> tuple[RunConfig, Domain, DataReport]:
    """The run's config and domain, and the domain's report: every problem of a labels CSV
    and every symlink leading out of the data folder among its findings, not the first
    refused as a run does (`label_problems_reported`, `leaving_links_reported`)."""
    from ganhub.data.inspect import DROP
    from ganhub.data.labels import label_problems_reported
    from ganhub.data.links import leaving_links_reported

    with label_problems_reported(), leaving_links_reported() as leaving:
        config, domain = _resolve(data, overrides)
        with _domain_code(config, "inspect_data()"):
            report = domain.inspect_data(config)
    for link, root in leaving.items():  # each one the walks met, skipped: a run refuses it
        report.add(
            link.relative_to(root).as_posix() if link.is_relative_to(root) else str(link),
            f"symlink leading outside the data folder (to '{link.resolve()}'), which training "
            "refuses; copy what it leads to into the folder, or remove the link",
            DROP,
            "error",
        )
    return config, domain, report


@data_group.command(name="check", cls=KeyValueCommand, context_settings=_ARGS)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def check_command(as_json: bool, args: tuple[str, ...]) -> None:
    """Report what is wrong with the data and what would be done about it.

    \b
    ganhub data check DATA plugin=NAME [key=value ...] [--json]
    ganhub data check plugin=NAME        the domain's embedded default data
    Exits 0 when the data is clean (notes only: conversions the loader makes on purpose),
    1 when it has errors (unusable files) or warnings (duplicates, empty masks...), 2 when
    the command or its settings are refused (one line saying why)."""
    report = inspect(*_split(args))
    click.echo(json.dumps(report.to_json(), indent=1) if as_json else report.table())
    if not report.clean:
        raise SystemExit(1)


@data_group.command(name="clean", cls=KeyValueCommand, context_settings=_ARGS)
@click.option("--out", type=click.Path(path_type=Path), help="Write a cleaned copy here.")
@click.option(
    "--list", "list_file", type=click.Path(dir_okay=False, path_type=Path),
    help="Write the kept files' names here instead (UTF-8, one per line).",
)  # fmt: skip
@click.option(
    "--hard-links", is_flag=True,
    help="Hard-link the kept files of a folder instead of copying them: no space used, but "
    "the copy and DATA then share each file, so editing one in place (an image saved over "
    "itself) changes DATA too.",
)  # fmt: skip
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def clean_command(
    out: Path | None, list_file: Path | None, hard_links: bool, args: tuple[str, ...]
) -> None:
    """Write a copy of DATA without the files `ganhub data check` would drop (unreadable,
    unusable, later duplicates), or a list of the kept files. DATA itself is never changed.

    \b
    ganhub data clean DATA plugin=NAME --out CLEAN_DIR   (a folder, or a .zip for a zip)
    ganhub data clean DATA plugin=NAME --list kept.txt
    The files are copied (cloned, using no space until changed, on btrfs, XFS and other file
    systems that clone); --hard-links links them instead.
    """
    from ganhub.data.shards import is_shard
    from ganhub.errors import UsageError
    from ganhub.metrics.store import write_bytes

    if (out is None) == (list_file is None):
        raise UsageError("give one of --out DIR and --list FILE")
    out = None if out is None else _expanded(out)
    list_file = None if list_file is None else _expanded(list_file)
    data, overrides = _split(args)
    if data is None:
        raise UsageError("ganhub data clean needs the DATA folder or zip to clean")
    if is_shard(data):
        raise UsageError(
            f"DATA {one_line(data)} is a shard: clean the data it was converted from (--out "
            "CLEAN), then convert CLEAN again"
        )
    if list_file is not None:
        _check_target("--list", list_file, data, new=True)
    if hard_links and list_file is not None:
        raise UsageError("--hard-links is for --out (a cleaned copy), not --list")
    if hard_links and data.is_file():  # a zip's or a text file's copy is written anew
        raise UsageError(f"--hard-links links a folder's files; {one_line(data, 200)} is a file")
    if out is not None:
        _check_target("--out", out, data, new=True)  # before the check, which may take long
    config, domain, report = _inspected(data, overrides)
    dropped, items = report.dropped(), set(report.items)
    kept = [name for name in report.items if name not in dropped]
    # files the check names that are no items (a .ppm training does not read): left out too;
    # a labels row naming no file names nothing to leave out
    others = sorted(n for n in dropped - items if data.is_file() or os.path.lexists(data / n))
    if report.items and not kept:  # an empty copy helps no one: the options are likely off
        first = next((f for f in report.findings if f.item in dropped), None)
        example = f", e.g. {one_line(f'{first.item}: {first.problem}', 160)}" if first else ""
        raise UsageError(
            f"all {counted(len(report.items), 'items')} of {one_line(data)} would be dropped"
            f"{example}; nothing written (are the keys the run uses given, e.g. "
            "model.image_size?)"
        )
    if list_file is not None:
        write_bytes(list_file, _list_text(kept))
        click.echo(f"{len(kept)} of {len(report.items)} kept -> {one_line(list_file)}")
        return
    assert out is not None
    # what the copy needs beside its items (a labels file of the kept items' rows only)
    with _domain_code(config, "cleaned_copy_files()"):
        extra = domain.cleaned_copy_files(config, data, kept)
    written = copy_kept(data, out, kept, hard_links=hard_links, extra=extra)
    # every other file of DATA is named too (a README, a labels CSV the run does not use);
    # those the domain wrote anew for the copy are not "not copied"
    others = sorted(set(others).union(_not_copied(data, items)) - set(extra))
    line = f"{len(kept)} of {len(report.items)} kept, {len(report.items) - len(kept)} dropped"
    if others:
        names = ", ".join(one_line(name, 60) for name in others[:3])
        more = f" and {len(others) - 3} more" if len(others) > 3 else ""
        line += f"; {counted(len(others), 'other files')} not copied ({names}{more})"
    if extra and not _is_text_file(data):  # a text file's entry is its copy itself
        shown = ", ".join(one_line(written / name, 200) for name in extra)
        line += f"; the kept files' labels -> {shown}"
    # a conditional folder's class left with no usable image is not in the copy: say so
    lost = [f.problem for f in report.findings if f.item == "(labels)" and f.severity == "error"]
    line += "".join(f"; {one_line(problem, 200)}" for problem in lost)
    click.echo(f"{line} -> {one_line(written)}")


def _list_text(kept: list[str]) -> bytes:
    """The --list file: each kept name on its own line, UTF-8. A name that no such line can hold
    (one with a line break, or bytes that are no UTF-8) is refused, naming it: written as it
    is, it would break the list into two names, or end the command in a traceback."""
    from ganhub.errors import UsageError

    for name in kept:
        problem = "holds a line break" if "\n" in name or "\r" in name else None
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            problem = "is not UTF-8"
        if problem:
            raise UsageError(
                f"--list: the name of '{one_line(name, 200)}' {problem}, and the list holds one "
                "UTF-8 name per line; rename the file, or write a cleaned copy with --out"
            )
    return "".join(f"{name}\n" for name in kept).encode()


def _not_copied(data: Path, items: set[str]) -> list[str]:
    """The files of a folder or zip DATA that are no items (neither kept nor dropped): not
    copied, so the summary names them. Hidden folders (`.git`), which no loader reads, are not
    walked; an item that is a folder (a DICOM series) is copied whole."""
    if data.is_file():
        if not zipfile.is_zipfile(data):
            return []
        with zipfile.ZipFile(data) as archive:
            return [n for n in archive.namelist() if not n.endswith("/") and n not in items]
    found = []
    for folder, subfolders, files in os.walk(data):
        rel = Path(folder).relative_to(data)
        subfolders[:] = [
            d for d in subfolders if not d.startswith(".") and str(rel / d) not in items
        ]
        found += [str(rel / f) for f in files if str(rel / f) not in items]
    return found


def copy_kept(
    data: Path,
    out: Path,
    kept: list[str],
    *,
    hard_links: bool = False,
    extra: dict[str, bytes] | None = None,
) -> Path:
    """Copy the kept members of a folder (copies, or hard links with `hard_links`), a zip, or
    the kept lines of a text file (items `FILE:LINE`) into `out`, made whole beside it and then
    renamed; missing folders above `out` are made, as for other outputs (and removed again when
    the copy fails). `extra` (name -> bytes) is written into the copy too (a folder or zip);
    for a text file, an entry under its own name is the copy (the kept lines as the domain's
    loader reads them), written instead of the lines' bytes."""
    from ganhub.errors import UsageError
    from ganhub.metrics.store import check_output_file

    _check_target("--out", out, data, new=True)
    check_output_file(out)  # the nearest existing folder above it must take files
    made = [f for f in reversed(out.absolute().parents) if not f.exists()]
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        _write_kept(data, tmp, out, kept, hard_links, extra or {})
        tmp.replace(out)
    except BaseException as exc:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        for folder in reversed(made):  # innermost first; a folder someone filled meanwhile stays
            try:
                folder.rmdir()
            except OSError:
                break
        if isinstance(exc, OSError) and _names_one_of(exc, [tmp, *made]):
            reason = exc.strerror or str(exc)  # name --out, not the temporary path beside it
            raise UsageError(f"--out {one_line(out, 200)} cannot be written: {reason}") from None
        raise
    return out


def _names_one_of(exc: OSError, paths: list[Path]) -> bool:
    """Whether `exc` is about one of `paths` or a path under one (or about the file system
    written to: a full disk names no file)."""
    names = [n for n in (exc.filename, exc.filename2) if n is not None]
    if not names:
        return exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)
    for name in names:
        path = Path(os.fsdecode(name)).absolute()
        if any(p.absolute() == path or p.absolute() in path.parents for p in paths):
            return True
    return False


def _write_kept(
    data: Path, tmp: Path, out: Path, kept: list[str], hard_links: bool, extra: dict[str, bytes]
) -> None:
    """Write the copy of `copy_kept` to `tmp`, `extra` in it (before its rename: never a copy
    without them)."""
    from ganhub.errors import UsageError

    if _is_text_file(data):  # a text file: items are FILE:LINE
        numbers = [_line_number(name, data) for name in kept]
        tmp.parent.mkdir(parents=True, exist_ok=True)
        if data.name in extra:  # the domain's copy: the kept lines as its loader reads them
            tmp.write_bytes(extra[data.name])
            return
        lines = data.read_bytes().split(b"\n")
        wanted = set(numbers)
        tmp.write_bytes(b"\n".join(ln for i, ln in enumerate(lines, 1) if i in wanted) + b"\n")
        return
    if zipfile.is_zipfile(data):
        if out.suffix.lower() != ".zip":  # a zip named like a folder: not what --out said
            raise UsageError(f"--out {one_line(out)}: DATA is a zip, so its cleaned copy is a zip; "
                             "give --out NAME.zip")  # fmt: skip
        tmp.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(data) as src_zip, zipfile.ZipFile(tmp, "w") as dst_zip:
            for name in kept:
                dst_zip.writestr(src_zip.getinfo(name), src_zip.read(name))
            for name, content in extra.items():
                dst_zip.writestr(name, content)
        return
    from ganhub.data.copies import FileCopies, hard_link

    copy = hard_link if hard_links else FileCopies()
    tmp.mkdir(parents=True)
    for name in kept:
        rel = Path(name)
        if rel.is_absolute() or ".." in rel.parts:
            raise UsageError(f"'{one_line(name, 200)}' is not a file inside DATA")
        dst = tmp / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if (data / rel).is_dir():  # an item that is a folder (a DICOM series)
            shutil.copytree(data / rel, dst, copy_function=copy)
        else:
            copy(str(data / rel), str(dst))
    for name, content in extra.items():
        (tmp / name).write_bytes(content)


@data_group.command(name="convert", cls=KeyValueCommand, context_settings=_ARGS)
@click.option("--to", "fmt", required=True, help="Target format: shard, or the domain's own.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Where to write it.")
@click.option("--force", is_flag=True, help="Replace an existing --out file (never a folder).")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def convert_command(fmt: str, out: Path, force: bool, args: tuple[str, ...]) -> None:
    """Convert DATA (or the embedded default) for fast, reproducible loading.

    \b
    ganhub data convert DATA plugin=NAME --to shard --out data.safetensors
    An existing --out is refused; --force replaces a file (written whole, then renamed).
    shard: every sample decoded once into one safetensors file plus a manifest; point
    data.path at it. A shard holds no class labels: conditional runs train on the folder.
    Domains add formats (stylegan: zip; medgan: nifti; textgan: tokens).
    """
    from ganhub.errors import UsageError

    out = _expanded(out)
    data, overrides = _split(args)
    _check_target("--out", out, data, new=False)
    if out.is_dir() and not out.is_symlink():  # a conversion never deletes a folder
        raise UsageError(f"--out {one_line(out)} is a folder; write the conversion to a new path")
    if not force and (out.exists() or out.is_symlink()):  # a typo must not replace a file
        raise UsageError(f"--out {one_line(out)} exists; give --force to replace it, or a new path")
    config, domain = _resolve(data, overrides)
    if fmt == "shard" and fmt in domain.data_formats(config):  # with its manifest, up front
        from ganhub.data.shards import shard_outputs

        shard_outputs(out, replace=force)
    with _domain_code(config, "convert_data()"):
        written = domain.convert_data(config, fmt, out)
    for path in written:
        click.echo(one_line(path))


def _is_text_file(data: Path) -> bool:
    """Whether DATA is a text file (its items are its lines), not a folder or a zip."""
    return data.is_file() and not zipfile.is_zipfile(data)


def _line_number(item: str, data: Path) -> int:
    """The line of a text file's item `NAME:LINE`; a one-line error for any other item (only
    the lines of text files can be copied one by one)."""
    from ganhub.errors import UsageError

    name, _, line = item.rpartition(":")
    if name != data.name or not line.isdigit():
        raise UsageError(
            f"DATA {one_line(data)}: its items are no lines of a text file "
            f"('{one_line(item)}'); clean a folder, a zip or a text file"
        )
    return int(line)


__all__ = ["clean_command", "convert_command", "copy_kept", "data_group", "inspect"]
