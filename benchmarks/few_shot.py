"""Few-shot generation of held-out digit classes: scratch vs fine-tuning vs DiffAugment vs
FreezeD vs a Reptile initialisation vs EWC and L2-SP, all through `ganhub adapt`.

Per seed, once: a DCGAN pretrained on digits 0-6 (`ganhub run data.classes=[0..6]`) and a
Reptile meta-training on the same classes (`ganhub meta`, the same number of training steps;
a second one with learned learning rates for (h)).
Then, for every held-out class (7, 8, 9), seven adaptations to the same 10 shots (picked by the
seed), each an ordinary `ganhub adapt` run (same steps, batch, evaluation and patience):
  (a) scratch     the adapt settings with init_from=null (random initialisation)
  (b) finetune    init_from the pretrained run
  (c) diffaug     (b) + tricks=[diffaug]
  (d) freeze_d    (b) + tricks=[freeze_d] trick.freeze_d.layers=2
  (e) reptile     init_from the meta-trained run
  (f) ewc         (b) + tricks=[ewc]: G held near the pretrained weights, Fisher-weighted
  (g) l2sp        (b) + tricks=[ewc] trick.ewc.fisher=false: the same, every weight alike
  (h) reptile-lr  init_from a Reptile run that also learned G's and D's learning rates
                  (meta.learn_lr=true), which the adaptation starts from
  (i) fomaml      init_from a first-order MAML run (meta.algorithm=fomaml) with one inner step
                  fewer, so that with its query step each task visit trains as many steps
Each adaptation keeps its best checkpoint by fd_digits against the held-out images of its
class (eval.real=validation: the class's other digits, never trained on); that checkpoint is
scored on --samples generated digits:
  fd_digits    Frechet distance to the held-out class's real digits on the features of
               ganhub's built-in digit classifier
  class_share  share of samples that classifier reads as the target class
  precision / recall   improved precision and recall (k=3) on the same features
Figures are mean +- s.d. over seeds x held-out classes.

    python benchmarks/few_shot.py                                  # the full comparison
    python benchmarks/few_shot.py --seeds 1 --classes 8 --pretrain-steps 100 \\
        --outer-steps 20 --adapt-steps 40 --samples 200            # a smoke run
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from entry import Parser, run_main
from tables import mean_sd

import ganhub

METHODS: dict[str, tuple[str, list[str]]] = {
    # name: (the run adapted, extra keys); scratch takes the pretrained run's settings, not its
    # weights
    "(a) scratch": ("pretrained", ["init_from=null"]),
    "(b) finetune": ("pretrained", []),
    "(c) finetune + diffaug": ("pretrained", ["tricks=[diffaug]"]),
    "(d) finetune + freeze_d": ("pretrained", ["tricks=[freeze_d]", "trick.freeze_d.layers=2"]),
    "(e) reptile + finetune": ("meta", []),
    "(f) finetune + ewc": ("pretrained", ["tricks=[ewc]"]),
    "(g) finetune + l2sp": ("pretrained", ["tricks=[ewc]", "trick.ewc.fisher=false"]),
    "(h) reptile, learned lr + finetune": ("meta_lr", []),
    "(i) fomaml + finetune": ("meta_fomaml", []),
}
# the meta-trainings a method may adapt from: their extra `ganhub meta` options
META_KINDS: dict[str, list[str]] = {
    "meta": [],
    "meta_lr": ["meta.learn_lr=true"],
    "meta_fomaml": ["meta.algorithm=fomaml"],
}
COLUMNS = ("fd_digits", "class_share", "precision_digits", "recall_digits")
PICTURE_COLUMNS = 10  # samples per method in --picture
FEATURE_NOTE = (
    "features: ganhub's built-in digit classifier (`eval.features=[digits]`), trained on all ten "
    "classes of the embedded MNIST digits, the held-out classes 7-9 included: its feature space "
    "has seen them, unlike the generators"
)


def pretrain(args: argparse.Namespace, seed: int, out: str) -> Path:
    """The DCGAN trained on the meta classes; its run directory."""
    classes = ",".join(map(str, args.train_classes))
    summary = ganhub.train([
        "plugin=dcgan", f"data.classes=[{classes}]", f"trainer.steps={args.pretrain_steps}",
        f"trainer.batch_size={args.batch}", f"seed={seed}", f"out_dir={out}",
        f"name=pretrained-{seed}", "loggers=[jsonl]", "trainer.progress=false",
        "trainer.sample_every=0", "trainer.checkpoint_every=0", "eval.metrics=[]",
    ])  # fmt: skip
    return Path(summary["run_dir"])


def meta_train(
    args: argparse.Namespace, seed: int, out: str, kind: str = "meta"
) -> tuple[Path, dict[str, Any]]:
    """Reptile (or FOMAML) on the meta classes with as many inner steps as the pretraining has
    steps (`kind` picks the extra options of META_KINDS; FOMAML's query step counts as one)."""
    from ganhub_meta.cli import parse_options
    from ganhub_meta.reptile import meta_config
    from ganhub_meta.reptile import meta_train as reptile

    from ganhub.plugins import get_hub

    classes = ",".join(map(str, args.train_classes))
    outer = args.outer_steps or max(
        1, args.pretrain_steps // (args.inner_steps * args.tasks_per_step)
    )
    fomaml = kind == "meta_fomaml"
    inner = max(1, args.inner_steps - 1) if fomaml else args.inner_steps
    outer_lr = args.fomaml_lr if fomaml else args.outer_lr
    options, items = parse_options([
        "plugin=dcgan", f"meta.classes=[{classes}]", f"meta.outer_steps={outer}",
        f"meta.inner_steps={inner}", f"meta.tasks_per_step={args.tasks_per_step}",
        *([f"meta.outer_lr={outer_lr}"] if outer_lr else []),
        f"trainer.batch_size={args.batch}", f"seed={seed}",
        f"out_dir={out}", f"name={kind}-{seed}", "loggers=[jsonl]", "trainer.progress=false",
        "eval.metrics=[]", *META_KINDS[kind],
    ])  # fmt: skip
    hub = get_hub()
    summary = reptile(meta_config(items, options, hub), options, hub)
    return Path(summary["run_dir"]), summary["meta"]


def adapt(
    args: argparse.Namespace,
    source: Path,
    extra: list[str],
    target: int,
    seed: int,
    name: str,
    rows: list[torch.Tensor] | None = None,
) -> dict[str, float]:
    """One `ganhub adapt` run on 10 shots of `target`; its best checkpoint's scores (and, with
    `rows`, a row of its samples for the picture)."""
    from ganhub.adapt import adapt_config
    from ganhub.metrics import evaluate
    from ganhub.metrics.featurenet import classify_digits
    from ganhub.metrics.features import generate
    from ganhub.plugins import get_hub

    config = adapt_config(source, [
        f"data.classes=[{target}]", f"data.n_shots={args.shots}", f"seed={seed}", f"name={name}",
        f"trainer.steps={args.adapt_steps}", f"trainer.eval_every={args.eval_every}",
        "eval.metrics=[fid]", "eval.features=[digits]", f"eval.n_samples={args.eval_samples}",
        "trainer.sample_every=0", "trainer.progress=false", "loggers=[jsonl]", *extra,
    ])  # fmt: skip
    summary = ganhub.train(config)
    best = ganhub.load(summary["run_dir"], best=True)
    hub = get_hub()
    metrics = [hub.metrics.get("fid"), hub.metrics.get("precision_recall")]
    result = evaluate(best.system, metrics, n_samples=args.samples, seed=10_000 + seed).values
    with torch.no_grad():
        labels, _ = classify_digits(generate(best.system, args.samples, seed=20_000 + seed))
    result["class_share"] = float((labels == target).float().mean())
    if rows is not None:
        rows.append(best.sample(PICTURE_COLUMNS, seed=0).cpu())
    result["best_step"] = float(best.step)
    result["steps"] = float(summary["steps"])
    return result


def main() -> None:
    """Pretrain and meta-train per seed, adapt every method to every held-out class, report."""
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    parser.add_argument("--classes", type=int, nargs="+", default=[7, 8, 9], help="held out")
    parser.add_argument("--train-classes", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5, 6])
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32, help="pretraining / meta batch")
    parser.add_argument("--pretrain-steps", type=int, default=1500)
    parser.add_argument("--inner-steps", type=int, default=10, help="Reptile steps per task")
    parser.add_argument("--tasks-per-step", type=int, default=1)
    parser.add_argument("--outer-lr", type=float, default=1.0, help="Reptile's epsilon")
    parser.add_argument("--fomaml-lr", type=float, default=None,
                        help="FOMAML's outer Adam rate [meta.outer_lr's default]")  # fmt: skip
    parser.add_argument("--outer-steps", type=int, default=None,
                        help="Reptile outer steps [pretrain-steps / inner-steps / tasks]")  # fmt: skip
    parser.add_argument("--adapt-steps", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--eval-samples", type=int, default=500, help="per evaluation")
    parser.add_argument("--samples", type=int, default=1000, help="to score the best")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--picture", type=Path, default=None,
                        help="write a PNG: the shots, then a row of samples per method (first "
                        "seed, first held-out class)")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    results: dict[str, list[dict[str, float]]] = {m: [] for m in args.methods}
    timings: dict[str, list[float]] = {}
    meta_records = []
    rows: list[torch.Tensor] = []  # the picture: the shots, then each method's samples
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        for seed in range(args.seeds):
            sources: dict[str, Path] = {}
            if any(METHODS[m][0] == "pretrained" for m in args.methods):
                t0 = time.perf_counter()
                sources["pretrained"] = pretrain(args, seed, out)
                timings.setdefault("pretrain", []).append(time.perf_counter() - t0)
            for kind in META_KINDS:
                if any(METHODS[m][0] == kind for m in args.methods):
                    t0 = time.perf_counter()
                    sources[kind], record = meta_train(args, seed, out, kind)
                    meta_records.append(record)
                    timings.setdefault(kind, []).append(time.perf_counter() - t0)
            for target in args.classes:
                for method in args.methods:
                    kind, extra = METHODS[method]
                    t0 = time.perf_counter()
                    tag = method.split(" ")[0].strip("()")
                    first = seed == 0 and target == args.classes[0] and args.picture is not None
                    r = adapt(args, sources[kind], extra, target, seed, f"{tag}-{target}-{seed}",
                              rows if first else None)  # fmt: skip
                    results[method].append(r)
                    timings.setdefault("adapt", []).append(time.perf_counter() - t0)
                    print(f"seed {seed} class {target} {method}: fd_digits {r['fd_digits']:.1f}, "
                          f"class share {r['class_share']:.2f}, best step {r['best_step']:.0f} of "
                          f"{r['steps']:.0f} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)  # fmt: skip
            if seed == 0 and args.picture is not None:
                write_picture(args, rows)
    report(args, results, timings, meta_records, time.perf_counter() - started)


def write_picture(args: argparse.Namespace, rows: list[torch.Tensor]) -> None:
    """The shots of the first held-out class (seed 0), then one row of samples per method."""
    from ganhub.data.fewshot import few_shot
    from ganhub.data.images import digits, save_image_grid

    images, labels = digits(32)
    pick = few_shot(images, labels, classes=[args.classes[0]], n_shots=args.shots, seed=0)
    shots = pick.images[:PICTURE_COLUMNS]
    grid = torch.cat([shots, *rows])
    save_image_grid(grid, args.picture, nrow=PICTURE_COLUMNS)
    order = ", ".join(["the shots", *args.methods])
    print(f"picture: {args.picture} (rows: {order})", file=sys.stderr)


def report(
    args: argparse.Namespace,
    results: dict[str, list[dict[str, float]]],
    timings: dict[str, list[float]],
    meta_records: list[dict[str, Any]],
    seconds: float,
) -> None:
    """The table, the targets and where the time went."""
    n = len(next(iter(results.values()))) if results else 0
    print(f"Few-shot dcgan on held-out digits {args.classes}: {args.shots} shots each, "
          f"pretraining / meta-training on {args.train_classes} ({args.pretrain_steps} steps, "
          f"batch {args.batch}), adaptation {args.adapt_steps} steps (best checkpoint by "
          f"fd_digits every {args.eval_every}), {args.samples} samples scored; "
          f"mean +- s.d. over {args.seeds} seed(s) x {len(args.classes)} class(es) = {n}")  # fmt: skip
    print(FEATURE_NOTE)
    print("the best checkpoint is chosen on the same held-out images it is scored on (alike "
          "for every method)\n")  # fmt: skip
    print(f"| method | {' | '.join(COLUMNS)} | best step |")
    print("|---|" + "---|" * (len(COLUMNS) + 1))
    for method, runs in results.items():
        cells = [
            mean_sd([r[c] for r in runs if c in r], 1 if c == "fd_digits" else 3) for c in COLUMNS
        ]
        print(f"| {method} | {' | '.join(cells)} | {mean_sd([r['best_step'] for r in runs], 0)} |")
    mean = {m: {c: statistics.fmean(r[c] for r in runs) for c in COLUMNS}
            for m, runs in results.items() if runs}  # fmt: skip
    b, c, e = "(b) finetune", "(c) finetune + diffaug", "(e) reptile + finetune"
    print("\ntargets (means):")
    if b in mean and e in mean:
        print(f"  (e) beats (b) on fd_digits: {mean[e]['fd_digits'] < mean[b]['fd_digits']} "
              f"({mean[e]['fd_digits']:.1f} vs {mean[b]['fd_digits']:.1f}); on class share: "
              f"{mean[e]['class_share'] > mean[b]['class_share']} "
              f"({mean[e]['class_share']:.3f} vs {mean[b]['class_share']:.3f})")  # fmt: skip
    if b in mean and c in mean:
        print(f"  (c) beats (b) on fd_digits: {mean[c]['fd_digits'] < mean[b]['fd_digits']} "
              f"({mean[c]['fd_digits']:.1f} vs {mean[b]['fd_digits']:.1f})")  # fmt: skip
    print("\ntime: " + ", ".join(f"{k} {mean_sd(v, 1)} s" for k, v in timings.items())
          + f"; total {seconds / 60:.1f} min")  # fmt: skip
    shown = set()
    for r in meta_records:  # the first meta-training of each algorithm
        if r["method"] in shown:
            continue
        shown.add(r["method"])
        print(f"{r['method']}: {r['options']['outer_steps']} outer steps x "
              f"{r['options']['tasks_per_step']} task(s) x {r['options']['inner_steps']} inner "
              f"steps; {r['outer_step_seconds']:.3f} s per outer step, "
              f"{r['inner_steps_per_s']:.1f} inner steps/s, task Run setup "
              f"{r['task_setup_seconds']:.2f} s once per task")  # fmt: skip
    learned = [r["learned_lr"] for r in meta_records if "learned_lr" in r]
    if learned:
        print("learned learning rates (meta.learn_lr, per seed): " + "; ".join(
            ", ".join(f"{side} {lr:.3g}" for side, lr in rates.items()) for rates in learned))  # fmt: skip


if __name__ == "__main__":
    run_main(main)
