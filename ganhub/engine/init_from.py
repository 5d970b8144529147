"""`init_from=RUN`: a run's weights start from another run's (or an exported generator's).

The newest readable checkpoint of a run directory (or the generator of a folder written by
`ganhub export`) is read with safetensors, never unpickling, and every tensor this run's model
has too is copied: keys present in both must match in shape. EMA copies (`G_ema`) the source
lacks are filled from its generator; a layer that one run normalises with `spectral_norm` and
the other does not is converted (`ganhub.engine.reparam`); a discriminator that one run wraps
with auxiliary heads and the other does not (`ganhub.engine.heads.trunk_prefix`) gives its
trunk across the wrapping; tensors only this run has (a new head) keep their initialisation.
Optimizers, the step and the data order start fresh.

`initialised_names(system)` tells a trick which of the system's tensors came from the source
(FreezeD refuses to freeze layers that did not): the tricks' `setup` runs before the weights
are loaded, their `on_optimizers` after.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ganhub.config.overrides import ConfigLoader, dotted_items
from ganhub.engine import checkpoint, reparam
from ganhub.errors import ConfigError, UsageError, one_line
from ganhub.plural import counted

if TYPE_CHECKING:
    from torch import Tensor, nn

    from ganhub.engine.system import GANSystem

# the names init_from filled, per system it initialised (weak: a system's lifetime, no longer)
_INITIALISED: weakref.WeakKeyDictionary[nn.Module, frozenset[str]] = weakref.WeakKeyDictionary()


def initialised_names(system: nn.Module) -> frozenset[str] | None:
    """The state-dict names of `system`'s tensors that `init_from` copied from its source
    (`G.0.weight`, an EMA copy filled from G); None when init_from has not initialised this
    system (no init_from, a resumed run: its own checkpoint, `ganhub.load`)."""
    return _INITIALISED.get(system)


def saved_config(run_dir: Path) -> dict[str, Any] | None:
    """A run directory's config.yaml as saved (None: missing, unreadable or not a mapping);
    the callers fall back to a refusal or to no answer, never to a traceback."""
    try:
        saved = yaml.load(
            (run_dir / "config.yaml").read_text(encoding="utf-8"), Loader=ConfigLoader
        )
    except (OSError, ValueError, yaml.YAMLError):  # ValueError: UnicodeDecodeError too
        return None
    return saved if isinstance(saved, dict) else None


def source_weights(source: Path, warn: Callable[[str], None]) -> tuple[str, dict[str, Tensor]]:
    """(where they came from, weights) of `init_from`: the newest readable checkpoint of a run
    directory, or the generator weights of an exported folder; a one-line error otherwise."""
    from safetensors.torch import load_file

    from ganhub.exported import MANIFEST, WEIGHTS, read_manifest

    key = f"init_from={one_line(source, 200)}"
    if not source.is_dir():
        raise ConfigError(f"{key}: no such run directory")
    if (source / MANIFEST).is_file():  # an exported folder: generator weights only
        try:
            read_manifest(source)
            tensors = load_file(str(source / WEIGHTS))
        except UsageError as exc:
            raise ConfigError(f"{key}: {exc}") from None
        except Exception as exc:  # SafetensorError, OSError...: one line whatever it was
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(f"{key}: {WEIGHTS} is unreadable: {one_line(reason, 200)}") from None
        bad = checkpoint.nonfinite(tensors)
        if bad:
            raise ConfigError(f"{key}: {WEIGHTS} holds non-finite weights ({one_line(bad[0], 80)})")
        return f"its exported {WEIGHTS}", tensors
    found = checkpoint.load_newest(source / "checkpoints", warn=warn)
    if found is None:
        raise ConfigError(
            f"{key}: it holds no readable checkpoint (give a run directory with checkpoints, "
            "or a folder written by ganhub export)"
        )
    path, _, model_state, _ = found
    return f"checkpoint {path.name}", model_state


def _source_plugin(source: Path) -> str | None:
    """The domain a run directory's config.yaml names (None: an export, or unreadable)."""
    data = saved_config(source)
    plugin = data.get("plugin") if data is not None else None
    return plugin if isinstance(plugin, str) else None


def align_trunks(saved: Mapping[str, Tensor], system: GANSystem) -> dict[str, str]:
    """{name in `saved`: the name this system gives it} for the trunk tensors of each
    discriminator that the source wrapped with auxiliary heads and this run does not, or the
    other way round (`D.0.weight` and `D.net.0.weight`); the heads module says where a trunk
    sits (`trunk_prefix`). A head only the source has keeps its name (unused)."""
    from ganhub.engine.heads import saved_trunk_prefix, trunk_prefix

    renamed: dict[str, str] = {}
    for name in system.discriminator_names:
        own = trunk_prefix(getattr(system, name))
        root = f"{name}."
        relative = [k.removeprefix(root) for k in saved if k.startswith(root)]
        theirs = saved_trunk_prefix(relative)
        if own is None or theirs is None or own == theirs:
            continue
        for rel in relative:
            if rel.startswith(theirs):
                renamed[root + rel] = root + own + rel.removeprefix(theirs)
    return renamed


def initialise_from(system: GANSystem, source: Path, warn: Callable[[str], None]) -> str:
    """Copy the weights of `source` that `system` has too into it (before any optimizer
    exists); return the console line saying what was loaded."""
    key = f"init_from={one_line(source, 200)}"
    plugin = _source_plugin(source)
    if plugin is not None and plugin != system.config.plugin:
        raise ConfigError(
            f"{key}: a '{one_line(plugin, 40)}' run; this run is '{system.config.plugin}', and "
            "init_from takes a run (or an export) of the same domain"
        )
    where, saved = source_weights(source, warn)
    renamed = align_trunks(saved, system)
    aligned = {renamed.get(k, k): v for k, v in saved.items()}
    own = system.state_dict()
    converted = reparam.spectral_layout(aligned, own, system)
    available = {**converted.tensors, **aligned}
    picked: dict[str, Tensor] = {}
    origin: dict[str, str] = {}  # this model's name -> the (aligned) name it was read under
    from_twin = []
    for name in own:
        twin = _ema_twin(name, system.generator_names)
        if name in available:
            picked[name], origin[name] = available[name], name
        elif twin is not None and twin in available:  # the source trained without EMA
            picked[name], origin[name] = available[twin], twin
            from_twin.append(name)
    across = set(renamed.values())
    # only a renamed trunk fits: no generator does, so the runs differ in more than heads
    if not picked or all(origin[k] in across for k in picked):
        raise ConfigError(
            f"{key}: none of its {len(saved)} tensors has a place in this "
            f"'{system.config.plugin}' model (one run conditional and the other not? the "
            "networks are built differently); give this run the source run's model settings"
        )
    # shapes are torch's to judge, as on resume: a module may resize a buffer as it loads (a
    # text run's tokenizer, stored as bytes, is the source's: its weights index those ids)
    differ = checkpoint.load_fitting(system, picked, partial=True)
    if differ:
        labels = (
            " (a label embedding: the two runs have other numbers of classes)"
            if ".embed." in differ
            else ""
        )
        raise ConfigError(
            f"{key}: its weights do not fit this run's model: {differ}{labels}; "
            + _settings_hint(source, system.config.model_dump(mode="json"))
        )
    refreshed = [
        name.removesuffix(reparam.ORIGINAL)
        for name in picked
        if name.endswith(reparam.ORIGINAL) and origin[name] in converted.tensors
    ]
    reparam.refresh_vectors(system, refreshed)
    _INITIALISED[system] = frozenset(picked)
    derived = {prefix + vector for prefix in refreshed for vector in reparam.VECTORS}
    kept = [k for k in own if k not in picked and k not in derived]
    as_own = {k: renamed.get(k, k) for k in saved}
    unused = [k for k, n in as_own.items() if n not in own and n not in converted.used]
    parts = [
        f"init_from: {counted(len(picked), 'tensors')} ({_roots(picked)}) from {source} ({where})"
    ]
    if from_twin:
        sources = [_ema_twin(k, system.generator_names) or k for k in from_twin]
        parts.append(f"{_roots(from_twin)} from its {_roots(sources)}")
    saved_as = {new: old for old, new in renamed.items()}
    read = set(origin.values()) | converted.used  # (aligned) names a tensor was read under
    moved = [n for n in saved_as if n in read]
    if moved:
        shown = next((origin[k] for k in picked if origin[k] in saved_as), moved[0])
        first = f"{one_line(saved_as[shown], 80)} as {one_line(shown, 80)}"
        parts.append(
            f"{counted(len(moved), 'tensors')} of its {_roots(moved)} trunk read across the "
            f"auxiliary heads' wrapping ({first}{', ...' if len(moved) > 1 else ''})"
        )
    changed = {
        origin[k].removesuffix(reparam.ORIGINAL).removesuffix(".weight")
        for k in picked
        if origin[k] in converted.tensors
    }
    if changed:
        parts.append(
            f"{counted(len(changed), 'layers')} converted to or from spectral norm "
            f"({_few(sorted(changed))})"
        )
    if kept:
        parts.append(f"{len(kept)} keep their own init ({_few(kept)})")
    if unused:
        parts.append(f"{len(unused)} of its tensors unused ({_few(unused)})")
    return "; ".join(parts)


# the sections of a config whose keys size the networks (the data's channels, sizes, classes)
_SIZING = ("model", "data", "condition")


def _settings_hint(source: Path, config: Mapping[str, Any]) -> str:
    """What to change when the source's weights do not fit: the model, data and condition keys
    (a conditional run's class names size its label embedding) whose values differ between
    the source's config.yaml and this run's config, or, when none does (an export, an edited
    file), the source's model settings."""
    theirs = saved_config(source)
    if theirs is None:
        return "give this run the source run's model settings"
    old = {k: v for s in _SIZING for k, v in dotted_items(theirs.get(s) or {}, f"{s}.")}
    new = {k: v for s in _SIZING for k, v in dotted_items(config.get(s) or {}, f"{s}.")}
    differ = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    if not differ:
        return "give this run the source run's model settings"
    shown = ", ".join(
        f"{k}={_value(new.get(k))} ({_value(old.get(k))} there)" for k in differ[:4]
    ) + (f" and {len(differ) - 4} more" if len(differ) > 4 else "")
    return (
        f"keys of this run that differ from {one_line(source / 'config.yaml', 200)}: {shown}; "
        "set the sizes these decide to the source's (a key left null takes its value from them)"
    )


def _value(value: Any) -> str:
    """A config value as a key=value item writes it: null, true, [0, 1]."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):  # class names as typed: [a, b], not ['a', 'b']
        return one_line("[" + ", ".join(_value(v) for v in value) + "]", 40)
    return one_line(value, 40)


def _ema_twin(name: str, generators: tuple[str, ...]) -> str | None:
    """`G.x` for `G_ema.x` (the tensor an EMA copy starts from), else None."""
    root, _, rest = name.partition(".")
    for g in generators:
        if root == f"{g}_ema":
            return f"{g}.{rest}"
    return None


def _roots(names: list[str] | Mapping[str, Any] | frozenset[str]) -> str:
    """The top-level modules of tensor names, in order: 'G, D, G_ema'."""
    return ", ".join(dict.fromkeys(n.partition(".")[0] for n in names))


def _few(names: list[str], n: int = 3) -> str:
    return ", ".join(one_line(k, 80) for k in names[:n]) + (", ..." if len(names) > n else "")


__all__ = ["align_trunks", "initialise_from", "initialised_names", "saved_config",
           "source_weights"]  # fmt: skip
