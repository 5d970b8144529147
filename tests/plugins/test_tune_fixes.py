"""ganhub tune: a stopped supernet, a command-line objective over a search file's, and a
storage that does not open."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ganhub_tune.cli import parse_options
from ganhub_tune.study import prepare

from ganhub.errors import ConfigError

from .test_tune_signals import _ctrl_c

optuna = pytest.importorskip("optuna")

TINY = ["data.dataset=ring", "trainer.steps=20", "trainer.eval_every=20",
        "trainer.batch_size=64", "data.n_samples=2000", "eval.n_samples=500",
        "loss=nonsaturating", "tricks=[]", "objective=reverse_kl"]  # fmt: skip


def _steps(run: Path) -> list[int]:
    return sorted(int(p.name.removeprefix("step_")) for p in run.glob("checkpoints/step_*"))


@pytest.mark.slow
def test_ctrl_c_during_the_supernet_stops_the_study_and_the_rerun_resumes_it(
    tmp_path: Path, cli: Any
) -> None:
    """The stopped supernet's preference was written to architecture.json and the study went
    on: the rerun read that file and never trained the supernet further."""
    args = ["tune", "plugin=toy2d", "space=arch", "sampler=oneshot", "trials=1",
            f"out={tmp_path}", *TINY, "supernet.trainer.log_every=1"]  # fmt: skip
    directory = tmp_path / "toy2d-arch"
    supernet = directory / "supernet"
    code, out, err = _ctrl_c([*args, "supernet.trainer.steps=100000"],
                             lambda: (supernet / "metrics.jsonl").is_file())  # fmt: skip
    assert code == 130, err
    assert "the supernet run was stopped by signal 2; the study stops" in out, out
    assert not (directory / "architecture.json").exists() and not (directory / "trials").exists()
    stopped = max(_steps(supernet))  # the checkpoint the signal saved
    code, out, err = cli(*args, f"supernet.trainer.steps={stopped + 5}")
    assert code == 0, err
    assert "the supernet prefers" in out and (directory / "architecture.json").is_file()
    assert stopped in _steps(supernet) and max(_steps(supernet)) == stopped + 5  # resumed


def test_oneshot_refuses_a_space_without_architecture_keys(tmp_path: Path) -> None:
    """sampler=oneshot with dcgan's space=hparams trained a supernet that searched nothing
    (architecture.json was {})."""
    options = parse_options(["plugin=dcgan", f"out={tmp_path}", "sampler=oneshot"])
    with pytest.raises(ConfigError, match=r"^sampler=oneshot searches the architecture of "
                       r"dcgan's supernet, and this study searches none of its keys \(model\.g_"
                       r".*\); use space=arch$"):  # fmt: skip
        prepare(options)
    assert list(tmp_path.iterdir()) == []
    # toy2d's hparams space searches its hidden widths over other values than the supernet's
    options = parse_options(["plugin=toy2d", f"out={tmp_path}", "sampler=oneshot"])
    with pytest.raises(ConfigError, match=r"^sampler=oneshot needs space=arch, and this study "
                       r"has space=hparams: "):  # fmt: skip
        prepare(options)


def _docs_space(tmp_path: Path) -> Path:
    """The example search file of docs/tune.md (objective: modes, direction: maximize)."""
    text = (Path(__file__).parents[2] / "docs/tune.md").read_text()
    block = text.split("## Search-space files", 1)[1].split("```yaml\n", 1)[1].split("```")[0]
    path = tmp_path / "space.yaml"
    path.write_text(block)
    assert yaml.safe_load(block)["direction"] == "maximize"
    return path


def test_a_command_line_objective_replaces_the_files_direction_too(tmp_path: Path) -> None:
    """objective=step_time kept the file's `direction: maximize` (the slowest trial won), and
    the --help example objective=[modes,step_time] failed: one direction for two objectives."""
    search = _docs_space(tmp_path)

    def directions(*extra: str, file: Path = search) -> tuple[list[str], list[str]]:
        study = prepare(parse_options(["plugin=toy2d", f"out={tmp_path}", f"search={file}",
                                       *extra]))  # fmt: skip
        return study.objectives, study.directions

    assert directions() == (["modes"], ["maximize"])  # the file's own
    assert directions("objective=step_time") == (["step_time"], ["minimize"])
    both = directions("objective=[modes,step_time]", "sampler=random")
    assert both == (["modes", "step_time"], ["maximize", "minimize"])
    assert directions("objective=step_time", "direction=maximize") == (["step_time"], ["maximize"])
    # a direction the file states for an objective of the same name still holds
    custom = tmp_path / "custom.yaml"
    custom.write_text(search.read_text().replace("objective: modes", "objective: my_score"))
    assert directions("objective=[my_score,step_time]", "sampler=random",
                      file=custom)[1] == ["maximize", "minimize"]  # fmt: skip


def test_a_storage_that_does_not_open_leaves_no_folder(tmp_path: Path, cli: Any) -> None:
    """The study folder (and the folders above it) was made before the storage was opened, and
    stayed behind, empty, when it did not open."""
    out = tmp_path / "made" / "here"
    code, _, err = cli("tune", "plugin=toy2d", "storage=sqlite:////nonexistent/x.db",
                       "trials=1", f"out={out}")  # fmt: skip
    assert code == 2 and "storage=sqlite:////nonexistent/x.db: " in err, err
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()  # a folder that was there before stays
    code, _, err = cli("tune", "plugin=toy2d", "storage=sqlite:////nonexistent/x.db",
                       "trials=1", f"out={tmp_path / 'kept'}")  # fmt: skip
    assert code == 2 and [p.name for p in tmp_path.iterdir()] == ["kept"], err
    assert list((tmp_path / "kept").iterdir()) == []
    # a bad supernet.KEY=VALUE is refused before the folder is made, too
    with pytest.raises(ConfigError, match="the supernet run"):
        prepare(parse_options(["plugin=toy2d", f"out={out}", "space=arch", "sampler=oneshot",
                               "supernet.tricks=[arch_cot]"]))  # fmt: skip
    assert not out.exists()
