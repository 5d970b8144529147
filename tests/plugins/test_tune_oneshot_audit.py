"""ganhub tune sampler=oneshot: the `supernet.KEY`s are part of a study's identity (another
setting is refused while the supernet they trained is kept, and adopted once it is deleted; a
study made before they were kept still resumes), and a supernet key that cannot be set (the
run's own plugin, folder, resume, or a key that builds the supernet) is refused before anything
is trained or written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from ganhub_tune.cli import parse_options
from ganhub_tune.identity import IDENTITY, RECORD, identity
from ganhub_tune.study import prepare

from ganhub.errors import ConfigError

optuna = pytest.importorskip("optuna")


def _args(tmp_path: Path, study: str, *extra: str) -> list[str]:
    trials = [] if any(e.startswith("trials=") for e in extra) else ["trials=2"]  # given once
    return ["plugin=toy2d", "space=arch", "sampler=oneshot", *trials, "trainer.steps=5",
            "objective=reverse_kl", f"out={tmp_path / 'studies'}", f"study={study}",
            *extra]  # fmt: skip


def _one_line_error(code: int, err: str) -> str:
    assert code == 2 and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_supernet_keys_are_part_of_the_identity(tmp_path: Path) -> None:
    def supernet_of(*extra: str) -> Any:
        return identity(prepare(parse_options(_args(tmp_path, "ident", *extra))))["supernet"]

    assert supernet_of("supernet.trainer.steps=5") == ["trainer.steps=5"]
    # the same setting typed another way is the same study
    assert supernet_of("supernet.trainer.steps=5.0") == ["trainer.steps=5"]
    assert supernet_of("supernet.trainer.steps=6", "supernet.tricks=[arch_cost]") == [
        "trainer.steps=6",
        'tricks=["arch_cost"]',
    ]
    assert supernet_of() == []


def test_other_supernet_keys_are_refused_while_its_supernet_is_kept(
    tmp_path: Path, cli: Any
) -> None:
    code, out, err = cli("tune", *_args(tmp_path, "s1", "supernet.trainer.steps=5"))
    assert code == 0, err
    folder = tmp_path / "studies" / "s1"
    arch = (folder / "architecture.json").read_bytes()
    trials = sorted(p.name for p in (folder / "trials").iterdir())
    longer = ("supernet.trainer.steps=6", "supernet.tricks=[arch_cost]")
    code, out, err = cli("tune", *_args(tmp_path, "s1", *longer))
    line = _one_line_error(code, err)
    assert "supernet.trainer.steps: 5 then, 6 now" in line and "supernet.tricks" in line, line
    assert "architecture.json" in line and "study=" in line, line
    assert "supernet's architecture from" not in out  # not read back as the new settings'
    assert (folder / "architecture.json").read_bytes() == arch
    assert sorted(p.name for p in (folder / "trials").iterdir()) == trials
    # deleting the supernet (as the line says) trains it again with the new settings
    (folder / "architecture.json").unlink()
    shutil.rmtree(folder / "supernet")
    code, out, err = cli("tune", *_args(tmp_path, "s1", "trials=3", *longer))
    assert code == 0, err
    assert "training the toy2d supernet" in out, out
    config = (folder / "supernet" / "config.yaml").read_text()
    assert "arch_cost" in config, config
    assert json.loads((folder / RECORD).read_text())["supernet"] == [
        "trainer.steps=6",
        'tricks=["arch_cost"]',
    ]


def test_a_study_from_before_supernet_keys_were_kept_resumes(tmp_path: Path, cli: Any) -> None:
    code, _, err = cli("tune", *_args(tmp_path, "old", "trials=1", "supernet.trainer.steps=5"))
    assert code == 0, err
    folder = tmp_path / "studies" / "old"
    record = json.loads((folder / RECORD).read_text())
    del record["supernet"]  # as a study made before the supernet keys were kept
    (folder / RECORD).write_text(json.dumps(record))
    url = f"sqlite:///{folder / 'study.db'}"
    stored = optuna.load_study(study_name="old", storage=url)
    attr = dict(stored.user_attrs[IDENTITY])
    del attr["supernet"]
    stored.set_user_attr(IDENTITY, attr)
    code, out, err = cli("tune", *_args(tmp_path, "old", "trials=1", "supernet.trainer.steps=6"))
    assert code == 0, err
    assert "the supernet's architecture from" in out, out


def test_a_key_that_builds_the_supernet_is_refused_before_training(
    tmp_path: Path, cli: Any
) -> None:
    code, out, err = cli(
        "tune",
        *_args(tmp_path, "nosuper", "supernet.trainer.steps=5", "supernet.model.supernet=false"),
    )
    line = _one_line_error(code, err)
    assert "supernet.model.supernet=false" in line and "leave supernet.model.supernet out" in line
    assert "training the toy2d supernet" not in out
    assert not (tmp_path / "studies").exists()
    # the value that builds it is no change
    prepare(parse_options(_args(tmp_path, "yes", "supernet.model.supernet=true")))


@pytest.mark.parametrize("key", ["plugin", "out_dir", "name", "resume"])
def test_supernet_keys_tune_sets_itself_are_refused(key: str) -> None:
    with pytest.raises(ConfigError, match=f"supernet.{key}=x: .* but plugin, out_dir"):
        parse_options(["plugin=toy2d", "space=arch", "sampler=oneshot", f"supernet.{key}=x"])


def test_supernet_plugin_is_refused_in_one_line(tmp_path: Path, cli: Any) -> None:
    code, _, err = cli("tune", *_args(tmp_path, "other", "supernet.plugin=dcgan"))
    line = _one_line_error(code, err)
    assert line.startswith("ganhub: error: supernet.plugin=dcgan:") and "data.dataset" not in line
    assert not (tmp_path / "studies").exists()
