"""Which way a score improves, as each run recorded it: `ganhub eval` writes it to eval.json
(`better`) and `ganhub report RUN RUN` marks the best run by the runs' own records, falling
back to the installed metrics only for runs that recorded none."""

from __future__ import annotations

import json
import shutil
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from .conftest import TINY_TOY
from .test_report_compare import Tables, rows


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two tiny toy2d runs (seeds 0 and 1), both scored by `ganhub eval`."""
    import ganhub
    from ganhub.cli import main

    root = tmp_path_factory.mktemp("directions")
    keys = [*TINY_TOY, "trainer.steps=8", "trainer.eval_every=4", "eval.n_samples=200",
            f"out_dir={root / 'runs'}"]  # fmt: skip
    made = []
    for name, seed in (("a", 0), ("b", 1)):
        run = Path(ganhub.train([*keys, f"name={name}", f"seed={seed}"])["run_dir"])
        try:
            main(["eval", str(run), "--n", "200"])
        except SystemExit as done:
            assert not done.code
        made.append(run)
    return made[0], made[1]


def copies(runs: tuple[Path, Path], where: Path) -> tuple[Path, Path]:
    """The two runs copied under `where` (a test rewrites their records there)."""
    out = tuple(Path(shutil.copytree(run, where / "runs" / run.name)) for run in runs)
    return out[0], out[1]


def record(run: Path, key: str, mean: float, better: Any) -> None:
    """Set eval.json's final `key` to `mean` and its recorded `better` to `better`."""
    path = run / "eval.json"
    data = json.loads(path.read_text())
    data["results"][key].update(mean=mean, values=[mean])
    data["better"] = better
    path.write_text(json.dumps(data))


def page_of(cli, a: Path, b: Path) -> tuple[Tables, str]:  # type: ignore[no-untyped-def]
    code, _, err = cli("report", str(a), str(b), "--out", "page.html")
    assert code == 0 and "Traceback" not in err, err
    text = Path("page.html").read_text()
    return Tables(text), unescape(text)


def marked(page: Tables, key: str) -> tuple[str, list[bool]]:
    """(the `better` cell, whether each run's final value is marked best) of `key`'s row."""
    cells = rows(page, "metrics")[key]
    return cells[0][0], [cells[1][1] == "best", cells[3][1] == "best"]


def test_eval_records_the_declared_direction_of_every_key(evaluated: tuple[Path, Path]) -> None:
    from ganhub.metrics import direction_of
    from ganhub.plugins import get_hub

    data = json.loads((evaluated[0] / "eval.json").read_text())
    metrics = [get_hub().metrics.get(name) for name in data["metrics"]]
    assert set(data["better"]) == set(data["results"])
    for key, way in data["better"].items():
        assert way == direction_of(key, metrics), key
    assert data["better"]["reverse_kl"] == "lower" and data["better"]["modes"] == "higher"
    assert data["better"]["n_samples"] is None


def test_a_runs_recorded_direction_wins_over_the_installed_metric(
    cli, evaluated: tuple[Path, Path], workdir: Path
) -> None:  # type: ignore[no-untyped-def]
    a, b = copies(evaluated, workdir)
    for run, value in ((a, 1.0), (b, 2.0)):  # installed: reverse_kl is lower-better
        record(run, "reverse_kl", value, {"reverse_kl": "higher", "modes": "higher"})
    page, _ = page_of(cli, a, b)
    assert marked(page, "reverse_kl") == ("higher", [False, True])


def test_runs_that_disagree_are_not_marked(
    cli, evaluated: tuple[Path, Path], workdir: Path
) -> None:  # type: ignore[no-untyped-def]
    a, b = copies(evaluated, workdir)
    record(a, "reverse_kl", 1.0, {"reverse_kl": "higher"})
    record(b, "reverse_kl", 2.0, {"reverse_kl": "lower"})
    page, text = page_of(cli, a, b)
    assert marked(page, "reverse_kl") == ("runs disagree", [False, False])
    assert "reverse_kl: the runs disagree on which way it improves" in text


@pytest.mark.parametrize(
    ("better", "said"),
    [
        ({"reverse_kl": "sideways"}, "'better' entries ignored (reverse_kl)"),
        (["reverse_kl", "higher"], "'better' ignored (list;"),
        ({f"k{i}": "higher" for i in range(10_000)}, "'better' ignored (10,000 keys;"),
    ],
)
def test_a_bad_record_is_ignored_with_a_note(
    cli, evaluated: tuple[Path, Path], workdir: Path, better: Any, said: str
) -> None:  # type: ignore[no-untyped-def]
    a, b = copies(evaluated, workdir)
    record(a, "reverse_kl", 1.0, better)
    record(b, "reverse_kl", 2.0, better)
    page, text = page_of(cli, a, b)
    # nothing usable recorded: the installed metric's direction (lower) marks the best run
    assert marked(page, "reverse_kl") == ("lower", [True, False])
    assert f"a: eval.json: {said}" in text and f"b: eval.json: {said}" in text
