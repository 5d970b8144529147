"""How long the CLI takes to start, and whether it loads torch (`ganhub --help` budget: 0.5 s).

python benchmarks/cli_startup.py [RUNS]

Each command runs as a fresh process (one warm-up, then RUNS timed runs); the table shows the
median, min and max wall time, and whether the command imported torch (checked in-process
through `sys.modules`). Registering plugins must not import torch: only commands that build
models (`run`, `sample`...) may.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from entry import Parser, run_main

BUDGET_S = 0.5  # ganhub --help on the 2-core development machine

COMMANDS = {
    "python -c pass": [],
    "python -c 'import torch'": None,
    "ganhub --help": ["--help"],
    "ganhub plugins": ["plugins"],
    "ganhub list tricks": ["list", "tricks"],
    "ganhub run plugin=dcgan --help": ["run", "plugin=dcgan", "--help"],
}


def command_line(args: list[str] | None) -> list[str]:
    """The process to time: the CLI with `args`, or the two baselines."""
    if args is None:
        return [sys.executable, "-c", "import torch"]
    if not args:
        return [sys.executable, "-c", "pass"]
    return [sys.executable, "-m", "ganhub", *args]


def wall(cmd: list[str], runs: int) -> list[float]:
    """Wall seconds of `runs` runs after one warm-up."""
    subprocess.run(cmd, capture_output=True, check=True)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return times


def loads_torch(args: list[str] | None) -> str:
    """'yes' or 'no': whether running the command in-process leaves torch in sys.modules."""
    if not args:
        return "yes" if args is None else "no"
    code = (
        "import sys\nfrom ganhub.cli import main\ntry:\n"
        f"    main({args!r})\nexcept SystemExit:\n    pass\n"
        "print('yes' if 'torch' in sys.modules else 'no')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def main(argv: list[str] | None = None) -> None:
    """Print the table; say whether `ganhub --help` is within its budget."""
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "runs", nargs="?", type=int, default=5, help="timed runs per command (default: 5)"
    )
    runs = parser.parse_args(argv).runs
    if runs < 1:
        parser.error(f"RUNS must be at least 1, got {runs}")
    print(f"{'command':<32} {'median s':>9} {'min':>6} {'max':>6}  torch")
    help_median = 0.0
    for name, args in COMMANDS.items():
        t = wall(command_line(args), runs)
        median = statistics.median(t)
        if name == "ganhub --help":
            help_median = median
        print(f"{name:<32} {median:>9.3f} {min(t):>6.3f} {max(t):>6.3f}  {loads_torch(args)}")
    verdict = "within" if help_median < BUDGET_S else "OVER"
    print(f"ganhub --help: {help_median:.3f} s median, {verdict} the {BUDGET_S} s budget")


if __name__ == "__main__":
    run_main(main)
