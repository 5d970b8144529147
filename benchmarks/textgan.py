"""textgan quality benchmark: NLL_oracle of untrained / MLE / MLE+Gumbel / MLE+rollout-PG on the
oracle LSTM (with the oracle's own entropy as the floor), and the transfer scores.

    python benchmarks/textgan.py                       # the default CPU scale (vocab 500, len 20)
    python benchmarks/textgan.py --pretrain 400 --adv 200 --only generate
    python benchmarks/textgan.py --vocab 5000 --pretrain 5000 --adv 2000   # the published scale

Published (Texygen protocol, vocabulary 5000, length 20): random 10.31, MLE 9.04, SeqGAN 8.74,
RelGAN 6.68. Numbers here come from the configured (smaller) scale; compare rows, not papers.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

import ganhub
from ganhub.config.resolve import resolve
from ganhub.engine.run import prepare_system
from ganhub.metrics import evaluate
from ganhub.plugins import get_hub
from ganhub.wiring import components


def _row(name: str, m: dict[str, float], seconds: float) -> str:
    keys = ("nll_oracle", "nll_gen", "nll_div", "bleu3", "self_bleu3")
    return (
        f"{name:<22}"
        + "".join(f"{m.get(k, float('nan')):>11.3f}" for k in keys)
        + f"{seconds:>9.0f}"
    )


def generation(args: argparse.Namespace, out: str) -> None:
    """The four generation rows plus the oracle floor."""
    base = [
        "plugin=textgan", f"data.vocab_size={args.vocab}", f"trainer.batch_size={args.batch}",
        f"eval.n_samples={args.n_eval}", "trainer.progress=false", "loggers=[jsonl]",
        "trainer.sample_every=0", "trainer.checkpoint_every=0", f"out_dir={out}",
    ]  # fmt: skip
    total = args.pretrain + args.adv
    hub = get_hub()
    print(f"oracle: vocab {args.vocab}, length 20; MLE {args.pretrain} steps, "
          f"adversarial {args.adv} steps, batch {args.batch}; {args.n_eval} samples scored")  # fmt: skip
    print(f"{'':<22}{'NLL_oracle':>11}{'NLL_gen':>11}{'NLL_div':>11}{'BLEU-3':>11}"
          f"{'selfBLEU-3':>11}{'seconds':>9}")  # fmt: skip
    torch.manual_seed(0)
    config = resolve(base, hub=hub)
    system, _ = prepare_system(config, components(config, hub), torch.device("cpu"))
    t = time.perf_counter()
    metrics = [hub.metrics.get("text_nll"), hub.metrics.get("text_bleu")]
    m = evaluate(system, metrics, n_samples=args.n_eval, seed=0).values
    print(_row("untrained", m, time.perf_counter() - t))
    runs = [
        (f"MLE {args.pretrain}", [f"trainer.steps={args.pretrain}", f"adversarial.pretrain_steps={args.pretrain}"]),
        (f"MLE {total}", [f"trainer.steps={total}", f"adversarial.pretrain_steps={total}"]),
        ("MLE + Gumbel (RelGAN)", [f"trainer.steps={total}", f"adversarial.pretrain_steps={args.pretrain}"]),
        ("MLE + rollout (SeqGAN)", [f"trainer.steps={total}", f"adversarial.pretrain_steps={args.pretrain}",
                                    "adversarial.estimator=rollout"]),
    ]  # fmt: skip
    for name, extra in runs:
        t = time.perf_counter()
        summary = ganhub.train([*base, *extra])
        print(_row(name, summary["metrics"], time.perf_counter() - t), flush=True)
    print(f"{'oracle entropy (floor)':<22}{m['nll_oracle_floor']:>11.3f}")


def style_transfer(args: argparse.Namespace, out: str) -> None:
    """Default transfer run: style accuracy, self-BLEU, ref-BLEU (and the copy baseline)."""
    t = time.perf_counter()
    summary = ganhub.train(["plugin=textgan", "task=transfer", "trainer.progress=false",
                            "loggers=[jsonl]", f"out_dir={out}"])  # fmt: skip
    m = summary["metrics"]
    print(f"transfer (embedded two-style corpus, {summary['steps']} steps, "
          f"{time.perf_counter() - t:.0f} s)")  # fmt: skip
    print(f"{'':<16}{'style acc':>10}{'self-BLEU':>10}{'ref-BLEU':>10}")
    print(
        f"{'copy source':<16}{1 - m['style_acc_source']:>10.3f}{100.0:>10.1f}{m['ref_bleu_copy']:>10.1f}"
    )
    print(f"{'textgan':<16}{m['style_acc']:>10.3f}{m['self_bleu']:>10.1f}{m['ref_bleu']:>10.1f}")


def main() -> None:
    """Parse the scale and run the benchmarks."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--vocab", type=int, default=500)
    p.add_argument("--pretrain", type=int, default=600)
    p.add_argument("--adv", type=int, default=600)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--n-eval", type=int, default=1000)
    p.add_argument("--only", choices=["generate", "transfer"], default=None)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as out:
        if args.only != "transfer":
            generation(args, out)
        if args.only != "generate":
            style_transfer(args, out)


if __name__ == "__main__":
    main()
