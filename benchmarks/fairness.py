"""Fairness on 90/10 data: baseline DCGAN vs importance weighting vs re-sampling, over seeds.

Two biased sets, each with a balanced reference set a tenth of its size:

* shapes: squares and ellipses in shares 0.9 / 0.1 (`data=shapes`, 20,000 rendered images);
* digits: the digit groups 01234 and 56789 in shares 0.9 / 0.1 (`data=digits`, about 2,600).

Each (dataset, setting, seed) is one `ganhub.train` run on the CPU with the dcgan defaults; the
final generator is scored by the `fairness` metric toward equal shares and by the Frechet
distance on the dataset's classifier features (`fd_shapes`, `fd_digits`), so a fairer
generator that draws worse shows it. The table gives, per setting, the fairness discrepancy
FD = ‖p̂ − (0.5, 0.5)‖₂ (mean ± s.d. over seeds), FD corrected for the attribute classifier's
errors (CLEAM), the minority's share of the samples, the relative bias reduction against the
baseline (1 − FD / FD_baseline; Choi et al. 2020 report up to 34.6 % on average at comparable
FID), and the quality column. The fourth row is the baseline's samples after rejection
sampling toward equal shares (no retraining; its acceptance rate instead of a time).

    python benchmarks/fairness.py                          # both sets, 3 seeds, 1,000 steps
    python benchmarks/fairness.py --datasets shapes --seeds 5
    python benchmarks/fairness.py --steps 30 --seeds 1 --n 200   # a smoke test (minutes)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from entry import Parser, run_main
from tables import mean_sd

import ganhub

DATASETS: dict[str, list[str]] = {
    "shapes": ["data=shapes", "data.shapes=[square,ellipse]", "data.proportions=[0.9,0.1]"],
    "digits": ["data=digits", "data.proportions=[0.9,0.1]"],
}
QUALITY = {"shapes": "fd_shapes", "digits": "fd_digits"}
MINORITY = {"shapes": "fairness_share/ellipse", "digits": "fairness_share/56789"}
SETTINGS: dict[str, list[str]] = {
    "baseline": ["tricks=[]"],
    "reweight": ["tricks=[reweight]"],
    "resample": ["tricks=[resample]"],
}
# The same budget for every setting; the dcgan defaults otherwise (batch 64, Adam 2e-4).
COMMON = [
    "plugin=dcgan",
    "trainer.progress=false",
    "trainer.sample_every=0",
    "trainer.checkpoint_every=0",
    "trainer.log_every=250",
    "loggers=[]",
    "eval.metrics=[fairness,fid]",
    "eval.fairness_target=uniform",
    "device=cpu",
]
STEPS = 1000


def one_run(
    dataset: str, setting: str, seed: int, out_dir: Path, steps: int, n: int
) -> dict[str, float]:
    """Train one dcgan on a biased set and return its final metrics."""
    summary = ganhub.train(
        [
            *COMMON,
            *DATASETS[dataset],
            *SETTINGS[setting],
            f"seed={seed}",
            f"trainer.steps={steps}",
            f"eval.n_samples={n}",
            f"out_dir={out_dir}",
            f"name={dataset}-{setting}-{seed}",
        ]
    )
    return summary["metrics"]


def reduction(fd: list[float], baseline: list[float]) -> str:
    """Relative bias reduction of the mean FD against the baseline's."""
    base = statistics.fmean(baseline)
    return f"{100 * (1 - statistics.fmean(fd) / base):+.1f} %" if base > 0 else "-"


def table(dataset: str, rows: dict[str, tuple[list[dict[str, float]], float]]) -> None:
    """Print one dataset's table: a row per setting and the baseline's rejection-sampled row."""
    quality, minority = QUALITY[dataset], MINORITY[dataset]
    head = f"{'setting':<22} {'FD (L2)':>15} {'FD corrected':>15} {'bias red.':>10} "
    print(head + f"{'minority':>9} {quality:>15} {'time':>7}")
    base = [r["fairness_l2"] for r in rows["baseline"][0]] if "baseline" in rows else []
    for setting, (results, secs) in rows.items():
        fd = [r["fairness_l2"] for r in results]
        cols = [
            mean_sd(fd, 3),
            mean_sd([r["fairness_l2_corrected"] for r in results], 3),
            reduction(fd, base) if base else "-",
            f"{statistics.fmean(r[minority] for r in results):.3f}",
            mean_sd([r[quality] for r in results], 3),
        ]
        print(f"{setting:<22} {cols[0]:>15} {cols[1]:>15} {cols[2]:>10} {cols[3]:>9} "
              f"{cols[4]:>15} {secs:>6.0f}s")  # fmt: skip
    if base:
        results = rows["baseline"][0]
        fd = [r["fairness_l2_rejection"] for r in results]
        accept = statistics.fmean(r["fairness_accept"] for r in results)
        print(f"{'baseline + rejection':<22} {mean_sd(fd, 3):>15} {'-':>15} {reduction(fd, base):>10} "
              f"{'-':>9} {'-':>15} {'-':>7}")  # fmt: skip
        print(f"rejection sampling kept {accept:.1%} of the baseline's drawn samples")
    accuracy = statistics.fmean(r["fairness_accuracy"] for res, _ in rows.values() for r in res)
    print(f"attribute classifier: balanced accuracy {accuracy:.1%} on labelled real images")


def main() -> None:
    """Run the grid of runs and print one table per dataset."""
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=STEPS, help="training steps per run")
    parser.add_argument("--n", type=int, default=1000, help="samples each run is scored on")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t_all = time.perf_counter()
    print(f"torch {torch.__version__}, CPU, {args.seeds} seed(s), {args.steps} steps, "
          f"{args.n} samples, target: equal shares")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets:
            rows: dict[str, tuple[list[dict[str, float]], float]] = {}
            for setting in args.settings:
                t0 = time.perf_counter()
                results = [
                    one_run(dataset, setting, seed, Path(tmp), args.steps, args.n)
                    for seed in range(args.seeds)
                ]
                rows[setting] = (results, time.perf_counter() - t0)
                print(f"  {dataset}/{setting}: {rows[setting][1]:.0f} s", file=sys.stderr, flush=True)  # fmt: skip
            print(f"\n{dataset} 90/10 ({args.steps} steps per run)")
            table(dataset, rows)
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    run_main(main)
