"""A run folder is untrusted input: a link inside it (pointing out of it) or a FIFO or device
where a file should be is refused in one line before anything is read or written, and the
files the user types are read only when they are regular files of a sane size."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

import ganhub
from ganhub.api import load
from ganhub.config.overrides import load_yaml
from ganhub.config.resolve import resolve
from ganhub.engine.checkpoint import write_text_atomic
from ganhub.errors import ConfigError, UsageError

from .conftest import TINY_TOY


def _listing(root: Path) -> list[tuple[str, int, int]]:
    """Every path under `root` with its size and modification time (links not followed)."""
    out = []
    for folder, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            st = os.lstat(Path(folder) / name)
            out.append((str(Path(folder, name).relative_to(root)), st.st_size, st.st_mtime_ns))
    return sorted(out)


@pytest.fixture
def trained(workdir: Path, cli: Any) -> Path:
    code, _, err = cli("run", *TINY_TOY, "name=a")
    assert code == 0, err
    return workdir / "runs" / "a"


def test_resume_through_a_linked_checkpoints_folder_is_refused(
    trained: Path, workdir: Path, cli: Any
) -> None:
    """It pruned, wrote and pointed `latest` inside the folder the link named (exit 0)."""
    outside = workdir / "keep"
    (outside / "step_0000001").mkdir(parents=True)
    (outside / "step_0000001" / "data.txt").write_text("important")
    shutil.move(trained / "checkpoints", outside / "moved")
    (trained / "checkpoints").symlink_to(outside)
    before, outside_before = _listing(trained), _listing(outside)
    code, _, err = cli("run", f"resume={trained}", "trainer.steps=8")
    assert code == 2 and f"'{trained / 'checkpoints'}' is a link" in err, err
    assert len(err.strip().splitlines()) == 1
    assert _listing(trained) == before and _listing(outside) == outside_before


@pytest.mark.parametrize("entry", ["samples", ".lock", "tb"])
def test_every_command_refuses_a_link_anywhere_in_the_run(
    trained: Path, workdir: Path, cli: Any, entry: str
) -> None:
    target = workdir / "elsewhere"
    target.mkdir()
    victim = trained / entry
    if victim.is_dir():
        shutil.rmtree(victim)
    else:
        victim.unlink(missing_ok=True)
    victim.symlink_to(target)
    for command in (("sample", str(trained), "--n", "4"), ("run", f"resume={trained}"),
                    ("export", str(trained), "--out", str(workdir / "x"))):  # fmt: skip
        code, _, err = cli(*command)
        assert code == 2 and f"'{victim}' is a link" in err, (command, err)
    assert list(target.iterdir()) == [] and not (workdir / "x").exists()


def test_a_folder_that_is_no_run_is_named_so_not_walked(
    workdir: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ganhub export /` named /sbin as a link to remove; `ganhub.load("")` walked the current
    folder. A folder without config.yaml is no run: nothing inside it is looked at."""
    folder = workdir / "home"
    (folder / "deep").mkdir(parents=True)
    (folder / "deep" / "bin").symlink_to("/usr/bin")
    os.mkfifo(folder / "fifo")
    for command in (("sample", str(folder)), ("run", f"resume={folder}"),
                    ("export", str(folder), "--out", str(workdir / "x"))):  # fmt: skip
        code, _, err = cli(*command)
        assert code == 2 and "is not a ganhub run directory" in err, (command, err)
        assert len(err.strip().splitlines()) == 1
    with pytest.raises(ConfigError, match="is not a ganhub run directory"):
        load(folder)
    monkeypatch.chdir(folder)
    with pytest.raises(UsageError, match=r"^ganhub\.load\(''\): give the path of a run directory"):
        load("")
    (folder / "fifo").unlink()
    (folder / "config.yaml").symlink_to(workdir / "elsewhere.yaml")  # a run's links: refused
    code, _, err = cli("sample", str(folder))
    assert code == 2 and "is a link" in err and not (workdir / "x").exists()


def test_a_fifo_in_place_of_a_checkpoint_file_is_refused_not_read(trained: Path, cli: Any) -> None:
    """Reading it blocked forever; /dev/zero filled the memory."""
    weights = trained / "checkpoints" / "step_0000004" / "model.safetensors"
    weights.unlink()
    os.mkfifo(weights)
    code, _, err = cli("sample", str(trained), "--n", "4")
    assert code == 2 and "is not a regular file or folder (a FIFO, socket or device)" in err
    with pytest.raises(UsageError, match=r"model\.safetensors' is not a regular file"):
        load(trained)


def test_a_config_file_that_is_no_regular_file_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(
            ConfigError, match=re.escape(f"config file '{path}' is not a regular file")
        ):
            load_yaml(path)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * (17 << 20))
    with pytest.raises(ConfigError, match="is larger than 16 MiB"):
        load_yaml(big)


def test_an_atomic_write_replaces_a_planted_link_instead_of_writing_through_it(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / ".latest.tmp").symlink_to(victim)
    write_text_atomic(tmp_path / "latest", "step_0000010")
    assert victim.read_text() == "keep me" and (tmp_path / "latest").read_text() == "step_0000010"


def test_names_from_a_run_folder_reach_the_terminal_escaped(trained: Path, cli: Any) -> None:
    """A config.yaml naming a loss with ESC ] 0 ; ... BEL retitled the user's terminal."""
    config = trained / "config.yaml"
    lines = config.read_text().splitlines()
    lines = [ln if not ln.startswith("loss:") else 'loss: "qa\\e]0;PWNED\\ax"' for ln in lines]
    config.write_text("\n".join(lines) + "\n")
    code, _, err = cli("sample", str(trained), "--n", "4")
    assert code == 2 and "uses loss 'qa\\x1b]0;PWNED\\x07x'" in err, err
    assert "\x1b" not in err and "\x07" not in err


@pytest.mark.parametrize("dtype", [torch.complex64, torch.int64, torch.bool])
def test_weights_of_another_kind_of_number_are_refused_not_cast(
    trained: Path, cli: Any, dtype: torch.dtype
) -> None:
    """Complex NaNs passed the finiteness check and were cast to NaN samples (exit 0); int and
    bool weights were silently cast into the float model."""
    path = trained / "checkpoints" / "step_0000004" / "model.safetensors"
    tensors = load_file(str(path))
    name = next(k for k, v in tensors.items() if v.is_floating_point())
    tensors[name] = torch.full_like(tensors[name], float("nan")).to(dtype)
    save_file(tensors, str(path), metadata={"format": "pt", "step": "4"})
    kind = str(dtype).removeprefix("torch.")
    for command in (("sample", str(trained), "--n", "4"), ("run", f"resume={trained}", "trainer.steps=6")):  # fmt: skip
        code, _, err = cli(*command)
        assert (
            code == 2 and f"differ in kind of number ({name} is {kind} in the checkpoint" in err
        ), err


def _damage_state(step_dir: Path, how: str) -> None:
    meta = json.loads((step_dir / "state.json").read_text())
    state = meta["state"]
    tensors = load_file(str(step_dir / "state.safetensors"))
    if how == "no rng":
        del state["rng"]
    elif how == "phases text":
        state["phases"] = "x"
    elif how == "index text":
        state["data"]["index"] = "abc"
    elif how == "system list":
        state["system"] = [1]
    elif how == "short torch rng":
        ref = state["rng"][0]["torch"]["__tensor__"]
        tensors[ref] = tensors[ref][:100].clone()
    elif how.startswith("lr "):  # "lr x", "lr nan", "lr -5"
        value = {"x": "x", "nan": float("nan"), "-5": -5.0}[how.split()[1]]
        state["optimizers"]["G"]["param_groups"][0]["lr"] = value
    elif how.startswith("optimizer "):  # a number, text groups, a list of states
        part, value = {"optimizer number": (None, 5), "optimizer groups": ("param_groups", "ab"),
                       "optimizer states": ("state", [])}[how]  # fmt: skip
        if part is None:
            state["optimizers"]["G"] = value
        else:
            state["optimizers"]["G"][part] = value
    elif how == "moment missing":  # torch reads it only in step(): a KeyError mid-step
        del state["optimizers"]["G"]["state"]["__items__"][0][1]["exp_avg_sq"]
    elif how == "moment reshaped":
        ref = state["optimizers"]["G"]["state"]["__items__"][0][1]["exp_avg"]["__tensor__"]
        tensors[ref] = tensors[ref].reshape(-1, 1).clone()
    (step_dir / "state.json").write_text(json.dumps(meta))
    save_file(tensors, str(step_dir / "state.safetensors"))


@pytest.mark.parametrize(
    "how",
    ["no rng", "phases text", "index text", "system list", "short torch rng", "moment reshaped",
     "moment missing", "lr x", "lr nan", "lr -5", "optimizer number", "optimizer groups",
     "optimizer states"],
)  # fmt: skip
def test_a_damaged_training_state_is_one_line_and_changes_nothing(
    trained: Path, cli: Any, how: str
) -> None:
    """KeyError, AttributeError, TypeError and RuntimeError tracebacks; a moment of another
    shape or a text learning rate failed mid-step, after config.yaml, tb/ and failed.json
    were written; a NaN learning rate ended as a NaN loss, and a negative one trained by
    gradient ascent."""
    _damage_state(trained / "checkpoints" / "step_0000004", how)
    before = [entry for entry in _listing(trained) if entry[0] != ".lock"]
    code, _, err = cli("run", f"resume={trained}", "trainer.steps=8")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "step_0000004" in err and ("is damaged" in err or "optimizer state" in err), err
    assert [entry for entry in _listing(trained) if entry[0] != ".lock"] == before


def test_a_resumed_optimizer_takes_its_settings_from_the_config_not_the_file() -> None:
    """A checkpoint's param group set any key it held (`maximize`: gradient ascent); now only
    the learning rates a schedule reached come from it."""
    from ganhub.engine.optimizers import load_state

    weight = torch.nn.Parameter(torch.ones(3))
    saved = torch.optim.Adam([weight], lr=0.1).state_dict()
    saved["param_groups"][0].update(maximize=True, lr=0.05, betas=(0.0, 0.0))
    resumed = torch.optim.Adam([weight], lr=0.1, betas=(0.5, 0.9))
    load_state(resumed, saved)
    group = resumed.param_groups[0]
    assert group["maximize"] is False and group["betas"] == (0.5, 0.9) and group["lr"] == 0.05


def test_a_model_that_cannot_fit_in_memory_is_one_line(trained: Path, cli: Any) -> None:
    """An edited config.yaml (or a typed size) of a 10^12-dimensional latent (widths now have
    bounds), or 10^12 samples asked of the API: allocator tracebacks."""
    with pytest.raises(UsageError, match=r"^n=1,000,000,000,000 samples does not fit in memory"):
        load(trained).sample(10**12)
    config = trained / "config.yaml"
    text = config.read_text()
    assert "latent_dim: 2\n" in text
    config.write_text(text.replace("latent_dim: 2\n", "latent_dim: 1000000000000\n"))
    code, _, err = cli("sample", str(trained), "--n", "4")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "the 'toy2d' model of this config does not fit in memory" in err
    assert "check its model.* sizes" in err


def test_a_tracker_folders_own_links_are_the_trackers(
    trained: Path, workdir: Path, cli: Any
) -> None:
    """W&B links its logs inside <run>/wandb (one into ~/.cache/wandb): a W&B run must resume.
    The folder itself must be a real one."""
    logs = trained / "wandb" / "offline-run-1" / "logs"
    logs.mkdir(parents=True)
    (trained / "wandb" / "latest-run").symlink_to("offline-run-1")
    (logs / "debug-core.log").symlink_to(workdir / "outside.log")
    code, _, err = cli("sample", str(trained), "--n", "4")
    assert code == 0, err
    shutil.rmtree(trained / "wandb")
    (workdir / "elsewhere").mkdir()
    (trained / "wandb").symlink_to(workdir / "elsewhere")
    code, _, err = cli("sample", str(trained), "--n", "4")
    assert code == 2 and "wandb' is a link" in err


def _without_lock(listing: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    return [entry for entry in listing if entry[0] != ".lock"]  # rewritten by every resume


def test_a_file_in_place_of_the_samples_folder_is_refused_before_training(
    trained: Path, cli: Any
) -> None:
    """It trained every step, then failed writing the last sample grid (exit 2)."""
    shutil.rmtree(trained / "samples")
    (trained / "samples").write_text("")
    before = _without_lock(_listing(trained))
    code, _, err = cli("run", f"resume={trained}", "trainer.steps=8")
    want = f"{trained / 'samples'}: a file is there where a folder is needed (the run writes its"
    assert code == 2 and want in err and "remove or rename it" in err, err
    assert len(err.strip().splitlines()) == 1
    assert _without_lock(_listing(trained)) == before  # nothing trained, nothing written


def test_a_folder_in_place_of_best_json_is_refused_before_training(workdir: Path, cli: Any) -> None:
    """It trained every step, then failed writing the record through .best.json.tmp."""
    code, _, err = cli("run", *TINY_TOY, "name=b", "trainer.keep_best=reverse_kl")
    assert code == 0, err
    run_dir = workdir / "runs" / "b"
    best = run_dir / "checkpoints" / "best.json"
    best.unlink()
    best.mkdir()
    before = _without_lock(_listing(run_dir))
    code, _, err = cli("run", f"resume={run_dir}", "trainer.steps=8")
    assert code == 2 and f"'{best}' is a folder where trainer.keep_best records" in err, err
    assert len(err.strip().splitlines()) == 1
    assert _without_lock(_listing(run_dir)) == before  # no temporary file, nothing trained


@pytest.mark.filterwarnings("ignore::DeprecationWarning:mlflow.*")
def test_a_tracking_uri_in_a_saved_config_is_used_only_when_given_again(
    workdir: Path, tmp_path: Path
) -> None:
    """An edited config.yaml made a resume create an MLflow store (and a copy of the
    checkpoint) wherever it named: sqlite:////elsewhere, or an http:// server."""
    ganhub.train([*TINY_TOY, "loggers=[jsonl,mlflow]", "name=m"])
    saved = workdir / "runs/m/config.yaml"
    elsewhere = tmp_path / "elsewhere" / "x.db"
    text = saved.read_text(encoding="utf-8")
    assert "    tracking_uri: null\n" in text
    saved.write_text(text.replace("tracking_uri: null", f"tracking_uri: sqlite:///{elsewhere}"))
    with pytest.raises(ConfigError, match=r"config\.yaml sends this run's data to logger\.mlflow"):
        resolve(["resume=runs/m", "trainer.steps=8"])
    assert not elsewhere.parent.exists()
    given = f"logger.mlflow.tracking_uri=sqlite:///{elsewhere}"
    assert resolve(["resume=runs/m", "trainer.steps=8", given]).logger.mlflow.tracking_uri
    assert resolve(["resume=runs/m", "trainer.steps=8", "loggers=[jsonl]"]).loggers == ["jsonl"]
