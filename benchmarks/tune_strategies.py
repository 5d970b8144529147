"""Search strategies side by side: one `ganhub tune` study per sampler and seed, same budget.

Each study is the command a user types (`ganhub tune plugin=P space=arch trials=N
sampler=S sampler_seed=K`), run in a subprocess; its summary.json and study.db give, per
strategy (mean ± s.d. over seeds): the best objective found, trial 1 (the first after the
default: `oneshot`'s supernet choice), the best after half the budget, the mean objective of
the later half of the finished trials (a strategy that learns spends them on better
candidates; pruned trials count with their last reported value), the share of trials pruned
and the wall time (`oneshot`'s includes training its supernet).

    OMP_NUM_THREADS=1 python benchmarks/tune_strategies.py                  # toy2d arch, 24 trials
    OMP_NUM_THREADS=1 python benchmarks/tune_strategies.py --samplers random reinforce --seeds 0
    python benchmarks/tune_strategies.py --trials 4 --seeds 0 -- trainer.steps=200   # a smoke run
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from entry import Parser, check_ganhub, count, run_main
from ganhub_tune.samplers import SAMPLERS as TUNE_SAMPLERS
from tables import mean_sd

SAMPLERS = ("random", "tpe", "evolution", "reinforce", "oneshot")


def run_study(plugin: str, space: str, sampler: str, seed: int, trials: int,
              overrides: list[str], out: Path) -> dict[str, Any]:  # fmt: skip
    """Run one study through the CLI; its numbers."""
    import optuna

    name = f"{sampler}-{seed}"
    args = [sys.executable, "-m", "ganhub", "tune", f"plugin={plugin}", f"space={space}",
            f"trials={trials}", f"sampler={sampler}", f"sampler_seed={seed}", f"out={out}",
            f"study={name}", *overrides]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    check_ganhub(args[2:], done)  # a bad key: ganhub's one line, as the script's
    facts = json.loads((out / name / "summary.json").read_text())
    best_keys = " ".join(f"{k}={v}" for k, v in facts["best_params"].items())
    print(f"{name}: best trial {facts['best_trial']}: {best_keys}", flush=True)
    supernet = [line for line in done.stdout.splitlines() if line.startswith("  model.")]
    if supernet:  # sampler=oneshot: what the supernet preferred (trial 1)
        print(f"{name}: the supernet prefers\n" + "\n".join(supernet), flush=True)
    objective = next(iter(facts["best_values"]))
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{out / name / 'study.db'}")
    sign = 1.0 if study.direction.name == "MAXIMIZE" else -1.0
    values = [_value(t) for t in sorted(study.trials, key=lambda t: t.number)]
    scored = [v for v in values if v is not None]
    half = len(values) // 2
    best_at_half = max((sign * v for v in values[:half] if v is not None), default=float("nan"))
    later = [v for v in values[half:] if v is not None]
    first = values[1] if len(values) > 1 and values[1] is not None else float("nan")
    return {
        "objective": objective,
        "best": facts["best_values"][objective],
        "best_half": sign * best_at_half,
        "later_mean": sum(later) / len(later) if later else float("nan"),
        "trial_1": first,
        "pruned": facts["pruned"] / max(1, len(scored)),
        "seconds": seconds,
    }


def _value(trial: Any) -> float | None:
    """A finished trial's objective: its value, or a pruned trial's last report."""
    if trial.state.name == "COMPLETE":
        return float(trial.value)
    if trial.state.name == "PRUNED" and trial.intermediate_values:
        return float(trial.intermediate_values[max(trial.intermediate_values)])
    return None


def main() -> None:
    """Run every sampler for every seed and print the table."""
    parser = Parser(description=__doc__.split("\n")[0])
    parser.add_argument("--plugin", default="toy2d")
    parser.add_argument("--space", default="arch")
    parser.add_argument("--trials", type=count, default=24)
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=TUNE_SAMPLERS,
                        metavar="SAMPLER", help="any of " + ", ".join(TUNE_SAMPLERS) + " (key=value "
                        "overrides go after --)")  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--keep", type=Path, help="write the studies here (default: a temp dir)")
    parser.add_argument("overrides", nargs="*", help="key=value given to every study, or a "
                        "tune option such as repeats=3")  # fmt: skip
    args = parser.parse_args()
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in args.samplers}
    with tempfile.TemporaryDirectory() as temporary:
        tmp = args.keep or temporary
        for seed in args.seeds:
            for sampler in args.samplers:
                result = run_study(args.plugin, args.space, sampler, seed, args.trials,
                                   args.overrides, Path(tmp))  # fmt: skip
                rows[sampler].append(result)
                print(f"{sampler} seed {seed}: " + ", ".join(
                    f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in result.items()), flush=True)  # fmt: skip
    objective = next(iter(rows.values()))[0]["objective"]
    print(f"\n{args.plugin} space={args.space}, {args.trials} trials, seeds {args.seeds}, "
          f"objective {objective}\n")  # fmt: skip
    print(f"| sampler | best {objective} | trial 1 | best after {args.trials // 2} trials | "
          "mean of the later half | pruned | wall s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for sampler, results in rows.items():

        def col(key: str, digits: int = 2, results: list[dict[str, Any]] = results) -> str:
            return mean_sd([r[key] for r in results], digits)

        print(f"| {sampler} | {col('best')} | {col('trial_1')} | {col('best_half')} | "
              f"{col('later_mean')} | {col('pruned')} | {col('seconds', 0)} |")  # fmt: skip


if __name__ == "__main__":
    run_main(main)
