"""A run that evaluates and writes samples while it trains, resumed, continues exactly.

The uninterrupted run evaluates at step 2 and then trains on; the resumed one starts from a
checkpoint saved without that evaluation, in a process that has loaded no feature network
yet. Whatever an evaluation or a sample artifact draws from the global random streams (a
feature network's initial weights, built before its weights load) would give the two runs
other noise from then on.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ganhub.config.resolve import resolve
from ganhub.engine import checkpoint
from ganhub.engine.loop import fit, train_steps
from ganhub.metrics import featurenet, features
from ganhub.metrics.store import CACHE_ENV
from ganhub.wiring import make_run

STEPS = [
    "device=cpu",
    "loggers=[jsonl]",
    "trainer.progress=false",
    "trainer.log_every=1",
    "trainer.steps=4",
    "trainer.eval_every=2",
    "trainer.sample_every=2",
    "trainer.checkpoint_every=2",
]
# each case a few seconds (cyclegan's more); medgan's (MONAI's import, 3D-capable nets: 10-30 s
# each) are left to the contract test's exact resume, which evaluates at its end only
CASES = [
    pytest.param(["plugin=toy2d", "trainer.batch_size=32", "model.g_hidden=16",
                  "model.d_hidden=16", "data.n_samples=1000", "eval.n_samples=200"], id="toy2d"),
    # the digit classifier (digit_modes, fd_digits) loads at a process's first evaluation
    pytest.param(["plugin=dcgan", "preset=tiny", "trainer.batch_size=8",
                  "eval.metrics=[digit_modes,fid]", "eval.n_samples=16", "eval.n_real=32"],
                 id="dcgan"),
    pytest.param(["plugin=stylegan", "preset=tiny", "eval.metrics=[fid]", "eval.n_samples=16",
                  "eval.n_real=32"], id="stylegan"),
    # 5 s alone, 25 s on a busy 2-core machine: its convolutions are the heaviest here
    pytest.param(["plugin=cyclegan", "preset=tiny", "model.image_size=16", "eval.n_samples=16"],
                 id="cyclegan", marks=pytest.mark.slow),
    pytest.param(["plugin=textgan", "preset=tiny"], id="textgan"),
]  # fmt: skip


def _untrained_digits(cache: Path) -> None:
    """A small untrained digit classifier of the current recipe in `cache`: loaded as the
    trained one is, in a second instead of the minute its training takes."""
    torch.manual_seed(0)
    spec = featurenet.FeatureNetSpec("digits", "classifier", 1, 32, 10, width=4, feat_dim=8)
    spec.recipe, spec.accuracy = dict(featurenet.DIGITS_RECIPE), 0.99
    folder = cache / "features"
    folder.mkdir(parents=True)
    featurenet.save_feature_net(featurenet.FeatureNet(spec), spec, folder)


def _new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the feature networks this process loaded, as a new process starts."""
    monkeypatch.setattr(featurenet, "_LOADED", {})
    monkeypatch.setattr(features, "_EXTRACTORS", OrderedDict())


def _final(run_dir: Path) -> dict[str, torch.Tensor]:
    path = checkpoint.latest(run_dir / "checkpoints")
    assert path is not None
    return {
        **{f"model/{k}": v for k, v in load_file(str(path / "model.safetensors")).items()},
        **{f"state/{k}": v for k, v in load_file(str(path / "state.safetensors")).items()},
    }


def _losses(run_dir: Path) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        losses = {k: v for k, v in record.items() if k.startswith("loss/")}
        if losses:
            out[record["step"]] = losses
    return out


@pytest.mark.parametrize("overrides", CASES)
def test_a_resumed_run_that_evaluates_continues_exactly(
    overrides: list[str], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if "plugin=dcgan" in overrides:
        monkeypatch.setenv(CACHE_ENV, str(workdir / "cache"))
        _untrained_digits(workdir / "cache")
    args = [*overrides, *STEPS]
    _new_process(monkeypatch)
    fit(make_run(resolve([*args, "name=full"])))
    part = make_run(resolve([*args, "name=part"]))
    try:  # 2 steps and a checkpoint, without the evaluation and samples of step 2
        train_steps(part, part.batches(), 2)
        part.save()
    finally:
        part.close()
    _new_process(monkeypatch)
    fit(make_run(resolve(["resume=runs/part"])))
    full, resumed = _final(workdir / "runs/full"), _final(workdir / "runs/part")
    assert full.keys() == resumed.keys()
    differ = [k for k in full if not torch.equal(full[k], resumed[k])]
    assert not differ, f"{len(differ)} tensors differ, first {differ[0]}"
    logged = _losses(workdir / "runs/full")
    assert {s: logged[s] for s in (3, 4)} == _losses(workdir / "runs/part")
