"""A practitioner's audit of `ewc` (EWC, Kirkpatrick et al. 2017, Li et al. 2020; L2-SP, Li et
al. 2018): the logged penalty is its definition on a tiny run, computed by hand from the
checkpoints, and a resume that changes `trick.ewc.fisher` does what the new value says or is
refused in one line (both were silently ignored: the run went on with the saved F, or none)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import ganhub
from ganhub.config.resolve import resolve
from ganhub.engine import checkpoint
from ganhub.errors import ConfigError
from ganhub.plugins import get_hub

from .conftest import TINY_TOY

pytestmark = pytest.mark.usefixtures("one_thread")

QUIET = ["trainer.eval_every=0", "eval.metrics=[]", "device=cpu"]


def _g(run: Path, step: int) -> dict[str, torch.Tensor]:
    """G's weights in a run's checkpoint of `step`, by parameter name."""
    weights = load_file(run / f"checkpoints/step_{step:07d}/model.safetensors")
    return {k.removeprefix("G."): v for k, v in weights.items() if k.startswith("G.")}


def _logged(run: Path) -> dict[int, float]:
    rows = map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
    return {row["step"]: row["ewc_penalty"] for row in rows if "ewc_penalty" in row}


def test_the_logged_penalty_is_its_definition_and_a_resume_can_drop_fisher(
    workdir: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    """Step 2's `ewc_penalty` is sum_i F_i (w_i - w*_i)^2 with w the step-1 checkpoint's G, w*
    the source's G and F the checkpointed one (mean 1); resumed with fisher=false, step 3's
    is the plain L2-SP distance of the step-2 weights to the same anchor."""
    ganhub.train([*TINY_TOY, *QUIET, "trainer.steps=2", "name=src"])
    args = [*TINY_TOY, *QUIET, "init_from=runs/src", "tricks=[ewc]", "trick.ewc.weight=0.3",
            "trainer.steps=2", "trainer.log_every=1", "trainer.checkpoint_every=1",
            "trainer.keep_checkpoints=5", "optim.G.lr=0.01", "name=ewc"]  # fmt: skip
    run = Path(ganhub.train(args)["run_dir"])
    names = [name for name, _ in ganhub.load(run).system.G.named_parameters()]
    source = _g(workdir / "runs/src", 2)
    state = checkpoint.load(run / "checkpoints/step_0000002")[2]["tricks"]["ewc"]
    anchor, fisher = state["anchor"], [s.square() for s in state["stiffness"]]
    assert all(torch.equal(a, source[n]) for a, n in zip(anchor, names, strict=True))
    mean = sum(f.sum() for f in fisher) / sum(f.numel() for f in fisher)
    assert float(mean) == pytest.approx(1.0, rel=1e-5)
    after_1 = _g(run, 1)
    by_hand = sum(float((f * (after_1[n] - source[n]).square()).sum())
                  for f, n in zip(fisher, names, strict=True))  # fmt: skip
    assert by_hand > 0 and _logged(run)[2] == pytest.approx(by_hand, rel=1e-5)

    code, _, err = cli("run", f"resume={run}", "trick.ewc.fisher=false", "trainer.steps=3")
    assert code == 0, err
    after_2 = _g(run, 2)
    l2sp = sum(float((after_2[n] - source[n]).square().sum()) for n in names)
    assert _logged(run)[3] == pytest.approx(l2sp, rel=1e-5)  # was the saved F's penalty


def _trick(fisher: bool):  # type: ignore[no-untyped-def]
    cls = get_hub().tricks.get("ewc")
    trick = cls(cls.Config(weight=0.5, fisher=fisher), resolve(TINY_TOY))
    return trick


def test_a_resume_that_turns_fisher_on_is_refused_in_one_line() -> None:
    """A run started with fisher=false holds no F of its source weights: resumed with
    fisher=true it went on as L2-SP without a word."""
    trick = _trick(True)
    a = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    trick.params, trick.anchor, trick.stiffness = [a], None, None
    with pytest.raises(ConfigError) as err:
        trick.load_state_dict({"anchor": [torch.zeros(2)], "stiffness": None})
    line = str(err.value)
    assert line.startswith("trick.ewc.fisher=true: ") and "trick.ewc.fisher=false" in line
    assert "\n" not in line
