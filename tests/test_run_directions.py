"""Which way each score improves, recorded by training itself: every evaluation during a run
adds the keys it reported to checkpoints/better.json (written when a key is new, never per
step), and `ganhub report RUN RUN` marks the best run by that record, ahead of best.json and of
the metrics installed where the comparison runs. metrics.jsonl stays one object per line."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import TINY_TOY
from .test_report_compare_directions import marked, page_of

BETTER = Path("checkpoints") / "better.json"
KEYS = [*TINY_TOY, "trainer.steps=8", "trainer.eval_every=4", "eval.n_samples=200"]
WANT = {"modes": "higher", "hq_percent": "higher", "reverse_kl": "lower",
        "balanced_hq": "higher", "n_samples": None}  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Path]]:
    """Two tiny toy2d runs evaluated during training only (steps 4 and 8, keep_best on the
    first), and the paths each write of a better.json went to."""
    import ganhub
    from ganhub.engine import checkpoint

    root = tmp_path_factory.mktemp("trained")
    writes: list[Path] = []
    real = checkpoint.write_text_atomic

    def counting(path: Path, text: str) -> None:
        if path.name == BETTER.name:
            writes.append(path)
        real(path, text)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checkpoint, "write_text_atomic", counting)
        made = [
            Path(ganhub.train([*KEYS, f"out_dir={root}", f"name={name}", f"seed={seed}", *more])[
                "run_dir"
            ])
            for name, seed, more in (("a", 0, ["trainer.keep_best=reverse_kl"]), ("b", 1, []))
        ]  # fmt: skip
    return made[0], made[1], writes


def copies(trained: tuple[Path, Path, list[Path]], where: Path) -> tuple[Path, Path]:
    """The two runs copied under `where` (a test edits their records there)."""
    a, b = (Path(shutil.copytree(run, where / "runs" / run.name)) for run in trained[:2])
    return a, b


def set_final(run: Path, key: str, value: float) -> None:
    """Make the last logged evaluation's `key` equal `value` (so the best run is known)."""
    path = run / "metrics.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for line in lines:
        if f"eval/{key}" in line:
            line[f"eval/{key}"] = value
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def installed(monkeypatch: pytest.MonkeyPatch, answer: Callable[[str], str | None]) -> None:
    """What the metrics installed where `ganhub report` runs say about a key."""
    import ganhub.metrics.commands as commands

    monkeypatch.setattr(commands, "_declared_direction", answer)


def test_training_records_every_evaluated_keys_direction_once(
    trained: tuple[Path, Path, list[Path]],
) -> None:
    a, b, writes = trained
    for run in (a, b):
        assert json.loads((run / BETTER).read_text()) == {"better": WANT}
        lines = (run / "metrics.jsonl").read_text().splitlines()
        records = [json.loads(line) for line in lines]
        assert all(isinstance(r, dict) and type(r.get("step")) is int for r in records)
        assert "eval/reverse_kl" in records[-1]  # the last line is still the last evaluation
    # two evaluations (and the final one at step 8 is not run twice): one write per run
    assert sorted(writes) == sorted([a / BETTER, b / BETTER])
    assert not list((a / "checkpoints").glob(".*"))  # no temporary file left


def test_report_marks_by_the_runs_record_not_the_installed_metrics(
    cli: Any, trained: tuple[Path, Path, list[Path]], workdir: Path, monkeypatch: Any
) -> None:
    """Where the metric is not installed (or declares otherwise), the runs' record counts."""
    a, b = copies(trained, workdir)
    set_final(a, "reverse_kl", 1.0)
    set_final(b, "reverse_kl", 2.0)
    installed(monkeypatch, lambda key: None)  # the plugin is not installed here
    page, _ = page_of(cli, a, b)
    assert marked(page, "reverse_kl") == ("lower", [True, False])
    installed(monkeypatch, lambda key: "higher")  # installed, declaring the other way
    page, text = page_of(cli, a, b)
    assert marked(page, "reverse_kl") == ("lower", [True, False])
    assert "disagree" not in text


def test_the_training_record_comes_after_eval_json_and_before_best_json(
    cli: Any, trained: tuple[Path, Path, list[Path]], workdir: Path, monkeypatch: Any
) -> None:
    a, b = copies(trained, workdir)
    set_final(a, "reverse_kl", 1.0)
    set_final(b, "reverse_kl", 2.0)
    installed(monkeypatch, lambda key: None)
    best = json.loads((a / "checkpoints" / "best.json").read_text())
    assert best["metric"] == "reverse_kl"
    (a / "checkpoints" / "best.json").write_text(json.dumps(best | {"better": "higher"}))
    page, _ = page_of(cli, a, b)  # better.json (lower) over best.json (higher)
    assert marked(page, "reverse_kl") == ("lower", [True, False])
    for run in (a, b):  # a record better.json does not hold: best.json's, where there is one
        path = run / BETTER
        path.write_text(json.dumps({"better": {"modes": "higher"}}))
    page, _ = page_of(cli, a, b)  # a: best.json's (higher); b recorded none, none installed
    assert marked(page, "reverse_kl") == ("higher", [False, True])


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("[1, 2]", "it holds a list"),
        ('{"better": {"reverse_kl": "sideways"}}', "it gives 'reverse_kl' the text 'sideways'"),
        ('{"better": {"reverse_kl": "higher", "": "lower"}}', "it holds the key ''"),
        (json.dumps({"better": {f"k{i}": "lower" for i in range(1001)}}), "1,001 keys"),
        ("{not json", "not valid JSON"),
        (None, "not a regular file"),
    ],
    ids=["list", "bad-direction", "empty-key", "too-many-keys", "not-json", "folder"],
)
def test_a_damaged_record_is_one_note_and_ignored(
    cli: Any,
    trained: tuple[Path, Path, list[Path]],
    workdir: Path,
    monkeypatch: Any,
    content: str | None,
    said: str,
) -> None:
    a, b = copies(trained, workdir)
    set_final(a, "reverse_kl", 1.0)
    set_final(b, "reverse_kl", 2.0)
    installed(monkeypatch, lambda key: None)
    (a / BETTER).unlink()
    if content is None:
        (a / BETTER).mkdir()
    else:
        (a / BETTER).write_text(content)
    (a / "checkpoints" / "best.json").unlink()  # nothing else recorded for run a
    page, text = page_of(cli, a, b)
    # b's record alone says which way: the whole of a's damaged file is set aside
    assert marked(page, "reverse_kl") == ("lower", [True, False])
    notes = [line for line in text.splitlines() if "better.json" in line and "<li>" in line]
    assert len(notes) == 1 and "a: checkpoints/better.json: ignored (" in notes[0], notes
    assert said in notes[0], notes


def test_a_resume_adds_new_keys_and_rewrites_a_damaged_record(workdir: Path) -> None:
    """The writer itself: new keys merged into what a run recorded before; nothing written
    when nothing is new; a tampered record replaced in one warning line."""
    from ganhub.engine.best import record_directions

    directory = workdir / "checkpoints"
    said: list[str] = []
    record_directions(directory, {"reverse_kl": "lower", "n_samples": None}, said.append)
    path = directory / BETTER.name
    first = path.stat().st_mtime_ns
    record_directions(directory, {"reverse_kl": "lower"}, said.append)
    assert path.stat().st_mtime_ns == first and said == []
    record_directions(directory, {"modes": "higher", "bad\nkey": "lower"}, said.append)
    assert json.loads(path.read_text())["better"] == {
        "reverse_kl": "lower", "n_samples": None, "modes": "higher"}  # fmt: skip
    path.write_text('{"better": {"reverse_kl": 3}}')
    record_directions(directory, {"modes": "higher"}, said.append)
    assert json.loads(path.read_text()) == {"better": {"modes": "higher"}}
    assert len(said) == 1 and f"'{path}' is not a record of which way" in said[0], said
    assert "written anew" in said[0]


def test_a_folder_in_place_of_the_record_is_one_warning_and_training_goes_on(
    workdir: Path, cli: Any
) -> None:
    code, _, err = cli("run", *KEYS, "name=f", "trainer.steps=4")
    assert code == 0, err
    run = workdir / "runs" / "f"
    (run / BETTER).unlink()
    (run / BETTER).mkdir()
    code, _, err = cli("run", f"resume={run}", "trainer.steps=12")
    assert code == 0, err
    warned = [line for line in err.splitlines() if "better.json" in line]
    assert len(warned) == 1 and "a folder is there: remove or rename it" in warned[0], err
    assert "Traceback" not in err and (run / BETTER).is_dir()


def test_both_pages_carry_the_shared_style_inline(
    cli: Any, trained: tuple[Path, Path, list[Path]], workdir: Path
) -> None:
    """One style for every page: base.html holds the shared rules, the pages extend it and
    add their own, and each written page is still self-contained (CSS inline, no link)."""
    import re

    from ganhub.metrics import report

    folder = Path(report.__file__).parent / "templates"
    base = (folder / "base.html").read_text()
    shared = re.findall(r"^([^{}\n]*\{[^}]*\}.*)$", base.split("<style>")[1].split("{%")[0], re.M)
    assert len(shared) >= 5 and any(line.startswith("body{") for line in shared)
    a, b = copies(trained, workdir)
    assert cli("report", str(a))[0] == 0 and cli("report", str(a), str(b))[0] == 0
    for page, own in ((a / "report.html", "#status{"), (workdir / "compare.html", "td.best{")):
        text = page.read_text()
        style = text.split("<style>")[1].split("</style>")[0]
        assert all(rule in style for rule in shared) and own in style, page
        assert "<link" not in text and text.count("<style>") == 1
    for name in ("report.html", "compare.html"):  # the rules are written once, in base.html
        source = (folder / name).read_text()
        assert '{% extends "base.html" %}' in source
        assert not any(rule in source for rule in shared), name
