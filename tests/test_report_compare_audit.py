"""`ganhub report RUN RUN...` audited as a user reads it: the page never lands in the
checkpoints/ folder of any run it shows (the first or another one, nor the folder a run's
checkpoints/ links to), and its config differences say nothing untrue of a run."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import TINY_TOY
from .test_report_compare import Tables, rows


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Two tiny toy2d runs (b a copy of a); run b keeps its checkpoints on another disk
    (checkpoints/ is a link to `store`, as a user short of space makes it): (a, b, store)."""
    import ganhub

    root = tmp_path_factory.mktemp("destinations")
    keys = [*TINY_TOY, "trainer.steps=4", f"out_dir={root / 'runs'}"]
    a = Path(ganhub.train([*keys, "name=a"])["run_dir"])
    b = a.parent / "b"  # a copy: the page compares folders, one training is enough
    shutil.copytree(a, b)
    store = root / "store"
    shutil.move(b / "checkpoints", store)
    (b / "checkpoints").symlink_to(store, target_is_directory=True)
    return a, b, store


def files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_no_page_in_any_runs_checkpoints_folder(cli: Any, runs: tuple[Path, Path, Path]) -> None:
    a, b, store = runs
    before = files(a) | files(store)
    for out in (
        str(a / "checkpoints" / "compare.html"),  # the first run's
        str(b / "checkpoints") + "/",  # the second run's, a folder taking compare.html
        str(store / "compare.html"),  # where the second run's checkpoints/ really is
    ):
        code, _, err = cli("report", str(a), str(b), "--out", out)
        assert code == 2 and err.count("\n") == 1, err
        assert "checkpoints/ folder" in err and "give a path outside it" in err, err
    for out in (str(store) + "/", str(b / "checkpoints" / "report.html")):  # one run's page
        code, _, err = cli("report", str(b), "--out", out)
        assert code == 2 and err.count("\n") == 1 and "checkpoints/ folder" in err, err
    assert files(a) | files(store) == before  # nothing written, nothing replaced


def test_a_page_beside_the_runs_is_still_written(
    cli: Any, runs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    a, b, _ = runs
    code, out, err = cli("report", str(a), str(b), "--out", str(tmp_path) + "/")
    assert code == 0, err
    assert Path(out.strip()) == tmp_path / "compare.html" and (tmp_path / "compare.html").is_file()


def test_a_run_without_tricks_is_not_said_to_lack_the_trick_key(
    cli: Any, runs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    a, _, _ = runs
    plain = tmp_path / "plain"  # as `tricks=[]` writes it: an empty `trick:` mapping
    shutil.copytree(a, plain, ignore=shutil.ignore_patterns("checkpoints"))
    config = yaml.safe_load((plain / "config.yaml").read_text())
    config.update(tricks=[], trick={})
    (plain / "config.yaml").write_text(yaml.safe_dump(config))
    a_config = yaml.safe_load((a / "config.yaml").read_text())
    a_config.update(tricks=["r1"], trick={"r1": {"gamma": 0.5}})  # a run with trick keys
    richer = tmp_path / "richer"
    shutil.copytree(a, richer, ignore=shutil.ignore_patterns("checkpoints"))
    (richer / "config.yaml").write_text(yaml.safe_dump(a_config))
    code, _, err = cli("report", str(richer), str(plain), "--out", str(tmp_path / "c.html"))
    assert code == 0, err
    page = Tables((tmp_path / "c.html").read_text(encoding="utf-8"))
    differ = rows(page, "config")
    assert "trick" not in differ, differ  # richer has `trick`: "not set" would be untrue
    assert differ["trick.r1.gamma"] == [("0.5", ""), ("", "unset")], differ
    assert [cell for cell, _ in differ["tricks"]] == ["[r1]", "[]"], differ
