"""Where one training step's time goes: the GPU kernels of a few steps, grouped and ranked.

Builds a run from config overrides (as `ganhub run` takes them), trains --warmup steps
untimed (compiles, autotunes, fills the allocator), then records --steps steps with
torch.profiler and prints:

    wall ms/step          the host's time per step (between synchronisations)
    GPU busy ms/step      the kernels' summed time (one stream: the GPU's busy time)
    kernel groups         convolution/matmul, normalisation, elementwise, reduction, optimizer,
                          copy, other: ms/step and share of the busy time
    top kernels           the --top kernels by total time, with calls per step

A busy time well below the wall time means the host (Python, launches) bounds the step; a
large elementwise/normalisation share means memory traffic does (what fusion would remove).
With --attribute (eager steps only: a replayed CUDA graph has no operators), the copy and
layout-conversion kernels are also listed by the operators that launched them (the chain of
ATen operators and the outer operator's input shapes): where a memory-format change happens.

    python benchmarks/gpu_profile.py plugin=dcgan precision=bf16 trainer.channels_last=true \\
        trainer.batch_size=2048 model.image_size=64 model.g_channels=128 model.d_channels=128
    python benchmarks/gpu_profile.py plugin=stylegan preset=auto model.image_size=256 \\
        model.fp16_res=4 trainer.batch_size=16 trainer.compile=true --steps 8
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from collections import defaultdict

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI: no spinning on a shared CPU

import torch
from entry import Parser, refuse, run_main
from torch.profiler import ProfilerActivity, profile

from ganhub.config.resolve import resolve
from ganhub.engine.loop import train_steps
from ganhub.wiring import make_run

# kernel name patterns -> group, first match wins (cuDNN, cuBLAS, CUTLASS, ATen, Triton names)
GROUPS: list[tuple[str, str]] = [
    ("optimizer", r"adam|multi_tensor|foreach"),
    ("normalisation", r"batch_norm|bn_|layer_norm|group_norm|instance_norm|welford"),
    (
        "conv/matmul",
        r"conv|gemm|cudnn|cutlass|sm\d+_xmma|wgrad|dgrad|fprop|implicit"
        r"|nchwtonhwc|nhwctonchw",
    ),
    ("reduction", r"reduce|sum_|mean|norm_kernel"),
    ("copy", r"copy|memcpy|memset|cat_|fill"),
    ("elementwise", r"elementwise|vectorized|triton_poi|pointwise|leaky|sigmoid|tanh|mul|add"),
]


def group_of(name: str) -> str:
    """The group a kernel name belongs to ("other" when no pattern matches)."""
    low = name.lower()
    for group, pattern in GROUPS:
        if re.search(pattern, low):
            return group
    if "triton_red" in low or "triton_per" in low:
        return "reduction"
    return "other"


def main() -> None:
    """Parse the overrides, train and profile, print the tables."""
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="+", help="KEY=VALUE config overrides (plugin=... first)")  # fmt: skip
    parser.add_argument("--steps", type=int, default=10, help="profiled steps")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps before")
    parser.add_argument("--top", type=int, default=15, help="kernels listed")
    parser.add_argument("--attribute", action="store_true",
                        help="also list copy/layout kernels by the operators that launched them")  # fmt: skip
    args = parser.parse_args()
    if not torch.cuda.is_available():
        refuse("needs a CUDA device (the kernel times come from the GPU); none is here")
    with tempfile.TemporaryDirectory() as out:
        run = make_run(resolve([*args.overrides, "device=cuda", "trainer.progress=false",
                                "loggers=[]", "eval.metrics=[]", f"out_dir={out}"]))  # fmt: skip
        batches = run.batches()
        train_steps(run, batches, args.warmup)
        torch.cuda.synchronize()
        activities = [ProfilerActivity.CUDA]
        if args.attribute:
            activities.append(ProfilerActivity.CPU)
        with profile(activities=activities, record_shapes=args.attribute) as prof:
            t0 = time.perf_counter()
            train_steps(run, batches, args.steps)
            torch.cuda.synchronize()
            wall = (time.perf_counter() - t0) / args.steps
        run.close()
    kernels: dict[str, list[float]] = defaultdict(list)  # name -> durations (us)
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            kernels[event.name].append(event.time_range.elapsed_us())
    busy = sum(sum(v) for v in kernels.values()) / 1e3 / args.steps
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
    print(f"overrides: {' '.join(args.overrides)}")
    print(f"wall {wall * 1e3:.2f} ms/step, GPU busy {busy:.2f} ms/step ({100 * busy / (wall * 1e3):.0f}% of wall), {args.steps} steps")  # fmt: skip
    by_group: dict[str, float] = defaultdict(float)
    for name, times in kernels.items():
        by_group[group_of(name)] += sum(times) / 1e3 / args.steps
    print(f"| {'group':<14} | ms/step | share |")
    for group, ms in sorted(by_group.items(), key=lambda kv: -kv[1]):
        print(f"| {group:<14} | {ms:7.2f} | {100 * ms / busy:4.0f}% |")
    print(f"| {'kernel':<90} | group | ms/step | calls/step |")
    ranked = sorted(kernels.items(), key=lambda kv: -sum(kv[1]))[: args.top]
    for name, times in ranked:
        short = name if len(name) <= 90 else name[:87] + "..."
        print(f"| {short:<90} | {group_of(name)} | {sum(times) / 1e3 / args.steps:7.3f} | {len(times) / args.steps:g} |")  # fmt: skip
    if args.attribute:
        print_attribution(prof.events(), args.steps, args.top)


LAYOUT = re.compile(r"nchwtonhwc|nhwctonchw|copy|gpu_kernel_impl_nocast")


def print_attribution(events: list, steps: int, top: int) -> None:
    """Copy and layout-conversion kernels by the chain of operators that launched them."""
    launched: dict[tuple[str, str, str], float] = defaultdict(float)  # (kernel, ops, shapes) -> us
    for event in events:
        for kernel in getattr(event, "kernels", []):
            if not LAYOUT.search(kernel.name.lower()):
                continue
            chain, shaped, node = [], None, event
            while node is not None:
                chain.append(node.name)
                if shaped is None and node.input_shapes:
                    shaped = node  # the innermost operator whose inputs were recorded
                node = node.cpu_parent
            ops = " < ".join(chain[:6])
            where = f"{shaped.name} {str(shaped.input_shapes)[:80]}" if shaped else "-"
            launched[(kernel.name[:40], ops, where)] += kernel.duration
    print(f"| {'kernel':<40} | ms/step | operators (innermost first) | innermost operator with shapes |")  # fmt: skip
    for (kernel, ops, outer), us in sorted(launched.items(), key=lambda kv: -kv[1])[:top]:
        print(f"| {kernel:<40} | {us / 1e3 / steps:7.3f} | {ops} | {outer} |")


if __name__ == "__main__":
    run_main(main)
