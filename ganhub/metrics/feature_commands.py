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
    defaults to digits, or the folder's name.
    """
    import sys

    from ganhub.console import Console
    from ganhub.metrics.featurenet import train_from_options

    with Console(file=sys.stderr).session():  # epoch progress on stderr; stdout: the result
        path, spec, trained = train_from_options(list(options))
    done = "trained" if trained else "loaded the cached"
    # a network saved outside the cache is named by its path (without the suffix)
    elsewhere = any(item.split("=", 1)[0] == "out" for item in options)
    use = path.with_suffix("") if elsewhere else spec.name
    click.echo(
        f"{done} feature network '{spec.name}' ({spec.kind}, {spec.accuracy:.1%} held-out "
        f"accuracy, {spec.steps} steps) -> {path}\nuse it: eval.features=[{use}]"
    )


@features.command(name="list")
def features_list() -> None:
    """List the feature networks in the cache."""
    import json

    from ganhub.metrics.store import cache_dir

    folder = cache_dir("features")
    specs = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not specs:
        click.echo(f"no feature networks in {folder} (ganhub features train data=...)")
        return
    for path in specs:
        try:
            meta = json.loads(path.read_text())
            line = (f"{meta['name']:<16} {meta['kind']:<10} acc {meta['accuracy']:.1%}  "
                    f"data {_data_label(meta.get('dataset'))}  {path}")  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError):  # a cache file is untrusted
            line = f"{'?':<16} {'(unreadable)':<10} {path}"
        click.echo(line)


def _data_label(dataset: Any) -> str:
    """What a feature network was trained on: `digits`, `folder`, or (a rotation network
    of a run's data) its plugin and data source."""
    if not isinstance(dataset, dict):
        return "?"
    if "source" in dataset:
        return str(dataset["source"])
    data = dataset.get("data")
    source = data.get("source") if isinstance(data, dict) else None
    return " ".join(str(p) for p in (dataset.get("plugin"), source) if p) or "?"
