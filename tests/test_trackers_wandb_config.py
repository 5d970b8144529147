"""The run's config.yaml goes with an offline W&B run under a name W&B does not keep for its
own files: W&B writes a `config.yaml` (the run config in its own format) into a run's files
when it sends the run, online or by `wandb sync`, which would replace ganhub's copy."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ganhub.config.resolve import resolve

from .conftest import TINY_TOY
from .test_trackers_wandb_dirs import fresh_home  # noqa: F401 (a fixture)


def records(offline: Path) -> list[dict[str, Any]]:
    """The offline run's records, read by W&B's own reader."""
    out = subprocess.run(
        ["wandb", "leet", "inspect", "--json", str(offline)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.usefixtures("fresh_home")  # W&B's folders in a scratch home, nothing goes out
def test_the_config_copy_is_not_named_like_wandbs_own_config_file(tmp_path: Path) -> None:
    from wandb.sdk.lib.filenames import is_wandb_file

    from ganhub.loggers.trackers import WandbLogger

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    text = "plugin: toy2d\ntrainer:\n  steps: 4\n"
    (run_dir / "config.yaml").write_text(text)
    logger = WandbLogger(run_dir, resolve([*TINY_TOY, "loggers=[wandb]"]))
    logger.log(2, {"loss/D": 0.5})
    logger.close()
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    saved = {
        entry["path"]
        for record in records(offline)
        if record.get("type") == "files"
        for entry in record["files"]["files"]
        if entry.get("type") != "WANDB"  # W&B's own (requirements.txt)
    }
    assert "ganhub-config.yaml" in saved, saved
    assert not any(is_wandb_file(Path(name).name) for name in saved), saved
    assert (offline / "files" / "ganhub-config.yaml").read_text() == text
