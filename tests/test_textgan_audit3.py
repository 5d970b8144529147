"""textgan audit: one sampling-temperature range for every way of giving one, and scoring a
run at other temperatures from the command line.

`ganhub textgan generate RUN --temperature 1e-40` printed greedy sentences while
`sample.temperature=1e-40` was refused (below float32's smallest normal number), and the two
refusals of 0 read differently. `ganhub eval RUN sample.temperature=0.8` is refused by the
engine (it takes eval.* keys only), which left the quality-diversity curve of Caccia et al.
(2018) to Python; `ganhub textgan curve` scores a run at each temperature given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

import ganhub
from ganhub.config.resolve import resolve
from ganhub.errors import GanhubError, UsageError
from ganhub.plugins import get_hub

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["plugin=textgan", "preset=tiny", "trainer.progress=false", "loggers=[]",
        "eval.metrics=[]"]  # fmt: skip
Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture
BAD = ["1e-40", "0", "-1", "101", "nan"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny task=generate run (4 steps), trained once for the module."""
    out = tmp_path_factory.mktemp("textgan_audit3")
    summary = ganhub.train([*TINY, f"out_dir={out}", "name=r", "seed=0"])
    return Path(summary["run_dir"])


def _problem(message: str) -> str:
    """What a refusal says after its `...temperature=value: `."""
    found = re.search(r"temperature=\S+: (.*)$", message.strip())
    assert found, message
    return found[1]


@pytest.mark.parametrize("value", BAD)
def test_generate_option_and_config_key_share_one_range(cli: Cli, run: Path, value: str) -> None:
    code, out, err = cli("textgan", "generate", str(run), "--n", "2", "--temperature", value)
    assert code == 2 and out == "", (code, out)  # refused: no sentences printed
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    # the option refuses as every number option does (clikit.RealNumber), in the key's range
    assert f"--temperature {value}: " in err and "give a number from 1.2e-38 to 100" in err
    with pytest.raises(GanhubError) as refused:
        resolve([*TINY, f"sample.temperature={value}"], hub=get_hub())
    assert "sample.temperature=" in str(refused.value)
    assert "at least 1.2e-38" in _problem(str(refused.value))


def test_the_smallest_valid_temperature_works_everywhere(cli: Cli, run: Path) -> None:
    resolve([*TINY, "sample.temperature=1.2e-38"], hub=get_hub())  # accepted
    code, out, err = cli("textgan", "generate", str(run), "--n", "2", "--temperature", "1.2e-38")
    assert code == 0, err
    assert len(out.strip().splitlines()) == 2


def test_python_generate_refuses_what_the_config_refuses(run: Path) -> None:
    from ganhub_textgan import generate

    with pytest.raises(UsageError, match="temperature=1e-40: must be above 0 and at most 100"):
        generate(run, n=2, temperature=1e-40)
    assert len(generate(run, n=2, temperature=1.2e-38)) == 2


def test_curve_scores_each_temperature_and_leaves_eval_json(cli: Cli, run: Path) -> None:
    code, out, err = cli(
        "textgan", "curve", str(run), "--temperature", "1", "--temperature", "1e-5", "--n", "16"
    )
    assert code == 0, err
    data = json.loads((run / "temperatures.json").read_text())
    assert not (run / "eval.json").exists()
    warm, cold = data["points"]
    assert [warm["temperature"], cold["temperature"]] == [1.0, 1e-5]
    assert data["n_samples"] == 16 and data["metrics"] == ["text_nll", "text_bleu"]
    # greedy decoding: G's own samples cost it nothing, and the 16 samples are one sentence
    assert cold["nll_div"] == pytest.approx(0.0, abs=1e-6)
    assert cold["self_bleu3"] == pytest.approx(100.0)
    assert cold["nll_gen"] > 100 * warm["nll_gen"]  # held-out text under a near-greedy G
    # T = 1 is the run's own temperature: the NLL of held-out text `ganhub eval` reports
    code, _, err = cli("eval", str(run), "--n", "16", "eval.metrics=[text_nll]")
    assert code == 0, err
    scored = json.loads((run / "eval.json").read_text())["results"]["nll_gen"]["mean"]
    assert warm["nll_gen"] == pytest.approx(scored, rel=1e-9)
    assert "temperature" in out and "written to" in out


def test_curve_refuses_a_bad_temperature_before_scoring(
    cli: Cli, run: Path, tmp_path: Path
) -> None:
    target = tmp_path / "curve.json"
    code, _, err = cli(
        "textgan", "curve", str(run), "--temperature", "0.8", "--temperature", "1e-40",
        "--out", str(target),
    )  # fmt: skip
    assert code == 2 and not target.exists()
    assert len(err.strip().splitlines()) == 1
    assert "--temperature 1e-40: " in err and "give a number from 1.2e-38 to 100" in err


def test_curve_refuses_a_transfer_run_naming_itself(cli: Cli, tmp_path: Path) -> None:
    summary = ganhub.train([*TINY, "task=transfer", f"out_dir={tmp_path}", "name=t"])
    code, out, err = cli("textgan", "curve", summary["run_dir"], "--temperature", "0.8")
    assert code == 2 and out == "" and not (Path(summary["run_dir"]) / "temperatures.json").exists()
    assert "task=transfer run; `ganhub textgan curve` needs a task=generate run" in err
