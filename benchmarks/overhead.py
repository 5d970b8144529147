"""ganhub's training step against a plain hand-written PyTorch loop of the same models, side by side.

For each domain, `benchmarks/plain_loops/<plugin>.py` holds the plain loop: the domain's
networks (copies of the ganhub system's, so the weights match), its losses and tricks written
out the way a hand-written loop writes them, with the same optimizer settings and precision;
the tests check that both sides compute the same updates. The ganhub side is the real engine:
a `Run` from the plugin's config and `engine.loop.train_steps`, the step `fit` runs (stats on
the device, a flush every LOG_EVERY steps, the `after_step` hook) without sampling, evaluation
or checkpoints. Both sides read the same eight batches, drawn once from the run's data, in turn;
they run in alternating timed blocks, a different side first each round, so machine noise hits
both. The ratio is throughput, ganhub over plain (above 1: ganhub is faster): the median over
rounds of wall time, and of this process's CPU time (on a CPU shared with other jobs, wall time
also counts their time slices).

    python benchmarks/overhead.py                               # dcgan, CPU, batch 64, 32 px
    python benchmarks/overhead.py --plugin all                  # every domain with a plain loop
    python benchmarks/overhead.py --plugin stylegan --batch 8 16
    python benchmarks/overhead.py --plugin dcgan model.image_size=64   # more config keys
    python benchmarks/overhead.py --device cuda --precision bf16 --channels-last --batch 128 512
    python benchmarks/overhead.py --plugin all --kernels      # optimizer step alone, per kernel

`--kernels` times only the optimizer step of each domain's own optimizers (their parameters,
fixed random gradients) with torch's three update kernels, for-loop (torch's CPU default),
foreach and fused, in alternating blocks of this process's CPU time, and prints each one's
largest weight difference from the for-loop's after all the steps.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import torch
from torch import Tensor

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "raw_vs_ganhub"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from entry import Parser, count, count0, run_main  # noqa: E402

from ganhub.config.resolve import resolve  # noqa: E402
from ganhub.engine.loop import train_steps  # noqa: E402
from ganhub.engine.run import Run  # noqa: E402
from ganhub.wiring import make_run  # noqa: E402

LOG_EVERY = 50
PLUGINS = sorted(p.stem for p in (ROOT / "benchmarks" / "plain_loops").glob("[a-z]*.py"))
FIXED_BATCHES = 8


class PlainLoop(Protocol):
    """What a module in benchmarks/plain_loops builds: one hand-written step per call."""

    def step(self, batch: Any) -> Sequence[Tensor]:
        """One training step on `batch`; returns its losses, still on the device."""
        ...


def sync(device: torch.device) -> None:
    """Wait for queued GPU work so wall time covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_module(plugin: str) -> ModuleType:
    """benchmarks/plain_loops/<plugin>.py: KEYS, BATCH and plain_loop(run)."""
    return importlib.import_module(f"plain_loops.{plugin}")


def autocast_dtype(run: Run) -> torch.dtype | None:
    """The autocast dtype of the run's precision (None: fp32), for the plain side."""
    return {"32": None, "bf16": torch.bfloat16, "16": torch.float16}[str(run.config.precision)]


def make_plugin_run(plugin: str, args: argparse.Namespace, batch: int, out_dir: Path) -> Run:
    """The ganhub side: the plugin's config, the plain loop's KEYS, then the command line's."""
    return make_run(
        resolve(
            [
                f"plugin={plugin}",
                f"device={args.device}",
                f"precision={args.precision}",
                f"trainer.batch_size={batch}",
                f"trainer.channels_last={str(args.channels_last).lower()}",
                f"trainer.log_every={LOG_EVERY}",
                "trainer.progress=false",
                "loggers=[]",
                f"out_dir={out_dir}",
                *plain_module(plugin).KEYS,
                *args.keys,
            ]
        )
    )


def fixed_batches(run: Run, n: int = FIXED_BATCHES) -> list[Any]:
    """n batches of the run's own data, drawn once: both sides cycle through the same ones."""
    stream = run.batches()
    return [next(stream) for _ in range(n)]


def plain_steps(
    plain: Any, n: int, counter: list[int], batches: Iterator[Any] | None = None
) -> None:
    """n plain steps, reading the losses every LOG_EVERY steps like a hand-written loop does."""
    for _ in range(n):
        losses = plain.step() if batches is None else plain.step(next(batches))
        counter[0] += 1
        if counter[0] % LOG_EVERY == 0:
            _ = [float(loss) for loss in losses]


def measure(plugin: str, args: argparse.Namespace, batch: int, out_dir: Path) -> dict[str, float]:
    """Alternate timed blocks; median images/s of each side and the median ratios."""
    torch.manual_seed(0)
    run = make_plugin_run(plugin, args, batch, out_dir)
    plain = plain_module(plugin).plain_loop(run)
    data = fixed_batches(run)
    g_batches, p_batches = itertools.cycle(data), itertools.cycle(data)
    counter = [0]
    train_steps(run, g_batches, args.warmup)
    plain_steps(plain, args.warmup, counter, p_batches)
    wall: dict[str, list[float]] = {"ganhub": [], "plain": []}
    cpu: dict[str, list[float]] = {"ganhub": [], "plain": []}
    for r in range(args.rounds):
        for side in ("ganhub", "plain") if r % 2 == 0 else ("plain", "ganhub"):
            sync(run.device)
            t0, c0 = time.perf_counter(), time.process_time()
            if side == "ganhub":
                train_steps(run, g_batches, args.steps)
            else:
                plain_steps(plain, args.steps, counter, p_batches)
            sync(run.device)
            wall[side].append(time.perf_counter() - t0)
            cpu[side].append(time.process_time() - c0)
    run.close()
    ratios = [p / g for g, p in zip(wall["ganhub"], wall["plain"])]
    return {
        "ganhub": args.steps * batch / statistics.median(wall["ganhub"]),
        "plain": args.steps * batch / statistics.median(wall["plain"]),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "cpu_ratio": statistics.median(p / g for g, p in zip(cpu["ganhub"], cpu["plain"])),
    }


KERNELS = {"for-loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def kernel_copies(run: Run, kernel: dict[str, bool]) -> list[torch.optim.Optimizer]:
    """The run's optimizers rebuilt with `kernel` on copies of their parameters, each with the
    same random gradient (seeded: every kernel steps the same numbers)."""
    torch.manual_seed(1)
    copies = []
    for optimizer in run.optimizers.values():
        groups = []
        for group in optimizer.param_groups:
            params = [p.detach().clone().requires_grad_(True) for p in group["params"]]
            for p in params:
                p.grad = torch.randn_like(p)
            skip = {"params", "foreach", "fused", "capturable", "initial_lr", "configured_lr"}
            groups.append({**{k: v for k, v in group.items() if k not in skip}, "params": params})
        copies.append(type(optimizer)(groups, **kernel))
    return copies


def measure_kernels(plugin: str, args: argparse.Namespace, out_dir: Path) -> None:
    """Print the median CPU time of one step of all the run's optimizers, per kernel."""
    run = make_plugin_run(plugin, args, plain_module(plugin).BATCH, out_dir)
    sets = {name: kernel_copies(run, kernel) for name, kernel in KERNELS.items()}
    sizes = {g: sum(p.numel() for q in o.param_groups for p in q["params"])
             for g, o in run.optimizers.items()}  # fmt: skip
    shapes = ", ".join(
        f"{g} {type(o).__name__} {sizes[g]} weights" for g, o in run.optimizers.items()
    )
    run.close()
    spent: dict[str, list[float]] = {name: [] for name in KERNELS}
    for r in range(args.warmup + args.rounds):
        for name in list(KERNELS) if r % 2 == 0 else list(KERNELS)[::-1]:
            c0 = time.process_time()
            for _ in range(args.steps):
                for optimizer in sets[name]:
                    optimizer.step()
            if r >= args.warmup:
                spent[name].append((time.process_time() - c0) / args.steps)
    loop = [p for o in sets["for-loop"] for g in o.param_groups for p in g["params"]]
    print(f"{plugin}: {shapes}")
    for name, times in spent.items():
        mine = [p for o in sets[name] for g in o.param_groups for p in g["params"]]
        diff = max(float((a - b).detach().abs().max()) for a, b in zip(mine, loop))
        speed = statistics.median(f / t for f, t in zip(spent["foreach"], times))
        print(f"  {name:<9} {statistics.median(times) * 1e6:>8.0f} us/step "
              f"{speed:>6.2f}x foreach   max |w - for-loop| {diff:.1e}")  # fmt: skip


def main() -> None:
    """Parse options, run each plugin and batch size, print the table."""
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plugin", default="dcgan", choices=[*PLUGINS, "all"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="32", choices=["32", "bf16", "16"])
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--batch", type=count, nargs="+", default=None,
                        help="batch sizes (default: each plain loop's BATCH)")  # fmt: skip
    parser.add_argument("--steps", type=count, default=20, help="steps per timed block")
    parser.add_argument("--rounds", type=count, default=7, help="timed blocks per side")
    parser.add_argument("--warmup", type=count0, default=10)
    parser.add_argument("--out-dir", default="/tmp/ganhub-bench-runs")
    parser.add_argument("--kernels", action="store_true",
                        help="time the optimizer step alone with each update kernel")  # fmt: skip
    parser.add_argument("keys", nargs="*", help="more config keys for both sides (key=value)")
    args = parser.parse_args()
    if args.kernels:
        print(f"torch {torch.__version__}, {args.device}, optimizer step alone, {args.rounds} "
              f"x {args.steps} steps per kernel after {args.warmup} rounds, alternating")  # fmt: skip
        for plugin in PLUGINS if args.plugin == "all" else [args.plugin]:
            measure_kernels(plugin, args, Path(args.out_dir))
        return
    print(f"torch {torch.__version__}, device {args.device}, precision {args.precision}, "
          f"channels_last {args.channels_last}, {args.rounds} x {args.steps} steps per side, "
          "alternating")  # fmt: skip
    print(f"{'plugin':<9} {'batch':>6} {'ganhub img/s':>13} {'plain img/s':>12} {'ratio':>7} "
          f"{'(min-max)':>13} {'cpu ratio':>10}")  # fmt: skip
    for plugin in PLUGINS if args.plugin == "all" else [args.plugin]:
        for batch in args.batch or [plain_module(plugin).BATCH]:
            r = measure(plugin, args, batch, Path(args.out_dir))
            print(f"{plugin:<9} {batch:>6} {r['ganhub']:>13.1f} {r['plain']:>12.1f} "
                  f"{r['ratio']:>7.3f} ({r['ratio_min']:.3f}-{r['ratio_max']:.3f}) "
                  f"{r['cpu_ratio']:>10.3f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    run_main(main)
