"""Speed options train like eager fp32: same logged losses and weights after a few steps.

Each option is run against the plain eager fp32 run of the same tiny config, seed and data,
with deterministic kernels, for STEPS steps (every step logged). Options that only change how
the arithmetic is laid out or scheduled (channels_last, torch.compile, gradient accumulation)
must agree to float32 rounding; bf16 autocast rounds every matmul and convolution input to 8
bits of mantissa, so it is held to a looser, stated tolerance (`assert_close_to_bf16`).
The last test runs the CPU quick mode of benchmarks/gpu_speed.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from ganhub.config.resolve import resolve
from ganhub.engine.loop import train_step
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN, TINY_TOY

STEPS = 3
EXACT = 1e-5  # float32 rounding of a reordered sum, far below one Adam step (lr 2e-4 to 1e-3)

DOMAINS = {"toy2d": TINY_TOY, "dcgan": TINY_DCGAN}  # MLPs without norms; convs with BatchNorm


class Trained:
    """What a short run leaves: logged losses per step, weights before and after, buffers."""

    def __init__(self, overrides: list[str], out_dir: Path, name: str) -> None:
        run = make_run(resolve([*overrides, "deterministic=true", "seed=3", "loggers=[]",
                                "trainer.log_every=1", f"out_dir={out_dir}", f"name={name}"]))  # fmt: skip
        self.lr = {g: opt.param_groups[0]["lr"] for g, opt in run.optimizers.items()}
        self.initial = self._params(run.system)
        batches = run.batches()
        self.losses: list[dict[str, float]] = []
        for _ in range(STEPS):
            train_step(run, batches)
            logged = run.stats.flush()  # what `fit` logs at this step
            self.losses.append({k: v for k, v in logged.items() if k.startswith("loss/")})
        self.params = self._params(run.system)
        self.buffers = {_plain(k): b.detach().clone() for k, b in run.system.named_buffers()}
        self.channels_last = [  # conv weights held channels_last
            k for k, p in run.system.named_parameters()
            if p.dim() == 4 and p.shape[1] > 1 and not p.is_contiguous()
            and p.is_contiguous(memory_format=torch.channels_last)
        ]  # fmt: skip
        run.close()

    @staticmethod
    def _params(system: torch.nn.Module) -> dict[str, torch.Tensor]:
        return {_plain(k): p.detach().float().clone() for k, p in system.named_parameters()}


def _plain(key: str) -> str:
    """A weight's name without torch.compile's wrapper."""
    return key.replace("_orig_mod.", "")


@pytest.fixture
def train(tmp_path: Path):  # type: ignore[no-untyped-def]
    """train(overrides) -> Trained; restores the process-wide determinism settings after."""
    flags = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
             torch.backends.cudnn.benchmark)  # fmt: skip
    count = iter(range(100))

    def call(overrides: list[str]) -> Trained:
        return Trained(overrides, tmp_path, f"run{next(count)}")

    yield call
    torch.use_deterministic_algorithms(flags[0])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags[1], flags[2]


def assert_same_training(eager: Trained, other: Trained, atol: float = EXACT) -> None:
    """Same losses at every step and the same weights and buffers, to `atol`."""
    assert [step.keys() for step in other.losses] == [step.keys() for step in eager.losses]
    for step, (a, b) in enumerate(zip(eager.losses, other.losses), 1):
        for key in a:
            assert abs(a[key] - b[key]) <= atol, f"step {step} {key}: {a[key]} vs {b[key]}"
    assert other.params.keys() == eager.params.keys()
    for key, weight in eager.params.items():
        diff = (weight - other.params[key]).abs().max().item()
        assert diff <= atol, f"{key}: weights differ by up to {diff:.3g}"
    assert other.buffers.keys() == eager.buffers.keys()
    for key, buffer in eager.buffers.items():
        diff = (buffer.double() - other.buffers[key].double()).abs().max().item()
        assert diff <= atol, f"{key}: buffers differ by up to {diff:.3g}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_channels_last_trains_like_eager(domain: str, train: Any) -> None:
    base = DOMAINS[domain]
    eager, channels_last = train(base), train([*base, "trainer.channels_last=true"])
    assert not eager.channels_last
    assert bool(channels_last.channels_last) == (domain == "dcgan")  # toy2d has no convolutions
    assert_same_training(eager, channels_last)


# torch.compile on a 2-core CPU (torch 2.14, empty compile cache): about 22 s per test, most of
# it the first step; two to five times that when other jobs share the cores.
@pytest.mark.slow
@pytest.mark.parametrize("domain", DOMAINS)
def test_compile_trains_like_eager(domain: str, train: Any) -> None:
    base = DOMAINS[domain]
    eager = train(base)
    try:
        compiled = train([*base, "trainer.compile=true"])
    finally:
        torch._dynamo.reset()
    assert_same_training(eager, compiled)


# The G phase trains on the D phase's noise micro-batch by micro-batch (before that was so,
# its second micro-batch drew new noise: toy2d G weights 3.4e-3 apart after 3 steps).
# BatchNorm normalises by the statistics of the batch it sees, so a micro-batch is normalised
# differently from the whole batch: accumulation is the same as one batch only without it.
ACCUM_DOMAINS = {
    "toy2d": DOMAINS["toy2d"],
    "dcgan_no_batchnorm": [*DOMAINS["dcgan"], "model.g_norm=none", "model.d_norm=none"],
}


@pytest.mark.parametrize("domain", ACCUM_DOMAINS)
def test_grad_accum_trains_like_one_batch(domain: str, train: Any) -> None:
    base = ACCUM_DOMAINS[domain]
    assert_same_training(train(base), train([*base, "trainer.grad_accum=2"]))


def assert_close_to_bf16(eager: Trained, bf16: Trained) -> None:
    """bf16 autocast against fp32, after STEPS Adam steps.

    - logged losses within 1% (one bf16 rounding is up to 0.4%);
    - every weight within 2 * lr * STEPS of the fp32 one: Adam moves a weight by about lr a
      step whatever the gradient's size, so a gradient near zero may flip sign under bf16 and
      send that weight the other way;
    - the update of each network (final - initial weights) pointing the same way as fp32's:
      cosine similarity at least 0.9 (measured: 0.955 for the tiny dcgan G, 0.99 and above for
      the others);
    - BatchNorm running statistics within 2% (relative norm of the difference).
    """
    for step, (a, b) in enumerate(zip(eager.losses, bf16.losses), 1):
        assert a.keys() == b.keys()
        for key in a:
            assert abs(a[key] - b[key]) <= 0.01 * abs(a[key]), f"step {step} {key}: {a[key]} vs {b[key]}"  # fmt: skip
    for group, lr in eager.lr.items():
        keys = [k for k in eager.params if k.startswith(f"{group}.")]
        assert keys, group
        for key in keys:
            diff = (eager.params[key] - bf16.params[key]).abs().max().item()
            assert diff <= 2 * lr * STEPS, f"{key}: weights differ by up to {diff:.3g}"
        update_fp32 = torch.cat([(eager.params[k] - eager.initial[k]).flatten() for k in keys])
        update_bf16 = torch.cat([(bf16.params[k] - bf16.initial[k]).flatten() for k in keys])
        cos = torch.nn.functional.cosine_similarity(update_fp32, update_bf16, dim=0).item()
        assert cos >= 0.9, f"{group}: bf16 update direction differs (cosine {cos:.3f})"
    for key, buffer in eager.buffers.items():
        if buffer.is_floating_point():
            rel = ((buffer - bf16.buffers[key]).norm() / buffer.norm().clamp_min(1e-12)).item()
            assert rel <= 0.02, f"{key}: running statistics differ by {rel:.3g} (relative)"
        else:
            assert torch.equal(buffer, bf16.buffers[key]), key


@pytest.mark.parametrize("domain", DOMAINS)
def test_bf16_trains_close_to_fp32(domain: str, train: Any) -> None:
    base = DOMAINS[domain]
    eager, bf16 = train(base), train([*base, "precision=bf16"])
    assert eager.losses != bf16.losses  # autocast took effect
    assert_close_to_bf16(eager, bf16)


def test_gpu_speed_quick_mode_reports_a_failing_contender_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """benchmarks/gpu_speed.py --device cpu --quick: every row printed; a contender that raises
    (here a compiled model) gets one `failed:` line and the others are still timed."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_speed.py"
    spec = importlib.util.spec_from_file_location("gpu_speed", path)
    assert spec is not None and spec.loader is not None
    gpu_speed = importlib.util.module_from_spec(spec)
    monkeypatch.setattr(sys, "path", list(sys.path))  # it puts benchmarks/ on the path
    monkeypatch.setitem(sys.modules, "gpu_speed", gpu_speed)
    spec.loader.exec_module(gpu_speed)

    def broken_compile(self: torch.nn.Module, *args: Any, **kwargs: Any) -> None:
        def fail(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("inductor could not lower this\n(pages of generated code)")

        self.forward = fail  # type: ignore[method-assign]

    monkeypatch.setattr(torch.nn.Module, "compile", broken_compile)
    monkeypatch.setattr(sys, "argv", ["gpu_speed.py", "--device", "cpu", "--quick",
                                      "--precision", "fp32", "--skip"])  # fmt: skip
    gpu_speed.main()
    rows = {line[16:38].strip(): line[38:].strip() for line in capsys.readouterr().out.splitlines()
            if line.startswith("fp32 ")}  # fmt: skip
    assert rows["ganhub + compile"] == "failed: RuntimeError: inductor could not lower this"
    assert rows["ganhub + CUDA graphs"] == "n/a (no trainer.cuda_graphs option yet)"
    for name in ("classic eager (plain)", "ganhub eager"):
        img_s, ms, *_ = rows[name].split()
        assert float(img_s) > 0 and float(ms) > 0
