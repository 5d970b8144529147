"""DCGAN on Stacked MNIST (three digits as RGB, 1,000 modes): plain vs. with tricks, on the CPU.

Each run trains ganhub's dcgan domain on `data=stacked_digits` (built from the 5,000 embedded
digits) and scores the final generator with the `digit_modes` metric: 26,000 samples, each
channel classified by the local digit classifier (>= 97 % held-out accuracy), modes = distinct
digit triples seen, KL = KL(generated mode histogram || uniform). The PacGAN paper's rows were
trained far longer on a GPU; this script reports what a CPU reaches in its time budget.

    python benchmarks/stacked_mnist.py                          # 3,000 steps per setting
    python benchmarks/stacked_mnist.py --steps 500 --samples 5000   # a quick look
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import torch
from entry import Parser, run_main

import ganhub

SETTINGS: dict[str, list[str]] = {
    "plain": [],  # DCGAN as the paper trains it: non-saturating loss, Adam 2e-4 (0.5, 0.999)
    "pacgan2": ["tricks=[pacgan]", "trick.pacgan.pack=2"],  # PacDCGAN2: D sees pairs
    # EMA of G with decay 0.999 averages ~1,000 steps: too slow for a 1,500-step CPU budget
    "pacgan2+ema": ["tricks=[pacgan,ema]", "trick.pacgan.pack=2", "trick.ema.decay=0.999"],
}
# PacGAN paper (Lin et al. 2018), Table 4 (D with 1/4 of the DCGAN width):
PUBLISHED = [("DCGAN (published)", 99.0, 3.40), ("PacDCGAN2 (published)", 1000.0, 0.06)]


def main() -> None:
    """Train each setting once and print modes and KL."""
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--samples", type=int, default=26_000, help="generated samples scored")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, CPU, {args.steps} steps x batch {args.batch}, {args.samples:,} samples scored"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for setting in args.settings:
            t0 = time.perf_counter()
            summary = ganhub.train(
                [
                    "plugin=dcgan",
                    "data=stacked_digits",
                    f"seed={args.seed}",
                    f"trainer.steps={args.steps}",
                    f"trainer.batch_size={args.batch}",
                    "trainer.progress=false",
                    "trainer.sample_every=0",
                    "trainer.checkpoint_every=0",
                    "trainer.log_every=250",
                    "loggers=[]",
                    "eval.metrics=[digit_modes]",
                    f"eval.n_samples={args.samples}",
                    f"out_dir={tmp}",
                    f"name={setting}",
                    *SETTINGS[setting],
                ]
            )
            secs = time.perf_counter() - t0
            m = summary["metrics"]
            rows.append(
                (
                    f"ganhub {setting}",
                    m["stacked_modes"],
                    m["stacked_kl"],
                    m["digit_confidence"],
                    secs,
                )
            )
            print(f"  {setting}: {secs:.0f} s", file=sys.stderr, flush=True)
    print(f"\n{'setting':<24} {'modes':>7} {'KL':>7} {'confidence':>11} {'time':>7}")
    for name, modes, kl, conf, secs in rows:
        print(f"{name:<24} {modes:>7.0f} {kl:>7.3f} {conf:>11.3f} {secs:>6.0f}s")
    for name, modes, kl in PUBLISHED:
        print(f"{name:<24} {modes:>7.0f} {kl:>7.2f} {'-':>11} {'':>7}")


if __name__ == "__main__":
    run_main(main)
