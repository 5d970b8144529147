"""textgan task=transfer after a user audit: n samples are n (cycled, with a note, past the
held-out sentences), `style_transfer` reports the count it scored, keys the task does not read
are refused, one file for both styles is refused (and data check names files as given), and
self-BLEU against the source is no score."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from ganhub_textgan.metrics import StyleTransferScores, TextBLEU
from ganhub_textgan.style_transfer import TransferSystem

import ganhub
from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError
from ganhub.metrics import direction_of
from ganhub.plugins import get_hub

TINY = ["plugin=textgan", "preset=tiny", "trainer.progress=false", "loggers=[jsonl]"]
TRANSFER = [*TINY, "task=transfer"]
HELD_OUT = 32  # preset=tiny's data.n_test: held-out template sentences per style

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One tiny task=transfer run (its end-of-run summary)."""
    out = tmp_path_factory.mktemp("runs")
    return ganhub.train([*TRANSFER, f"out_dir={out}", "name=t"])


def _system(*extra: str) -> TransferSystem:
    config = resolve([*TRANSFER, *extra], hub=get_hub())
    torch.manual_seed(0)
    return TransferSystem(config)  # type: ignore[arg-type]


def _style_files(root: Path, lines: int = 20) -> tuple[Path, Path]:
    (root / "txt").mkdir(exist_ok=True)
    neg, pos = root / "txt" / "neg.txt", root / "txt" / "pos.txt"
    neg.write_text("".join(f"the soup {i} was awful\n" for i in range(lines)))
    pos.write_text("".join(f"the soup {i} was great\n" for i in range(lines)))
    return neg, pos


# -- 1. n samples are n ------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5])
def test_sample_gives_n_rewrites_split_between_the_styles(n: int) -> None:
    system = _system()
    with torch.no_grad():
        ids = system.sample(n)
        lines = system.sample_texts(n, 0)
    assert ids.shape == (n, system.length)
    assert len(lines) == n
    negative = sum(line.startswith("[negative -> positive]") for line in lines)
    assert (negative, n - negative) == (n - n // 2, n // 2)  # as evenly as can be


def test_sample_past_the_held_out_sentences_cycles_them_with_one_note(
    capsys: pytest.CaptureFixture[str],
) -> None:
    system = _system()
    n = 2 * HELD_OUT + 36
    with torch.no_grad():
        lines = system.sample_texts(n, 0)
        again = system.sample(n)
    assert len(lines) == n and len(again) == n
    sources = [line.split("] ", 1)[1].split(" => ")[0] for line in lines]
    test = system.corpus["test"]
    assert sources[::2] == [test[0][i % HELD_OUT] for i in range(n // 2)]  # cycled
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"ganhub: note: {n} transfers asked for, and this run holds out {HELD_OUT} negative and "
        f"{HELD_OUT} positive sentences: they repeat (cycled) to give {n}"
    ]


def test_sample_command_and_load_give_n(run: dict[str, Any], cli: Any, tmp_path: Path) -> None:
    for n in (1, 5, 100):
        code, out, err = cli("sample", run["run_dir"], "--n", str(n), "--out", str(tmp_path / "s"))
        assert code == 0, err
        written = Path(out.strip()).read_text(encoding="utf-8").splitlines()
        assert len(written) == n
        assert ("ganhub: note:" in err) == (n > 2 * HELD_OUT)
    assert tuple(ganhub.load(run["run_dir"], plugin="textgan").sample(2).shape) == (2, 8)


# -- 2. n_samples is the count scored ----------------------------------------------------------


def test_scores_report_the_count_they_scored(run: dict[str, Any], cli: Any) -> None:
    assert _system().scores(1000)["n_samples"] == 2 * HELD_OUT  # up to n per style: all held out
    assert _system().scores(5)["n_samples"] == 10
    # the end of the run: eval.n_samples=32 per style, both styles scored
    assert run["metrics"]["n_samples"] == 2 * HELD_OUT
    code, out, err = cli("eval", run["run_dir"], "--n", "500")
    assert code == 0, err
    result = json.loads((Path(run["run_dir"]) / "eval.json").read_text())
    assert result["n_samples"] == 2 * HELD_OUT
    assert f"--n 500: scored {2 * HELD_OUT} samples per seed, not 500" in out + err


# -- 3. keys the task does not read ------------------------------------------------------------

# the task that reads each key only one task reads, and a valid value away from its default
OTHER_VALUES = {
    "data.vocab_size": ("generate", "100"),
    "data.oracle_seed": ("generate", "7"),
    "data.style_names": ("transfer", "[calm,angry]"),
    "adversarial.estimator": ("generate", "rollout"),
    "adversarial.temperature_max": ("generate", "10"),
    "adversarial.anneal": ("generate", "linear"),
    "adversarial.anneal_steps": ("generate", "50"),
    "adversarial.rollouts": ("generate", "3"),
    "objective.mle_weight": ("generate", "0.5"),
    "objective.self_weight": ("transfer", "0.5"),
    "objective.cycle_weight": ("transfer", "0.25"),
    "transfer.temperature": ("transfer", "0.7"),
    "transfer.denoise": ("transfer", "0.2"),
}


def test_every_task_key_is_tested_here() -> None:
    from ganhub_textgan.config import TASK_KEYS

    assert {key: task for key, (task, _) in TASK_KEYS.items()} == {
        key: task for key, (task, _) in OTHER_VALUES.items()
    }


@pytest.mark.parametrize("key", sorted(OTHER_VALUES))
def test_a_key_of_the_other_task_is_refused_in_one_line(key: str) -> None:
    task, value = OTHER_VALUES[key]
    other = "generate" if task == "transfer" else "transfer"
    given = f"{key}={value}"
    with pytest.raises(ConfigError) as exc:
        resolve(["plugin=textgan", f"task={other}", given])
    message = str(exc.value)
    assert message.startswith(f"{given} is for task={task} (") and "\n" not in message
    assert f"task={other} does not read it: leave it out" in message
    resolve(["plugin=textgan", f"task={task}", given])  # the task that reads it takes it


def test_defaults_and_the_presets_values_are_no_refusal() -> None:
    resolve(["plugin=textgan", "task=transfer", "data.vocab_size=500", "adversarial.rollouts=4"])
    resolve([*TRANSFER, "data.vocab_size=20"])  # preset=tiny's own value
    resolve(["plugin=textgan", "preset=seqgan", "task=transfer"])  # its estimator: the preset's


def test_the_refusal_comes_before_a_run_directory(tmp_path: Path, cli: Any) -> None:
    code, _, err = cli("run", *TRANSFER, "data.vocab_size=100", f"out_dir={tmp_path}", "name=v")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("ganhub: error: data.vocab_size=100 is for task=generate")
    assert not (tmp_path / "v").exists()


# -- 4. one file for both styles; item names as given ----------------------------------------


def test_one_file_for_both_styles_is_refused(
    workdir: Path, cli: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    neg, _ = _style_files(workdir)
    for second in ("txt/neg.txt", "./txt/../txt/neg.txt", str(neg)):
        paths = f"data.style_paths=[txt/neg.txt,{second}]"
        with pytest.raises(ConfigError, match=r"both styles read the same file"):
            resolve([*TRANSFER, paths])
        code, out, err = cli("data", "check", "plugin=textgan", "task=transfer", paths)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, out + err
        shown = f"data.style_paths=[txt/neg.txt,{Path(second)}]"  # as a Path writes it
        assert f"{shown}: both styles read the same file ({neg.resolve()})" in err
    other = tmp_path_factory.mktemp("runs")
    code, _, err = cli("run", *TRANSFER, "data.style_paths=[txt/neg.txt,txt/neg.txt]",
                       f"out_dir={other}", "name=same")  # fmt: skip
    assert code == 2 and not (other / "same").exists(), err


def test_data_check_names_style_files_as_given(workdir: Path, cli: Any) -> None:
    _, pos = _style_files(workdir)
    with pos.open("a") as f:
        f.write("the soup 3 was awful\n")  # a sentence of both styles
    code, out, err = cli(
        "data", "check", "plugin=textgan", "task=transfer",
        "data.style_paths=[txt/neg.txt,txt/pos.txt]", "--json",
    )  # fmt: skip
    assert code in (0, 1), err
    report = json.loads(out)
    text = json.dumps(report)
    assert "txt/pos.txt:21" in text and "duplicate of txt/neg.txt:4" in text
    assert '"neg.txt:' not in text and '"pos.txt:' not in text


# -- 5. self-BLEU is content kept, no score ----------------------------------------------------


def test_self_bleu_is_no_score_and_keep_best_refuses_it(tmp_path: Path) -> None:
    metric = StyleTransferScores()
    assert metric.direction("self_bleu") is None
    assert "self_bleu" not in metric.scores()
    assert {"style_acc", "ref_bleu"} <= set(metric.scores())
    # text_bleu's self_bleu2..5 ("lower") do not claim it: whichever metric comes first, no
    # direction (keep_best, tuning's objective=self_bleu) is found for it
    metrics = [TextBLEU(), metric]
    assert direction_of("self_bleu", metrics) is direction_of("self_bleu", metrics[::-1]) is None
    assert TextBLEU().direction("self_bleu3") == "lower"
    keep = ["trainer.eval_every=2", f"out_dir={tmp_path}", "name=k"]
    with pytest.raises(ConfigError, match=r"trainer\.keep_best=self_bleu: not a score"):
        ganhub.train([*TRANSFER, *keep, "trainer.keep_best=self_bleu"])
    assert not (tmp_path / "k").exists()


def test_another_seed_rewrites_other_held_out_sentences() -> None:
    """`ganhub sample --seed S` of a transfer run wrote the same file for every seed (the
    rewrite is deterministic, and the inputs were always the first held-out sentences)."""
    system = _system()

    def sources(seed: int) -> list[str]:
        with torch.no_grad():
            lines = system.sample_texts(6, seed)
        return [line.split("] ", 1)[1].split(" => ")[0] for line in lines]

    test = system.corpus["test"]
    assert sources(0)[::2] == test[0][:3] and sources(0)[1::2] == test[1][:3]  # file order
    assert sources(5) == sources(5) and sources(5) != sources(0)
    assert set(sources(5)) <= set(test[0]) | set(test[1])
    assert system.transfer_inputs(6, 5)[0] == sources(5)  # what `sample(n, seed=5)` rewrites
