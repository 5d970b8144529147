"""`ganhub adapt RUN [key=value ...]`: fine-tune a trained run on a few images.

The adapted run is an ordinary run. Its config is, later layers winning: the saved config of
RUN, `init_from=RUN`, the few-shot defaults of `ADAPT_DEFAULTS` (those that depend on the run,
such as the batch size and the feature distance to keep the best of, are derived from it), then
the user's keys, which nothing replaces. Defaults a domain's config has no key for are left out
(the shots and held-out evaluation need a domain whose data takes `data.n_shots`). As any run,
it records the keys its user gave (given.json, `ganhub.config.saved`): those RUN records, the
ones adapt sets and the typed ones, so that neither it nor its resume takes a value RUN's
domain derived for the user's; a RUN without the record leaves it without one.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ganhub.adapt_eval import eval_defaults
from ganhub.adapt_inherited import inherited_keys_named
from ganhub.clikit import RUN_DIR, KeyValueCommand
from ganhub.errors import one_line

if TYPE_CHECKING:
    from ganhub.config.schema import RunConfig
    from ganhub.plugins import Hub

# (key, default, why): what `ganhub adapt` adds to the saved config unless the user sets the key
ADAPT_DEFAULTS: tuple[tuple[str, str, str], ...] = (
    ("init_from", "RUN", "start from RUN's latest weights; optimizers and step start fresh"),
    (
        "data.n_shots",
        "10, or a ganhub meta RUN's meta.n_shots",
        "train on that many images of data.classes, picked by the seed: as many as RUN's "
        "meta-training tasks had",
    ),
    ("trainer.steps", "300", "a short fine-tuning"),
    (
        "trainer.batch_size",
        "RUN's, at most the training images per process",
        "one batch can hold every shot; a multiple of a typed trainer.grad_accum",
    ),
    ("trainer.eval_every", "50", "evaluations that patience counts"),
    (
        "trainer.keep_best",
        "the feature distance",
        "fd_digits on digits (eval.features), else fid; kid (kd_digits) against fewer than "
        "100 real images; per class when conditional: intra_fd_digits; none when the feature "
        "network cannot be had (too few images for rotnet): then no evaluation reads features",
    ),
    ("trainer.patience", "4", "stop after 4 evaluations without a better distance"),
    (
        "trick.ada.kimg",
        "with ada, the adapted run's real images / 1000 (2 figures, rounded down) when RUN's "
        "is above it",
        "ADA's p can cross 0 to 1 in the fine-tune, as StyleGAN2-ADA lowers it to fine-tune",
    ),
    ("trainer.sample_every", "100", "sample grids while it adapts"),
    ("trainer.checkpoint_every", "0", "a checkpoint at the end (and the best one)"),
    ("eval.real", "validation", "compare with the kept classes' held-out images, not the shots"),
    (
        "eval.metrics",
        "RUN's, with fid (intra_fid when conditional); kid for fid against fewer than 100 "
        "real images",
        "the domain's defaults when RUN set none or [] (evaluation off while it trained); "
        "eval.metrics=[] here switches it off; a few images give fid a singular covariance",
    ),
    (
        "eval.n_samples",
        "1000; with kid, 20 per real image",
        "samples per evaluation; 100 against a folder of 5",
    ),
    (
        "out_dir",
        "RUN's parent folder",
        "the adapted run lands next to RUN, or next to the run that holds an export RUN",
    ),
    ("name", "<RUN>-adapt-<time>", "for an export inside a run: <run>-<export>-adapt-<time>"),
)
STEPS, N_SHOTS, EVAL_EVERY = 300, 10, 50
# what `ganhub meta` writes beside config.yaml: its options, meta.n_shots among them
_META_RECORD = "meta.json"
# what an adapted run cannot change: it is RUN's domain, and it is a new run
_REFUSED = {"plugin": "an adapted run keeps RUN's plugin", "resume": "adapt starts a new run"}


def _help() -> str:
    import textwrap

    width = max(len(k) for k, _, _ in ADAPT_DEFAULTS)
    indent = " " * (width + 4)  # a long value and reason wrap under the value column
    rows = "\n".join(
        textwrap.fill(
            f"  {k:<{width}}  {v}" + (f"  ({why})" if why else ""),
            width=92,
            subsequent_indent=indent,
        )
        for k, v, why in ADAPT_DEFAULTS
    )
    return (
        "Fine-tune a trained run on a few images: ganhub adapt RUN [key=value ...]. A run "
        "whose data takes no data.n_shots (a 2D or text run, an image folder) fine-tunes on "
        "all of the data its keys name: give the few samples as its data keys.\n\n"
        "\b\n"
        "  ganhub adapt runs/digits7 data.classes=[8]\n"
        "  ganhub adapt runs/digits7 data.classes=[8] tricks=[diffaug]\n"
        "  ganhub adapt runs/digits7 data.classes=[8] tricks=[freeze_d] trick.freeze_d.layers=2\n\n"
        "The new run is RUN's saved config with these defaults; every key=value given wins "
        "(tricks=[...] replaces RUN's list: keep ema with tricks=[ema,diffaug]):\n\n"
        f"\b\n{rows}\n\n"
        "ganhub.load(NEW_RUN, best=True) opens the best checkpoint."
    )


@click.command(
    name="adapt",
    cls=KeyValueCommand,
    help=_help(),
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "help_option_names": ["-h", "--help"],
    },
)
@click.argument("run_dir", type=RUN_DIR)
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def adapt_command(run_dir: Path, overrides: tuple[str, ...]) -> None:
    """Fine-tune RUN on a few images (the help text is `_help()`)."""
    from ganhub.api import train
    from ganhub.console import summary_line

    notes: list[str] = []
    config = adapt_config(run_dir, list(overrides), notes=notes)
    for note in notes:
        click.echo(f"ganhub adapt: {note}", err=True)
    unused = unapplied_defaults(config, list(overrides))
    if unused:
        click.echo(
            f"ganhub adapt: defaults this {config.plugin} run has no use for: "
            f"{', '.join(unused)} (see ganhub adapt --help)",
            err=True,
        )
    trains_on = all_data_note(config, list(overrides), unused)
    if trains_on:
        click.echo(f"ganhub adapt: {trains_on}", err=True)
    summary = train(config)
    if summary["rank"] == 0 and not config.trainer.progress:
        click.echo(summary_line(summary))
    if summary["signal"]:
        raise SystemExit(128 + summary["signal"])


def adapt_config(
    run_dir: Path, overrides: list[str], hub: Hub | None = None, notes: list[str] | None = None
) -> RunConfig:
    """The config of a run adapting `run_dir`: its saved config, the few-shot defaults, then
    `overrides` (`key=value` items, which always win); `notes` receives what a default left
    out, and why (no feature network for this data)."""
    from ganhub.config.overrides import deep_merge, dotted_keys, expand_shorthands, merge_sources
    from ganhub.config.rederive import derived_afresh
    from ganhub.config.resolve import read_saved, resolve
    from ganhub.config.saved import read_given
    from ganhub.errors import ConfigError
    from ganhub.plugins import get_hub
    from ganhub.provenance import require_installed

    hub = hub or get_hub()
    saved = read_saved(run_dir)
    recorded = read_given(run_dir)  # the keys RUN's user gave (None: RUN has no record)
    require_installed(run_dir, saved, hub)
    domain = hub.require_domain(str(saved.get("plugin")))
    # `data=digits` sets data.source only: expanded, it leaves the other data defaults alone
    given = set(dotted_keys(expand_shorthands(merge_sources(overrides), domain.config_class)))
    for key, why in _REFUSED.items():
        if key in given:
            raise ConfigError(f"{key}= cannot be given to ganhub adapt: {why}")
    base = deep_merge(saved, {"init_from": str(run_dir), "resume": None})
    defaults: dict[str, Any] = {
        "trainer.steps": STEPS,
        "trainer.eval_every": EVAL_EVERY,
        "trainer.sample_every": 100,
        "trainer.checkpoint_every": 0,
        "eval.n_samples": 1000,
        "out_dir": str(_beside(run_dir)),
        "name": _name(run_dir),
    }
    tasks_shots: int | None = None  # a meta run's tasks' shots: what its start was tuned for
    if _has_key(domain.config_class, ["data", "n_shots"]):
        tasks_shots = meta_shots(run_dir)
        defaults["data.n_shots"] = tasks_shots or N_SHOTS
    # an error about a key of the run's config.yaml names that file; adapt's defaults are not
    # the file's, and neither are the keys `base` sets
    origin = str(run_dir / "config.yaml")

    user = expand_shorthands(merge_sources(overrides), domain.config_class)

    def layered(training: bool = True) -> RunConfig:
        added = ["init_from", "resume", *defaults]
        layer = _layer(base, defaults, given)
        # a new run: what RUN fixed once it existed (textgan's phase boundaries, derived from
        # its trainer.steps) is derived for this run's steps, unless RUN's was set by hand
        layer = deep_merge(layer, derived_afresh(domain, domain.config_class, saved, layer, user))
        # the first pass derives keep_best: a typed trainer.patience waits for it
        typed = overrides if training or "trainer.patience" not in given else [
            *overrides, "trainer.patience=null"]  # fmt: skip
        # the adapted run's user gave RUN's user's keys, adapt's and the typed ones (recorded
        # in its given.json, so its resume tells them from derived values); unknown without
        # RUN's record
        known = None if recorded is None else {*recorded, *added} - {"resume"}
        with inherited_keys_named(run_dir, saved, given | set(added), domain.config_class):
            return resolve(typed, hub=hub, training=training, saved=layer, origin=origin,
                           added=added, saved_given=known)  # fmt: skip

    accum = _typed_accum(user)
    if accum is not None and "trainer.batch_size" not in given:
        # RUN's batch need not be a multiple of a typed trainer.grad_accum: the first pass
        # takes the nearest one below it, the batch sized for the shots below is one too
        rounded = int(saved.get("trainer", {}).get("batch_size") or accum)
        defaults["trainer.batch_size"] = max(accum, rounded - rounded % accum)
    # first pass: the system the user's choices build says what the other defaults derive from
    try:
        first = layered(training=False)
    except ConfigError:
        if "data.n_shots" not in defaults:
            raise
        defaults.pop("data.n_shots")  # this run's data takes no shots (a folder...): train on all
        first = layered(training=False)
    # said only when the adapted data takes them (a folder's images are all trained on)
    taken = "data.n_shots" in defaults and "data.n_shots" not in given
    if tasks_shots is not None and taken and notes is not None:
        notes.append(
            f"data.n_shots={tasks_shots}: the shots each task of {run_dir}'s meta-training "
            "trained on (its meta.n_shots); give data.n_shots=K for another number"
        )
    system = _system(first, hub)
    batch = _fitting_batch(first, system)
    if batch is not None:
        defaults["trainer.batch_size"] = batch
        accum = first.trainer.grad_accum
        if batch % accum and "trainer.batch_size" not in given:
            shots = first.model_dump().get("data", {}).get("n_shots") is not None
            raise ConfigError(
                f"trainer.grad_accum={accum} must divide trainer.batch_size, which ganhub adapt "
                f"sizes to {batch} (the training images per process): give a "
                f"trainer.grad_accum that divides {batch}, or "
                + ("more data.n_shots" if shots else "more training data")
            )
    if "trick.ada.kimg" not in given:
        sized = batch if batch is not None and "trainer.batch_size" not in given else None
        kimg = ada_kimg(first, sized)
        if kimg is not None:
            defaults["trick.ada.kimg"] = kimg
    eval_defaults(first, system, hub, given, defaults, run_dir, notes)
    return layered()


def meta_shots(run_dir: Path) -> int | None:
    """The images each task of a `ganhub meta` run trained on (its meta.n_shots, read from
    the meta.json it writes), or None: no meta run, or one whose tasks took all the images."""
    import json

    record = run_dir / _META_RECORD
    try:
        if record.is_symlink() or not record.is_file():
            return None
        options = json.loads(record.read_text(encoding="utf-8")).get("options")
    except (OSError, ValueError, AttributeError):  # unreadable, not JSON, not an object
        return None
    shots = options.get("n_shots") if isinstance(options, dict) else None
    return shots if type(shots) is int and shots > 0 else None


def ada_kimg(config: RunConfig, batch: int | None = None) -> float | None:
    """The trick.ada.kimg of an adapted run of `config` (at `batch`, the batch adapt sizes, or
    the config's): the largest of two figures at which ADA's p can cross 0 to 1 over its real
    images, when the config's kimg cannot; None without ada, or when it can. StyleGAN2-ADA's
    500, set for millions of images, moves p by 0.006 at most over 300 steps of 10 shots."""
    from ganhub.engine.distributed import DistInfo
    from ganhub.tricks.augmenters import crossing_kimg

    if "ada" not in config.tricks:
        return None
    kimg = getattr(config.trick, "ada").kimg  # noqa: B009 (a plugin-registered section)
    images = config.trainer.steps * (batch or config.trainer.batch_size) * DistInfo.from_env().world
    return crossing_kimg(images) if 0 < images < kimg * 1000 else None


def _typed_accum(user: Mapping[str, Any]) -> int | None:
    """The trainer.grad_accum the user typed, when it is a positive whole number (else the
    config's own validation says what is wrong with it)."""
    trainer = user.get("trainer")
    value = trainer.get("grad_accum") if isinstance(trainer, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _beside(run_dir: Path) -> Path:
    """The folder that holds RUN: `runs` for runs/digits7, `..` for `.` (the run's own
    folder, where the adapted run would land inside RUN); for a folder inside a run (an export,
    runs/digits7/export-safetensors), the folder that holds that run."""
    import os

    from ganhub.config.saved import run_holding

    holder = run_holding(run_dir)  # an export inside its run: next to that run, not in it
    if holder is not None:
        return _beside(holder)
    if run_dir.name not in ("", ".."):  # a path that names the run: its parent, as typed
        return run_dir.parent
    parent = run_dir.resolve().parent
    try:
        return Path(os.path.relpath(parent))
    except ValueError:  # another drive (Windows): the absolute path
        return parent


def _fitting_batch(config: RunConfig, system: Any) -> int | None:
    """RUN's batch size, at most the training samples each process has (the data's size, over
    the torchrun processes), a multiple of trainer.grad_accum where one fits; None when the
    data cannot be built here (the run itself then says why)."""
    from ganhub.engine.distributed import DistInfo

    try:
        size = len(system.data())
    except Exception:  # a missing folder...: refused by the run, in its own words
        return None
    batch = max(1, min(config.trainer.batch_size, size // DistInfo.from_env().world))
    accum = config.trainer.grad_accum
    return batch - batch % accum if batch >= accum else batch


def unapplied_defaults(config: RunConfig, overrides: list[str]) -> list[str]:
    """The few-shot defaults the adapted run did not take: its data picks no shots, it has no
    held-out images, no feature distance to keep the best of (a 2D or a text run)."""
    from ganhub.config.overrides import dotted_keys, merge_sources

    given = set(dotted_keys(merge_sources(overrides)))
    dump = config.model_dump()
    checks = {
        "data.n_shots": dump.get("data", {}).get("n_shots") is not None,
        "eval.real": config.eval.real == "validation",
        "trainer.keep_best": config.trainer.keep_best is not None,
        "trainer.patience": config.trainer.patience is not None,
    }
    return [key for key, applied in checks.items() if not applied and key not in given]


def all_data_note(config: RunConfig, overrides: list[str], unused: list[str]) -> str | None:
    """What an adapted run whose data picks no shots trains on, when no data key is given:
    all of RUN's data (a text run's sentences, a 2D run's points), not a few samples."""
    from ganhub.config.overrides import dotted_keys, merge_sources

    given = dotted_keys(merge_sources(overrides))
    if "data.n_shots" not in unused or any(k == "data" or k.startswith("data.") for k in given):
        return None
    source, steps = one_line(config.init_from, 200), config.trainer.steps
    return (
        f"this {config.plugin} run's data takes no data.n_shots, so the adapted run fine-tunes "
        f"on all of the data {source} trained on for {steps} steps; give data keys for the few "
        f"samples to adapt to (ganhub run plugin={config.plugin} --help lists them)"
    )


def _system(config: RunConfig, hub: Hub) -> Any:
    """The system `config` builds (on the CPU, weights as initialised: only its declarations
    are read)."""
    import torch

    from ganhub.engine.run import prepare_system
    from ganhub.wiring import components

    parts = components(config, hub, training=False)
    system, _ = prepare_system(config, parts, torch.device("cpu"), saved=True)
    return system


def _layer(base: Mapping[str, Any], defaults: Mapping[str, Any], given: set[str]) -> dict[str, Any]:
    """`base` with each default whose key the user did not give."""
    import copy

    from ganhub.config.overrides import set_dotted

    layer = copy.deepcopy(dict(base))
    for key, value in defaults.items():
        if not any(key == g or key.startswith(g + ".") for g in given):
            set_dotted(layer, key.split("."), value)
    return layer


def _has_key(section: Any, path: Iterable[str]) -> bool:
    """Whether a config class has the dotted key (domains differ in their data section)."""
    from ganhub.config.saved import config_field

    return config_field(section, list(path)) is not None


def _name(run_dir: Path) -> str:
    """`<run>-adapt-<time>`, a plain directory name; `<run>-<export>-adapt-<time>` for a
    folder inside a run (digits7-export-safetensors-adapt-<time>)."""
    from ganhub.config.saved import run_holding

    holder = run_holding(run_dir)
    named = run_dir.resolve().name
    if holder is not None:
        named = f"{holder.resolve().name}-{named}"
    stem = re.sub(r"[^A-Za-z0-9._+-]", "_", named).lstrip("._-+")[:60]
    return f"{stem or 'run'}-adapt-{_dt.datetime.now():%Y%m%d-%H%M%S}"
