"""The Weights & Biases logger (`loggers=[wandb]`): offline by default, files under <run>/wandb."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from ganhub.closed_output import say
from ganhub.config.schema import Section
from ganhub.errors import UsageError, one_line
from ganhub.loggers import Logger
from ganhub.loggers.names import MetricNames, sample_tag_reason

if TYPE_CHECKING:
    from ganhub.config.schema import RunConfig

from ganhub.loggers.trackers.common import (
    INSTALL,
    _environ,
    _first_line,
    _importable,
    _newest_checkpoint,
    _plain_text,
    _read_id_file,
    _unreachable,
    _warn,
    _write_id_file,
)

WANDB_RUN_FILE = "wandb_run.json"
# the run's config.yaml in the W&B run's files: W&B keeps `config.yaml` there for its own
CONFIG_COPY = "ganhub-config.yaml"
_WANDB_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
WandbMode = Literal["offline", "online", "disabled"]
# W&B's own spellings of WANDB_MODE, old ones included
_WANDB_MODES: dict[str, WandbMode] = {"offline": "offline", "dryrun": "offline",
    "online": "online", "run": "online", "disabled": "disabled"}  # fmt: skip


class WandbOptions(Section):
    """Options of the wandb logger (`logger.wandb.KEY=VALUE`)."""

    project: str | None = Field(
        None, max_length=128, description="project (default: $WANDB_PROJECT, else the plugin name)"
    )
    entity: str | None = Field(
        None, max_length=128, description="team or user owning the project (default: W&B's)"
    )
    mode: WandbMode | None = Field(
        None,
        description="offline: files under <run>/wandb, upload later with wandb sync; online: "
        "needs wandb login; disabled: no W&B at all. Default: $WANDB_MODE, else offline",
    )
    log_checkpoint: bool = Field(
        True, description="log the newest checkpoint as a model artifact when the run ends"
    )

    @field_validator("project", "entity")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        _plain_text(v, what="name")
        if v is not None and any(c in v for c in "/\\#?%:"):
            raise ValueError("W&B names cannot contain / \\ # ? % or :")
        return v


# -- Weights & Biases --------------------------------------------------------------------------


def _stop_idle_service(wandb: Any, own_service: bool) -> None:
    """Stop W&B's service process when this run keeps its logs and no run is open (one the
    caller has open keeps it running): the next run's service then writes into its own run."""
    if own_service and not _runs_open(wandb):
        wandb.teardown()


def _runs_open(wandb: Any) -> bool:
    """Whether any W&B run is open in this process (`wandb.run` misses runs made with
    reinit="create_new"); True where this wandb version does not say."""
    try:
        return wandb.sdk.wandb_setup.singleton().most_recent_active_run is not None
    except AttributeError:
        return True


def _wandb_mode(options: WandbOptions) -> WandbMode:
    """The mode the user chose (option, then W&B's own variable), else offline."""
    if options.mode is not None:
        return options.mode
    env = os.environ.get("WANDB_MODE", "").strip()
    if not env:
        return "offline"
    if env not in _WANDB_MODES:
        raise UsageError(
            f"WANDB_MODE='{one_line(env, 50)}' is not a W&B mode; use offline, online or "
            "disabled (or logger.wandb.mode=...)"
        )
    return _WANDB_MODES[env]


def _offline_line(run_dir: Path, run_id: str) -> str:
    """Where an offline run is, and the `wandb sync` that uploads all its sessions (a resume
    writes a folder of its own for the same run id) as one W&B run. W&B names a session's
    folder by its start second and adds -1, -2, ... to a name already taken (a resume within
    the same second): the glob takes those too."""
    folders = shlex.quote(str(run_dir / "wandb")) + f"/offline-run-*-{run_id}*"
    where = run_dir / "wandb"
    return f"ganhub: W&B offline run {run_id} in {where}; to upload it: wandb sync {folders}"


def _new_second(wandb_dir: Path, run_id: str) -> None:
    """Wait (under a second) until no session of this run started in the current second.
    W&B names a session's folder by its start second (`offline-run-<date>_<time>-<id>`, or
    `run-...` online): older wandb releases (0.21) write a resume that starts in the same second
    into the earlier session's folder, over its records (later ones add -1)."""
    while True:
        now = datetime.now()  # W&B's folder time: local, to the second
        if not any(wandb_dir.glob(f"*run-{now:%Y%m%d_%H%M%S}-{run_id}*")):
            return
        time.sleep(1.01 - now.microsecond / 1e6)


def _reserved_by_wandb(name: str) -> str | None:
    """Why W&B's records keep `name` for themselves: the `step` column every metric is
    plotted against, W&B's own `_step`, `_runtime`, `_timestamp` (it overwrites them, or takes
    the metric as its own), the sample images' key; None for a name a metric may have."""
    if name == "step":
        return "W&B's step column is the training step every metric is plotted against"
    if name.startswith("_"):
        return "W&B keeps names that start with _ for its own columns (_step, _runtime, ...)"
    return sample_tag_reason(name)


class WandbLogger(Logger):
    """Weights & Biases, offline by default: config, metrics, samples, final checkpoint (pip install "ganhub[trackers]")."""

    name = "wandb"
    Config = WandbOptions

    @classmethod
    def problems(cls, options: Any, config: RunConfig) -> list[str]:
        """A missing wandb package, or a WANDB_MODE that is not a mode."""
        if not _importable("wandb"):
            return [f"logger 'wandb' needs the wandb package: {INSTALL}"]
        try:
            _wandb_mode(options)
        except UsageError as exc:
            return [str(exc)]
        return []

    def __init__(self, run_dir: Path, config: RunConfig) -> None:
        super().__init__(run_dir, config)
        problems = self.problems(self.options, config)
        if problems:
            raise UsageError(problems[0])
        self.mode = _wandb_mode(self.options)
        self.error: BaseException | None = None
        self.closed = False
        self.names = MetricNames("wandb", _reserved_by_wandb)
        if self.mode == "offline":
            # wandb-core reports its own errors over the network unless told not to; an
            # offline run must not touch the network at all (a user's setting wins)
            os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
        import wandb

        if self.mode == "online" and not wandb.login(prompt=False, verify=False):
            # wandb.init would ask for a key at a prompt, in the middle of a training command
            env = os.environ.get("WANDB_MODE", "").strip()
            offline = _WANDB_MODES.get(env, "online") != "online"  # W&B then never logs in
            also = f" (and WANDB_MODE={env} keeps W&B offline in this process)" if offline else ""
            raise UsageError(
                "logger 'wandb' in online mode needs W&B credentials: run `wandb login` or set "
                f"WANDB_API_KEY, or use logger.wandb.mode=offline and `wandb sync` later{also}"
            )
        server = os.environ.get("WANDB_BASE_URL") or wandb.Settings().base_url
        if self.mode == "online" and (reason := _unreachable(server)):
            raise UsageError(
                f"logger 'wandb' (online): cannot reach {server} ({reason}); "
                "check the network or WANDB_BASE_URL, or use logger.wandb.mode=offline and "
                "`wandb sync` later"
            )
        previous = self._previous_id()
        if previous is not None and self.mode != "disabled":
            _new_second(run_dir / "wandb", previous)
        # W&B's own lines for an offline run tell what does not hold under ganhub: "Run
        # `wandb online`" (the mode is logger.wandb.mode, which wins over W&B's settings) and,
        # after a resume, a `wandb sync` of the newest session's folder only. It is silent
        # then, and ganhub prints one line of its own (below).
        self.quiet = not config.trainer.progress or self.mode == "offline"
        data = config.model_dump(mode="json")
        data.pop("resume", None)
        # W&B's service writes its own debug logs (core-debug-*.log, symon-debug-*.log) under
        # $WANDB_CACHE_DIR/wandb/logs, by default ~/.cache/wandb/logs: offline, they go to
        # <run>/wandb/logs. The service reads the variable when init starts it; it is put back
        # at once, so W&B's artifact cache stays where the user keeps it.
        cache = {} if self.mode != "offline" or os.environ.get("WANDB_CACHE_DIR") else {
            "WANDB_CACHE_DIR": str(run_dir.resolve())}  # fmt: skip
        # A service started for an earlier run in this process (tune's trials, a script's
        # runs) would keep writing into that run's folder: it is stopped first when no run
        # is open, and again when this run finishes (a second or so per run).
        self.own_service = bool(cache)
        try:
            _stop_idle_service(wandb, self.own_service)
            with _environ(**cache):
                self.run = self._init(wandb, previous, data)
        except (wandb.Error, OSError) as exc:
            raise UsageError(f"logger 'wandb' ({self.mode}): {_first_line(exc)}") from None
        # Steps go in a column of their own: a resumed run logs steps it logged before its
        # last checkpoint again, which W&B's own step counter would drop as going backwards.
        self.run.define_metric("step")
        self.run.define_metric("*", step_metric="step")
        if self.mode != "disabled" and previous is None:
            _write_id_file(run_dir / WANDB_RUN_FILE, {"id": self.run.id})
        # under a name of its own: W&B writes its config.yaml (the run config in its format)
        # into the run's files when it sends a run, online or by `wandb sync`, over this copy
        self._save(run_dir / "config.yaml", CONFIG_COPY)
        if self.mode == "offline" and config.trainer.progress:
            say(_offline_line(run_dir, self.run.id), err=False)

    def _init(self, wandb: Any, previous: str | None, data: dict[str, Any]) -> Any:
        run_dir, config = self.run_dir, self.config
        return wandb.init(
            dir=str(run_dir),  # its files go to <run>/wandb
            project=self.options.project or os.environ.get("WANDB_PROJECT") or config.plugin,
            entity=self.options.entity,
            name=run_dir.name,
            config=data,
            mode=self.mode,
            id=previous,
            resume="allow" if previous else None,
            reinit="create_new",  # never finish (or log into) a run the caller has open
            # console="off": no stdout/stderr wrapping, which would cost every print
            # silent with trainer.progress=false, and offline: a quiet run prints its one
            # summary line, not W&B's ~35 lines of banners and artifact notes
            settings=wandb.Settings(console="off", save_code=False, silent=self.quiet),
        )

    def _save(self, path: Path, name: str | None = None) -> None:
        """Keep a copy of a run file with the W&B run (a copy, not W&B's usual symlink: the
        offline run must still hold it after the run directory moved), as `name`, else at its
        path in the run directory."""
        if self.mode == "disabled" or not path.is_file():
            return
        try:
            relative = Path(name or path.resolve().relative_to(self.run_dir.resolve()))
        except ValueError:
            relative = Path(path.name)
        copy = Path(self.run.dir) / relative
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy)
        self.run.save(str(copy), base_path=self.run.dir, policy="now")

    def _previous_id(self) -> str | None:
        path = self.run_dir / WANDB_RUN_FILE
        record = _read_id_file(path)
        if record is None:
            return None
        run_id = record.get("id")
        if not isinstance(run_id, str) or not _WANDB_RUN_ID.match(run_id):
            _warn(f"{path} holds no valid W&B run id; starting a new W&B run")
            return None
        return run_id

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """One history row; W&B sends it from its own service process (no wait here)."""
        self.run.log({"step": step, **self.names.rename(metrics)})

    def log_artifacts(self, step: int, paths: list[Path]) -> None:
        """Images become W&B images (one key per kind, as in TensorBoard); other files
        (text samples, volumes) are saved with the run."""
        import wandb

        from ganhub.loggers import image_tag

        images = {
            image_tag(p.stem): wandb.Image(str(p))
            for p in paths
            if p.suffix.lower() in (".png", ".jpg", ".jpeg")
        }
        if images:
            self.run.log({"step": step, **images})
        for p in paths:
            if p.suffix.lower() not in (".png", ".jpg", ".jpeg"):
                self._save(p)

    def on_error(self, error: BaseException) -> None:
        """Remember the error: the W&B run ends with a non-zero exit code."""
        self.error = error

    def close(self) -> None:
        """Log the newest checkpoint as a model artifact and finish the W&B run."""
        if self.closed:
            return
        self.closed = True
        import wandb

        try:
            newest = _newest_checkpoint(self.run_dir) if self.options.log_checkpoint else None
            if newest is not None and self.mode != "disabled":
                from ganhub.engine.checkpoint import step_of

                artifact = wandb.Artifact(
                    f"checkpoint-{self.run.id}", type="model", metadata={"step": step_of(newest)}
                )
                # immutable: referenced, not copied to W&B's staging folder (checkpoints are
                # large, and a step directory never changes once written)
                # add_dir prints a "wandb: Adding directory..." line of its own, whatever the
                # run's silent setting: a quiet run prints its one summary line only
                hushed = contextlib.redirect_stderr(io.StringIO()) if self.quiet else None
                with hushed or contextlib.nullcontext():  # resolved: it syncs from anywhere
                    artifact.add_dir(str(newest.resolve()), policy="immutable")
                self.run.log_artifact(artifact, aliases=["latest", newest.name])
        except Exception as exc:  # the run's own outputs are saved; do not fail at the end
            _warn(f"logger 'wandb' could not log the checkpoint ({_first_line(exc)})")
        try:
            self.run.finish(exit_code=0 if self.error is None else 1)
            _stop_idle_service(wandb, self.own_service)
        except Exception as exc:  # close() runs in a `finally`: never hide the run's own error
            _warn(f"logger 'wandb' could not finish its run ({_first_line(exc)})")
