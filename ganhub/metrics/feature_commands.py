"""`ganhub features`: train and list the local feature networks of fd_<name> / kd_<name>."""

from __future__ import annotations

from typing import Any

import click

from ganhub.clikit import KeyValueCommand

_EXTRA = {"ignore_unknown_options": True, "allow_extra_args": True}


@click.group()
def features() -> None:
    """Local feature networks for fd_<name> / kd_<name> metrics (eval.features=[NAME])."""


@features.command(name="train", cls=KeyValueCommand, context_settings=_EXTRA)
@click.argument("options", nargs=-1, type=click.UNPROCESSED, metavar="[KEY=VALUE]...")
def features_train(options: tuple[str, ...]) -> None:
    """Train one: ganhub features train data=digits|folder [data.path=DIR] [name=NAME] [size=32]
    [channels=3 (folders)] [data.skip_bad=true (folders)] [epochs=12] [width=24] [seed=0]
    [out=DIR].

    \b
    Labelled data (digits) trains a classifier; a folder of images trains a rotation predictor
    (self-supervised). Saved as NAME.safetensors + NAME.json in the cache (or out=DIR); NAME
    (letters, digits, underscores) defaults to digits, or the folder's name; in the cache,
    inception, rotnet, shapes and (with other options) digits name ganhub's own networks.
    Prints the held-out accuracy next to chance (1 / classes), with a warning when it is
    near chance: such a network learned nothing, and metrics on it measure nothing.
    """
    import sys

    from ganhub.console import Console
    from ganhub.metrics.featurenet import train_from_options
    from ganhub.metrics.featurenet_trust import chance, chance_warning, near_chance

    with Console(file=sys.stderr).session():  # epoch progress on stderr; stdout: the result
        path, spec, trained = train_from_options(list(options))
    done = "trained" if trained else "loaded the cached"
    # a network saved outside the cache is named by its path (without the suffix)
    elsewhere = any(item.split("=", 1)[0] == "out" for item in options)
    use = path.with_suffix("") if elsewhere else spec.name
    steps = f"{spec.steps} step" + ("" if spec.steps == 1 else "s")
    click.echo(
        f"{done} feature network '{spec.name}' ({spec.kind}, {spec.accuracy:.1%} held-out "
        f"accuracy, chance {chance(spec):.1%}, {steps}) -> {path}\nuse it: eval.features=[{use}]"
    )
    if near_chance(spec):  # saved all the same: the list and every evaluation say it too
        click.echo(f"ganhub: warning: {chance_warning(spec, str(path))}", err=True)


@features.command(name="list")
def features_list() -> None:
    """List the feature networks in the cache ($GANHUB_CACHE/features, else
    ~/.cache/ganhub/features): the ones `features train` saved there, ganhub's digits and shapes
    classifiers, and those metrics trained on a run's data (rotnet-*, for
    eval.features=[rotnet]; labels-*, class_accuracy's classifiers).

    \b
    A row: name, kind (classifier | rotation), held-out accuracy and chance (1 / classes),
    the data it was trained on, its file. NEAR CHANCE marks a network that learned nothing
    (accuracy within noise of guessing): metrics on it measure nothing. A file that cannot
    be read as a feature network is listed with the reason.
    """
    import math
    from types import SimpleNamespace

    from ganhub.errors import UsageError, one_line
    from ganhub.metrics.featurenet_trust import chance, near_chance, read_spec_fields
    from ganhub.metrics.store import cache_dir

    folder = cache_dir("features")
    specs = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not specs:
        click.echo(f"no feature networks in {folder} (ganhub features train data=...)")
        return
    flagged = 0
    for path in specs:
        try:  # a cache file is untrusted: checked field by field, as loading it checks it
            meta = SimpleNamespace(**{"held_out": 0, "accuracy": math.nan, "dataset": None,
                                      **read_spec_fields(path)})  # fmt: skip
        except UsageError as exc:
            why = str(exc).split(": ", 1)[-1].split("network: ", 1)[-1]
            click.echo(f"{'?':<16} {'(unreadable)':<10} {why}  {one_line(path)}")
            continue
        weights = path.with_suffix(".safetensors")
        flag = "  NEAR CHANCE" if near_chance(meta) else ""
        flag += "" if weights.is_file() else f"  (no {weights.name})"
        flagged += near_chance(meta)
        acc = f"{meta.accuracy:.1%}" if math.isfinite(meta.accuracy) else "?"
        click.echo(
            f"{meta.name:<16} {meta.kind:<10} acc {acc:>6} (chance "
            f"{chance(meta):.1%}){flag}  data {_data_label(meta.dataset)}  {one_line(path)}"
        )
    if flagged:
        click.echo(
            "NEAR CHANCE: held-out accuracy within noise of guessing; fd_/kd_ distances on its "
            "features (class_accuracy judged by a labels-* one) measure nothing. Retrain it on "
            "more images or epochs; a rotation network cannot learn images without an upright "
            "orientation (use eval.features=[inception])"
        )


def _data_label(dataset: Any) -> str:
    """What a feature network was trained on: `digits`, `folder`, or (a rotation network
    of a run's data) its plugin and data source."""
    if not isinstance(dataset, dict):
        return "?"
    from ganhub.errors import one_line

    if "source" in dataset:
        return one_line(dataset["source"], 40)
    data = dataset.get("data")
    source = data.get("source") if isinstance(data, dict) else None
    return " ".join(one_line(p, 40) for p in (dataset.get("plugin"), source) if p) or "?"
