"""StyleGAN2 speed (s/kimg) and G vs G_ema quality over training (FD on a local feature net).

speed: seconds per thousand training images (every phase, lazy ones at their intervals, as
`fit` runs them) for the CPU presets at 32x32 (the default `small`) and 64x64, with wall and
process CPU time (on a shared CPU wall time also counts other jobs). With CUDA: 256x256
batch 32 (`preset=auto`, batch typed), fp32 vs mixed precision on the top 4 resolutions
(fp16_res=4);
StyleGAN2-ADA reports about 22 s/kimg at 256 px on one V100.

fd: trains the default run on the embedded faces and, every --eval-every steps, scores
--n samples of G and of G_ema by the Frechet distance on the features of a rotation-prediction
network trained locally on the same faces (`fd_faces`; lower is better; nothing downloaded).

    python benchmarks/stylegan.py speed [--steps 24] [--only cpu|cuda]
    python benchmarks/stylegan.py fd [--steps 600 --eval-every 100 --n 500] [--device cuda]
        [--set model.channel_max=32 ...] [--seconds 300] [--label NAME --save DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI: no spinning on a shared CPU

import torch
from entry import Parser, count, refuse, run_main

from ganhub.config.resolve import resolve
from ganhub.engine.environment import select_device
from ganhub.engine.loop import train_steps
from ganhub.engine.run import Run
from ganhub.wiring import make_run


def build_run(overrides: list[str], out: str) -> Run:
    """A stylegan Run with no I/O besides its run directory."""
    return make_run(resolve(["plugin=stylegan", "trainer.progress=false", "loggers=[]",
                             f"out_dir={out}", *overrides]))  # fmt: skip


def s_per_kimg(overrides: list[str], steps: int, out: str) -> tuple[float, float]:
    """(wall, CPU) seconds per 1000 training images after a short warm-up."""
    run = build_run(overrides, out)
    batches = run.batches()
    train_steps(run, batches, 16)  # past the first lazy R1 and path-length steps
    sync = torch.cuda.synchronize if run.device.type == "cuda" else (lambda: None)
    sync()
    t, c = time.perf_counter(), time.process_time()
    train_steps(run, batches, steps)
    sync()
    images = steps * run.config.trainer.batch_size / 1000
    return (time.perf_counter() - t) / images, (time.process_time() - c) / images


def speed(args: argparse.Namespace) -> None:
    """Print the s/kimg table."""
    if args.only == "cuda" and not torch.cuda.is_available():
        refuse("--only cuda: CUDA is not available here; use --only cpu")
    rows: list[tuple[str, list[str]]] = []
    if args.only in ("all", "cpu"):
        rows += [
            ("32x32 small (default), batch 32", ["device=cpu"]),
            ("64x64 small, batch 32", ["device=cpu", "model.image_size=64"]),
        ]
    if args.only in ("all", "cuda") and torch.cuda.is_available():
        b = args.batch
        gpu = ["preset=auto", "model.image_size=256", f"trainer.batch_size={b}", "device=cuda"]
        mixed = [*gpu, "model.fp16_res=4"]
        rows += [
            (f"256x256 auto, batch {b}, fp32 (CUDA)", [*gpu, "model.fp16_res=0"]),
            (f"256x256 auto, batch {b}, mixed fp16_res=4 (CUDA)", mixed),
            ("... mixed + CUDA graphs", [*mixed, "trainer.cuda_graphs=true"]),
            ("... mixed + compile", [*mixed, "trainer.compile=true"]),
            ("... mixed, fp16 blocks channels_last", [*mixed, "model.fp16_channels_last=true"]),
            ("... mixed, fp16 channels_last + compile",
             [*mixed, "model.fp16_channels_last=true", "trainer.compile=true"]),
        ]  # fmt: skip
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"| {'setting':<48} | wall s/kimg | CPU s/kimg |")
    print(f"|{'-' * 50}|-------------|------------|")
    with tempfile.TemporaryDirectory() as out:
        for label, overrides in rows:
            try:
                wall, cpu = s_per_kimg(overrides, args.steps, out)
            except Exception as exc:  # a speed option refused or broken here: say so, go on
                first = (str(exc).strip().splitlines() or [""])[0][:150]
                print(f"| {label:<48} | failed: {type(exc).__name__}: {first}", flush=True)
                continue
            print(f"| {label:<48} | {wall:11.1f} | {cpu:10.1f} |", flush=True)


def fd(args: argparse.Namespace) -> None:
    """Train one configuration and print FD of G and G_ema against the faces over training."""
    from pathlib import Path

    from ganhub_stylegan.data import embedded

    from ganhub.data.images import save_image_grid
    from ganhub.metrics.featurenet import train_feature_net
    from ganhub.metrics.formulas import frechet_distance, gaussian_stats

    overrides = [f"trainer.steps={args.steps}", "trainer.max_seconds=null",
                 f"device={args.device}", *args.set]  # fmt: skip
    # refused in one line before the feature net trains (a minute): a bad --set key or
    # device, a device that is not here
    device = resolve(["plugin=stylegan", *overrides]).device
    if device == args.device and device.startswith("cuda") and not torch.cuda.is_available():
        refuse(f"--device {device}: CUDA is not available here; use --device cpu or auto")
    select_device(device)  # cuda:N past the GPUs here, mps, or --set device=...: one line
    real = embedded("faces", 32, mirror=True)
    # trained on the CPU with one thread: the same weights on every machine and in every process
    net, spec = train_feature_net(real, None, name="faces", dataset={"source": "faces"},
                                  epochs=args.feature_epochs, width=16)  # fmt: skip
    print(f"feature net: rotation prediction on {len(real)} faces, held-out accuracy {spec.accuracy:.2f}")  # fmt: skip
    real_stats = gaussian_stats(net.features(real))

    def score(run: Run, use_ema: bool) -> float:
        with torch.no_grad():
            fake = torch.cat([run.system.sample(250, seed=s, use_ema=use_ema, psi=1.0).cpu()
                              for s in range(args.n // 250)])  # fmt: skip
            return frechet_distance(gaussian_stats(net.features(fake)), real_stats)

    label = args.label or (" ".join(args.set) or "default")
    with tempfile.TemporaryDirectory() as out:
        run = build_run(overrides, out)
        batches = run.batches()
        batch = run.config.trainer.batch_size
        ada: Any = next((t for t in run.tricks if t.name == "ada"), None)  # the core trick
        print(f"{label}: {run.device}, batch {batch}, overrides: {' '.join(args.set) or 'none'}")
        print("| step | kimg | train s | FD G | FD G_ema | ADA p |")
        print("|------|------|---------|------|----------|-------|", flush=True)
        trained, deadline = 0.0, args.seconds or float("inf")
        sync = torch.cuda.synchronize if run.device.type == "cuda" else (lambda: None)
        while run.step < args.steps and trained < deadline:
            # in chunks of at most 50 steps so that the time box cuts in close to its limit
            next_eval = min(args.steps, (run.step // args.eval_every + 1) * args.eval_every)
            while run.step < next_eval and trained < deadline:
                t = time.perf_counter()
                train_steps(run, batches, min(50, next_eval - run.step))
                sync()
                trained += time.perf_counter() - t
            g, g_ema = score(run, False), score(run, True)
            p = float(ada.p) if ada is not None else 0.0
            print(f"| {run.step} | {run.step * batch / 1000:.1f} | {trained:.0f} | {g:.4g} | {g_ema:.4g} | {p:.3f} |", flush=True)  # fmt: skip
        if args.save is not None:
            stem = Path(args.save) / (args.label or "fd").replace(" ", "_")
            for use_ema, psi in ((True, 1.0), (True, 0.7), (False, 1.0)):
                images = run.system.sample(64, seed=0, use_ema=use_ema, psi=psi).cpu()
                name = f"{stem}_{'ema' if use_ema else 'G'}_psi{psi:g}.png"
                save_image_grid(images, Path(name))
            print(f"samples: {stem}_*.png")


def main() -> None:
    """Parse arguments and run one benchmark."""
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="what", required=True, metavar="speed|fd")
    p_speed = sub.add_parser("speed", help="s/kimg per preset")
    p_speed.add_argument("--steps", type=count, default=24, help="timed steps per setting")
    p_speed.add_argument("--only", choices=["all", "cpu", "cuda"], default="all",
                         help="which rows (cuda rows need a GPU)")  # fmt: skip
    p_speed.add_argument("--batch", type=count, default=32,
                         help="batch of the 256 px CUDA rows (StyleGAN2-ADA's one-GPU auto "
                         "config: 16)")  # fmt: skip
    p_fd = sub.add_parser("fd", help="FD of G vs G_ema over training")
    p_fd.add_argument("--steps", type=count, default=600)
    p_fd.add_argument("--eval-every", type=count, default=100)
    p_fd.add_argument("--n", type=count, default=500, help="generated samples per score")
    p_fd.add_argument("--feature-epochs", type=count, default=30)
    p_fd.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                      help="config overrides of the trained run (e.g. model.channel_max=32)")  # fmt: skip
    p_fd.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p_fd.add_argument("--seconds", type=float, default=None,
                      help="stop after this much training time (evaluations not counted)")  # fmt: skip
    p_fd.add_argument("--label", default=None, help="a name for the printed table and files")
    p_fd.add_argument("--save", default=None, metavar="DIR",
                      help="write the final G_ema (psi 1, 0.7) and G sample grids here")  # fmt: skip
    args = parser.parse_args()
    speed(args) if args.what == "speed" else fd(args)


if __name__ == "__main__":
    run_main(main)
