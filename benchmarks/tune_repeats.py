"""`ganhub tune repeats=N` against one run per trial, at the same number of training runs.

A study that scores each trial by one run ranks partly by the seed's luck, so its best value
overstates what the chosen config gives when trained again (the winner's curse). `repeats=N`
scores each trial by the mean of N runs, at the price of N times fewer candidates. This
script runs, per study seed, the study a user types with `trials=T` and with `trials=T/N
repeats=N` (same sampler, same space), then trains each study's best config again at run
seeds that no trial used and prints, mean ± s.d. over study seeds: the best value the study
reported, the held-out mean of its best config, the study's optimism (reported minus
held-out, signed so that positive means the study promised more than it gave), the runs each
study trained (pruned trials stop early) and the wall time.

    OMP_NUM_THREADS=1 python benchmarks/tune_repeats.py                       # toy2d arch
    OMP_NUM_THREADS=1 python benchmarks/tune_repeats.py --seeds 0 1 --trials 12 --repeats 3
    python benchmarks/tune_repeats.py --seeds 0 --trials 4 --repeats 2 --held-out 2 \\
        -- trainer.steps=200                                                   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from entry import Parser, check_ganhub, count, run_main
from tables import mean_sd

import ganhub

HELD_OUT_BASE = 1000  # run seeds of the retrained bests: far from every trial's seed


def run_study(args: argparse.Namespace, seed: int, repeats: int, out: Path) -> dict[str, Any]:
    """One study through the CLI; what it reported and what it cost."""
    trials = args.trials // repeats
    name = f"r{repeats}-{seed}"
    command = [sys.executable, "-m", "ganhub", "tune", f"plugin={args.plugin}",
               f"space={args.space}", f"trials={trials}", f"repeats={repeats}",
               f"sampler={args.sampler}", f"sampler_seed={seed}", f"out={out}",
               f"study={name}", *args.overrides]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    check_ganhub(command[2:], done)  # a bad key: ganhub's one line, as the script's
    study = out / name
    facts = json.loads((study / "summary.json").read_text())
    objective = next(iter(facts["best_values"]))
    runs = sum(1 for path in (study / "trials").iterdir() if path.is_dir())
    return {"name": name, "dir": study, "objective": objective, "seconds": seconds,
            "reported": facts["best_values"][objective], "runs": runs}  # fmt: skip


def held_out(study: Path, objective: str, seeds: list[int], out: Path) -> float:
    """The mean objective of the study's best config trained again at `seeds`."""
    best = yaml.safe_load((study / "best.yaml").read_text())
    values = []
    for seed in seeds:
        config = {**best, "seed": seed, "out_dir": str(out), "name": f"{study.name}-{seed}"}
        config["trainer"] = {**best.get("trainer", {}), "progress": False}
        values.append(float(ganhub.train(config)["metrics"][objective]))
    return sum(values) / len(values)


def main() -> None:
    """Both studies per seed, their bests trained again; print the table."""
    parser = Parser(description=__doc__.split("\n")[0])
    parser.add_argument("--plugin", default="toy2d")
    parser.add_argument("--space", default="arch")
    parser.add_argument("--sampler", default="tpe")
    parser.add_argument("--trials", type=count, default=24, help="runs per study's budget")
    parser.add_argument("--repeats", type=count, default=3)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3])
    parser.add_argument("--held-out", type=count, default=5, help="run seeds per retrained best")
    parser.add_argument("--keep", type=Path, help="write the studies here (default: a temp dir)")
    parser.add_argument("overrides", nargs="*", help="key=value given to every trial")
    args = parser.parse_args()
    if args.trials % args.repeats:
        parser.error(f"--trials {args.trials} is not a multiple of --repeats {args.repeats}")
    seeds = list(range(HELD_OUT_BASE, HELD_OUT_BASE + args.held_out))
    rows: dict[int, list[dict[str, Any]]] = {1: [], args.repeats: []}
    with tempfile.TemporaryDirectory() as temporary:
        tmp = Path(args.keep or temporary)
        for seed in args.seeds:
            for repeats in rows:
                result = run_study(args, seed, repeats, tmp)
                result["held_out"] = held_out(result["dir"], result["objective"], seeds, tmp)
                rows[repeats].append(result)
                print(f"{result['name']}: reported {result['reported']:.4g}, held-out "
                      f"{result['held_out']:.4g}, {result['runs']} runs, "
                      f"{result['seconds']:.0f} s", flush=True)  # fmt: skip
    first = rows[1][0]
    sign = _sign(first["dir"])
    print(f"\n{args.plugin} space={args.space} sampler={args.sampler}, {args.trials} runs per "
          f"study, study seeds {args.seeds}, held-out run seeds {seeds[0]}-{seeds[-1]}, "
          f"objective {first['objective']}\n")  # fmt: skip
    print(
        "| study | reported best | held-out mean of its best | optimism | runs trained | wall s |"
    )
    print("|---|---|---|---|---|---|")
    for repeats, results in rows.items():
        label = f"trials={args.trials // repeats} repeats={repeats}"
        optimism = [sign * (r["reported"] - r["held_out"]) for r in results]
        print(f"| {label} | {mean_sd([r['reported'] for r in results], 2)} | "
              f"{mean_sd([r['held_out'] for r in results], 2)} | {mean_sd(optimism, 2)} | "
              f"{mean_sd([r['runs'] for r in results], 1)} | "
              f"{mean_sd([r['seconds'] for r in results], 0)} |")  # fmt: skip


def _sign(study: Path) -> float:
    """+1 for a maximised objective, -1 for a minimised one (from the study's storage)."""
    import optuna

    loaded = optuna.load_study(study_name=study.name, storage=f"sqlite:///{study / 'study.db'}")
    return 1.0 if loaded.direction.name == "MAXIMIZE" else -1.0


if __name__ == "__main__":
    run_main(main)
