"""The Python API: `ganhub.train(...)`, `ganhub.load(run_dir)`, `model.sample(n, seed=...)`."""

from __future__ import annotations

import contextlib
import operator
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganhub.clikit import MAX_WRITTEN_SAMPLES
from ganhub.closed_output import guarded_output, say
from ganhub.config.resolve import read_saved, resolve
from ganhub.config.schema import RunConfig
from ganhub.engine import checkpoint
from ganhub.errors import UsageError, one_line
from ganhub.interrupts import terminate_unwinds
from ganhub.plugins import Hub, get_hub
from ganhub.provenance import require_installed


def train(
    config: RunConfig | Mapping[str, Any] | Iterable[str] | os.PathLike[str] | None = None,
    hub: Hub | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Train a GAN and return the run summary (run_dir, steps, seconds, metrics, samples).

    `config` is a validated RunConfig, a nested dict (dotted keys as their nested form), a list
    of `key=value` strings, one `key=value` string, or the path of a YAML config file;
    keyword arguments are dotted overrides with `__` for dots:
    `ganhub.train(plugin="toy2d", trainer__steps=500)`.
    """
    # as `ganhub run` does: SIGTERM unwinds (a run stopped while it starts removes its
    # folder), and under torchrun a rank that fails, before it joins the job or after, tells
    # the other ranks why (`interrupts.before_exit`), which then end at once naming it; and
    # what anyone prints meanwhile (a note, a plugin's, a library's) drops its line when the
    # script's output is gone (`python train.py | head`, `> /dev/full`): the run goes on
    with guarded_output(), terminate_unwinds():
        return _train(config, hub, overrides)


def _train(config: Any, hub: Hub | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """`train`, inside `terminate_unwinds`."""
    from ganhub.config.sources import merge_given, nest_dotted
    from ganhub.engine.loop import fit
    from ganhub.wiring import make_run

    hub = _checked_hub("train", hub)
    if not isinstance(config, RunConfig):
        files, items = _config_input(config)
        overrides = {k: _plain(v) for k, v in overrides.items()}
        extra = [f"{k.replace('__', '.')}={_yaml_value(v)}" for k, v in overrides.items()]
        if isinstance(items, Mapping):  # a keyword in a section the dict sets joins it
            given = nest_dotted(_plain(items), "the config dict")
            config = resolve(merge_given(given, _nest(overrides)), files, hub=hub)
        else:
            config = resolve([*items, *extra], files, hub=hub)
    elif overrides:
        raise UsageError("pass overrides inside the config, not next to a validated RunConfig")
    from ganhub.engine.environment import caller_state_kept

    with caller_state_kept():  # seeds, deterministic flags, grad mode: the run's, then back
        return fit(make_run(config, hub))


class TrainedGAN:
    """A trained system restored from a run directory, ready to sample."""

    def __init__(
        self,
        system: Any,
        config: RunConfig,
        checkpoint_path: Path,
        step: int | None = None,
        *,
        exported: bool = False,
    ) -> None:
        self.system = system
        self.config = config
        self.checkpoint = checkpoint_path
        self._step = step  # an exported folder's (its weights file is not named by its step)
        # from a `ganhub export` folder: only what the export spec holds (the generators) is
        # trained; the discriminators are freshly initialised and mean nothing
        self.exported = exported

    def __repr__(self) -> str:
        """What a notebook shows: the domain, the step and where the weights came from."""
        source = "export" if self.exported else "checkpoint"
        return (
            f"<TrainedGAN {self.config.plugin} at step {self.step} from {source} "
            f"'{self.checkpoint}' on {self.system.device}>"
        )

    @property
    def generator(self) -> nn.Module:
        """The generator (its EMA weights when the run used the ema trick); of a run with several,
        the first (cyclegan's G_AB; `model.system.generator("G_BA")` gives another)."""
        return self.system.generator()

    @property
    def step(self) -> int:
        """The training step of the loaded checkpoint."""
        return checkpoint.step_of(self.checkpoint) if self._step is None else self._step

    def sample(self, n: int, seed: int | None = 0, labels: Any = None) -> Any:
        """`n` samples (images in [-1, 1], points, token ids...) from the generator.

        Conditional runs take `labels`: one class for all (an index, a class name, or
        "1,2,3" for several label factors) or a tensor of n labels; None draws them uniformly.
        """
        return self._draw(n, seed, labels, display=False)

    def _draw(self, n: int, seed: int | None, labels: Any, *, display: bool) -> Any:
        """`sample`'s checked draw: the system's `sample` (what metrics score), or with
        `display` its `display_samples` (what its pictures show: stylegan's truncation)."""
        n = check_count("n", n)
        seed = None if seed is None else check_seed(seed)
        labels = _as_labels(labels)
        if labels is not None and not isinstance(labels, torch.Tensor):
            labels = self.labels_for(labels, n)
        elif labels is not None:
            self._check_labels(labels, n)
        from ganhub.engine.start import fits_in_memory

        with (
            evaluating(self.system),
            fits_in_memory(f"n={n:,} samples", "draw them in smaller batches"),
        ):
            draw = self.system.display_samples if display else self.system.sample
            return draw(n, seed=seed, labels=labels)

    def _check_labels(self, labels: torch.Tensor, n: int) -> None:
        """A tensor of labels: n integer rows of this run's classes."""
        spec = self.system.capabilities().labels
        if spec is None:
            raise UsageError(
                f"this '{self.config.plugin}' run is not conditional; it has no labels"
            )
        shape = (n,) if spec.factors == 1 else (n, spec.factors)
        wrong_kind = (
            labels.dtype.is_floating_point or labels.is_complex() or labels.dtype == torch.bool
        )
        if tuple(labels.shape) != shape or wrong_kind:
            raise UsageError(
                f"labels: an integer tensor of shape {shape} is needed, got {labels.dtype} "
                f"{tuple(labels.shape)}"
            )
        sizes = torch.tensor(spec.sizes, device=labels.device)
        outside = (labels < 0) | (labels >= sizes)
        if bool(outside.any()):  # a user's call, not the hot loop
            first = labels.reshape(-1)[outside.reshape(-1)][0].item()
            raise UsageError(
                f"labels: {first} is not a class; each must be in 0..size-1 of its factor "
                f"(sizes {spec.sizes})"
            )

    def labels_for(self, label: int | str, n: int) -> torch.Tensor:
        """n copies of one class: an int is its index, text its name (or "1,2,3" for several
        factors; an index written as text when no class has that name)."""
        from ganhub.conditioning.nets import as_label_tensor

        n = check_count("n", n)  # -1 gave one label, 0 none, True one, 2.0 a TypeError
        spec = self.system.capabilities().labels
        if spec is None:
            raise UsageError(
                f"this '{self.config.plugin}' run is not conditional; it has no labels"
            )
        index = _whole(label)
        if index is None or spec.factors != 1:
            return as_label_tensor(spec, spec.parse(str(label)), n, self.system.device)
        if not 0 <= index < spec.sizes[0]:  # classes named "1", "2", "10": 1 is the second
            names = spec.class_names()
            raise UsageError(
                f"label {index}: a class index is 0..{spec.sizes[0] - 1}, or a class name as "
                f"text ({', '.join(repr(c) for c in names[:6])}{', ...' if len(names) > 6 else ''})"
            )
        return as_label_tensor(spec, [index], n, self.system.device)

    def write_class(
        self, directory: str | Path, label: int | str, n: int | None = None, seed: int = 0,
        suffix: str = "",
    ) -> Path:  # fmt: skip
        """Write a grid of `n` image samples of one class of a conditional run; its path
        (`suffix` ends the file's stem, e.g. the sampling options it was made with), drawn
        as the domain's pictures draw them (`GANSystem.display_samples`). `n`
        (1 to 10,000, as for `write_samples`) defaults to the run's `sample.grid` where its
        domain has that key, else 64."""
        from ganhub.data.images import save_image_grid

        # as write_samples: one bound for every grid (20,000 was drawn until memory ran out),
        # and the seed checked before the file is named by it (seed=None wrote "seedNone")
        n = self._grid_size() if n is None else _written_count(n)
        seed = check_seed(seed)
        labels = self.labels_for(label, n)
        spec = self.system.capabilities().labels
        assert spec is not None
        name = spec.describe(labels[0].reshape(-1).tolist())
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40]
        images = self._draw(n, seed, labels, display=True)
        return save_image_grid(
            images, Path(directory) / f"sample_label{safe}_seed{seed}_n{n}{suffix}.png"
        )

    def _grid_size(self) -> int:
        """The images in one grid of this run: its config's `sample.grid` (a key of the
        domain's sampling section, as stylegan's), else 64."""
        section = self.config.model_dump().get("sample")
        grid = section.get("grid") if isinstance(section, dict) else None
        return grid if isinstance(grid, int) and not isinstance(grid, bool) and grid > 0 else 64

    def write_samples(
        self, directory: str | Path, stem: str = "samples", n: int | None = None, seed: int = 0
    ) -> list[Path]:
        """Write the domain's sample artifact (grid, text, NIfTI) into `directory`: `n`
        samples (1 to 10,000; None: the domain's usual count) drawn with `seed`."""
        n = None if n is None else _written_count(n)
        seed = check_seed(seed)
        if Path(directory).exists() and not Path(directory).is_dir():
            raise UsageError(f"{directory}: a file is there where a folder is needed")
        from ganhub.engine.system import write_samples_of

        with evaluating(self.system):  # where the model comes from: `GANSystem.write_samples`
            return write_samples_of(self.system, Path(directory), stem, n=n, seed=seed,
                                    run_dir=self.run_dir, step=self.step)  # fmt: skip

    @property
    def run_dir(self) -> Path:
        """The run directory (or `ganhub export` folder) the weights were loaded from."""
        # a checkpoint is RUN/checkpoints/step_N (or the best one beside it); an export's
        # weights file lies in its folder
        return self.checkpoint.parent if self.exported else self.checkpoint.parent.parent


def load(
    run_dir: str | Path,
    device: str = "cpu",
    hub: Hub | None = None,
    *,
    plugin: str | None = None,
    overrides: Iterable[str] = (),
    best: bool = False,
) -> TrainedGAN:
    """Restore the latest checkpoint of a run directory (weights only; nothing is unpickled).

    This is the one way to open a run, and a folder written by `ganhub export` opens the same
    way (from its generator.safetensors). `plugin` names the domain the caller needs (a domain's
    commands pass their own): a run of another domain is refused with one line. A run whose
    plugin is not installed gets an error naming it and the `pip install` line that adds it.
    `overrides` are `key=value` changes to the saved config (e.g. sampling options).
    `best=True` opens the checkpoint kept by `trainer.keep_best` instead of the latest.
    """
    from ganhub.engine.environment import select_device
    from ganhub.engine.run import prepare_system
    from ganhub.wiring import components

    if not isinstance(run_dir, str | Path) or run_dir == "":  # "" would be the current folder
        raise UsageError(f"ganhub.load({run_dir!r}): give the path of a run directory")
    if not isinstance(device, str | torch.device):
        raise UsageError(
            f"ganhub.load(device={one_line(device, 60)}): give 'cpu', 'cuda', 'cuda:N', 'mps', "
            "'auto' or a torch.device"
        )
    hub = _checked_hub("load", hub)
    run_dir = Path(run_dir)
    saved = read_saved(run_dir)
    name = saved.get("plugin")
    if not isinstance(name, str) or not name:
        raise UsageError(f"'{run_dir / 'config.yaml'}' names no plugin; it is not a ganhub run")
    if plugin is not None and name != plugin:
        raise UsageError(f"'{run_dir}' is a '{name}' run; this command needs a '{plugin}' run")
    require_installed(run_dir, saved, hub)
    # the run was validated when it trained; its data folder need not exist any more
    items = _override_list(f"ganhub.load(overrides={_shown(overrides)})", overrides)
    config = resolve(
        items, hub=hub, training=False, saved=saved, origin=str(run_dir / "config.yaml")
    )
    from ganhub.exported import MANIFEST, read_weights, restore

    if (run_dir / MANIFEST).is_file():  # a folder written by `ganhub export`
        if best:
            raise UsageError(f"'{run_dir}' is an exported folder: it holds one set of weights")
        path, tensors, step = read_weights(run_dir, config.plugin)
        parts = components(config, hub, training=False)
        system, _ = prepare_system(config, parts, select_device(str(device)), saved=True)
        restore(system.export_spec(), tensors, path, config.plugin)
        system.eval()
        return TrainedGAN(system, config, path, step=step, exported=True)
    # the weights alone: a damaged optimizer state does not stop sampling or scoring
    found = (
        checkpoint.load_best(run_dir / "checkpoints", weights_only=True)
        if best
        else checkpoint.load_newest(run_dir / "checkpoints", warn=say, weights_only=True)
    )
    if found is None:
        raise UsageError(f"'{run_dir}' has no readable checkpoint")
    path, _, model_state, _ = found
    torch_device = select_device(str(device))
    parts = components(config, hub, training=False)
    system, _ = prepare_system(config, parts, torch_device, saved=True)
    mismatch = checkpoint.load_fitting(system, model_state, torch_device)
    if mismatch:
        given = [str(item).partition("=")[0] for item in overrides]
        whose = f"the config with {', '.join(given)} changed" if given else "its run's config"
        raise UsageError(f"checkpoint '{path}' does not fit {whose}: {mismatch}")
    system.eval()
    return TrainedGAN(system, config, path)


@contextlib.contextmanager
def evaluating(module: nn.Module) -> Iterator[None]:
    """`module` in eval mode without gradients inside; each submodule's own training flag back
    after (a caller fine-tuning the loaded generator keeps its train mode)."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, training in modes:
            m.training = training


def _checked_hub(call: str, hub: Any) -> Hub:
    """The plugin hub a call was given, or the installed one; one line for anything else."""
    if hub is None:
        return get_hub()
    if not isinstance(hub, Hub):
        raise UsageError(
            f"ganhub.{call}(hub={one_line(repr(hub), 60)}): give a ganhub.plugins.Hub or leave it out"
        )
    return hub


def _plain(value: Any) -> Any:
    """A value given to the Python API as config data: paths as text, NumPy and 0-d tensor
    numbers as Python numbers, devices as text, tuples and sets as lists (a set sorted)."""
    if isinstance(value, Mapping):
        return {key: _plain(v) for key, v in value.items()}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, torch.device):
        return str(value)
    if isinstance(value, set | frozenset):
        items = [_plain(v) for v in value]
        try:
            return sorted(items)
        except TypeError:  # mixed kinds: any order; the config check names what is wrong
            return items
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic) or (isinstance(value, torch.Tensor) and value.ndim == 0):
        return value.item()
    return value


def _as_labels(labels: Any) -> Any:
    """Labels given as an array or a list of integers as a tensor; a 0-d one as one class."""
    if isinstance(labels, np.ndarray | list | tuple):
        try:
            labels = torch.as_tensor(labels)
        except (TypeError, ValueError, RuntimeError):
            raise UsageError(
                f"labels={one_line(labels, 60)}: give one class (an index or a name) or n "
                "integer labels"
            ) from None
    if isinstance(labels, torch.Tensor) and labels.ndim == 0:
        return labels.item()
    return labels


def _yaml_value(value: Any) -> str:
    from ganhub.config.overrides import dump_yaml

    return dump_yaml(value, default_flow_style=True).strip().removesuffix("...").strip()


def _whole(value: Any) -> int | None:
    """`value` as an int when it is a whole number (numpy's included), else None."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def check_count(name: str, value: Any) -> int:
    """`value` as an int, or a one-line refusal when it is not a positive whole number."""
    whole = _whole(value)
    if whole is None or whole < 1:
        raise UsageError(f"{name}={value!r}: a whole number of at least 1 is needed")
    return whole


def _written_count(value: Any) -> int:
    """`value` as the count of one grid or file (`write_samples`, `write_class`): a whole
    number from 1 to MAX_WRITTEN_SAMPLES, else one line (`sample`, which writes nothing, takes
    any count that fits in memory)."""
    n = check_count("n", value)
    if n > MAX_WRITTEN_SAMPLES:
        raise UsageError(
            f"n={n}: at most {MAX_WRITTEN_SAMPLES:,} samples per grid or file (they are "
            "generated in one batch); write several with other seeds"
        )
    return n


def check_seed(value: Any) -> int:
    """`value` as an int, or a one-line refusal when torch cannot take it as a seed."""
    from ganhub.config.schema import MAX_SEED

    whole = _whole(value)
    if whole is None or not 0 <= whole <= MAX_SEED:
        raise UsageError(f"seed={value!r}: a whole number from 0 to {MAX_SEED} is needed")
    return whole


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    from ganhub.config.overrides import set_dotted

    out: dict[str, Any] = {}
    for key, value in flat.items():  # trainer__steps, or **{"trainer.steps": ...}
        set_dotted(out, re.split(r"__|\.", key), value)
    return out


# `key=value` as `ganhub run` takes it: a key starts with a letter or `_`, its parts joined by `.`
_OVERRIDE = re.compile(r"[A-Za-z_][\w.]*=")


def _shown(value: Any) -> str:
    return one_line(repr(value), 60)


def _config_input(config: Any) -> tuple[list[str], Mapping[str, Any] | list[str]]:
    """`ganhub.train`'s first argument as (YAML files, a dict or `key=value` strings): a str
    or path that is no `key=value` names a YAML config file; a one-line error for the rest."""
    call = f"ganhub.train(config={_shown(config)})"
    if config is None:
        return [], []
    if isinstance(config, os.PathLike):
        return [os.fspath(config)], []
    if isinstance(config, str) and not _OVERRIDE.match(config.strip()):
        text = config.strip()
        named = text.lower().endswith((".yaml", ".yml")) or _is_file(text)
        if not named or "\n" in text:
            raise UsageError(
                f"{call}: neither a 'key=value' override nor a YAML config file; give a file's "
                "path (ok.yaml), 'key=value' strings (['plugin=toy2d']), a dict or a RunConfig"
            )
        return [config], []  # `ganhub.train("ok.yaml")`, as `config=ok.yaml`
    if isinstance(config, Mapping):
        return [], config
    return [], _override_list(call, config, "a RunConfig, a dict, or 'key=value' strings")


def _is_file(text: str) -> bool:
    from ganhub.config.schema import expand_path_text

    try:
        return Path(expand_path_text(text)).is_file()
    except (OSError, ValueError):  # a name too long, a NUL byte: no file
        return False


def _override_list(call: str, given: Any, kinds: str = "'key=value' strings") -> list[str]:
    """`key=value` strings given as one str or an iterable of them, as a list; a string that
    holds several (`"plugin=toy2d trainer.steps=5"`) is refused, naming the list it means."""
    items = [given] if isinstance(given, str) else given
    if not isinstance(items, Iterable) or isinstance(items, Mapping):
        raise UsageError(f"{call}: give {kinds}")
    items = list(items)
    if not all(isinstance(i, str) for i in items):
        raise UsageError(f"{call}: give {kinds}")
    for item in items:
        words = item.split()
        if len(words) > 1 and all(_OVERRIDE.match(w) for w in words):
            raise UsageError(
                f"{call}: one string holds {len(words)} overrides; pass a list with one "
                f"'key=value' string each ({one_line(words, 80)})"
            )
    return items


__all__ = [
    "TrainedGAN",
    "check_count",
    "check_seed",
    "evaluating",
    "load",
    "train",
]
