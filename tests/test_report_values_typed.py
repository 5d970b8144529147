"""`ganhub report` pages show values as users type and read them: config values in YAML as on the
command line (`null`, `true`, `[ema]`), counts from `ganhub eval --seeds N` without a "± 0",
and the comparison's default destination refused in its own words (no --out was given)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from .browser import dump_dom
from .conftest import TINY_TOY
from .test_report import Page
from .test_report_compare import Tables, rows


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two tiny toy2d runs, b with the EMA trick (keys a has none of: `null`s, a `true`);
    a scored by `ganhub eval --seeds 2`."""
    import ganhub
    from ganhub.cli import main

    root = tmp_path_factory.mktemp("typed")
    keys = [*TINY_TOY, "trainer.eval_every=4", "eval.n_samples=200", f"out_dir={root / 'runs'}"]
    a = Path(ganhub.train([*keys, "name=a"])["run_dir"])
    b = Path(ganhub.train([*keys, "name=b", "tricks=[ema]"])["run_dir"])
    try:
        main(["eval", str(a), "--seeds", "2", "--n", "200"])
    except SystemExit as done:
        assert not done.code
    return a, b


def test_config_differences_read_as_typed(
    cli: Any, runs: tuple[Path, Path], tmp_path: Path
) -> None:
    a, b = runs
    code, out, err = cli("report", str(a), str(b), "--out", str(tmp_path / "compare.html"))
    assert code == 0, err
    page = Tables(dump_dom(Path(out.strip()), tmp_path / "profile"))  # as a browser shows it
    differ = {
        key: [cell or kind for cell, kind in cells] for key, cells in rows(page, "config").items()
    }
    assert differ["tricks"] == ["[]", "[ema]"], differ
    assert differ["trick.ema.rampup"] == ["unset", "null"], differ
    assert differ["trick.ema.warmup"] == ["unset", "true"], differ
    shown = " ".join(" ".join(cells) for cells in differ.values())
    assert "None" not in shown and "True" not in shown and "'" not in shown, differ


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "null"),
        (False, "false"),
        (["r1", "ema", "lr_schedule"], "[r1, ema, lr_schedule]"),
        ({"gamma": 5.0, "every": 16}, "{gamma: 5.0, every: 16}"),  # in config.yaml's order
        (1e-10, "1.0e-10"),
        ("runs/a b", "runs/a b"),  # a text as it is...
        ("1", "'1'"),  # ...unless it would read as another value: two values never look alike
        ("null", "'null'"),
        ("", "''"),
        (10**40, "<integer of 133 bits>"),
    ],
)
def test_a_config_value_is_shown_as_typed(value: Any, shown: str) -> None:
    from ganhub.metrics.report_values import typed_text

    assert typed_text(value) == shown


def test_a_huge_or_looping_config_value_is_bounded() -> None:
    """A list of a million values, or one that holds itself (`a: &x [*x]`), is cut at the
    limit, quickly, and ends in "…"."""
    from ganhub.metrics.report_values import typed_text

    looping: list[Any] = [1]
    looping.append(looping)
    for value in (list(range(1_000_000)), looping, "x" * 10_000_000):
        text = typed_text(value, 60)
        assert len(text) == 60 and text.endswith("…"), text


def test_counts_after_eval_seeds_carry_no_spread(
    cli: Any, runs: tuple[Path, Path], tmp_path: Path
) -> None:
    """n_samples is the same for every seed and no score (eval.json: better null): `200`, not
    `200 ± 0`; the scores keep their spread."""
    a, _ = runs
    page = tmp_path / "report.html"
    code, _, err = cli("report", str(a), "--out", str(page))
    assert code == 0, err
    table = rows(Tables(dump_dom(page, tmp_path / "profile")), "metrics")
    assert table["n_samples"][0][0] == "200", table
    assert " ± " in table["reverse_kl"][0][0], table


def test_the_default_destination_is_refused_in_its_own_words(
    cli: Any, runs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    a, b = runs
    monkeypatch.chdir(a / "checkpoints")
    code, _, err = cli("report", str(a), str(b))
    assert code == 2 and err.count("\n") == 1, err
    assert "--out '" not in err and "default destination compare.html" in err, err
    assert "checkpoints/ folder" in err and "give --out" in err, err
    assert not (a / "checkpoints" / "compare.html").exists()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "compare.html").write_text("the user's notes\n")
    code, _, err = cli("report", str(a), str(b))
    assert code == 2 and "--out '" not in err and "give --out a new file" in err, err
    assert (tmp_path / "compare.html").read_text() == "the user's notes\n"


def test_the_report_names_the_seed_as_typed(
    cli: Any, runs: tuple[Path, Path], tmp_path: Path
) -> None:
    """A run whose config.yaml says `seed: null` (written by hand, or by an older ganhub)."""
    a, _ = runs
    run = tmp_path / "run"
    shutil.copytree(a, run, ignore=shutil.ignore_patterns("checkpoints"))
    config = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**config, "seed": None}))
    code, out, err = cli("report", str(run))
    assert code == 0, err
    text = " ".join(Page(Path(out.strip()).read_text()).text)
    assert "seed null" in " ".join(text.split()) and "None" not in text, text[:400]
