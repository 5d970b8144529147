"""Multi-task discriminators on dcgan: no head vs SSGAN's rotation head vs AC-GAN's class head.

Every setting trains ganhub's dcgan domain (32 px, its default widths) for the same steps and
seeds, and scores the final generator:
  fd          Frechet distance on the data's own classifier features (fd_digits / fd_shapes)
  coverage    digits: classes holding at least a tenth of their uniform share (of 10) and
              the KL of the predicted class histogram to uniform (`digit_modes`); shapes: the
              KL of the shape histogram the shapes classifier reads to the data's equal shares
              and the rarest shape's share (of 1/3)
  rot_acc     the rotation head's accuracy on 256 real images at each of the four angles,
              at the end (the rotation settings only; chance is 0.25)
  cos_D/G     the mean logged cosine between the rotation task's gradient and the adversarial
              one on the weights they share (D's trunk; G), from `task_relations`
  conflict_D  the share of D steps where the two opposed (project and gate only)
Figures are mean +- s.d. over the seeds. The class-head row is a conditional run (the labels
reach D only through the class head: condition.discriminator=none, as in AC-GAN), so it is
not an unconditional GAN like the other rows.

The rotation settings: the head alone (its gradient cosines logged by task_relations' measure
mode, which leaves training unchanged), and with task_relations acting on them: `project`
removes the part of the rotation gradient that opposes the adversarial one (PCGrad), `gate`
applies it to the shared weights only when the two agree (Du et al. 2018).

The rendered shapes are drawn at every rotation and at centres spread evenly around the
middle (`ganhub.data.shapes`): a quarter turn of a real shape is another real shape, so no
head can beat chance there (0.25), and the row shows what the head does when its task
carries no signal.

    python benchmarks/multitask.py                              # digits and shapes, 3 seeds
    python benchmarks/multitask.py --datasets digits --seeds 1 --steps 50   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
from entry import Parser, run_main
from tables import mean_sd

from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit
from ganhub.engine.system import GANSystem
from ganhub.errors import GanhubError
from ganhub.wiring import make_run

SETTINGS: dict[str, list[str]] = {
    "plain": ["tricks=[]"],
    # SSGAN (Chen et al. 2019): beta = 1 on reals for D, alpha = 0.2 on fakes for G
    # task_relations in its default mode only logs the gradient cosines: training is unchanged
    "rotation": ["tricks=[rotation_head,task_relations]"],
    # the rotation task's gradient with its opposing part removed (PCGrad), or gated off
    "project": ["tricks=[rotation_head,task_relations]", "trick.task_relations.mode=project"],
    "gate": ["tricks=[rotation_head,task_relations]", "trick.task_relations.mode=gate"],
    # AC-GAN (Odena et al. 2017): conditional G (dcgan's cbn), D conditioned only by its head
    "class": ["model.conditional=true", "condition.discriminator=none", "tricks=[acgan]"],
}
LABELS = {"plain": "plain", "rotation": "rotation head", "class": "class head (conditional)",
          "project": "rotation head, project", "gate": "rotation head, gate"}  # fmt: skip
RELATIONS = ("cos_D", "cos_G", "conflict_D")
COLUMNS = {
    "digits": ("fd_digits", "digit_classes", "digit_kl", "rot_acc", *RELATIONS),
    "shapes": ("fd_shapes", "shape_kl", "shape_min", "rot_acc", *RELATIONS),
}
DIGITS = {"fd_digits": 2, "fd_shapes": 2, "digit_classes": 1}  # decimals (default 3)
METRICS = {"digits": ["digit_modes", "fid"], "shapes": ["fid"]}
# Mimicry (Lee & Town 2020), SNGAN's ResNets, 100k steps: FID on Inception (lower is better)
PUBLISHED = (
    "CIFAR-10 32 px: SNGAN 16.77, SSGAN 14.65 (cGAN-PD, conditional: 10.84)",
    "CelebA 64 px: SNGAN 5.71, SSGAN 6.03; CelebA 128 px: SNGAN 12.93, SSGAN 15.18",
)


PICTURE_COLUMNS = 12  # samples per setting in --picture


def one_run(
    dataset: str, setting: str, seed: int, steps: int, samples: int, out: Path,
    rows: list[torch.Tensor] | None = None,
) -> dict:  # fmt: skip
    """Train one setting; its final metrics, the shape shares and the rotation accuracy (and,
    with `rows`, a row of its samples for the picture)."""
    config = resolve([
        "plugin=dcgan", f"data={dataset}", *SETTINGS[setting], f"trainer.steps={steps}",
        f"seed={seed}", f"out_dir={out}", f"name={dataset}-{setting}-{seed}",
        "loggers=[jsonl]", "trainer.progress=false", "trainer.sample_every=0",
        "trainer.checkpoint_every=0", f"trainer.log_every={min(steps, 100)}",
        f"eval.n_samples={samples}", f"eval.metrics=[{','.join(METRICS[dataset])}]",
    ])  # fmt: skip
    run = make_run(config)
    metrics = dict(fit(run)["metrics"])
    if "rotation_head" in config.tricks:
        metrics["rot_acc"] = rotation_accuracy(run.system)
    metrics.update(task_relations(run.run_dir / "metrics.jsonl"))
    if dataset == "shapes":
        metrics.update(shape_shares(run.system.sample(samples, seed=seed)))
    if rows is not None:
        rows.append(run.system.sample(PICTURE_COLUMNS, seed=0).cpu())
    return metrics


def task_relations(log: Path) -> dict[str, float]:
    """The run's mean logged cosine between the rotation task's gradient and the adversarial
    one on the shared weights (D's trunk, G), and the share of D steps where they opposed."""
    keys = {"cos_D": "task/cos_D_rotation_head", "cos_G": "task/cos_G_rotation_head",
            "conflict_D": "task/conflict_D_rotation_head"}  # fmt: skip
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    values = {name: [m[key] for m in logged if key in m] for name, key in keys.items()}
    return {name: sum(v) / len(v) for name, v in values.items() if v}


def rotation_accuracy(system: GANSystem, n: int = 256) -> float:
    """The rotation head's accuracy on n real images at each of the four angles."""
    from ganhub.engine.heads import head_logits
    from ganhub.tricks.heads import quarter_turns

    rotated, turns = quarter_turns(system.real_samples(n, seed=1).to(system.device))
    with torch.no_grad():  # D's training-mode BatchNorm, as it judged its rotation batches
        predicted = head_logits(next(system.discriminators()), "rotation", rotated).argmax(1)
    return float((predicted == turns).float().mean())


def shape_shares(images: torch.Tensor) -> dict[str, float]:
    """KL of the shape histogram (the shapes classifier's reading) to equal shares, and the
    rarest shape's share."""
    from ganhub.data.shapes import SHAPES, classify_shapes

    kinds, _ = classify_shapes(images)
    shares = torch.bincount(kinds, minlength=len(SHAPES)).double() / max(len(kinds), 1)
    kl = sum(float(p * math.log(p * len(SHAPES))) for p in shares if p > 0)
    return {"shape_kl": kl, "shape_min": float(shares.min())}


def main() -> None:
    """Train every (dataset, setting, seed) and print one table per dataset."""
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["digits", "shapes"], choices=COLUMNS)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..n-1 per setting")
    parser.add_argument("--steps", type=int, default=1000, help="steps per run")
    parser.add_argument("--samples", type=int, default=2000, help="samples per evaluation")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--picture", type=Path, default=None,
                        help="a folder for one PNG per dataset: a row of seed 0's samples per "
                        "setting")  # fmt: skip
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    t_all = time.perf_counter()
    print(f"torch {torch.__version__}, CPU, dcgan 32 px, {args.steps} steps, {args.seeds} seeds, "
          f"{args.samples} samples per evaluation; mean +- s.d.")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets:
            rows = []
            picture: list[torch.Tensor] = []
            for setting in args.settings:
                t0, results, refused = time.perf_counter(), [], ""
                for seed in range(args.seeds):
                    try:
                        keep = picture if seed == 0 and args.picture is not None else None
                        results.append(one_run(dataset, setting, seed, args.steps, args.samples,
                                               Path(tmp), keep))  # fmt: skip
                    except GanhubError as exc:  # a setting the data cannot run (no labels)
                        refused = str(exc).splitlines()[0]
                        break
                secs = time.perf_counter() - t0
                rows.append((setting, results, refused, secs))
                print(f"  {dataset}/{setting}: {secs:.0f} s", file=sys.stderr, flush=True)
            if picture and args.picture is not None:
                from ganhub.data.images import save_image_grid

                path = args.picture / f"multitask_{dataset}.png"
                save_image_grid(torch.cat(picture), path, nrow=PICTURE_COLUMNS)
                print(f"  picture: {path} (rows: {', '.join(args.settings)})", file=sys.stderr)
            columns = COLUMNS[dataset]
            print(f"\n{dataset}")
            print(f"| setting | {' | '.join(columns)} | time |")
            print("|---|" + "---|" * (len(columns) + 1))
            for setting, results, refused, secs in rows:
                if refused:
                    print(f"| {LABELS[setting]} | not run: {refused} |")
                    continue
                cells = [
                    mean_sd([r[c] for r in results if c in r], DIGITS.get(c, 3)) for c in columns
                ]
                print(f"| {LABELS[setting]} | {' | '.join(cells)} | {secs:.0f} s |")
    print("\npublished (Mimicry's README; Inception FID, not comparable with the fd above):")
    for line in PUBLISHED:
        print(f"  {line}")
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    run_main(main)
