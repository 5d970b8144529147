"""stylegan audit: the EMA ramp-up counts the images a resumed run has really seen."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ganhub_stylegan.layers import ModulatedConv

from ganhub.config.resolve import resolve
from ganhub.engine import checkpoint
from ganhub.engine.loop import fit
from ganhub.wiring import make_run

from .test_stylegan import TINY

pytestmark = pytest.mark.usefixtures("one_thread")


def _weights(run_dir: Path, step: int) -> dict[str, torch.Tensor]:
    """The saved model tensors of `run_dir` at `step`."""
    saved, state, _ = checkpoint.load(run_dir / "checkpoints" / f"step_{step:07d}")
    assert saved == step
    return state


def _measured_beta(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> float:
    """The EMA decay of one update: G_ema' = G' + beta * (G_ema - G'), read from the weights."""
    num, den = [], []
    for key, ema in before.items():
        if key.startswith("G_ema.") and ema.is_floating_point():
            own = after["G." + key.removeprefix("G_ema.")]
            num.append((after[key] - own).flatten().double())
            den.append((ema - own).flatten().double())
    n, d = torch.cat(num), torch.cat(den)
    return float((n * d).sum() / (d * d).sum())


def test_ema_rampup_counts_the_images_seen_before_a_resume_with_another_batch(
    workdir: Path,
) -> None:
    """StyleGAN2-ADA caps the EMA half-life at cur_nimg * ema_rampup. 4 steps at batch 4 then a
    resume at batch 8: step 5 follows 16 images (half-life 0.8 images, beta 0.5 ** 10), but
    the ramp-up took step x batch = 32 (beta 0.5 ** 5), as if every step had been at 8."""
    tiny = [a for a in TINY if not a.startswith("trainer.steps=")]
    args = [*tiny, "trainer.checkpoint_every=1", "trainer.keep_checkpoints=10", "name=r"]
    fit(make_run(resolve([*args, "trainer.steps=4"])))
    run_dir = workdir / "runs/r"
    resumed = make_run(resolve(["resume=runs/r", "trainer.steps=5", "trainer.batch_size=8"]))
    assert resumed.config.trick.ema.rampup == 0.05  # type: ignore[attr-defined]
    fit(resumed)
    seen = 4 * 4  # images before step 5
    expected = 0.5 ** (8 / (seen * 0.05))
    beta = _measured_beta(_weights(run_dir, 4), _weights(run_dir, 5))
    assert beta == pytest.approx(expected, rel=0.05)  # float32 weights: a few % noise
    assert beta != pytest.approx(0.5 ** (8 / (4 * 8 * 0.05)), rel=0.5)  # step x batch


def test_float16_blocks_off_cuda_warn_with_the_precision_they_train_in(workdir: Path) -> None:
    """`precision=bf16 model.fp16_res=2` on a CPU warned that the run trained in float32: it
    trains in bfloat16 (the engine's autocast), as the convolutions' outputs show."""
    run = make_run(resolve([*TINY, "precision=bf16", "model.fp16_res=2", "trainer.steps=1"]))
    (warning,) = run.system.before_training()
    assert "model.fp16_res=2: float16 blocks run on CUDA only" in warning
    assert "trains in bfloat16, as precision=bf16 asks" in warning
    assert "float32" not in warning
    dtypes: set[torch.dtype] = set()
    for module in run.system.G.modules():
        if isinstance(module, ModulatedConv):
            module.register_forward_hook(lambda mod, args, out: dtypes.add(out.dtype))
    fit(run)
    assert dtypes == {torch.bfloat16}
