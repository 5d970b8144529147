"""Architectures found by `ganhub tune space=arch`, trained again over several run seeds.

A study ranks its trials by one run each, and on toy2d's grid at 2,000 steps one run's
`balanced_hq` varies by several times between seeds of the same architecture, so a study's
best trial is partly a lucky seed. This script trains each named architecture with the study's
base (`ganhub tune`'s built-in toy2d base: the grid of 25, 2,000 steps) for every seed and
prints mean ± s.d. per architecture.

    OMP_NUM_THREADS=1 python benchmarks/arch_retrain.py --seeds 0 1 2 \\
        --arch default= \\
        --arch wide_d="model.d_layers=4 model.d_hidden=512 model.d_act=elu"
"""

from __future__ import annotations

import argparse
import shlex
import tempfile
from typing import Any

from tables import mean_sd

import ganhub

BASE = ["plugin=toy2d", "data.dataset=grid", "trainer.steps=2000", "trainer.eval_every=250",
        "trainer.sample_every=0", "trainer.checkpoint_every=0", "trainer.progress=false",
        "loggers=[jsonl]"]  # fmt: skip
COLUMNS = ("balanced_hq", "hq_percent", "modes", "reverse_kl")


def main() -> None:
    """Train every architecture for every seed; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", action="append", required=True, metavar="NAME=KEYS",
                        help="a name and its key=value overrides (quoted, space-separated)")  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = parser.parse_args()
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.arch:
            name, _, keys = spec.partition("=")
            for seed in args.seeds:
                summary = ganhub.train([*BASE, *shlex.split(keys), f"seed={seed}",
                                        f"out_dir={tmp}", f"name={name}-{seed}"])  # fmt: skip
                metrics = summary["metrics"]
                results.setdefault(name, []).append(metrics)
                shown = " ".join(f"{c}={metrics[c]:.4g}" for c in COLUMNS)
                print(f"{name} seed {seed}: {shown}", flush=True)
    print(f"\ntoy2d grid, 2,000 steps, seeds {args.seeds}\n")
    print("| architecture | " + " | ".join(COLUMNS) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    for name, rows in results.items():
        cells = [mean_sd([r[c] for r in rows], 1 if c != "reverse_kl" else 3) for c in COLUMNS]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
