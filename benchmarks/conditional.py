"""Class-conditional DCGAN on the embedded digits: unconditional vs cGAN vs projection vs AC-GAN
vs TAC-GAN.

Every setting trains ganhub's dcgan domain on the 5,000 embedded MNIST digits for the same
steps and seeds, and scores the final generator with:
  class_acc   share of samples drawn for class k that the digit classifier (>= 97 % held
              out) reads as k; per class for 0..9 (conditional settings only)
  intra_fd    mean over the 10 classes of the Frechet distance on digit features between a
              class's samples and its real digits (conditional settings only)
  fd_digits   Frechet distance on digit features over all classes
  digit_kl    KL(predicted class histogram || uniform) of samples drawn over all classes
Figures are mean +- s.d. over the seeds. `--stacked` adds Stacked MNIST conditioned on each
channel's digit (1,000 label combinations) and reports its modes and accuracy.

    python benchmarks/conditional.py                       # 1,500 steps, seeds 0 1 2
    python benchmarks/conditional.py --steps 300 --seeds 0 # a quick look
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from entry import Parser, run_main
from tables import mean_sd

import ganhub

SETTINGS: dict[str, list[str]] = {
    "unconditional": [],
    # cGAN (Mirza & Osindero 2014): label embedding next to z, label maps next to the image
    "cgan_concat": [
        "model.conditional=true",
        "condition.generator=concat",
        "condition.discriminator=input_concat",
    ],
    # Miyato & Koyama 2018: conditional BatchNorm in G, projection in D (dcgan's default)
    "projection": [
        "model.conditional=true",
        "condition.generator=cbn",
        "condition.discriminator=projection",
    ],
    # projection with cGAN's generator: which side matters
    "concat_projection": [
        "model.conditional=true",
        "condition.generator=concat",
        "condition.discriminator=projection",
    ],
    # Odena et al. 2017: the label next to z, an unconditioned D with a class head
    "acgan_concat": [
        "model.conditional=true",
        "condition.generator=concat",
        "condition.discriminator=none",
        "tricks=[acgan]",
    ],
    # the class head with dcgan's default generator (conditional BatchNorm)
    "acgan": [
        "model.conditional=true",
        "condition.generator=cbn",
        "condition.discriminator=none",
        "tricks=[acgan]",
    ],
    # Gong et al. 2019 (TAC-GAN): AC-GAN with the twin class head on fakes, both generators
    "tacgan_concat": [
        "model.conditional=true",
        "condition.generator=concat",
        "condition.discriminator=none",
        "tricks=[acgan]",
        "trick.acgan.twin=true",
    ],
    "tacgan": [
        "model.conditional=true",
        "condition.generator=cbn",
        "condition.discriminator=none",
        "tricks=[acgan]",
        "trick.acgan.twin=true",
    ],
}
COLUMNS = ("class_acc", "class_acc_min", "intra_fd_digits", "fd_digits", "digit_kl")


def train(
    setting: list[str], steps: int, seed: int, out: str, samples: int, grid: str | None = None
) -> dict[str, float]:
    """One run; its final metrics (and its sample grid copied to `grid`)."""
    metrics = ["digit_modes", "fid"]
    if any(s.startswith("model.conditional") for s in setting):
        metrics += ["class_accuracy", "intra_fid"]
    summary = ganhub.train([
        "plugin=dcgan", *setting, f"trainer.steps={steps}", f"seed={seed}", f"out_dir={out}",
        "loggers=[jsonl]", "trainer.progress=false", "trainer.sample_every=0",
        "trainer.checkpoint_every=0", f"eval.n_samples={samples}",
        f"eval.metrics=[{','.join(metrics)}]",
    ])  # fmt: skip
    if grid:
        ganhub.load(summary["run_dir"]).write_samples(Path(grid).parent, Path(grid).stem)
    return summary["metrics"]


def main() -> None:
    """Train each setting for each seed and print the tables."""
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--samples", type=int, default=2500, help="samples per evaluation")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--stacked", action="store_true", help="add Stacked MNIST conditional")
    parser.add_argument("--grids", default=None, help="folder for each setting's sample grid")
    parser.add_argument(
        "--stylegan",
        action="store_true",
        help="only: stylegan conditional on digits, its default run",
    )
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if args.stylegan:
        stylegan(args.seeds[0], args.grids)
        return
    results: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as out:
        for name in args.settings:
            for seed in args.seeds:
                t0 = time.perf_counter()
                grid = (
                    f"{args.grids}/conditional_{name}.png"
                    if args.grids and seed == args.seeds[0]
                    else None
                )
                m = train(SETTINGS[name], args.steps, seed, out, args.samples, grid)
                results.setdefault(name, []).append(m)
                scores = ", ".join(f"{c} {m[c]:.3g}" for c in COLUMNS if c in m)
                took = time.perf_counter() - t0
                print(f"{name} seed {seed}: {scores} ({took:.0f} s)", file=sys.stderr)
        stacked = None
        if args.stacked:
            stacked = train(["data=stacked_digits", "model.conditional=true"], args.steps,
                            args.seeds[0], out, 26_000)  # fmt: skip
    print(f"dcgan on digits, {args.steps} steps, seeds {args.seeds}, {args.samples} samples")
    print(f"| setting | {' | '.join(COLUMNS)} |")
    print("|---|" + "---|" * len(COLUMNS))
    for name, runs in results.items():
        cells = []
        for col in COLUMNS:
            digits = 3 if col in ("class_acc", "class_acc_min", "digit_kl") else 1
            cells.append(mean_sd([r[col] for r in runs if col in r], digits))
        print(f"| {name} | {' | '.join(cells)} |")
    print("\nper-class accuracy of samples (mean over seeds)")
    print("| setting | " + " | ".join(str(k) for k in range(10)) + " |")
    print("|---|" + "---|" * 10)
    for name, runs in results.items():
        if "class_acc" not in runs[0]:
            continue
        cells = [mean_sd([r[f"class_acc_{k}"] for r in runs], 2).split(" ")[0] for k in range(10)]
        print(f"| {name} | {' | '.join(cells)} |")
    if stacked is not None:
        print("\nStacked MNIST conditional on each channel's digit (dcgan's default cbn + projection), seed "
              f"{args.seeds[0]}, {args.steps} steps, 26,000 samples")  # fmt: skip
        print("| modes (of 1,000) | KL | class_acc (all 3 digits) | per-channel accuracy |")
        print("|---|---|---|---|")
        print(f"| {stacked['stacked_modes']:.0f} | {stacked['stacked_kl']:.3f} | "
              f"{stacked['class_acc']:.3f} | {stacked['class_acc_factor']:.3f} |")  # fmt: skip


def stylegan(seed: int, grids: str | None) -> None:
    """stylegan's default run (32 px, its CPU time limit) on the digits, conditional."""
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        summary = ganhub.train([
            "plugin=stylegan", "data=digits", "model.conditional=true", f"seed={seed}",
            f"out_dir={out}", "loggers=[jsonl]", "trainer.progress=false",
        ])  # fmt: skip
        seconds = time.perf_counter() - t0
        if grids:
            model = ganhub.load(summary["run_dir"])
            model.write_samples(Path(grids), "conditional_stylegan")
    m = summary["metrics"]
    print(f"stylegan conditional on digits (default run, seed {seed}): {summary['steps']} steps "
          f"in {seconds:.0f} s")  # fmt: skip
    print("| class_acc | class_acc_min | intra_fd_digits | fd_digits |")
    print("|---|---|---|---|")
    print(f"| {m['class_acc']:.3f} | {m['class_acc_min']:.3f} | {m['intra_fd_digits']:.1f} | "
          f"{m['fd_digits']:.1f} |")  # fmt: skip


if __name__ == "__main__":
    run_main(main)
