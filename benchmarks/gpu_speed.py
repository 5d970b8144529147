"""DCGAN 32 px training speed under ganhub's speed options, next to a plain PyTorch loop.

One call prints img/s, ms/step and MFU for each contender, at each precision and batch size:

    classic eager    the hand-written loop of `examples/raw_vs_ganhub/plain_pytorch.py` (as in
                     benchmarks/overhead.py), given the same G/D weights, data and precision
    ganhub eager     `Run` + `engine.loop.train_steps`: the step `fit` runs, without I/O
                     (optimizers `impl=auto`: fused Adam on CUDA)
    ... foreach      the same with `optim.G.impl=foreach optim.D.impl=foreach`
    ganhub compile   the same with `trainer.compile=true` (torch.compile of G's and D's forwards)
    ... NCHW         the same with inductor's layout optimisation off (GPU only)
    ganhub graphs    the same with `trainer.cuda_graphs=true` (GPU only)
    ... CL D only    with --layouts and bf16+cl: channels_last on D's convolutions only (and
    ... CL G only    on G's only), an experiment on where layout conversions come from

Precisions: fp32, and bf16 autocast with channels_last tensors (`precision=bf16
trainer.channels_last=true`). All contenders are built before any is timed and hold the same
weights (one seed) and the same digits tensor on the device; after a warm-up they run in
alternating timed blocks (the order rotates each round, each block between
`torch.cuda.synchronize()` calls), and the median block is reported.

MFU (model FLOPs utilisation) = model FLOPs per step / step time / peak FLOP/s. The model FLOPs
are counted from the shapes of G's and D's convolutions and linear layers: forward FLOPs of one
G forward and three D forwards (real and fake in the D phase, fake again in the G phase), and
the backward pass counted as twice the forward, so one step is 3x the forward FLOPs. The peak is
the GPU's dense bf16 rate, or for fp32 its TF32 tensor-core rate when cuDNN may use TF32 for
convolutions (torch's default) and its plain fp32 rate otherwise, from the table PEAK_TFLOPS,
or `--peak-tflops`. On CPU, or a GPU without a known peak, MFU prints as "-".

    python benchmarks/gpu_speed.py --device cuda                  # batch 128 and 1024
    python benchmarks/gpu_speed.py --device cpu --quick           # a smoke run, under a minute
    python benchmarks/gpu_speed.py --device cuda --stylegan       # + benchmarks/stylegan.py speed
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI: no spinning on a shared CPU

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "examples" / "raw_vs_ganhub"))

from entry import Parser, count, count0, refuse, run_main  # noqa: E402
from overhead import LOG_EVERY, plain_steps, sync  # noqa: E402
from plain_loops.dcgan import plain_loop  # noqa: E402

from ganhub.config.resolve import resolve  # noqa: E402
from ganhub.engine.loop import train_steps  # noqa: E402
from ganhub.engine.run import Run  # noqa: E402
from ganhub.wiring import make_run  # noqa: E402

# Dense peak TFLOP/s by device name (first matching substring wins): (bf16 tensor core, TF32
# tensor core, fp32 non-tensor), from NVIDIA's data sheets (the sparsity figures are twice
# these). fp32 runs are measured against TF32 when cuDNN may use it for convolutions (torch's
# default), against plain fp32 otherwise.
PEAK_TFLOPS: list[tuple[str, float, float, float]] = [
    ("H100 PCIe", 756.0, 378.0, 51.0),
    ("H100 NVL", 835.0, 418.0, 60.0),
    ("H100", 989.0, 495.0, 67.0),  # SXM (get_device_name: "NVIDIA H100 80GB HBM3")
    ("H200", 989.0, 495.0, 67.0),  # same compute as the H100 SXM
    ("A100", 312.0, 156.0, 19.5),
]

PRECISIONS = {
    "fp32": ["precision=32"],
    "bf16+cl": ["precision=bf16", "trainer.channels_last=true"],
    # bf16 in the model's own layout: whether compile works where channels_last breaks it
    "bf16": ["precision=bf16"],
}


@dataclass
class Contender:
    """One way of running the step: a name, a step function, or why it has no number."""

    name: str
    steps: Callable[[int], None] | None = None
    problem: str | None = None  # "n/a (...)" or "failed: ..." instead of a number
    times: list[float] = field(default_factory=list)  # seconds per step, one per timed block
    close: Callable[[], None] = lambda: None


def one_line(exc: BaseException) -> str:
    """An exception as one short line (torch.compile errors run to pages)."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:200]


# -- model FLOPs -------------------------------------------------------------------------------


def forward_flops(model: nn.Module, example: torch.Tensor) -> int:
    """Forward FLOPs for one sample of the model's convolutions and linear layers (2 per
    multiply-add), from their weight shapes and the feature-map sizes of one CPU forward."""
    total = 0

    def count(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        x = inputs[0]
        if isinstance(module, nn.ConvTranspose2d):
            # every input pixel meets every weight once: in_c * (out_c / groups) * k * k
            total += 2 * x[0, 0].numel() * module.weight.numel()
        elif isinstance(module, nn.Conv2d):
            # every output pixel meets (in_c / groups) * k * k weights per output channel
            total += 2 * output[0, 0].numel() * module.weight.numel()
        elif isinstance(module, nn.Linear):
            total += 2 * (x[0].numel() // module.in_features) * module.weight.numel()

    model = copy.deepcopy(model).float().cpu().eval()
    handles = [m.register_forward_hook(count) for m in model.modules()
               if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear)]  # fmt: skip
    with torch.no_grad():
        model(example.float().cpu()[:1].contiguous())
    for h in handles:
        h.remove()
    return total


def step_flops(run: Run) -> int:
    """Model FLOPs of one training step per sample: (G + 3 D) forward, backward = 2x forward."""
    system = run.system
    z = system.latent(1).cpu()
    image = system.G(z.to(run.device)).detach()
    g, d = forward_flops(system.G, z), forward_flops(system.D, image)
    return 3 * (g + 3 * d)


def peak_tflops(args: argparse.Namespace, precision: str) -> tuple[float | None, str]:
    """(peak TFLOP/s for this precision or None, where it came from)."""
    bf16 = precision.startswith("bf16")
    if args.peak_tflops:
        values = args.peak_tflops
        peak = values[0] if bf16 or len(values) == 1 else values[1]
        return peak, "--peak-tflops"
    if args.device != "cuda":
        return None, "CPU: no peak"
    name = torch.cuda.get_device_name()
    tf32 = torch.backends.cudnn.allow_tf32
    for key, b, t, f in PEAK_TFLOPS:
        if key in name:
            if bf16:
                return b, f"table ({key})"
            return (t, f"table ({key}), TF32 convolutions") if tf32 else (f, f"table ({key})")
    return None, f"unknown GPU {name!r}: pass --peak-tflops BF16 [FP32]"


# -- contenders --------------------------------------------------------------------------------


def ganhub_run(args: argparse.Namespace, precision: str, batch: int, extra: list[str],
               name: str, out: str) -> Run:  # fmt: skip
    """A dcgan run with the given speed options, quiet and without loggers."""
    return make_run(
        resolve(
            [
                "plugin=dcgan",
                f"device={args.device}",
                *PRECISIONS[precision],
                f"trainer.batch_size={batch}",
                f"trainer.log_every={LOG_EVERY}",
                f"model.image_size={args.size}",
                f"model.g_channels={args.width}",
                f"model.d_channels={args.width}",
                "trainer.progress=false",
                "loggers=[]",
                "eval.metrics=[]",
                f"seed={args.seed}",
                f"out_dir={out}",
                f"name={name}",
                *extra,
            ]
        )
    )


def ganhub_contender(name: str, build: Callable[[], Run]) -> Contender:
    """A ganhub contender, or one that says why it could not be built."""
    try:
        run = build()
    except Exception as exc:  # a speed option refused on this machine: say so, go on
        return Contender(name, problem=f"failed: {one_line(exc)}")
    batches = run.batches()
    return Contender(name, lambda n: train_steps(run, batches, n), close=run.close)


def contenders(args: argparse.Namespace, precision: str, batch: int, out: str
               ) -> tuple[list[Contender], int]:  # fmt: skip
    """Every contender for one (precision, batch), built before any is timed; model FLOPs."""
    tag = f"{precision.replace('+', '-')}-b{batch}"
    eager_run = ganhub_run(args, precision, batch, [], f"eager-{tag}", out)
    flops = step_flops(eager_run) * batch
    plain = plain_loop(eager_run)  # the run's weights, digits, batch and precision
    counter = [0]
    eager_batches = eager_run.batches()
    rows = [
        Contender("classic eager (plain)", lambda n: plain_steps(plain, n, counter)),
        Contender(
            "ganhub eager",
            lambda n: train_steps(eager_run, eager_batches, n),
            close=eager_run.close,
        ),
    ]
    tagged = lambda kind: f"{kind}-{tag}"  # noqa: E731
    options = {
        "ganhub eager, foreach": ["optim.G.impl=foreach", "optim.D.impl=foreach"],
        "ganhub + compile": ["trainer.compile=true"],
        "ganhub + compile, NCHW": ["trainer.compile=true"],
        "ganhub + CUDA graphs": ["trainer.cuda_graphs=true"],
    }
    for name, extra in options.items():
        why = skipped(args, name)
        if why is not None:
            rows.append(Contender(name, problem=why))
            continue
        kind = name.split(", ")[-1].split()[-1].lower()
        row = ganhub_contender(name, lambda extra=extra, kind=kind: ganhub_run(
            args, precision, batch, extra, tagged(kind), out))  # fmt: skip
        if name.endswith("NCHW") and row.steps is not None:
            row.steps = without_layout_optimisation(row.steps)
        rows.append(row)
    if args.layouts and precision.endswith("+cl"):
        for net in ("D", "G"):
            rows.append(ganhub_contender(f"ganhub eager, CL {net} only", lambda net=net: (
                channels_last_only(ganhub_run(args, precision, batch, [], tagged(f"cl{net}"),
                                              out), net))))  # fmt: skip
    return rows, flops


def channels_last_only(run: Run, net: str) -> Run:
    """The run with channels_last kept on `net`'s ("G" or "D") convolutions only: the other
    network's go back to NCHW (an experiment: where the layout conversions come from)."""
    other = run.system.D if net == "G" else run.system.G
    for module in other.modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
            module.to(memory_format=torch.contiguous_format)
    return run


def skipped(args: argparse.Namespace, name: str) -> str | None:
    """Why a contender is left out on this machine or by --skip (None: it runs)."""
    if "NCHW" in name and "nchw" in args.skip:
        return "skipped (--skip nchw)"
    if "foreach" in name and "foreach" in args.skip:
        return "skipped (--skip foreach)"
    if "compile" in name and "compile" in args.skip:
        return "skipped (--quick on CPU; --skip alone runs it)" if args.quick else "skipped (--skip compile)"  # fmt: skip
    if "graphs" in name and args.device != "cuda":
        return "n/a (CUDA graphs need a GPU)"
    if "NCHW" in name and args.device != "cuda":
        return "n/a (inductor's layout optimisation is a GPU pass)"
    return None


def without_layout_optimisation(steps: Callable[[int], None]) -> Callable[[int], None]:
    """The steps with inductor's layout optimisation off while they run (and compile): it
    turns convolutions channels_last, and its stride check of their backward fails on some
    CUDA builds (pytorch#171622)."""
    from torch._inductor import config as inductor_config

    def run(n: int) -> None:
        with inductor_config.patch(layout_optimization=False):
            steps(n)

    return run


def timed(row: Contender, n: int, device: torch.device) -> float | None:
    """Seconds per step over n steps (GPU work included); None, with `problem` set, on error."""
    assert row.steps is not None
    try:
        sync(device)
        t0 = time.perf_counter()
        row.steps(n)
        sync(device)
    except Exception as exc:  # one contender failing must not stop the others
        row.problem, row.steps = f"failed: {one_line(exc)}", None
        return None
    return (time.perf_counter() - t0) / n


def measure(args: argparse.Namespace, precision: str, batch: int, out: str
            ) -> tuple[list[Contender], int]:  # fmt: skip
    """Warm every contender up, then time alternating blocks; return the rows and FLOPs."""
    device = torch.device(args.device)
    # fresh compile caches: each setting's new modules must not exhaust torch.compile's
    # per-function recompile limit (past it, compiled calls quietly fall back to eager)
    torch._dynamo.reset()
    rows, flops = contenders(args, precision, batch, out)
    for row in rows:
        if row.steps is not None:
            timed(row, args.warmup, device)  # compiles, autotunes, fills the allocator
    for r in range(args.rounds):
        live = [row for row in rows if row.steps is not None]
        shift = r % max(1, len(live))
        for row in live[shift:] + live[:shift]:  # a different contender goes first each round
            seconds = timed(row, args.steps, device)
            if seconds is not None:
                row.times.append(seconds)
    for row in rows:
        row.close()
    return rows, flops


# -- report ------------------------------------------------------------------------------------


def print_rows(args: argparse.Namespace, precision: str, batch: int, rows: list[Contender],
               flops: int) -> None:  # fmt: skip
    """One line per contender: img/s, ms/step, MFU and the ratio to the classic loop."""
    peak, _ = peak_tflops(args, precision)
    classic = rows[0].times and statistics.median(rows[0].times)
    for row in rows:
        head = f"{precision:<8} {batch:>6}  {row.name:<22}"
        if row.problem is not None or not row.times:
            print(f"{head}  {row.problem or 'no timing'}", flush=True)
            continue
        s = statistics.median(row.times)
        mfu = "-" if peak is None else f"{100 * flops / s / (peak * 1e12):.1f}%"
        ratio = f"{classic / s:.3f}" if classic else "-"
        spread = f"({min(row.times) * 1e3:.2f}-{max(row.times) * 1e3:.2f})"
        print(f"{head}  {batch / s:>10.1f} {s * 1e3:>9.2f} {spread:>17} {mfu:>7} {ratio:>9}",
              flush=True)  # fmt: skip


def header(args: argparse.Namespace) -> None:
    """What was measured, on what."""
    if args.device == "cuda":
        where = f"{torch.cuda.get_device_name()}, TF32 convs {torch.backends.cudnn.allow_tf32}"
    else:
        where = f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}; DCGAN {args.size} px, width {args.width} "
          f"(ngf = ndf; dcgan defaults otherwise), "
          f"{args.rounds} rounds x {args.steps} steps after {args.warmup} warm-up steps, "
          f"contenders alternating, median block")  # fmt: skip
    for precision in args.precision:
        peak, source = peak_tflops(args, precision)
        shown = f"{peak:g} TFLOP/s" if peak is not None else "-"
        print(f"peak {precision}: {shown} ({source})")
    print(f"{'prec':<8} {'batch':>6}  {'contender':<22}  {'img/s':>10} {'ms/step':>9} "
          f"{'(min-max ms)':>17} {'MFU':>7} {'x classic':>9}")  # fmt: skip


def stylegan_row(args: argparse.Namespace) -> None:
    """StyleGAN2 s/kimg from benchmarks/stylegan.py speed (its own table)."""
    only = "cuda" if args.device == "cuda" else "cpu"
    cmd = [sys.executable, str(HERE / "stylegan.py"), "speed", "--only", only]
    print(f"+ {' '.join(cmd[1:])}", flush=True)
    done = subprocess.run(cmd, check=False)
    if done.returncode:
        print(f"stylegan speed: failed with exit code {done.returncode}")


# --quick's values and the full run's: an option given explicitly wins over either (`--quick
# --batch 64` is a smoke run at batch 64), as a key=value wins over a ganhub preset
QUICK = {"batch": [8], "rounds": 2, "steps": 2, "warmup": 1}
FULL = {"batch": [128, 1024], "rounds": 7, "steps": 50, "warmup": 20}


def options(argv: list[str] | None = None) -> argparse.Namespace:
    """The parsed options (`argv`: sys.argv's), --quick's values filled in where no option
    was given; a mistake in them stops with one line."""
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        choices=["cuda", "cpu"])  # fmt: skip
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16+cl"], choices=PRECISIONS,
                        help="fp32, bf16+cl (bf16 with channels_last) and/or bf16 (NCHW); "
                        "default: fp32 bf16+cl")  # fmt: skip
    parser.add_argument("--batch", type=count, nargs="+",
                        help="batch sizes (default: 128 1024; --quick: 8)")  # fmt: skip
    parser.add_argument("--size", type=int, default=32, choices=[32, 64])
    parser.add_argument("--width", type=count, default=32,
                        help="base width of G and D (ngf = ndf; dcgan's default 32, the DCGAN "
                        "paper 64-128): wider layers let tensor cores reach a higher MFU")  # fmt: skip
    parser.add_argument("--steps", type=count,
                        help="steps per timed block (default: 50; --quick: 2)")  # fmt: skip
    parser.add_argument("--rounds", type=count,
                        help="timed blocks per contender (default: 7; --quick: 2)")  # fmt: skip
    parser.add_argument("--warmup", type=count0,
                        help="untimed steps (compiles) (default: 20; --quick: 1)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peak-tflops", type=float, nargs="+", metavar="TFLOPS",
                        help="peak TFLOP/s: BF16 [FP32] (one value: both)")  # fmt: skip
    parser.add_argument("--skip", nargs="*", choices=["compile", "nchw", "foreach"],
                        help="leave contenders out (their rows say so); default: none, except "
                        "compile with --quick on CPU; --skip alone: none")  # fmt: skip
    parser.add_argument("--layouts", action="store_true",
                        help="with bf16+cl: also ganhub eager with channels_last on D's or on "
                        "G's convolutions only (where the layout conversions come from)")  # fmt: skip
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: batch 8, 2 rounds x 2 steps, 1 warm-up step, each "
                        "unless given by its own option (--quick --batch 64: batch 64)")  # fmt: skip
    parser.add_argument("--stylegan", action="store_true",
                        help="also run benchmarks/stylegan.py speed (s/kimg)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.peak_tflops and len(args.peak_tflops) > 2:
        parser.error("--peak-tflops takes one or two values: BF16 [FP32]")
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:  # not given: --quick's value, or the full run's
            setattr(args, name, copy.copy(value))
    if args.skip is None:
        # torch.compile's first step takes one to two minutes on a 2-core CPU
        args.skip = ["compile"] if args.quick and args.device == "cpu" else []
    return args


def main() -> None:
    """Parse options, measure every (precision, batch), print the table."""
    args = options()
    if args.device == "cuda" and not torch.cuda.is_available():
        refuse("--device cuda: CUDA is not available here; use --device cpu")
    header(args)
    with tempfile.TemporaryDirectory() as out:
        for precision in args.precision:
            for batch in args.batch:
                try:
                    rows, flops = measure(args, precision, batch, out)
                except Exception as exc:  # the eager run itself failed: say so, go on
                    print(f"{precision:<8} {batch:>6}  failed: {one_line(exc)}", flush=True)
                    continue
                print_rows(args, precision, batch, rows, flops)
    if args.stylegan:
        stylegan_row(args)


if __name__ == "__main__":
    run_main(main)
