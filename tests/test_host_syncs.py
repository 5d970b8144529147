"""Steady-state training steps read nothing back from the device: no per-step host syncs.

On a GPU, `.item()`, `float(t)`, `bool(t)` (an `if` on a tensor), `torch.nonzero`, boolean-mask
indexing, `torch.equal`, `.tolist()`, `.cpu()`... each stall the host until the device has
caught up; the loop flushes device-side stats once per `trainer.log_every` instead
(ganhub/engine/stats.py). This test trains each built-in domain a few steps on the CPU, then
records, over steps that log, evaluate, sample and checkpoint nothing, every dispatched op that
reads a device value on the host (`HostReads`), with the Python frames that asked for it.

What a CPU run cannot show: `.to("cpu")`/`.to(device)` (the run's device is the CPU, so a copy
to the host looks like any other `.to`), and the implicit copies of `print`/`numpy` on a CPU
tensor are no ops at all. Explicit `.cpu()`, `.tolist()` and `.numpy()` calls are caught as
calls, whatever the tensor's device. Two CPU-only reads are not counted (see `HostReads`):
torch's host-resident optimizer step counters and `F.one_hot`'s CPU range check.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from ganhub.config.resolve import resolve
from ganhub.engine.loop import train_steps
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN, TINY_TOY

ROOT = str(Path(__file__).resolve().parents[1])
HERE = str(Path(__file__).resolve())
aten = torch.ops.aten

# ops whose result is a host value read from the device (or whose output shape depends on
# device values, which the host must read to allocate it)
READS = {
    aten._local_scalar_dense.default: ".item()/float()/int()/bool() of a tensor",
    aten.is_nonzero.default: "bool(tensor)",
    aten.equal.default: "torch.equal",
    aten.allclose.default: "torch.allclose",
    aten.nonzero.default: "torch.nonzero (data-dependent shape)",
    aten.masked_select.default: "torch.masked_select (data-dependent shape)",
    aten._unique2.default: "torch.unique (data-dependent shape)",
    aten.unique_dim.default: "torch.unique(dim=...) (data-dependent shape)",
    aten.unique_consecutive.default: "torch.unique_consecutive (data-dependent shape)",
    aten.bincount.default: "torch.bincount (reads the maximum)",
    aten._linalg_check_errors.default: "torch.linalg's error check (reads its info codes)",
}
# indexing with a boolean mask runs nonzero inside the op, where a dispatch mode cannot see it
MASK_INDEXED = {aten.index.Tensor, aten.index_put.default, aten.index_put_.default}
# explicit copies to the host, seen as Python calls (on a CPU run no op is dispatched for them)
HOST_CALLS = {torch.Tensor.cpu: ".cpu()", torch.Tensor.tolist: ".tolist()",
              torch.Tensor.numpy: ".numpy()"}  # fmt: skip
ONE_HOT = torch.nn.functional.one_hot

# some of every domain's steps must be recorded, whatever lazy phase or cadence they hit
NO_CADENCE = ["trainer.steps=1000", "trainer.log_every=1000", "trainer.eval_every=0",
              "trainer.sample_every=0", "trainer.checkpoint_every=0", "trainer.max_seconds=null",
              "trainer.progress=false", "loggers=[]"]  # fmt: skip


@dataclass(eq=False)
class Read:
    """One host read: what it was and the Python frames that asked for it."""

    what: str
    frames: list[traceback.FrameSummary]

    def where(self) -> str:
        """The innermost project frames (and the library frame below them, if any)."""
        ours = [f for f in self.frames if f.filename.startswith(ROOT) and f.filename != HERE]
        text = " <- ".join(f"{_rel(f)} {f.name}: {(f.line or '').strip()}" for f in ours[-3:][::-1])
        below = [f for f in self.frames if "/torch/" not in f.filename and f.filename != HERE]
        if below and below[-1] not in ours:
            text = f"{_rel(below[-1])} {below[-1].name} <- {text}"
        return text


def _rel(frame: traceback.FrameSummary) -> str:
    path = frame.filename
    path = path.split("site-packages/")[-1] if "site-packages/" in path else path
    return f"{path.removeprefix(ROOT + '/')}:{frame.lineno}"


class HostReads(TorchDispatchMode):
    """Records every op that reads a device value on the host, with its Python stack.

    Not counted, as on a GPU they read nothing from it: `.item()` of the optimizers' step
    counters (torch keeps them on the host unless `fused` or `capturable`; a fused CUDA
    optimizer, ganhub's default there, reads none), and `F.one_hot(x, n)`'s range check
    (min/max `.item()`, done on the CPU only: CUDA leaves it to the scatter's device assert).
    """

    def __init__(self, optimizers: list[torch.optim.Optimizer]) -> None:
        super().__init__()
        self.optimizers = optimizers
        self.reads: list[Read] = []
        self.paused = 0

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        what = READS.get(func)
        if func in MASK_INDEXED and _has_mask(args):
            what = "boolean-mask indexing (data-dependent shape)"
        elif func is aten.repeat_interleave.Tensor and (kwargs or {}).get("output_size") is None:
            what = "torch.repeat_interleave without output_size (data-dependent shape)"
        if what and not self.paused and not self._step_counter(func, args):
            self.reads.append(Read(what, traceback.extract_stack()[:-1]))
        return func(*args, **(kwargs or {}))

    def _step_counter(self, func: Any, args: tuple[Any, ...]) -> bool:
        if func is not aten._local_scalar_dense.default:
            return False
        return any(
            args[0] is state.get("step")
            for optimizer in self.optimizers
            for state in optimizer.state.values()
        )

    def one_hot(self, tensor: torch.Tensor, num_classes: int = -1) -> torch.Tensor:
        """F.one_hot as on CUDA: with `num_classes` it reads nothing (no CPU range check)."""
        if num_classes < 1:  # reads the maximum on every device
            return ONE_HOT(tensor, num_classes)
        self.paused += 1
        try:
            return ONE_HOT(tensor, num_classes)
        finally:
            self.paused -= 1


class HostCalls(TorchFunctionMode):
    """Records explicit `.cpu()`, `.tolist()`, `.numpy()` calls into `reads`."""

    def __init__(self, reads: list[Read]) -> None:
        super().__init__()
        self.reads = reads

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        what = HOST_CALLS.get(func)
        if what is not None:
            self.reads.append(Read(what, traceback.extract_stack()[:-1]))
        return func(*args, **(kwargs or {}))


def _has_mask(args: tuple[Any, ...]) -> bool:
    indices = args[1] if len(args) > 1 and isinstance(args[1], (list, tuple)) else ()
    return any(
        isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8) for i in indices
    )


@contextmanager
def recording(
    optimizers: list[torch.optim.Optimizer], mp: pytest.MonkeyPatch
) -> Iterator[list[Read]]:
    """Inside: host reads are appended to the list it yields."""
    reads = HostReads(optimizers)
    with mp.context() as patch:
        patch.setattr(torch.nn.functional, "one_hot", reads.one_hot)
        with HostCalls(reads.reads), reads:
            yield reads.reads


@dataclass(frozen=True)
class Allow:
    """Host reads a run may make: those asked for by `code` in `function` of `path` (any code
    when empty), on steps that end on a multiple of `every` (as a trick's after_step sees
    them), or on every step when None. `why`: why it is not a per-step sync to fix."""

    path: str
    function: str
    why: str
    code: str = ""
    every: int | None = None

    def covers(self, read: Read, step: int) -> bool:
        """Whether `read`, made by train_step(`step`), is one of these."""
        if self.every is not None and (step + 1) % self.every:
            return False
        return any(
            f.filename.endswith(self.path)
            and f.name == self.function
            and self.code in (f.line or "")
            for f in read.frames
        )


@dataclass
class Case:
    """A domain's tiny run, its warm-up and recorded steps, and the host reads it may make."""

    name: str
    overrides: list[str]
    warmup: int = 3  # lazy state (optimizer moments, EMA lists, a filling pool) settles first
    steps: int = 4
    allowed: tuple[Allow, ...] = ()


STYLEGAN = [
    "plugin=stylegan", "model.image_size=16", "model.z_dim=16", "model.w_dim=16",
    "model.channel_base=128", "model.channel_max=16", "trainer.batch_size=4", "eval.metrics=[]",
    "objective.pl_weight=2", "objective.style_mixing=0.9", "model.noise=true",
]  # fmt: skip
CYCLEGAN = [
    "plugin=cyclegan", "model.image_size=16", "model.ngf=4", "model.ndf=4", "model.n_layers_d=2",
    "trainer.batch_size=2", "data.n_test=16", "eval.n_samples=16",
]  # fmt: skip
DCGAN_LN = [*TINY_DCGAN, "model.d_norm=layer"]  # gradient penalties refuse BatchNorm in D
TRICKS_A = "ema,diffaug,r1,spectral_norm,label_smoothing,instance_noise"
TRICKS_B = "ada,gp,clip_grad,n_critic,ttur,weight_penalty,lr_schedule,pacgan"  # gp: hinge loss
# balance excludes n_critic; a conditional D with a class head (acgan) and a rotation head
BALANCED = ["model.conditional=true", "tricks=[balance,r2,acgan,rotation_head]",
            "trick.balance.check_every=4"]  # fmt: skip
TEXTGAN = ["plugin=textgan", "preset=tiny"]  # pretrains 2 steps: warm-up reaches the GAN phases

# balance sets the phases' repeats, host control flow: it reads D's win rate once per decision
BALANCE = Allow("ganhub/tricks/schedule.py", "after_step", "one read per decision",
                code="float(self.wins)", every=4)  # fmt: skip
# transformers reads a 2D padding mask (`mask.all()`) before each SDPA attention, to drop the
# mask (and reach flash kernels) when nothing is padded; BART's forward does it, not ours
SDPA_SKIP = "transformers' check whether SDPA may skip the padding mask"
BART_MASKS = (
    Allow("transformers/masking_utils.py", "_ignore_causal_mask_sdpa", SDPA_SKIP),
    Allow("transformers/masking_utils.py", "_ignore_bidirectional_mask_sdpa", SDPA_SKIP),
)
# greedy decoding stops once every row wrote EOS: a read per token, which skips the tokens
# after the longest sentence (half the decoding on the short corpora); the ids are the same
EARLY_EXIT = Allow("plugins/textgan/style_transfer.py", "rewrite", "decoding's early exit",
                   code="done.all()")  # fmt: skip

CASES = [
    Case("toy2d", [*TINY_TOY, "tricks=[r1,lr_schedule,ema]"]),
    Case("dcgan", TINY_DCGAN),
    Case("dcgan-tricks-a", [*DCGAN_LN, f"tricks=[{TRICKS_A}]"]),
    Case("dcgan-tricks-b", [*DCGAN_LN, "loss=hinge", f"tricks=[{TRICKS_B}]"], warmup=2),
    Case("dcgan-balance", [*DCGAN_LN, *BALANCED], allowed=(BALANCE,)),
    # lazy R1 (every 16 steps), path length (every 4), ADA's p update (every 4), EMA, mixing
    Case("stylegan", STYLEGAN, warmup=13, steps=4),
    # the pool (2 per step, 4 kept) is full after the warm-up: steps swap images in and out
    Case("cyclegan", [*CYCLEGAN, "objective.pool_size=4"]),
    Case("pix2pix", [*CYCLEGAN, "task=paired"]),
    Case("medgan", ["plugin=medgan", "preset=tiny", "spatial_dims=2", "model.image_size=32"]),
    Case("textgan-gumbel", TEXTGAN),
    Case("textgan-rollout", [*TEXTGAN, "adversarial.estimator=rollout"]),
    Case("textgan-transfer", [*TEXTGAN, "task=transfer"], allowed=(*BART_MASKS, EARLY_EXIT)),
]
SLOW = {"medgan"}  # its phantoms take seconds to make


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.name, marks=[pytest.mark.slow] if c.name in SLOW else []) for c in CASES],
)
def test_steady_state_steps_read_nothing_back_from_the_device(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Steps that do not log, evaluate, sample or checkpoint: no host read, step by step."""
    run = make_run(resolve([*case.overrides, *NO_CADENCE, f"out_dir={tmp_path}", "name=r"]))
    try:
        batches = run.batches()
        train_steps(run, batches, case.warmup)
        found: dict[int, list[Read]] = {}
        used: set[Allow] = set()
        recorded = range(run.step, run.step + case.steps)
        for step in recorded:
            assert (step + 1) % run.config.trainer.log_every  # no logging step: no diagnostics
            with recording(list(run.optimizers.values()), monkeypatch) as reads:
                train_steps(run, batches, 1)  # the step as `fit` runs it, less its I/O
            allowed = {r: {a for a in case.allowed if a.covers(r, step)} for r in reads}
            used.update(*allowed.values())
            if any(not by for by in allowed.values()):
                found[step] = [r for r, by in allowed.items() if not by]
        # every phase that trains from the warm-up on ran (lazy ones included)
        steady = {p.name for p in run.phases if p.stop is None or p.stop > case.warmup}
        assert steady == {p.name for p in run.phases for s in recorded if p.due(s)}
    finally:
        run.close()
    assert not found, f"{case.name}: host syncs in steady-state steps:\n" + _report(found)
    # an allowance no recorded step needed is stale (or its cadence missed): say which
    assert used == set(case.allowed), [a.why for a in case.allowed if a not in used]


def _report(found: dict[int, list[Read]]) -> str:
    lines = []
    for step, reads in found.items():
        counts: dict[tuple[str, str], int] = {}
        for r in reads:
            counts[(r.what, r.where())] = counts.get((r.what, r.where()), 0) + 1
        lines += [f"  step {step}: {n} x {what} at {where}" for (what, where), n in counts.items()]
    return "\n".join(lines)


# -- the recorder itself ----------------------------------------------------------------------


def _reads_of(
    fn: Callable[[], Any], optimizers: list[torch.optim.Optimizer], monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    with recording(optimizers, monkeypatch) as reads:
        fn()
    return [r.what for r in reads]


@pytest.mark.parametrize(
    ("read", "what"),
    [
        (lambda t: t.sum().item(), ".item()"),
        (lambda t: float(t.sum()), ".item()"),
        (lambda t: 1 if t.sum() > 0 else 0, ".item()"),
        (lambda t: t[t > 0], "boolean-mask"),
        (lambda t: torch.nonzero(t), "torch.nonzero"),
        (lambda t: torch.equal(t, t), "torch.equal"),
        (lambda t: t.tolist(), ".tolist()"),
        (lambda t: t.cpu(), ".cpu()"),
        (lambda t: torch.repeat_interleave(t.long().abs()), "torch.repeat_interleave"),
        (lambda t: torch.nn.functional.one_hot(t.long().abs()), ".item()"),  # reads the max
    ],
)
def test_the_recorder_sees_each_kind_of_host_read(
    read: Callable[[torch.Tensor], Any], what: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = _reads_of(lambda: read(torch.randn(8)), [], monkeypatch)
    assert reads and reads[0].startswith(what), reads


def test_the_recorder_passes_device_only_work_and_the_cpu_only_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """torch.where, in-place accumulation, one_hot with its size and a foreach Adam's host
    step counters read nothing on a GPU: none is recorded."""
    w = torch.nn.Parameter(torch.randn(4))
    adam = torch.optim.Adam([w], foreach=True)
    w.grad = torch.ones(4)
    adam.step()
    total = torch.zeros(())

    def work() -> None:
        w.grad = torch.ones(4)
        adam.step()  # reads its (host) step counter
        total.add_(torch.where(w > 0, w, -w).sum())
        torch.nn.functional.one_hot(torch.tensor([0, 2]), 3)

    assert _reads_of(work, [adam], monkeypatch) == []
