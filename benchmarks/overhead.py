"""ganhub's DCGAN training step against a plain hand-written PyTorch loop, side by side.

Both sides get the same generator and discriminator weights, the same digits tensor on the
device, the same Adam settings and the same precision; they run alternately in one process
(A B A B ...) so machine noise hits both. The ganhub side is the real engine: `Run` set up from
the dcgan config and `engine.loop.train_step` plus the per-step work `fit` does (stats on device,
a flush every `log_every` steps, the `after_step` hook). The plain side is
`examples/raw_vs_ganhub/plain_pytorch.py`, written as the PyTorch DCGAN example is (it reads the
losses every `log_every` steps too).

    python benchmarks/overhead.py                                 # CPU, batch 64, 32 px
    python benchmarks/overhead.py --device cuda --precision bf16 --channels-last --batch 128 512
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "raw_vs_ganhub"))

from plain_pytorch import PlainDCGAN, discriminator, generator  # noqa: E402

from ganhub.config.resolve import resolve  # noqa: E402
from ganhub.data.images import digits  # noqa: E402
from ganhub.engine.loop import train_steps  # noqa: E402
from ganhub.engine.run import Run  # noqa: E402
from ganhub.wiring import make_run  # noqa: E402

LOG_EVERY = 50


def sync(device: torch.device) -> None:
    """Wait for queued GPU work so wall time covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(args: argparse.Namespace, batch: int, out_dir: Path) -> tuple[Run, PlainDCGAN]:
    """A ganhub run and a plain trainer with identical weights, data and optimizer settings."""
    run = make_run(
        resolve(
            [
                "plugin=dcgan",
                f"device={args.device}",
                f"precision={args.precision}",
                f"trainer.batch_size={batch}",
                f"trainer.channels_last={str(args.channels_last).lower()}",
                f"trainer.log_every={LOG_EVERY}",
                f"model.image_size={args.size}",
                f"model.g_channels={args.width}",
                f"model.d_channels={args.width}",
                "trainer.progress=false",
                "loggers=[]",
                f"out_dir={out_dir}",
            ]
        )
    )
    device = run.device
    G = generator(100, args.width, 1, args.size).to(device)
    D = discriminator(args.width, 1, args.size).to(device)
    G.load_state_dict(run.system.G.state_dict())
    D.load_state_dict(run.system.D.state_dict())
    data = digits(args.size)[0].to(device)
    if args.channels_last:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
        data = data.contiguous(memory_format=torch.channels_last)
    dtype = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}[args.precision]
    plain = PlainDCGAN(G, D, data, batch, 100, autocast_dtype=dtype)
    return run, plain


def plain_steps(plain: PlainDCGAN, n: int, counter: list[int]) -> None:
    """n plain steps, reading the losses every LOG_EVERY steps like a hand-written loop does."""
    for _ in range(n):
        loss_d, loss_g = plain.step()
        counter[0] += 1
        if counter[0] % LOG_EVERY == 0:
            _ = (float(loss_d), float(loss_g))


def measure(args: argparse.Namespace, batch: int, out_dir: Path) -> dict[str, float]:
    """Alternate timed blocks; return median images/s of each side and the median ratio."""
    run, plain = build(args, batch, out_dir)
    batches = run.batches()
    counter = [0]
    train_steps(run, batches, args.warmup)
    plain_steps(plain, args.warmup, counter)
    g_rates, p_rates = [], []
    for _ in range(args.rounds):
        for side in ("ganhub", "plain"):
            sync(run.device)
            t0 = time.perf_counter()
            if side == "ganhub":
                train_steps(run, batches, args.steps)
            else:
                plain_steps(plain, args.steps, counter)
            sync(run.device)
            rate = args.steps * batch / (time.perf_counter() - t0)
            (g_rates if side == "ganhub" else p_rates).append(rate)
    run.close()
    ratios = [g / p for g, p in zip(g_rates, p_rates)]
    return {
        "ganhub": statistics.median(g_rates),
        "plain": statistics.median(p_rates),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }


def main() -> None:
    """Parse options, run each batch size, print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="32", choices=["32", "bf16", "16"])
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--batch", type=int, nargs="+", default=[64])
    parser.add_argument("--size", type=int, default=32, choices=[32, 64])
    parser.add_argument("--width", type=int, default=32, help="ngf = ndf")
    parser.add_argument("--steps", type=int, default=20, help="steps per timed block")
    parser.add_argument("--rounds", type=int, default=7, help="timed blocks per side")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--out-dir", default="/tmp/ganhub-bench-runs")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, device {args.device}, precision {args.precision}, "
          f"channels_last {args.channels_last}, {args.size}px, width {args.width}, "
          f"{args.rounds} x {args.steps} steps per side, alternating")  # fmt: skip
    print(f"{'batch':>6} {'ganhub img/s':>13} {'plain img/s':>12} {'ratio':>7} {'(min-max)':>13}")
    for batch in args.batch:
        r = measure(args, batch, Path(args.out_dir))
        print(f"{batch:>6} {r['ganhub']:>13.1f} {r['plain']:>12.1f} {r['ratio']:>7.3f} "
              f"({r['ratio_min']:.3f}-{r['ratio_max']:.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
