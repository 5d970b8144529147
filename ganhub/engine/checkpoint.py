"""Checkpoints without pickle: safetensors for tensors, JSON for everything else, written atomically.

A checkpoint is a directory `checkpoints/step_000100/` holding
  model.safetensors   the system's state_dict (G, D, EMA copies, buffers)
  state.safetensors   every tensor of the training state (optimizer moments, RNG states...)
  state.json          the rest of the state, with {"__tensor__": key} where tensors were
                      (read back with every part checked: `ganhub.engine.checkpoint_state`)
It is written to a temporary directory and renamed into place, then `checkpoints/latest` is
replaced atomically, so a crash at any moment leaves the previous checkpoint intact.

With `trainer.keep_best`, `checkpoints/best.json` names the step whose checkpoint scored best
({"metric", "step", "value", "better"}); pruning leaves that step alone. Pruning never removes
a checkpoint it cannot verify: it renames it `step_N.damaged`, which no load reads, and says so.

For plugins: `write_text_atomic`, a text file written whole or not at all; the rest is the engine's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Collection
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from ganhub.closed_output import say
from ganhub.engine.checkpoint_fit import load_fitting as load_fitting  # weights into a model
from ganhub.engine.checkpoint_fit import mismatch as mismatch
from ganhub.engine.checkpoint_state import BEST as BEST  # the best checkpoint's record
from ganhub.engine.checkpoint_state import Best as Best
from ganhub.engine.checkpoint_state import DamagedState, read_state
from ganhub.engine.checkpoint_state import misfit_line as misfit_line  # a resume's refusal
from ganhub.engine.checkpoint_state import read_best as read_best
from ganhub.engine.checkpoint_state import unflatten as unflatten  # the inverse of flatten
from ganhub.errors import UsageError, writing
from ganhub.runfiles import CHECKPOINT_FILES, latest_checkpoint
from ganhub.runfiles import MAX_STATE_JSON as MAX_STATE_JSON
from ganhub.runfiles import step_dirs as step_dirs
from ganhub.runfiles import step_of as step_of

LATEST = "latest"  # a pointer for people and tools; loading scans the step directories
# the layout (`ganhub.runfiles`, where a resume's config check reads it too, without torch)
FILES, latest = CHECKPOINT_FILES, latest_checkpoint
# untrusted sizes: a safetensors header is at most safetensors' own limit; state.json holds
# only the non-tensor skeleton of the training state (tens of KB), so 64 MiB is damage
MAX_HEADER = 100_000_000
_LEFTOVER = re.compile(r"^\.step_\d{7,}\.(tmp|replaced)$")  # of a save that was cut short


def _warn(line: str) -> None:
    """A warning on stderr (the default where no console is given)."""
    say(line)


class Unstorable(TypeError):
    """A value of the training state that a checkpoint cannot hold; `path` is where it sits
    (the keys and indexes from the top: ["tricks", "ema", "seen"])."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind
        self.path: list[Any] = []

    def __str__(self) -> str:
        where = "".join(f"[{k!r}]" for k in self.path)
        return f"cannot checkpoint a value of type {self.kind}" + (f" at {where}" if where else "")


def flatten(obj: Any, tensors: dict[str, Tensor], prefix: str = "t") -> Any:
    """Replace tensors in a nested structure by references, collecting them into `tensors`."""
    if isinstance(obj, Tensor):
        key = f"{prefix}.{len(tensors)}"
        tensors[key] = obj.detach().to("cpu", copy=True).contiguous()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: _flatten_at(k, v, tensors, prefix) for k, v in obj.items()}
        return {"__items__": [[k, _flatten_at(k, v, tensors, prefix)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_flatten_at(i, v, tensors, prefix) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_flatten_at(i, v, tensors, prefix) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if hasattr(obj, "tolist"):  # numpy arrays and scalars (numpy RNG state)
        return {"__tensor__": _store(torch.as_tensor(obj), tensors, prefix)}
    raise Unstorable(type(obj).__name__)


def _flatten_at(key: Any, value: Any, tensors: dict[str, Tensor], prefix: str) -> Any:
    """`flatten(value)`, a value it cannot hold told where it sits (`key` within its parent)."""
    try:
        return flatten(value, tensors, prefix)
    except Unstorable as exc:
        exc.path.insert(0, key)
        raise


def _store(t: Tensor, tensors: dict[str, Tensor], prefix: str) -> str:
    key = f"{prefix}.{len(tensors)}"
    tensors[key] = t.detach().to("cpu", copy=True).contiguous()
    return key


def save(
    directory: Path,
    step: int,
    model_state: dict[str, Tensor],
    state: dict[str, Any],
    keep: int,
    protect: Collection[str] = (),
    warn: Callable[[str], None] = _warn,
) -> Path:
    """Write checkpoint `step` atomically under `directory`, keep the newest `keep` (and the
    step directories named in `protect`, such as the best one); return it. A checkpoint that
    cannot be verified is moved aside, never removed (`_prune`), and `warn` says so."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"step_{step:07d}"
    final = directory / name
    tmp = directory / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tensors: dict[str, Tensor] = {}
    skeleton = flatten(state, tensors)  # before any file: a value it cannot hold leaves none
    tmp.mkdir()
    try:
        weights = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model_state.items()}
        with writing(final):  # a full disk is one line naming the checkpoint
            meta = {"format": "pt", "step": str(step)}
            save_file(weights, str(tmp / "model.safetensors"), metadata=meta)
            save_file(tensors, str(tmp / "state.safetensors"))
            text = json.dumps({"step": step, "state": skeleton}, indent=1)
            _named(final, (tmp / "state.json").write_text, text)
        # safetensors writes owner-only files: give them the umask's mode, as state.json has, so
        # that others on a shared file system can load the run
        mode = (tmp / "state.json").stat().st_mode & 0o777
        for tensor_file in ("model.safetensors", "state.safetensors"):
            (tmp / tensor_file).chmod(mode)
        for f in tmp.iterdir():
            _fsync(f)
        _fsync_dir(tmp)  # its entries: the files must be there when the folder is
        aside = directory / f".{name}.replaced"
        if final.exists():  # the same step again (a finished run resumed, a signal after a save)
            try:
                load(final)
            except UsageError as exc:  # damaged: moved aside, older siblings loadable meanwhile
                shutil.rmtree(aside, ignore_errors=True)
                os.replace(final, aside)
                warn(f"ganhub: warning: {exc}; the run wrote step {step} again in its place")
            else:  # it holds this step already: never remove a good checkpoint to rewrite it
                shutil.rmtree(tmp)
                write_text_atomic(directory / LATEST, name)
                return final
        os.replace(tmp, final)
        _fsync_dir(directory)  # the rename is on disk before older checkpoints are pruned
    except BaseException:  # a full disk, Ctrl-C: no half-written folder left behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(aside, ignore_errors=True)
    write_text_atomic(directory / LATEST, name)
    _prune(directory, keep, protect={name, *protect}, warn=warn, newest=step)
    return final


def load(path: Path, weights_only: bool = False) -> tuple[int, dict[str, Tensor], dict[str, Any]]:
    """Read a checkpoint directory: (step, model state_dict, training state). Never unpickles.
    `weights_only`: the weights alone, the training state left unread ({}), for sampling and
    scoring, which a damaged optimizer state must not stop.

    Raises a one-line `UsageError` when a file is missing, truncated or not what it should be
    (state.json: naming the key that is missing or wrong), or when the weights are not finite.
    """
    if weights_only:
        try:
            model_state = load_file(str(path / "model.safetensors"))
        except Exception as exc:  # SafetensorError, OSError...
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UsageError(f"checkpoint '{path}' is unreadable: {reason}") from None
        bad = nonfinite(model_state)
        if bad:
            raise UsageError(f"checkpoint '{path}' holds non-finite weights ({bad[0]}...)")
        return step_of(path), model_state, {}
    try:
        model_state = load_file(str(path / "model.safetensors"))
        tensors = load_file(str(path / "state.safetensors"))
        meta = json.loads(_state_json(path))
        step, state = read_state(meta, tensors)  # every part checked: the file is untrusted
    except DamagedState as exc:  # read whole, but not what `save` wrote: edited or damaged
        raise UsageError(f"checkpoint '{path}' is damaged: its state.json {exc}") from None
    except Exception as exc:  # SafetensorError, OSError, ValueError (not JSON), RecursionError
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"checkpoint '{path}' is unreadable: {reason}") from None
    if step != step_of(path):
        raise UsageError(
            f"checkpoint '{path}' is damaged: its state.json says step {step}, its folder "
            f"{path.name}"
        )
    bad = nonfinite(model_state)
    if bad:
        raise UsageError(f"checkpoint '{path}' holds non-finite weights ({bad[0]}...)")
    return step, model_state, state


def _state_json(path: Path) -> str:
    """A checkpoint's state.json, refused past MAX_STATE_JSON before it is read."""
    file = path / "state.json"
    size = file.stat().st_size
    if size > MAX_STATE_JSON:
        raise ValueError(f"state.json is {size:,} bytes, more than a state.json holds")
    return file.read_text(encoding="utf-8")


def load_newest(
    directory: Path, warn: Callable[[str], None] = print, weights_only: bool = False
) -> tuple[Path, int, dict[str, Tensor], dict[str, Any]] | None:
    """Load the newest checkpoint that reads back whole, skipping damaged ones with a warning;
    None when there is none. When none reads back, the oldest one's reason is the error (one
    line: no warning promising a previous checkpoint that is not there)."""
    paths = step_dirs(directory)
    for i, path in enumerate(paths):
        try:
            step, model_state, state = load(path, weights_only)
        except UsageError as exc:
            if i + 1 < len(paths):
                warn(f"ganhub: warning: {exc}; trying the previous checkpoint")
                continue
            if i == 0:
                raise
            raise UsageError(f"{exc}; none of the {len(paths)} checkpoints reads back") from None
        return path, step, model_state, state
    return None


def nonfinite(tensors: dict[str, Tensor]) -> list[str]:
    """Names of floating tensors holding NaN or Inf (one reduction per tensor, on the host)."""
    return [
        k for k, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` whole or not at all: a hidden temporary file, synced, renamed."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)  # a link planted there is removed, never written through
    try:
        _named(path, _write_new, tmp, text)
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:  # a full disk, Ctrl-C: no temporary file left behind
        tmp.unlink(missing_ok=True)
        raise


def _write_new(path: Path, text: str) -> None:
    """Write `text` to the new file `path` (never through a link planted there)."""
    with path.open("x", encoding="utf-8") as fh:
        fh.write(text)


def _named(path: Path, write: Callable[..., Any], *args: Any) -> None:
    """`write(*args)`, an OSError that names no file (a full disk met as Python flushes a
    file's last bytes) naming `path`: the command line shows it in one line."""
    try:
        write(*args)
    except OSError as exc:
        if exc.filename is not None:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc


def read_texts(directory: Path, names: Collection[str]) -> dict[str, str | None]:
    """The named files' texts, None for one that does not exist (an unreadable one is left
    out: `restore_texts` leaves it alone)."""
    texts: dict[str, str | None] = {}
    for name in names:
        try:
            texts[name] = (directory / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            texts[name] = None
        except OSError:
            continue
    return texts


def restore_texts(directory: Path, texts: dict[str, str | None]) -> None:
    """Put files back as `read_texts` found them: rewritten atomically where they changed,
    or removed where they did not exist."""
    for name, text in texts.items():
        if text is None:
            (directory / name).unlink(missing_ok=True)
        elif read_texts(directory, [name]).get(name) != text:
            write_text_atomic(directory / name, text)


def _fsync(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk; a no-op where folders cannot be
    opened (Windows) or synced (some network file systems)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _prune(
    directory: Path,
    keep: int,
    protect: Collection[str],
    warn: Callable[[str], None] = _warn,
    newest: int | None = None,
) -> None:
    """Remove verified checkpoints past the newest `keep` (and those in `protect`); move the
    ones that cannot be verified aside (`_set_aside`), saying so: only whole checkpoints count,
    so a damaged one (which a resume skipped with a warning) never pushes out the good one the
    run resumed from, and what could not be read is never deleted unseen. `newest`: the step
    just saved; a checkpoint past it is one the resume could not load."""
    found = step_dirs(directory)
    verified = []
    for path in found:
        if path.name in protect:
            verified.append(path)
        elif _empty(path):  # a folder with nothing in it: nothing to keep
            shutil.rmtree(path, ignore_errors=True)
        elif not _whole(path) or (newest is not None and step_of(path) > newest and _fails(path)):
            _set_aside(path, warn)
        else:
            verified.append(path)
    kept = {p.name for p in verified[:keep]} | set(protect)
    for old in verified:
        if old.name not in kept:
            shutil.rmtree(old, ignore_errors=True)
    # the temporary folder of a save a crash or a second Ctrl-C cut short, at a step no later
    # save reaches again; one process writes a run (its lock), so none is in use
    for entry in directory.iterdir():
        if _LEFTOVER.match(entry.name) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)


DAMAGED = ".damaged"  # the suffix of a checkpoint set aside: step_0000060.damaged


def _empty(path: Path) -> bool:
    """Whether the folder `path` holds nothing (False when it cannot be listed)."""
    try:
        return not any(path.iterdir())
    except OSError:
        return False


def _fails(path: Path) -> bool:
    """Whether the checkpoint at `path` does not read back (`load` refuses it)."""
    try:
        load(path)
    except UsageError:
        return True
    return False


def _set_aside(path: Path, warn: Callable[[str], None]) -> None:
    """Rename a checkpoint that cannot be verified to `step_N.damaged` (`-1`, `-2`... when
    taken), which no resume or load reads, and say where it went."""
    aside = path.with_name(path.name + DAMAGED)
    n = 0
    while aside.exists() or aside.is_symlink():
        n += 1
        aside = path.with_name(f"{path.name}{DAMAGED}-{n}")
    try:
        os.replace(path, aside)
    except OSError as exc:
        warn(f"ganhub: warning: checkpoint '{path}' cannot be verified; left as it is ({exc})")
        return
    warn(
        f"ganhub: warning: checkpoint '{path}' cannot be verified (damaged, or cut short); "
        f"moved it to {aside.name}, which no resume reads; remove it once it is of no use"
    )


def _whole(path: Path) -> bool:
    """Whether a checkpoint's files are all there and each safetensors file is as long as its
    header says (a cheap check: no tensor is read). Its files are untrusted: any damage,
    a header size past the file's end included, is False, never an exception."""
    try:
        for name in ("model.safetensors", "state.safetensors"):
            file = path / name
            length = file.stat().st_size
            with file.open("rb") as fh:
                size = int.from_bytes(fh.read(8), "little")
                if size > min(length - 8, MAX_HEADER):
                    return False
                header = json.loads(fh.read(size))
            ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
            if length != 8 + size + max(ends, default=0):
                return False
        json.loads(_state_json(path))
    except Exception:  # whatever the damage (a deep JSON nesting: RecursionError)
        return False
    return True


def prune(
    directory: Path, keep: int, protect: Collection[str] = (), warn: Callable[[str], None] = _warn
) -> None:
    """Remove all but the newest `keep` checkpoints and those named in `protect` (those that
    cannot be verified are moved aside, with a warning)."""
    _prune(directory, keep, protect, warn)


# -- the best checkpoint (trainer.keep_best) -----------------------------------------------


def write_best(directory: Path, best: Best) -> None:
    """Record `best` atomically (write its checkpoint first: the record must never lead)."""
    write_text_atomic(directory / BEST, json.dumps(asdict(best), indent=1))


def load_best(
    directory: Path, weights_only: bool = False
) -> tuple[Path, int, dict[str, Tensor], dict[str, Any]]:
    """Load the checkpoint `best.json` names; a one-line `UsageError` if there is none."""
    best = read_best(directory)
    if best is None:
        raise UsageError(
            f"'{directory}' has no best checkpoint: the run was not trained with "
            "trainer.keep_best=METRIC"
        )
    path = directory / best.name
    if not path.is_dir():
        raise UsageError(f"'{directory / BEST}' names step {best.step}, whose checkpoint is gone")
    step, model_state, state = load(path, weights_only)
    return path, step, model_state, state


__all__ = ["write_text_atomic"]
