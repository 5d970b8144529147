"""textgan quality benchmark: NLL_oracle of untrained / MLE / MLE+Gumbel / MLE+rollout-PG on the
oracle LSTM (with the oracle's own entropy as the floor), and the transfer scores of copying the
source, the reconstruction-only ablation and the default (Style Transformer) run.

    python benchmarks/textgan.py                       # the default CPU scale (vocab 500, len 20)
    python benchmarks/textgan.py --pretrain 400 --adv 200 --only generate
    python benchmarks/textgan.py --vocab 5000 --pretrain 5000 --adv 2000   # the published scale
    python benchmarks/textgan.py --only transfer --seeds 3 --n-eval 300    # transfer table

Published (Texygen protocol, vocabulary 5000, length 20): random 10.31, MLE 9.04, SeqGAN 8.74,
RelGAN 6.68. Numbers here come from the configured (smaller) scale; compare rows, not papers.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from statistics import fmean

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


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "-"
    m = fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{m:.3f} +- {sd:.3f}" if abs(m) <= 1 else f"{m:.1f} +- {sd:.1f}"


def random_pairing(seed: int, n: int, draws: int = 20) -> dict[str, float]:
    """Scores of a transfer that swaps every style word and keeps every other word, but pairs
    the words by a random bijection per word class (awful -> tasty instead of awful -> great).
    Which word of the other style is "the" transfer of another is not identifiable from
    unpaired sentences, so this is what a perfect unsupervised model can expect."""
    from ganhub_textgan.config import TextData
    from ganhub_textgan.data import LEXICON, SUPERLATIVES, VERBS, style_corpus
    from ganhub_textgan.metrics import paired_bleu

    n_train, n_test = (TextData.model_fields[k].default for k in ("n_train", "n_test"))
    sents, truth = style_corpus(n_train + n_test, seed=seed + 7)  # as TransferSystem.corpus
    src = sents[0][n_train:][:n] + sents[1][n_train:][:n]
    ref = truth[0][n_train:][:n] + truth[1][n_train:][:n]
    rng = random.Random(seed)
    scores = []
    for _ in range(draws):
        table: dict[str, str] = {}
        for group in (LEXICON, VERBS, SUPERLATIVES):
            partners = [pos for _, pos in group]
            rng.shuffle(partners)
            for (neg, _), pos in zip(group, partners, strict=True):
                table[neg], table[pos] = pos, neg
        hyps = [" ".join(table.get(w, w) for w in s.split()) for s in src]
        scores.append(paired_bleu(hyps, ref))
    return {"self_bleu": paired_bleu(ref, src), "ref_bleu": fmean(scores)}


def style_transfer(args: argparse.Namespace, out: str) -> None:
    """Copy baseline, the reconstruction-only ablation and the default transfer run, side by
    side over `--seeds` seeds: style accuracy, self-BLEU, ref-BLEU (mean +- s.d.), seconds."""
    hub = get_hub()
    steps = resolve(["plugin=textgan", "task=transfer"], hub=hub).trainer.steps
    steps = args.transfer_steps or steps
    pretrain = resolve(["plugin=textgan", "task=transfer", f"trainer.steps={steps}"], hub=hub)
    pretrain_steps = pretrain.adversarial.pretrain_steps
    rows: dict[str, list[dict[str, float]]] = {}
    for seed in range(args.seeds):
        base = [
            "plugin=textgan", "task=transfer", f"seed={seed}", f"trainer.steps={steps}",
            "trainer.progress=false", "loggers=[jsonl]", "trainer.sample_every=0",
            "trainer.checkpoint_every=0", f"eval.n_samples={args.n_eval}", f"out_dir={out}",
        ]  # fmt: skip
        runs = [
            (f"reconstruction only, {steps} steps", [f"adversarial.pretrain_steps={steps}"]),
            # the evaluation after pretraining touches no random state: the run is the default
            ("default", [f"trainer.eval_every={pretrain_steps}", f"name=default-{seed}"]),
        ]
        for name, extra in runs:
            t = time.perf_counter()
            summary = ganhub.train([*base, *extra])
            m = dict(summary["metrics"], seconds=time.perf_counter() - t)
            rows.setdefault(name, []).append(m)
            if name == "default":
                rows.setdefault("swap style words, random pairing", []).append(
                    random_pairing(seed, args.n_eval)
                )
                rows.setdefault("copy the source", []).append(
                    {
                        "style_acc": 1 - m["style_acc_source"],
                        "self_bleu": 100.0,
                        "ref_bleu": m["ref_bleu_copy"],
                    }
                )
                log = Path(summary["run_dir"]) / "metrics.jsonl"
                evals = [json.loads(line) for line in log.read_text().splitlines()]
                first = next(e for e in evals if "eval/style_acc" in e)
                rows.setdefault(f"after the {pretrain_steps} pretraining steps", []).append(
                    {k[5:]: v for k, v in first.items() if k.startswith("eval/")}
                )
            print(f"seed {seed} {name}: style acc {m['style_acc']:.3f}, self-BLEU "
                  f"{m['self_bleu']:.1f}, ref-BLEU {m['ref_bleu']:.1f}, {m['seconds']:.0f} s",
                  flush=True)  # fmt: skip
    print(f"\ntransfer (embedded two-style corpus, {steps} steps of which {pretrain_steps} "
          f"reconstruction only; {args.seeds} seed(s), mean +- s.d.; up to {args.n_eval} "
          "held-out sentences per style)")  # fmt: skip
    print(f"{'':<34}{'style acc':>16}{'self-BLEU':>14}{'ref-BLEU':>14}{'seconds':>10}")
    order = [
        "copy the source",
        "swap style words, random pairing",
        f"after the {pretrain_steps} pretraining steps",
        f"reconstruction only, {steps} steps",
        "default",
    ]
    for name in order:
        ms = rows[name]
        keys = ("style_acc", "self_bleu", "ref_bleu")
        cells = [_mean_sd([m[k] for m in ms if k in m]) for k in keys]
        secs = f"{fmean(m['seconds'] for m in ms):.0f}" if "seconds" in ms[0] else ""
        print(f"{name:<34}{cells[0]:>16}{cells[1]:>14}{cells[2]:>14}{secs:>10}")


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
    p.add_argument("--seeds", type=int, default=3, help="transfer: seeds per row")
    p.add_argument(
        "--transfer-steps", type=int, default=None, help="transfer: trainer.steps (default 800)"
    )
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as out:
        if args.only != "transfer":
            generation(args, out)
        if args.only != "generate":
            style_transfer(args, out)


if __name__ == "__main__":
    main()
