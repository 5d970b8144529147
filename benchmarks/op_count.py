"""The aten ops of one training step, ganhub's against the plain hand-written loop's, per op.

A small model's step on a CPU (toy2d's MLPs) is bound by dispatch: every op costs a microsecond
or more whatever its size, so an op ganhub runs that the plain loop does not is overhead that
`benchmarks/overhead.py` shows as a ratio below 1. This script counts them: both sides
(`benchmarks/plain_loops/<plugin>.py`, built as overhead.py builds them) train a few warm-up
steps, then one step of each runs under torch.profiler, which records every aten op that enters
the dispatcher, the ops others call inside them too (CPU `mean` is nine: a sum, then a division
by the count as a Python int, which is wrapped, converted and copied), in forward, backward and
the optimizer. It prints each op whose count differs, with the lines of the side that runs more
of it (the innermost Python function outside torch, as file:first line, and the op or backward
node it called when the op ran inside another), and the totals. `--top` counts only the ops
Python calls itself, one dispatch from Python each.

    python benchmarks/op_count.py                           # toy2d, a step that does not log
    python benchmarks/op_count.py --plugin dcgan --all      # every op, also those that match
    python benchmarks/op_count.py --plugin toy2d --log-step # the step before a logging flush
"""

from __future__ import annotations

import argparse
import collections
import itertools
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from entry import Parser, count0, run_main
from overhead import (
    LOG_EVERY,
    PLUGINS,
    fixed_batches,
    make_plugin_run,
    plain_module,
    plain_steps,
)

from ganhub.engine.loop import train_steps

# a Python frame event of the profiler: "path/to/file.py(123): function"
FRAME = re.compile(r"^(?P<path>.+\.py)\((?P<line>\d+)\): (?P<func>.+)$")
SKIP = ("torch/", "contextlib.py", "op_count.py", "<")


class OpCount:
    """aten ops by name, and by name and call site."""

    def __init__(self) -> None:
        self.ops: collections.Counter[str] = collections.Counter()
        self.sites: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )

    def total(self) -> int:
        """Every aten op of the step."""
        return sum(self.ops.values())


def count_ops(step: Callable[[], None], top: bool = False) -> OpCount:
    """The aten ops one call of `step` runs (nested ones too, unless `top`: only those Python
    calls itself), with their call sites."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], with_stack=True) as prof:
        step()
    counted = OpCount()
    for event in prof.events():
        if event.name.startswith("aten::") and not (top and nested(event)):
            name = event.name.removeprefix("aten::")
            counted.ops[name] += 1
            counted.sites[name][call_site(event)] += 1
    return counted


def nested(event: Any) -> bool:
    """Whether another aten op, or the autograd engine's backward, runs `event`."""
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith(("aten::", "autograd::")):
            return True
        parent = parent.cpu_parent
    return False


def call_site(event: Any) -> str:
    """`file:line function` (the function's first line) of the innermost Python function
    outside torch above `event`, with the outermost aten op or backward node between them."""
    via = ""
    parent = event.cpu_parent
    while parent is not None:
        match = FRAME.match(parent.name)
        if match and not match["path"].startswith(SKIP) and "/torch/" not in match["path"]:
            where = f"{short(match['path'])}:{match['line']} {match['func']}"
            return f"{where} [{via}]" if via else where
        if parent.name.startswith(("aten::", "autograd::engine::evaluate_function: ")):
            via = parent.name.removeprefix("autograd::engine::evaluate_function: ")
        parent = parent.cpu_parent
    return f"? [{via}]" if via else "?"


def short(path: str) -> str:
    """A path relative to the repository (or the file name)."""
    root = str(Path(__file__).resolve().parents[1]) + "/"
    return path.removeprefix(root) if path.startswith(root) else Path(path).name


def sides(plugin: str, args: argparse.Namespace) -> tuple[Callable[[], None], Callable[[], None]]:
    """One-step callables of the two sides, warmed up to just before the step to count (not a
    logging step unless --log-step: a flush reads the stats back once per LOG_EVERY steps)."""
    torch.manual_seed(0)
    out_dir = Path(args.out_dir)
    run = make_plugin_run(plugin, args, plain_module(plugin).BATCH, out_dir)
    plain = plain_module(plugin).plain_loop(run)
    data = fixed_batches(run)
    g_batches: Iterator[Any] = itertools.cycle(data)
    p_batches: Iterator[Any] = itertools.cycle(data)
    counter = [0]
    warmup = args.warmup if not args.log_step else LOG_EVERY - 1
    train_steps(run, g_batches, warmup)
    plain_steps(plain, warmup, counter, p_batches)
    return (lambda: train_steps(run, g_batches, 1)), (
        lambda: plain_steps(plain, 1, counter, p_batches)
    )


def table(ganhub: OpCount, plain: OpCount, every: bool, width: int = 3) -> list[str]:
    """Rows: op, ganhub's count, plain's, the difference, then the busier side's call sites."""
    lines = [f"{'op':<40} {'ganhub':>7} {'plain':>7} {'diff':>6}"]
    names = sorted(set(ganhub.ops) | set(plain.ops),
                   key=lambda n: (-(ganhub.ops[n] - plain.ops[n]), n))  # fmt: skip
    for name in names:
        g, p = ganhub.ops[name], plain.ops[name]
        if g == p and not every:
            continue
        lines.append(f"{name:<40} {g:>7} {p:>7} {g - p:>+6}")
        if g == p:
            continue
        more, less = (ganhub, plain) if g > p else (plain, ganhub)
        side = "ganhub" if g > p else "plain"
        extra = more.sites[name] - less.sites[name]  # lines the other side lacks
        for site, n in extra.most_common(width):
            lines.append(f"    {side} {n:>3} x {site}")
    total_g, total_p = ganhub.total(), plain.total()
    lines.append(f"{'total':<40} {total_g:>7} {total_p:>7} {total_g - total_p:>+6}")
    return lines


def main() -> None:
    """Parse options, count one step of each side, print the table."""
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plugin", default="toy2d", choices=PLUGINS)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="32", choices=["32", "bf16", "16"])
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--warmup", type=count0, default=3, help="steps before the counted one")
    parser.add_argument("--log-step", action="store_true",
                        help="count the step that flushes the stats (step LOG_EVERY)")  # fmt: skip
    parser.add_argument("--all", action="store_true", help="list the ops that match too")
    parser.add_argument("--top", action="store_true",
                        help="only the ops Python calls (not those inside them, nor backward)")  # fmt: skip
    parser.add_argument("--sites", type=count0, default=3, help="call sites shown per op")
    parser.add_argument("--out-dir", default="/tmp/ganhub-bench-runs")
    parser.add_argument("keys", nargs="*", help="more config keys for both sides (key=value)")
    args = parser.parse_args()
    ganhub_step, plain_step = sides(args.plugin, args)
    ganhub, plain = count_ops(ganhub_step, args.top), count_ops(plain_step, args.top)
    print(f"torch {torch.__version__}, {args.plugin}, {args.device}, precision {args.precision}: "
          "aten ops of one training step")  # fmt: skip
    print("\n".join(table(ganhub, plain, args.all, args.sites)))


if __name__ == "__main__":
    run_main(main)
