"""How long `ganhub --help` takes beyond `import torch` (the budget is 2 s).

python benchmarks/cli_startup.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
    "ganhub --help": [sys.executable, "-m", "ganhub", "--help"],
    "ganhub plugins": [sys.executable, "-m", "ganhub", "plugins"],
    "ganhub run plugin=dcgan --help": [
        sys.executable,
        "-m",
        "ganhub",
        "run",
        "plugin=dcgan",
        "--help",
    ],
}


def wall(cmd: list[str], runs: int) -> list[float]:
    """Wall seconds of `runs` runs after one warm-up."""
    subprocess.run(cmd, capture_output=True, check=True)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    """Print median wall time of each command and its excess over importing torch."""
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    base = statistics.median(wall(COMMANDS["python -c 'import torch'"], runs))
    print(f"{'command':<34} {'median s':>9} {'beyond import torch':>20}")
    for name, cmd in COMMANDS.items():
        t = statistics.median(wall(cmd, runs))
        print(f"{name:<34} {t:>9.2f} {t - base:>20.2f}")


if __name__ == "__main__":
    main()
