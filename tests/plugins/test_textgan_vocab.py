"""textgan on a small text file: its tokenizer holds fewer ids than the model's vocabulary
(`data.tokenizer_vocab`, 2000 for files), and G never writes or weighs the ids it lacks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ganhub_textgan.system import TextGenSystem

from ganhub.config.resolve import resolve
from ganhub.engine.loop import train_steps
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["plugin=textgan", "preset=tiny", "trainer.progress=false", "loggers=[]",
        "trainer.batch_size=8", "eval.metrics=[]", "adversarial.pretrain_steps=2"]  # fmt: skip


def _small_file(tmp_path: Path) -> Path:
    path = tmp_path / "lines.txt"
    path.write_text("\n".join(f"the {w} cat sat on a mat" for w in "abcdefgh" * 10) + "\n")
    return path


def test_a_small_files_model_samples_only_the_tokenizers_ids(tmp_path: Path) -> None:
    config = resolve([*TINY, f"data.path={_small_file(tmp_path)}"], hub=get_hub())
    torch.manual_seed(0)
    system = TextGenSystem(config)  # type: ignore[arg-type]
    known = system.known
    assert known is not None and known < system.vocab == config.data.tokenizer_vocab
    ids = system.sample(64, seed=1)
    assert int(ids.max()) < known  # untrained, an unmasked G drew almost only unknown ids
    soft = system._fake(8, step=5)  # RelGAN's relaxed samples give the rest no weight
    assert float(soft[..., known:].abs().sum()) == 0.0
    torch.testing.assert_close(soft.sum(-1), torch.ones(soft.shape[:2]))


@pytest.mark.parametrize("estimator", ["gumbel", "rollout"])
def test_training_on_a_small_file_stays_finite(tmp_path: Path, estimator: str) -> None:
    keys = [*TINY, f"data.path={_small_file(tmp_path)}", f"adversarial.estimator={estimator}",
            "adversarial.rollouts=2", "trainer.steps=4", "trainer.log_every=1"]  # fmt: skip
    run = make_run(resolve(keys))
    try:
        train_steps(run, run.batches(), 4)
        assert all(bool(torch.isfinite(p).all()) for p in run.system.G.parameters())
    finally:
        run.close()


def test_the_oracle_tokenizer_fills_the_vocabulary() -> None:
    system = TextGenSystem(resolve(TINY, hub=get_hub()))  # type: ignore[arg-type]
    assert system.known is None  # nothing masked, nothing spent
