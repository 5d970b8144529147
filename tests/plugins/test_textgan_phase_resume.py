"""A textgan run's phase boundaries are fixed once it exists (a user audit): a resume with more
steps derived adversarial.pretrain_steps (and d_pretrain_steps) again from the new
trainer.steps, and the run went back to MLE after adversarial steps. Now a resume keeps the
saved values (`KEPT_ON_RESUME`), a typed value that moves a boundary the run has passed is
refused in one line, and `ganhub adapt` (a new run) derives them for its own steps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from ganhub_textgan.config import TextGANConfig

import ganhub
from ganhub.adapt import adapt_config
from ganhub.config.resolve import resolve
from ganhub.engine.loop import train_steps
from ganhub.errors import ConfigError
from ganhub.wiring import make_run

pytestmark = pytest.mark.usefixtures("one_thread")

# no preset: the boundaries are derived from trainer.steps (8 steps: MLE for 4)
SMALL = ["plugin=textgan", "trainer.batch_size=8", "trainer.log_every=1", "model.n_embd=16",
         "model.n_head=2", "model.n_layer=1", "model.d_embd=16", "model.d_filters=8",
         "eval.metrics=[]", "trainer.progress=false", "loggers=[jsonl]",
         "trainer.sample_every=0", "data.vocab_size=20", "data.n_train=64",
         "data.n_test=16"]  # fmt: skip


def _train(keys: list[str], steps: int | None = None) -> None:
    """Train a run of `keys` to its end (logged), or for `steps` steps, and checkpoint it."""
    if steps is None:
        ganhub.train(keys)
        return
    run = make_run(resolve(keys))
    try:
        train_steps(run, run.batches(), steps)
        run.save()
    finally:
        run.close()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Finished 8-step runs (MLE for 4 steps): gumbel and rollout (D pretrained 2 steps)."""
    out = tmp_path_factory.mktemp("runs")
    _train([*SMALL, "trainer.steps=8", f"out_dir={out}", "name=gumbel"])
    _train([*SMALL, "preset=seqgan", "trainer.steps=8", "adversarial.rollouts=1",
            f"out_dir={out}", "name=seqgan"])  # fmt: skip
    return {"gumbel": out / "gumbel", "seqgan": out / "seqgan"}


def _copy(source: Path, workdir: Path) -> Path:
    return Path(shutil.copytree(source, workdir / "runs" / source.name))


def test_the_phase_boundaries_are_the_keys_kept_on_resume() -> None:
    from ganhub.config.rederive import kept_on_resume

    assert kept_on_resume(TextGANConfig) == [
        ("adversarial", "pretrain_steps"),
        ("adversarial", "d_pretrain_steps"),
    ]


def test_a_resume_with_more_steps_keeps_the_saved_boundaries(
    trained: dict[str, Path], workdir: Path
) -> None:
    gumbel = resolve([f"resume={trained['gumbel']}", "trainer.steps=24"])
    assert gumbel.adversarial.pretrain_steps == 4  # was derived again: 12, MLE after step 8
    seqgan = resolve([f"resume={trained['seqgan']}", "trainer.steps=24"])
    assert (seqgan.adversarial.pretrain_steps, seqgan.adversarial.d_pretrain_steps) == (4, 2)
    typed = resolve([f"resume={trained['seqgan']}", "trainer.steps=24",
                     "adversarial.pretrain_steps=4", "adversarial.d_pretrain_steps=2"])  # fmt: skip
    assert typed.adversarial.pretrain_steps == 4  # the saved values typed again: no refusal


def test_a_resumed_run_never_goes_back_to_mle(trained: dict[str, Path], workdir: Path) -> None:
    run_dir = _copy(trained["gumbel"], workdir)
    _train([f"resume={run_dir}", "trainer.steps=24"])  # derived again: MLE to step 12
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    phases = {r["step"]: "mle" if "loss/mle" in r else "adv" for r in records if "step" in r}
    assert [phases[s] for s in range(1, 25)] == ["mle"] * 4 + ["adv"] * 20


@pytest.mark.parametrize(
    ("name", "keys", "message"),
    [
        ("gumbel", ["adversarial.pretrain_steps=12"],
         r"^adversarial\.pretrain_steps=12: this run is at step 8 and its MLE phase ended at "
         r"step 4 \(saved adversarial\.pretrain_steps=4\); a resume cannot move a phase "
         r"boundary the run has passed: leave adversarial\.pretrain_steps out \(or give 4\)$"),
        ("gumbel", ["adversarial.pretrain_steps=2"], r"pretrain_steps=2: .* ended at step 4"),
        ("seqgan", ["adversarial.d_pretrain_steps=5"],
         r"^adversarial\.d_pretrain_steps=5: this run is at step 8 and its D pretraining ended "
         r"at step 6 \(saved adversarial\.d_pretrain_steps=2\)"),
    ],
)  # fmt: skip
def test_a_typed_boundary_the_run_has_passed_is_refused(
    trained: dict[str, Path], workdir: Path, name: str, keys: list[str], message: str
) -> None:
    run_dir = _copy(trained[name], workdir)
    before = (run_dir / "config.yaml").read_text()
    with pytest.raises(ConfigError, match=message):
        make_run(resolve([f"resume={run_dir}", "trainer.steps=24", *keys]))
    assert (run_dir / "config.yaml").read_text() == before  # refused before anything changed


def test_a_boundary_still_ahead_may_move(workdir: Path) -> None:
    _train([*SMALL, "trainer.steps=8", "name=early"], steps=2)  # stopped inside MLE (4 steps)
    moved = make_run(resolve([f"resume={workdir / 'runs' / 'early'}", "trainer.steps=12",
                              "adversarial.pretrain_steps=6"]))  # fmt: skip
    moved.close()
    assert moved.config.adversarial.pretrain_steps == 6


def test_a_transfer_run_refuses_to_move_its_passed_reconstruction(workdir: Path) -> None:
    keys = ["plugin=textgan", "preset=tiny", "task=transfer", "trainer.progress=false",
            "loggers=[]", "eval.metrics=[]", "name=t"]  # fmt: skip
    _train(keys)  # 4 steps, reconstruction for 2
    with pytest.raises(ConfigError, match=r"its reconstruction phase ended at step 2"):
        make_run(resolve([f"resume={workdir / 'runs' / 't'}", "trainer.steps=8",
                          "adversarial.pretrain_steps=6"]))  # fmt: skip


def test_adapt_derives_the_boundaries_for_its_own_steps(
    trained: dict[str, Path], workdir: Path
) -> None:
    """An adapted run is a new run: RUN's boundaries belonged to RUN's 8 steps (`trainer.steps=3`
    was refused: pretrain_steps=4 exceeds it, with a hint to give the default, 600)."""
    source = _copy(trained["gumbel"], workdir)
    short = adapt_config(source, ["trainer.steps=3", "eval.n_samples=16"])
    assert short.adversarial.pretrain_steps == 1
    assert adapt_config(source, ["eval.n_samples=16"]).adversarial.pretrain_steps == 150
    typed = adapt_config(source, ["trainer.steps=6", "adversarial.pretrain_steps=5"])
    assert typed.adversarial.pretrain_steps == 5
    seqgan = adapt_config(_copy(trained["seqgan"], workdir), ["trainer.steps=20"])
    assert (seqgan.adversarial.pretrain_steps, seqgan.adversarial.d_pretrain_steps) == (10, 5)


def test_adapt_keeps_a_boundary_its_run_set_by_hand(workdir: Path) -> None:
    _train([*SMALL, "trainer.steps=8", "adversarial.pretrain_steps=3", "name=hand"])
    adapted = adapt_config(workdir / "runs" / "hand", ["trainer.steps=20"])
    assert adapted.adversarial.pretrain_steps == 3  # not what 8 steps derive (4): chosen
