"""textgan quality benchmark: NLL_oracle of untrained / MLE / MLE+Gumbel / MLE+rollout-PG on the
oracle LSTM (with the oracle's own entropy as the floor), and the transfer scores of copying the
source, the reconstruction-only ablation and the default (Style Transformer) run.

    python benchmarks/textgan.py                       # the default CPU scale (vocab 500, len 20)
    python benchmarks/textgan.py --pretrain 400 --adv 200 --only generate
    python benchmarks/textgan.py --vocab 5000 --pretrain 5000 --adv 2000   # the published scale
    python benchmarks/textgan.py --only transfer --seeds 3 --n-eval 300    # transfer table
    python benchmarks/textgan.py --curves --seeds 3 --plot qd.png          # quality-diversity
    python benchmarks/textgan.py --mle-lr 3e-4,1e-3,3e-3,1e-2              # MLE's rate of G
    python benchmarks/textgan.py --losses nonsaturating,relativistic --seeds 2  # Gumbel's loss
    python benchmarks/textgan.py --vs-mle --pretrain 150 --adv 150 --seeds 2   # default vs MLE
    python benchmarks/textgan.py --vs-mle --seeds 1 --first-seed 1   # seed 1 alone (a 2nd process)

`--curves` (Caccia et al. 2018, "Language GANs falling short") trains MLE for the same total
steps as the GAN runs, MLE + Gumbel and MLE + rollout once per seed, sweeps each one's sampling
temperature (`sample.temperature`) and scores the tempered model: NLL_oracle of its samples
(quality) against its NLL of held-out oracle sentences (NLL_gen, diversity; under the tempered
distribution, as the paper's code does). It prints the points, which GAN points MLE's curve
dominates, and draws the curves (`--plot`). Its defaults fit a shared 2-core CPU (one thread).

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
from itertools import pairwise
from pathlib import Path
from statistics import fmean

import torch
from entry import Parser, run_main

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
        ("MLE + Gumbel (RelGAN)", [f"trainer.steps={total}", f"adversarial.pretrain_steps={args.pretrain}",
                                   "preset=relgan"]),
        ("MLE + rollout (SeqGAN)", [f"trainer.steps={total}", f"adversarial.pretrain_steps={args.pretrain}",
                                    "adversarial.estimator=rollout"]),
    ]  # fmt: skip
    for name, extra in runs:
        t = time.perf_counter()
        summary = ganhub.train([*base, *extra])
        print(_row(name, summary["metrics"], time.perf_counter() - t), flush=True)
    print(f"{'oracle entropy (floor)':<22}{m['nll_oracle_floor']:>11.3f}")


TEMPERATURES = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4)
DEFAULT_PLOT = Path(__file__).parent / "results" / "textgan_quality_diversity.png"


def sweep(
    run_dir: str, temperatures: list[float], n_eval: int, seed: int
) -> list[dict[str, float]]:
    """text_nll of a trained run at each sampling temperature: the run opened with
    `sample.temperature=T`, so samples and G's NLLs are of the tempered distribution."""
    metric = get_hub().metrics.get("text_nll")
    points = []
    for t in temperatures:
        trained = ganhub.load(run_dir, plugin="textgan", overrides=[f"sample.temperature={t}"])
        values = evaluate(trained.system, [metric], n_samples=n_eval, seed=seed).values
        points.append({"temperature": t, **values})
    return points


def dominated(point: tuple[float, float], curve: list[tuple[float, float]]) -> str:
    """How the (NLL_oracle, NLL_gen) `point` compares with `curve` (points in temperature
    order; lower is better on both axes): 'point' if a measured point of the curve is at least
    as good on both, 'line' if only a point of the straight segment between two adjacent
    measured temperatures is, 'no' if neither (the point reaches where the curve does not)."""
    q, d = point
    if any(cq <= q and cd <= d for cq, cd in curve):
        return "point"
    for a, b in pairwise(curve):
        lo, hi = 0.0, 1.0  # a + s (b - a) <= point on both axes, for s in [lo, hi]
        for ai, bi, pi in zip(a, b, point, strict=True):
            slope = bi - ai
            if slope > 0:
                hi = min(hi, (pi - ai) / slope)
            elif slope < 0:
                lo = max(lo, (pi - ai) / slope)
            elif ai > pi:
                lo, hi = 1.0, 0.0
        if lo <= hi:
            return "line"
    return "no"


def _cell(values: list[float]) -> str:
    m = fmean(values)
    return f"{m:.3f}" if len(values) == 1 else f"{m:.3f} +- {statistics.stdev(values):.3f}"


def curves(args: argparse.Namespace, out: str) -> None:
    """Quality-diversity curves: per seed, MLE, MLE + Gumbel and MLE + rollout, each swept
    over the sampling temperatures; the table, MLE's dominance and the plot."""
    torch.set_num_threads(1)  # tiny models on a shared CPU: a second thread only adds barriers
    total = args.pretrain + args.adv
    base = [
        "plugin=textgan", f"data.vocab_size={args.vocab}", f"trainer.batch_size={args.batch}",
        f"eval.n_samples={args.n_eval}", "trainer.progress=false", "loggers=[jsonl]",
        "trainer.sample_every=0", "trainer.checkpoint_every=0", f"out_dir={out}",
    ]  # fmt: skip
    runs = [
        (f"MLE {total}", [f"adversarial.pretrain_steps={total}"]),
        ("MLE + Gumbel (RelGAN)", [f"adversarial.pretrain_steps={args.pretrain}", "preset=relgan"]),
        ("MLE + rollout (SeqGAN)", [f"adversarial.pretrain_steps={args.pretrain}",
                                    "adversarial.estimator=rollout"]),
    ]  # fmt: skip
    temps = sorted(args.temperatures)
    print(f"oracle: vocab {args.vocab}, length 20; MLE {args.pretrain} steps, adversarial "
          f"{args.adv} steps (MLE alone: {total}), batch {args.batch}; {args.seeds} seed(s); "
          f"temperatures {', '.join(f'{t:g}' for t in temps)}; {args.n_eval} samples and "
          f"{args.n_eval} held-out sentences scored per point; one thread")  # fmt: skip
    start = time.perf_counter()
    points: dict[str, list[list[dict[str, float]]]] = {name: [] for name, _ in runs}
    seconds: dict[str, list[float]] = {name: [] for name, _ in runs}
    for seed in range(args.seeds):
        for name, extra in runs:
            t = time.perf_counter()
            summary = ganhub.train([*base, *extra, f"seed={seed}", f"trainer.steps={total}"])
            trained = time.perf_counter() - t
            points[name].append(sweep(summary["run_dir"], temps, args.n_eval, seed))
            seconds[name].append(time.perf_counter() - t)
            print(f"seed {seed} {name}: trained in {trained:.0f} s, swept in "
                  f"{seconds[name][-1] - trained:.0f} s", flush=True)  # fmt: skip
    # per model and temperature: the mean over seeds of each axis
    mean = {
        name: [
            (
                fmean(p[i]["nll_oracle"] for p in per_seed),
                fmean(p[i]["nll_gen"] for p in per_seed),
            )
            for i in range(len(temps))
        ]
        for name, per_seed in points.items()
    }
    mle = runs[0][0]
    floor = fmean(p[0]["nll_oracle_floor"] for ps in points.values() for p in ps)
    sd = " (mean +- s.d. over seeds)" if args.seeds > 1 else ""
    print(f"\nquality-diversity{sd}; nats per token, lower is better on both axes; "
          "'dominated': by a measured point of MLE's curve, or only by the straight line "
          "between two of them")  # fmt: skip
    print(f"{'':<24}{'T':>5}{'NLL_oracle':>17}{'NLL_gen':>17}{'sum':>8}  dominated by MLE")
    for name, per_seed in points.items():
        for i, t in enumerate(temps):
            q = [p[i]["nll_oracle"] for p in per_seed]
            d = [p[i]["nll_gen"] for p in per_seed]
            dom = "-" if name == mle else dominated(mean[name][i], mean[mle])
            print(f"{name:<24}{t:>5.2f}{_cell(q):>17}{_cell(d):>17}"
                  f"{fmean(q) + fmean(d):>8.3f}  {dom}")  # fmt: skip
    print(f"{'oracle entropy (floor)':<24}{'':>5}{floor:>17.3f}{floor:>17.3f}")
    print()
    for name, _ in runs:
        best = min(range(len(temps)), key=lambda i: sum(mean[name][i]))
        line = (
            f"{name}: best NLL_oracle + NLL_gen {sum(mean[name][best]):.3f} at T "
            f"{temps[best]:g}; {fmean(seconds[name]):.0f} s per seed (training and sweep)"
        )
        if name != mle:
            free = [temps[i] for i, p in enumerate(mean[name]) if dominated(p, mean[mle]) == "no"]
            reach = ", ".join(f"{t:g}" for t in free) if free else "none"
            line += f"; points MLE's curve does not dominate: {reach}"
        print(line)
    print(f"total {time.perf_counter() - start:.0f} s")
    plot(args.plot, temps, points, mean, floor, title=(
        f"oracle vocab {args.vocab}, MLE {args.pretrain} + adversarial {args.adv} steps, "
        f"{args.seeds} seed(s)"))  # fmt: skip


def plot(
    path: Path,
    temps: list[float],
    points: dict[str, list[list[dict[str, float]]]],
    mean: dict[str, list[tuple[float, float]]],
    floor: float,
    title: str,
) -> None:
    """The curves (means over seeds; each seed's points faint) as a PNG, and the points as
    JSON next to it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ganhub.engine.checkpoint import write_text_atomic
    from ganhub.figures import save_figure

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7.5, 5.5), dpi=120)
    for (name, curve), style in zip(mean.items(), ("o-", "s-", "^-"), strict=False):
        (line,) = ax.plot([d for _, d in curve], [q for q, _ in curve], style, label=name)
        for per_seed in points[name] if len(points[name]) > 1 else []:
            ax.scatter([p["nll_gen"] for p in per_seed], [p["nll_oracle"] for p in per_seed],
                       s=8, alpha=0.3, color=line.get_color())  # fmt: skip
        for t, (q, d) in zip(temps, curve, strict=True):
            ax.annotate(f"{t:g}", (d, q), textcoords="offset points", xytext=(4, 3), fontsize=7,
                        color=line.get_color())  # fmt: skip
    ax.set_xlabel("NLL_gen: model's NLL of held-out oracle data (lower: more diverse)")
    ax.set_ylabel("NLL_oracle: oracle's NLL of model samples (lower: better quality)")
    # the oracle itself sits at its entropy on both axes, far below and left of the curves
    ax.set_title(f"Temperature sweep (labels: T); {title}\nthe oracle itself: {floor:.2f} on "
                 "both axes (off the chart)", fontsize=9)  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)  # atomically, as the JSON: an interrupted sweep leaves no half file
    plt.close(fig)
    data = {"temperatures": temps, "oracle_floor": floor, "points": points}
    write_text_atomic(path.with_suffix(".json"), json.dumps(data, indent=1) + "\n")
    print(f"wrote {path} and {path.with_suffix('.json').name}")


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


def mle_rates(args: argparse.Namespace, out: str) -> None:
    """MLE alone for `--pretrain` steps at each of `--mle-lr`'s rates of G, over `--seeds`."""
    print(f"MLE only: vocab {args.vocab}, {args.pretrain} steps, batch {args.batch}, "
          f"{args.n_eval} samples scored; mean +- s.d. over seeds 0..{args.seeds - 1}")  # fmt: skip
    print(f"{'optim.G.lr':<12}{'NLL_oracle':>16}{'NLL_gen':>16}{'seconds':>9}")
    for lr in args.mle_lr:
        scores: list[dict[str, float]] = []
        t = time.perf_counter()
        for seed in range(args.seeds):
            summary = ganhub.train([
                "plugin=textgan", f"seed={seed}", f"data.vocab_size={args.vocab}",
                f"trainer.batch_size={args.batch}", f"trainer.steps={args.pretrain}",
                f"adversarial.pretrain_steps={args.pretrain}", f"optim.G.lr={lr}",
                f"eval.n_samples={args.n_eval}", "trainer.progress=false", "loggers=[jsonl]",
                "trainer.sample_every=0", "trainer.checkpoint_every=0", f"out_dir={out}",
            ])  # fmt: skip
            scores.append(summary["metrics"])
        cells = [_cell([s[k] for s in scores]) for k in ("nll_oracle", "nll_gen")]
        seconds = (time.perf_counter() - t) / args.seeds
        print(f"{lr:<12g}{cells[0]:>16}{cells[1]:>16}{seconds:>9.0f}", flush=True)


def gumbel_losses(args: argparse.Namespace, out: str) -> None:
    """MLE + RelGAN's Gumbel phase (`preset=relgan`) with each of `--losses` as the D and G
    objective (`loss=`), over `--seeds` seeds (the same seeds for every loss), and MLE alone for
    the same total steps."""
    runs = [
        (f"MLE + Gumbel, loss={loss}", ["preset=relgan", f"loss={loss}"]) for loss in args.losses
    ]
    _against_mle(args, out, "Gumbel", runs)


def versus_mle(args: argparse.Namespace, out: str) -> None:
    """The default (MLE, then Gumbel steps anchored by MLE, every derived setting) and each
    `--variant` (NAME: KEY=VALUE ..., keys added to the default's; `objective.mle_weight=0`:
    RelGAN's pure adversarial phase), against MLE alone for the same total steps."""
    variants = [(f"default + {name.strip()}", keys.split()) for name, keys in args.variant]
    _against_mle(args, out, "Gumbel", [("default", []), *variants])


def _against_mle(
    args: argparse.Namespace, out: str, what: str, runs: list[tuple[str, list[str]]]
) -> None:
    """MLE for `--pretrain` + `--adv` steps, then each run (`--pretrain` MLE steps and its
    keys), over `--seeds` seeds; mean +- s.d. of the text metrics and seconds per run."""
    torch.set_num_threads(1)  # tiny models on a shared CPU: a second thread only adds barriers
    total = args.pretrain + args.adv
    keys = ("nll_oracle", "nll_gen", "nll_div", "bleu3", "self_bleu3")
    print(f"oracle: vocab {args.vocab}, length 20; MLE {args.pretrain} steps, {what} "
          f"{args.adv} steps, batch {args.batch}; {args.n_eval} samples scored; mean +- s.d. "
          f"over seeds {args.first_seed}..{args.first_seed + args.seeds - 1}; one thread")  # fmt: skip
    print(f"{'':<34}" + "".join(f"{k:>16}" for k in keys) + f"{'seconds':>9}")
    runs = [(f"MLE {total}", [f"adversarial.pretrain_steps={total}"])] + [
        (name, [f"adversarial.pretrain_steps={args.pretrain}", *extra]) for name, extra in runs
    ]
    for name, extra in runs:
        scores: list[dict[str, float]] = []
        t = time.perf_counter()
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            summary = ganhub.train([
                "plugin=textgan", f"seed={seed}", f"data.vocab_size={args.vocab}",
                f"trainer.batch_size={args.batch}", f"trainer.steps={total}", *extra,
                f"eval.n_samples={args.n_eval}", "trainer.progress=false", "loggers=[jsonl]",
                "trainer.sample_every=0", "trainer.checkpoint_every=0", f"out_dir={out}",
            ])  # fmt: skip
            scores.append(summary["metrics"])
        cells = "".join(f"{_cell([s[k] for s in scores]):>16}" for k in keys)
        print(f"{name:<34}{cells}{(time.perf_counter() - t) / args.seeds:>9.0f}", flush=True)


def main() -> None:
    """Parse the scale and run the benchmarks."""
    p = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vocab", type=int, default=500)
    p.add_argument("--pretrain", type=int, default=None, help="MLE steps (600; --curves 400)")
    p.add_argument("--adv", type=int, default=None, help="adversarial steps (600; --curves 150)")
    p.add_argument("--batch", type=int, default=None, help="batch size (64; --curves 32)")
    p.add_argument("--n-eval", type=int, default=1000)
    p.add_argument("--only", choices=["generate", "transfer"], default=None)
    p.add_argument("--seeds", type=int, default=3, help="transfer and --curves: seeds")
    p.add_argument("--first-seed", type=int, default=0, help="--vs-mle, --losses: the first seed")
    p.add_argument(
        "--transfer-steps", type=int, default=None, help="transfer: trainer.steps (default 800)"
    )
    p.add_argument("--curves", action="store_true", help="the quality-diversity curves only")
    p.add_argument(
        "--temperatures",
        type=lambda v: [float(t) for t in v.split(",")],
        default=list(TEMPERATURES),
        help="--curves: comma-separated sampling temperatures (default %(default)s)",
    )
    p.add_argument(
        "--plot", type=Path, default=DEFAULT_PLOT, help="--curves: the PNG (default %(default)s)"
    )
    p.add_argument(
        "--mle-lr",
        type=lambda v: [float(x) for x in v.split(",")],
        default=None,
        help="only MLE, at these comma-separated rates of G (optim.G.lr), --pretrain steps each",
    )
    p.add_argument(
        "--losses",
        type=lambda v: v.split(","),
        default=None,
        help="only MLE + Gumbel with each of these comma-separated losses (loss=), and MLE alone",
    )
    p.add_argument("--vs-mle", action="store_true", help="only the default, each --variant, MLE")
    p.add_argument(
        "--variant",
        type=lambda v: tuple(v.split(":", 1)) if ":" in v else (v, v),
        action="append",
        default=[],
        help="--vs-mle: 'NAME: KEY=VALUE ...', keys added to the default's (repeatable)",
    )
    args = p.parse_args()
    if args.curves and args.only:
        p.error("--curves runs the curves only; leave out --only")
    if any(not t > 0 for t in args.temperatures):
        p.error(f"--temperatures {args.temperatures}: each must be greater than 0")
    scale = (400, 150, 32) if args.curves else (600, 600, 64)
    for key, default in zip(("pretrain", "adv", "batch"), scale, strict=True):
        if getattr(args, key) is None:
            setattr(args, key, default)
    with tempfile.TemporaryDirectory() as out:
        if args.mle_lr:
            mle_rates(args, out)
        elif args.losses:
            gumbel_losses(args, out)
        elif args.vs_mle:
            versus_mle(args, out)
        elif args.curves:
            curves(args, out)
        elif args.only != "transfer":
            generation(args, out)
        one_table = args.curves or args.mle_lr or args.losses or args.vs_mle
        if not one_table and args.only != "generate":
            style_transfer(args, out)


if __name__ == "__main__":
    run_main(main)
