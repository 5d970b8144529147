"""`ganhub eval` and `ganhub report` say how many samples the scores rest on, say when the
seeds' spread measures nothing, and say when an Inception key is given to no effect."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ganhub.metrics.rundata import final_metrics

from .conftest import TINY_DCGAN, TINY_TOY

CLI = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)

pytestmark = pytest.mark.usefixtures("one_thread")

MEDGAN = ["plugin=medgan", "preset=tiny", "trainer.progress=false", "loggers=[jsonl]", "name=med"]


def test_eval_says_the_count_the_metrics_scored_not_the_n_asked_for(
    cli: CLI, workdir: Path
) -> None:
    """medgan scores its 8 held-out phantoms whatever --n: the header, eval.json and the
    report said 500, and --seeds 3 showed a std of 0 as if it were a measured spread."""
    code, _, err = cli("run", *MEDGAN)
    assert code == 0, err
    run = workdir / "runs" / "med"
    code, out, err = cli("eval", str(run), "--n", "500", "metrics=[med_fidelity]")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"ganhub eval {run}: step 4, 1 seed x 8 samples (500 asked)", out
    notes = [line for line in lines if line.startswith("note:")]
    assert notes == [
        "note: --n 500: scored 8 samples per seed, not 500; the metrics have no more to score "
        "(a held-out set, or a metric's own limit)"
    ]
    result = json.loads((run / "eval.json").read_text())
    assert result["n_samples"] == 8 and result["n_asked"] == 500
    caption, _ = final_metrics(run, [])
    assert caption == "ganhub eval: step 4, 1 seed x 8 samples (500 asked)"

    code, out, err = cli("eval", str(run), "--n", "500", "--seeds", "3", "metrics=[med_fidelity]")
    assert code == 0, err
    assert "note: every score is the same for all 3 seeds" in out
    assert len([line for line in out.splitlines() if line.startswith("note:")]) == 2
    caption, _ = final_metrics(run, [])
    assert caption.endswith("(500 asked); the same scores for every seed, so a std of 0 "
                            "measures no spread")  # fmt: skip


def test_the_report_reads_the_scored_count_from_an_older_eval_json(tmp_path: Path) -> None:
    """eval.json files written before the count scored was recorded say the --n asked for."""
    older = {
        "step": 4, "seeds": [0], "n_samples": 500,
        "results": {"psnr": {"mean": 19.0, "std": None}, "n_samples": {"mean": 8.0, "std": None}},
    }  # fmt: skip
    (tmp_path / "eval.json").write_text(json.dumps(older))
    caption, _ = final_metrics(tmp_path, [])
    assert caption == "ganhub eval: step 4, 1 seed x 8 samples (500 asked)"
    older["results"]["n_samples"]["mean"] = 500.0  # type: ignore[index]
    (tmp_path / "eval.json").write_text(json.dumps(older))
    assert final_metrics(tmp_path, [])[0] == "ganhub eval: step 4, 1 seed x 500 samples"


def test_an_inception_key_no_metric_uses_is_said_to_be_unused(cli: CLI, workdir: Path) -> None:
    """eval.inception_weights=/nonexistent.pth was silently ignored when no metric read
    Inception features."""
    code, _, err = cli("run", *TINY_TOY, "name=toy")
    assert code == 0, err
    run = str(workdir / "runs" / "toy")
    code, _, err = cli("eval", run, "--n", "50", "metrics=[mode_coverage_2d]",
                         "inception_weights=/nonexistent.pth")  # fmt: skip
    assert code == 0, err
    said = [line for line in err.splitlines() if "inception" in line]
    assert said == [
        "eval.inception_weights=/nonexistent.pth: unused, as no metric here uses Inception "
        "features (eval.features: none: no feature metric is scored); add "
        "eval.features=[inception] to use it"
    ], err
    code, _, err = cli("eval", run, "--n", "50", "metrics=[mode_coverage_2d]")
    assert code == 0 and "inception" not in err, err


def test_a_training_run_warns_of_inception_keys_no_metric_uses(cli: CLI, workdir: Path) -> None:
    """`ganhub run ... eval.inception_weights=...` with no Inception metric ignored the key
    during training without a word (`ganhub eval` said so already)."""
    code, _, err = cli("run", *TINY_TOY, "name=a", "eval.inception_weights=/x.pth")
    assert code == 0, err
    assert "ganhub: warning: eval.inception_weights=/x.pth: unused, as no metric" in err, err
    code, _, err = cli("run", *TINY_TOY, "name=b")
    assert code == 0 and "inception" not in err, err


def test_intra_fid_counts_as_reading_inception(workdir: Path) -> None:
    """intra-FID scores on eval.features' networks: Inception's keys are not unused beside it
    (the note's check knew FID, KID, PR, DC and IS only)."""
    from ganhub.config.resolve import resolve
    from ganhub.metrics import unused_inception_settings
    from ganhub.plugins import get_hub
    from ganhub.wiring import make_run

    keys = [*TINY_DCGAN, "model.conditional=true", "eval.features=[inception]"]
    run = make_run(resolve([*keys, "eval.inception_weights=/x.pth"]))
    metrics = get_hub().metrics
    assert unused_inception_settings(run.system, [metrics.get("intra_fid")]) == []
    assert unused_inception_settings(run.system, [metrics.get("class_accuracy")])
    run.close()


def test_the_unused_inception_note_names_the_features_used() -> None:
    from ganhub.metrics.commands import _unused_inception_keys

    given = ["eval.inception_weights=/x.pth"]
    assert _unused_inception_keys(given, ["inception"]) is None
    assert _unused_inception_keys([], ["digits"]) is None
    said = _unused_inception_keys(given, ["digits"])
    assert said is not None and "(eval.features: digits)" in said
