"""Architectures found by `ganhub tune space=arch`, trained again over several run seeds.

A study ranks its trials by one run each, and one GAN run's metric varies a lot between
seeds of the same architecture (toy2d's grid at 2,000 steps: `balanced_hq` by several times),
so a study's best trial is partly a lucky seed. This script trains each named architecture
with the base a study of that domain uses (`ganhub tune`'s built-in base: toy2d on the grid of
25 for 2,000 steps, dcgan for 300 steps) for every seed and prints mean ± s.d. per
architecture.

    OMP_NUM_THREADS=1 python benchmarks/arch_retrain.py --seeds 0 1 2 \\
        --arch default= \\
        --arch wide_d="model.d_layers=4 model.d_hidden=512 model.d_act=elu"
    OMP_NUM_THREADS=1 python benchmarks/arch_retrain.py --plugin dcgan --arch default= \\
        --arch attention="model.attention=true model.extra_blocks=1"
"""

from __future__ import annotations

import json
import shlex
import tempfile
from typing import Any

from entry import Parser, run_main
from tables import mean_sd

import ganhub

# what each domain's table shows: the study's objective first
COLUMNS = {
    "toy2d": ("balanced_hq", "hq_percent", "modes", "reverse_kl"),
    "dcgan": ("fd_digits", "digit_classes", "digit_kl", "digit_confidence"),
}


def study_base(plugin: str) -> list[str]:
    """The overrides every trial of a `ganhub tune plugin=PLUGIN` study runs with."""
    from ganhub_tune.defaults import DOMAINS, TRIAL_BASE

    base = {**TRIAL_BASE, **DOMAINS[plugin].get("base", {})}
    return [f"plugin={plugin}", *(f"{k}={json.dumps(v)}" for k, v in base.items())]


def main() -> None:
    """Train every architecture for every seed; print the table."""
    parser = Parser(description=__doc__.split("\n")[0])
    parser.add_argument("--plugin", choices=sorted(COLUMNS), default="toy2d")
    parser.add_argument("--arch", action="append", required=True, metavar="NAME=KEYS",
                        help="a name and its key=value overrides (quoted, space-separated)")  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = parser.parse_args()
    base, columns = study_base(args.plugin), COLUMNS[args.plugin]
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.arch:
            name, _, keys = spec.partition("=")
            for seed in args.seeds:
                summary = ganhub.train([*base, *shlex.split(keys), f"seed={seed}",
                                        f"out_dir={tmp}", f"name={name}-{seed}"])  # fmt: skip
                metrics = summary["metrics"]
                results.setdefault(name, []).append(metrics)
                shown = " ".join(f"{c}={metrics[c]:.4g}" for c in columns)
                print(f"{name} seed {seed}: {shown}", flush=True)
    print(f"\n{args.plugin}: {' '.join(base[1:])}; seeds {args.seeds}\n")
    print("| architecture | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name, rows in results.items():
        cells = [mean_sd([r[c] for r in rows], 3 if "kl" in c or "confidence" in c else 1)
                 for c in columns]  # fmt: skip
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    run_main(main)
