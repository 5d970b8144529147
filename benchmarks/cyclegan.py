"""ganhub's CycleGAN step against a plain hand-written PyTorch loop, side by side; and a timed
quality run on the embedded data.

speed: both sides get the same networks (the plain side's are copies of the ganhub system's,
so the weights match), the same batches on the device, Adam 2e-4 / (0.5, 0.999), the original
losses (LSGAN as MSELoss, cycle x10, identity x5, D x0.5), image pools of 50 and the same
precision; they run alternately in one process (A B A B ...) so machine noise hits both. The
ganhub side is the real engine: a `Run` from the cyclegan config, `engine.loop.train_step`
(phases, requires_grad toggling, stats on the device, tricks=[lr_schedule]) plus what `fit`
does per step (a stats flush every LOG_EVERY steps, the after_step hook). The plain side is
`PlainCycleGAN` below, written as the original `CycleGANModel.optimize_parameters` is, with a
per-iteration LambdaLR and a loss read every LOG_EVERY steps. tests/plugins/test_cyclegan.py
checks that both sides compute the same updates. The ratio is throughput (plain s/it over
ganhub s/it; above 1: ganhub is faster), the median over rounds of wall time, and of this
process's CPU time (on a CPU shared with other jobs, wall time also counts their time slices).

    python benchmarks/cyclegan.py speed                       # CPU: 128 px ngf 32, 256 px ngf 64
    python benchmarks/cyclegan.py speed --device cuda --precision bf16 --batch 1 8 --size 256
    python benchmarks/cyclegan.py quality --minutes 10        # PSNR/SSIM vs identity after 10 min
"""

from __future__ import annotations

import argparse
import copy
import itertools
import math
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

LOG_EVERY = 50
SHAPES = {128: 32, 256: 64}  # image size -> ngf, as the issue asks (ndf 64 for both)


class PlainPool:
    """The original `ImagePool` (util/image_pool.py), as written there: a Python list."""

    def __init__(self, size: int) -> None:
        self.size, self.images = size, []  # type: ignore[var-annotated]

    def query(self, images: Tensor) -> Tensor:
        """Mix new images with stored ones (50% swap once full)."""
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif random.uniform(0, 1) > 0.5:
                i = random.randint(0, self.size - 1)
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out, 0)


class PlainCycleGAN:
    """A hand-written CycleGAN step (the original `optimize_parameters`) on given modules."""

    def __init__(
        self,
        G_AB: nn.Module, G_BA: nn.Module, D_A: nn.Module, D_B: nn.Module, *,
        lr: float = 2e-4, lambda_a: float = 10.0, lambda_b: float = 10.0, lambda_identity: float = 0.5,
        pool_size: int = 50, total_steps: int | None = None, decay_start: float = 0.5,
        autocast_dtype: torch.dtype | None = None,
    ) -> None:  # fmt: skip
        self.G_AB, self.G_BA, self.D_A, self.D_B = G_AB, G_BA, D_A, D_B
        g_params = itertools.chain(G_AB.parameters(), G_BA.parameters())
        d_params = itertools.chain(D_A.parameters(), D_B.parameters())
        # fused on CUDA and the CPU, as ganhub's impl=auto picks: the kernels round differently,
        # and Adam turns the float noise in the zero gradients of biases before instance norm
        # into full-size steps of either sign
        device = next(G_AB.parameters()).device
        kernels = {"fused": True} if device.type in ("cuda", "cpu") else {"foreach": True}
        self.opt_G = torch.optim.Adam(g_params, lr=lr, betas=(0.5, 0.999), **kernels)
        self.opt_D = torch.optim.Adam(d_params, lr=lr, betas=(0.5, 0.999), **kernels)
        self.schedulers = []
        if total_steps is not None:  # constant, then linear to 0: ganhub's lr_schedule count
            begin = int(decay_start * total_steps)

            def factor(step: int) -> float:
                return (
                    1.0
                    if step <= begin
                    else max(0.0, 1.0 - (step - begin) / max(1, total_steps - begin))
                )

            self.schedulers = [
                torch.optim.lr_scheduler.LambdaLR(o, factor) for o in (self.opt_G, self.opt_D)
            ]
        self.lambda_a, self.lambda_b, self.lambda_identity = lambda_a, lambda_b, lambda_identity
        self.pool_A, self.pool_B = PlainPool(pool_size), PlainPool(pool_size)
        self.mse, self.l1 = nn.MSELoss(), nn.L1Loss()
        self.dtype = autocast_dtype

    def _autocast(self, device: torch.device) -> Any:
        if self.dtype is None:
            return torch.autocast(device.type, enabled=False)
        return torch.autocast(device.type, dtype=self.dtype)

    def gan(self, logits: Tensor, real: bool) -> Tensor:
        """The original `GANLoss` in lsgan mode: MSE against an all-ones or all-zeros map."""
        return self.mse(logits, torch.ones_like(logits) if real else torch.zeros_like(logits))

    @staticmethod
    def set_requires_grad(nets: list[nn.Module], flag: bool) -> None:
        """The original `set_requires_grad`."""
        for net in nets:
            for p in net.parameters():
                p.requires_grad = flag

    def step(self, real_a: Tensor, real_b: Tensor) -> tuple[Tensor, Tensor]:
        """One iteration: G (both generators), then D_A and D_B; returns (G loss, D loss)."""
        with self._autocast(real_a.device):
            fake_b = self.G_AB(real_a)
            rec_a = self.G_BA(fake_b)
            fake_a = self.G_BA(real_b)
            rec_b = self.G_AB(fake_a)
            self.set_requires_grad([self.D_A, self.D_B], False)
            loss_g = (
                self.gan(self.D_B(fake_b), True)
                + self.gan(self.D_A(fake_a), True)
                + self.lambda_a * self.l1(rec_a, real_a)
                + self.lambda_b * self.l1(rec_b, real_b)
            )
            if self.lambda_identity > 0:
                idt_a = self.l1(self.G_BA(real_a), real_a)
                idt_b = self.l1(self.G_AB(real_b), real_b)
                loss_g = loss_g + self.lambda_identity * (
                    self.lambda_a * idt_a + self.lambda_b * idt_b
                )
        self.opt_G.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_G.step()
        self.set_requires_grad([self.D_A, self.D_B], True)
        self.opt_D.zero_grad(set_to_none=True)
        with self._autocast(real_a.device):
            pooled_a = self.pool_A.query(fake_a.detach()).to(fake_a.dtype)
            loss_d_a = 0.5 * (
                self.gan(self.D_A(real_a), True) + self.gan(self.D_A(pooled_a.detach()), False)
            )
        loss_d_a.backward()
        with self._autocast(real_a.device):
            pooled_b = self.pool_B.query(fake_b.detach()).to(fake_b.dtype)
            loss_d_b = 0.5 * (
                self.gan(self.D_B(real_b), True) + self.gan(self.D_B(pooled_b.detach()), False)
            )
        loss_d_b.backward()
        self.opt_D.step()
        for s in self.schedulers:
            s.step()
        return loss_g.detach(), (loss_d_a + loss_d_b).detach()


def build(
    size: int, ngf: int, batch: int, device: str, precision: str, out_dir: Path
) -> tuple[Any, PlainCycleGAN]:
    """A ganhub run and a plain trainer with identical weights and settings."""
    from ganhub.config.resolve import resolve
    from ganhub.wiring import make_run

    run = make_run(resolve([
        "plugin=cyclegan", f"device={device}", f"precision={precision}", f"model.image_size={size}",
        f"model.ngf={ngf}", "model.ndf=64", f"trainer.batch_size={batch}", "trainer.steps=100000",
        "tricks=[lr_schedule]",  # the plain side's LambdaLR: the schedule is not the default's
        f"trainer.log_every={LOG_EVERY}", "trainer.progress=false", "loggers=[]", f"out_dir={out_dir}",
    ]))  # fmt: skip
    s = run.system
    dtype = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}[precision]
    nets = [copy.deepcopy(m) for m in (s.G_AB, s.G_BA, s.D_A, s.D_B)]
    plain = PlainCycleGAN(*nets, total_steps=run.config.trainer.steps, autocast_dtype=dtype)
    return run, plain


def fixed_batches(
    size: int, batch: int, device: torch.device, n: int = 8
) -> list[tuple[Tensor, Tensor]]:
    """n random (A, B) batches in [-1, 1] on the device, shared by both sides."""
    gen = torch.Generator().manual_seed(0)
    return [
        (torch.rand(batch, 3, size, size, generator=gen).to(device) * 2 - 1,
         torch.rand(batch, 3, size, size, generator=gen).to(device) * 2 - 1)
        for _ in range(n)
    ]  # fmt: skip


def sync(device: torch.device) -> None:
    """Wait for queued GPU work so wall time covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_steps(plain: PlainCycleGAN, batches: Iterator[Any], n: int, counter: list[int]) -> None:
    """n plain steps, reading the losses every LOG_EVERY steps like a hand-written loop does."""
    for _ in range(n):
        loss_g, loss_d = plain.step(*next(batches))
        counter[0] += 1
        if counter[0] % LOG_EVERY == 0:
            _ = (float(loss_g), float(loss_d))


def measure(
    args: argparse.Namespace, size: int, ngf: int, batch: int, out_dir: Path
) -> dict[str, float]:
    """Alternate timed blocks; median seconds per iteration of each side and the median ratio."""
    from ganhub.engine.loop import train_steps

    run, plain = build(size, ngf, batch, args.device, args.precision, out_dir)
    data = fixed_batches(size, batch, run.device)
    g_batches, p_batches = itertools.cycle(data), itertools.cycle(data)
    counter = [0]
    train_steps(run, g_batches, args.warmup)
    plain_steps(plain, p_batches, args.warmup, counter)
    g_times, p_times, g_cpu, p_cpu = [], [], [], []
    for r in range(args.rounds):
        order = ("ganhub", "plain") if r % 2 == 0 else ("plain", "ganhub")
        for side in order:
            sync(run.device)
            t0, c0 = time.perf_counter(), time.process_time()
            if side == "ganhub":
                train_steps(run, g_batches, args.iters)
            else:
                plain_steps(plain, p_batches, args.iters, counter)
            sync(run.device)
            wall, cpu = (
                (time.perf_counter() - t0) / args.iters,
                (time.process_time() - c0) / args.iters,
            )
            (g_times if side == "ganhub" else p_times).append(wall)
            (g_cpu if side == "ganhub" else p_cpu).append(cpu)
    run.close()
    ratios = [p / g for g, p in zip(g_times, p_times)]  # throughput ganhub / plain
    return {
        "ganhub": statistics.median(g_times),
        "plain": statistics.median(p_times),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        # CPU seconds of this process: on a shared CPU, immune to time slices taken by others
        "cpu_ratio": statistics.median(p / g for g, p in zip(g_cpu, p_cpu)),
    }


def speed(args: argparse.Namespace) -> None:
    """Print the side-by-side table."""
    torch.manual_seed(0)
    random.seed(0)
    sizes = args.size or list(SHAPES)
    print(f"torch {torch.__version__}, device {args.device}, precision {args.precision}, threads "
          f"{torch.get_num_threads()}, {args.rounds} x {args.iters} iterations per side, alternating")  # fmt: skip
    print(f"{'size':>5} {'ngf':>4} {'batch':>6} {'ganhub s/it':>12} {'plain s/it':>11} {'ganhub/plain':>13} "
          f"{'(min-max)':>13} {'by CPU time':>12}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            for batch in args.batch:
                ngf = args.ngf or SHAPES.get(size, 64)
                r = measure(args, size, ngf, batch, Path(tmp))
                print(f"{size:>5} {ngf:>4} {batch:>6} {r['ganhub']:>12.4f} {r['plain']:>11.4f} "
                      f"{r['ratio']:>13.3f} ({r['ratio_min']:.3f}-{r['ratio_max']:.3f}) {r['cpu_ratio']:>12.3f}",
                      flush=True)  # fmt: skip


def quality(args: argparse.Namespace) -> None:
    """Train the default config for about `--minutes`, then print PSNR/SSIM against identity."""
    import ganhub
    from ganhub.config.resolve import resolve
    from ganhub.engine.loop import train_step
    from ganhub.wiring import make_run

    base = ["plugin=cyclegan", f"device={args.device}", "trainer.progress=false", *args.overrides]
    probe = make_run(resolve([*base, "loggers=[]", f"out_dir={tempfile.mkdtemp()}"]))
    batches = probe.batches()
    train_step(probe, batches)  # warm-up
    t0 = time.perf_counter()
    for _ in range(10):
        train_step(probe, batches)
    per_step = (time.perf_counter() - t0) / 10
    probe.close()
    budget = args.minutes * 60
    steps = max(10, int(0.9 * budget / per_step))  # 10% for samples, checkpoints and evaluation
    scheduled = "lr_schedule" in probe.config.tricks  # the default: constant (a run in steps)
    lr = "LR constant for half of them, then decaying to 0" if scheduled else "at a constant LR"
    print(f"{per_step:.3f} s/step measured; training {steps} steps (~{args.minutes} min), {lr}",
          flush=True)  # fmt: skip
    summary = ganhub.train([*base, f"trainer.steps={steps}", f"trainer.max_seconds={budget}",
                            f"trainer.sample_every={max(1, steps // 4)}", f"trainer.checkpoint_every={steps}"])  # fmt: skip
    m = summary["metrics"]
    print(f"run: {summary['run_dir']} ({summary['steps']} steps in {summary['seconds']:.0f} s)")
    print(f"{'direction':>9} {'PSNR dB':>8} {'identity':>9} {'SSIM':>6} {'identity':>9}")
    for d in ("AtoB", "BtoA"):
        print(f"{d:>9} {m[f'psnr_{d}']:>8.2f} {m[f'psnr_identity_{d}']:>9.2f} "
              f"{m[f'ssim_{d}']:>6.3f} {m[f'ssim_identity_{d}']:>9.3f}")  # fmt: skip
    print(f"cycle L1: A {m['cycle_l1_A']:.4f}, B {m['cycle_l1_B']:.4f} (images in [-1, 1])")
    if not math.isfinite(m["psnr_AtoB"]):
        raise SystemExit("non-finite PSNR")


def main() -> None:
    """Parse the sub-command and its options."""
    from entry import Parser, count, count0  # here, not at the top: tests load this file by path

    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="speed|quality")
    s = sub.add_parser("speed", help="ganhub step vs plain PyTorch loop, s/iteration")
    s.add_argument("--device", default="cpu")
    s.add_argument("--precision", default="32", choices=["32", "bf16", "16"])
    s.add_argument("--batch", type=count, nargs="+", default=[1])
    s.add_argument(
        "--size", type=count, nargs="+", default=None, help="image sizes (default: 128 256)"
    )
    s.add_argument(
        "--ngf",
        type=count,
        default=None,
        help="generator width (default: 32 at 128 px, 64 at 256 px)",
    )
    s.add_argument("--iters", type=count, default=5, help="iterations per timed block")
    s.add_argument("--rounds", type=count, default=6, help="timed blocks per side")
    s.add_argument("--warmup", type=count0, default=3)
    q = sub.add_parser("quality", help="train on the embedded data for N minutes, print PSNR/SSIM")
    q.add_argument("--minutes", type=float, default=10.0)
    q.add_argument("--device", default="cpu")
    q.add_argument("overrides", nargs="*", help="extra key=value overrides for the run")
    args = parser.parse_args()
    speed(args) if args.command == "speed" else quality(args)


if __name__ == "__main__":
    from entry import run_main

    run_main(main)
