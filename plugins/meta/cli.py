"""`ganhub meta`: split meta.* options from config overrides, meta-train, print the summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ganhub.clikit import KeyValueCommand

if TYPE_CHECKING:
    from ganhub_meta.config import MetaOptions

    from ganhub.plugins import Hub

_CONTEXT = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


@click.command(name="meta", cls=KeyValueCommand, context_settings=_CONTEXT)
@click.argument("items", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def meta_command(ctx: click.Context, items: tuple[str, ...]) -> None:
    """Meta-learn an initialisation for few-shot generation (Reptile or first-order MAML).

    \b
    ganhub meta plugin=dcgan data=digits meta.classes=[0,1,2,3,4,5,6]
    ganhub meta plugin=dcgan meta.classes=[0,1,2,3,4,5,6] meta.outer_steps=400 meta.tasks_per_step=2
    ganhub meta plugin=dcgan meta.classes=[0,1,2,3,4,5,6] meta.algorithm=fomaml
    then: ganhub adapt RUN data.classes=[8]
    Each outer step trains the meta weights for meta.inner_steps ordinary steps on each of
    meta.tasks_per_step tasks (meta.classes_per_task of meta.classes), then moves them toward
    the mean of the tasks' weights by epsilon (meta.outer_lr, annealed linearly to 0), or with
    meta.algorithm=fomaml by an Adam step on the tasks' gradients after one more step. Other
    key=value items configure the runs as for ganhub run, but for trainer.steps (refused:
    meta.outer_steps sets the length); trainer.sample_every, eval_every, checkpoint_every,
    keep_best, patience and max_seconds count outer steps, and every outer step is logged.
    The tricks' step counts (R1's interval, ADA's, an anneal over the run) count the tasks'
    training steps, the visits laid end to end, and ADA's p runs on from visit to visit.
    data.n_shots=K (meta.n_shots) gives each task K images of its classes, its few shots;
    init_from=RUN starts the meta weights (and each task, so tricks=[freeze_d] works) from RUN.
    Writes an ordinary run directory (config.yaml with data.classes=meta.classes and
    trainer.steps=meta.outer_steps, checkpoints, samples, meta.json).
    """
    if any(a in ("-h", "--help") for a in items):
        click.echo(ctx.get_help() + "\n\nOptions (meta.KEY=VALUE):\n" + _options_help())
        return
    from ganhub_meta.config import meta_config
    from ganhub_meta.reptile import meta_train

    from ganhub.plugins import get_hub

    hub = get_hub()
    from ganhub.config.overrides import merge_sources
    from ganhub.errors import ConfigError

    # the first thing missing is named first (it said "meta.classes: Field required")
    sources: dict[str, str] = {}
    merged = merge_sources([i for i in items if not i.startswith("meta.")], sources=sources)
    refuse_filed_options(merged, sources)
    plugin = merged.get("plugin")
    if not isinstance(plugin, str):
        raise ConfigError(
            "ganhub meta needs plugin=NAME and meta.classes=[...], e.g. plugin=dcgan "
            "data=digits meta.classes=[0,1,2,3,4,5,6]"
        )
    # a domain whose data has no classes is the real problem, before any meta.* key: it
    # said "meta.classes: Field required", then, given that, that the data takes none
    refuse_classless(plugin, hub)
    options, overrides = parse_options(list(items))
    config = meta_config(overrides, options, hub)
    summary = meta_train(config, options, hub)
    if not summary.get("rank", 0) and summary["checkpoint"] is None:
        raise click.ClickException("meta-training wrote no checkpoint")
    if not summary.get("rank", 0) and not config.trainer.progress:
        from ganhub.console import summary_line

        # a quiet run's one line, as `ganhub run` prints, but for `ganhub run resume=`, which
        # would go on as an ordinary run (a meta run is not resumed: run ganhub meta again)
        # its steps are outer steps: "done at step 200 (... at 0.5 steps/s)" read as a slow run
        line = summary_line(summary, resumable=False).replace(" at step ", " at outer step ")
        click.echo(line.replace(" steps/s", " outer steps/s"))
    if summary["signal"]:  # stopped by SIGINT/SIGTERM after saving: the conventional status
        raise SystemExit(128 + summary["signal"])


def refuse_filed_options(merged: dict[str, Any], sources: dict[str, str]) -> None:
    """meta.* options in a config file: ganhub meta reads them from the command line only (it
    said "meta.classes: Field required" of a file that gave it, then "unknown key 'meta'")."""
    import json

    from ganhub.config.overrides import dotted_items
    from ganhub.errors import ConfigError, one_line

    if "meta" not in merged:
        return
    given = dict(dotted_items({"meta": merged["meta"]}))
    where = next((sources[k] for k in given if k in sources), "a config file")
    shown = " ".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in given.items())
    raise ConfigError(
        f"{where} gives {', '.join(given)}: ganhub meta reads its meta.* options from the "
        f"command line only: give them there ({one_line(shown, 120)}), not in the file"
    )


def refuse_classless(plugin: str, hub: Hub) -> None:
    """Refuse a domain whose data takes no `data.classes`, which ganhub meta draws tasks from
    (as `meta_config` does, but before the meta.* options are validated)."""
    from ganhub.errors import ConfigError

    domain = hub.require_domain(plugin)
    field = domain.config_class.model_fields.get("data")
    if field is None or "classes" not in getattr(field.annotation, "model_fields", {}):
        raise ConfigError(
            f"ganhub meta draws tasks from data.classes, which the '{domain.name}' domain's "
            "data does not take (dcgan data=digits does)"
        )


def parse_options(items: list[str]) -> tuple[MetaOptions, list[str]]:
    """(the meta.* options, validated; the other key=value items)."""
    from ganhub_meta.config import MetaOptions
    from ganhub_meta.shots import shots_option
    from pydantic import ValidationError, create_model

    from ganhub.config.overrides import parse_override, set_dotted
    from ganhub.config.resolve import format_validation_error
    from ganhub.errors import ConfigError

    raw: dict[str, Any] = {}
    overrides = []
    spelled = "meta.n_shots"
    for item in items:
        path, value = parse_override(item)
        if shots_option(path, value, raw):  # data.n_shots: each task's shots (meta.n_shots)
            spelled = ".".join(path)  # an error about it names the key as typed
            continue
        if path[0] == "meta":
            if len(path) == 1:
                raise ConfigError("meta takes sub-keys: meta.classes=[0,1,2] meta.outer_steps=N")
            set_dotted(raw, path[1:], value)
        else:
            overrides.append(item)

    wrapped = create_model("MetaCommand", meta=(MetaOptions, ...))  # errors say meta.KEY
    try:
        options = wrapped.model_validate({"meta": raw}).meta  # type: ignore[attr-defined]
    except ValidationError as exc:
        message = format_validation_error(exc, wrapped)
        raise ConfigError(message.replace("meta.n_shots", spelled)) from None
    return options.given_shots_as(spelled), overrides


def _options_help() -> str:
    from ganhub_meta.config import MetaOptions

    from ganhub.config.resolve import default_text

    fields = MetaOptions.model_fields
    width = max(map(len, fields)) + 5
    rows = []
    for name, field in fields.items():
        default = (
            "(required)"
            if field.is_required()
            else default_text(field.get_default(call_default_factory=True))
        )
        rows.append(f"  {'meta.' + name:<{width}}  {default:<10}  {field.description}")
    return "\n".join(rows)
