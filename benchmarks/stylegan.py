"""StyleGAN2 speed (s/kimg) and G vs G_ema quality over training (FD on a local feature net).

speed: seconds per thousand training images (every phase, lazy ones at their intervals, as
`fit` runs them) for the CPU presets at 32x32 (the default `small`) and 64x64, with wall and
process CPU time (on a shared CPU wall time also counts other jobs). With CUDA: 256x256
batch 32 (`preset=auto`), fp32 vs mixed precision on the top 4 resolutions (fp16_res=4);
StyleGAN2-ADA reports about 22 s/kimg at 256 px on one V100.

fd: trains the default run on the embedded faces and, every --eval-every steps, scores
--n samples of G and of G_ema by the Frechet distance on the features of a rotation-prediction
network trained locally on the same faces (`fd_faces`; lower is better; nothing downloaded).

    python benchmarks/stylegan.py speed [--steps 24]
    python benchmarks/stylegan.py fd [--steps 600 --eval-every 100 --n 500]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI: no spinning on a shared CPU

import torch

from ganhub.config.resolve import resolve
from ganhub.engine.loop import train_steps
from ganhub.engine.run import Run


def make_run(overrides: list[str], out: str) -> Run:
    """A stylegan Run with no I/O besides its run directory."""
    return Run(resolve(["plugin=stylegan", "trainer.progress=false", "loggers=[]",
                        f"out_dir={out}", *overrides]))  # fmt: skip


def s_per_kimg(overrides: list[str], steps: int, out: str) -> tuple[float, float]:
    """(wall, CPU) seconds per 1000 training images after a short warm-up."""
    run = make_run(overrides, out)
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
    rows: list[tuple[str, list[str]]] = [
        ("32x32 small (default), batch 16", []),
        ("64x64 small, batch 16", ["model.resolution=64"]),
    ]
    if torch.cuda.is_available():
        gpu = ["preset=auto", "model.resolution=256", "trainer.batch_size=32", "device=cuda"]
        rows += [
            ("256x256 auto, batch 32, fp32 (CUDA)", [*gpu, "model.fp16_res=0"]),
            ("256x256 auto, batch 32, mixed fp16_res=4 (CUDA)", [*gpu, "model.fp16_res=4"]),
        ]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"| {'setting':<48} | wall s/kimg | CPU s/kimg |")
    print(f"|{'-' * 50}|-------------|------------|")
    with tempfile.TemporaryDirectory() as out:
        for label, overrides in rows:
            wall, cpu = s_per_kimg(overrides, args.steps, out)
            print(f"| {label:<48} | {wall:11.1f} | {cpu:10.1f} |", flush=True)


def fd(args: argparse.Namespace) -> None:
    """Train the default run and print FD of G and G_ema against the faces over training."""
    from ganhub_stylegan.data import embedded

    from ganhub.metrics.featurenet import train_feature_net
    from ganhub.metrics.formulas import frechet_distance, gaussian_stats

    real = embedded("faces", 32, mirror=True)
    net, spec = train_feature_net(real, None, name="faces", dataset={"source": "faces"},
                                  epochs=args.feature_epochs, width=16)  # fmt: skip
    print(f"feature net: rotation prediction on {len(real)} faces, held-out accuracy {spec.accuracy:.2f}")  # fmt: skip
    real_stats = gaussian_stats(net.features(real))

    def score(run: Run, use_ema: bool) -> float:
        with torch.no_grad():
            fake = torch.cat([run.system.sample(250, seed=s, use_ema=use_ema, psi=1.0)
                              for s in range(args.n // 250)])  # fmt: skip
            return frechet_distance(gaussian_stats(net.features(fake)), real_stats)

    with tempfile.TemporaryDirectory() as out:
        run = make_run([f"trainer.steps={args.steps}", "trainer.max_seconds=null"], out)
        batches = run.batches()
        batch = run.config.trainer.batch_size
        print("| step | kimg | FD G | FD G_ema |\n|------|------|------|----------|")
        while run.step < args.steps:
            train_steps(run, batches, args.eval_every)
            row: dict[str, Any] = {"G": score(run, False), "G_ema": score(run, True)}
            print(f"| {run.step} | {run.step * batch / 1000:.1f} | {row['G']:.4g} | {row['G_ema']:.4g} |", flush=True)  # fmt: skip


def main() -> None:
    """Parse arguments and run one benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="what", required=True)
    p_speed = sub.add_parser("speed", help="s/kimg per preset")
    p_speed.add_argument("--steps", type=int, default=24, help="timed steps per setting")
    p_fd = sub.add_parser("fd", help="FD of G vs G_ema over training")
    p_fd.add_argument("--steps", type=int, default=600)
    p_fd.add_argument("--eval-every", type=int, default=100)
    p_fd.add_argument("--n", type=int, default=500, help="generated samples per score")
    p_fd.add_argument("--feature-epochs", type=int, default=30)
    args = parser.parse_args()
    speed(args) if args.what == "speed" else fd(args)


if __name__ == "__main__":
    main()
