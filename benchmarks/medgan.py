"""medgan's anchor: lesion simulation (and progression) on the embedded phantoms, L1-only vs
L1 + GAN; step costs.

No published GAN numbers exist for this data, so this script is the reference. Both sides get
the same MONAI UNet (same initial weights), the same batches, the same Adam settings and steps:

* L1 + GAN: the medgan `task=lesion` run through ganhub's loop (PatchGAN, MONAI least squares,
  L1 x100 (`objective.lambda_l1`): the pix2pix objective of the shared PairedTranslationGAN);
* L1 only: the same generator trained by a plain loop on |G(x) - y| alone.

Both are scored on 64 held-out phantoms with the registered metrics: PSNR / SSIM against the
ground truth, the texture ratio (high-frequency energy of the outputs over that of the real
images in the lesion interiors: 1 is real-like, below 1 too smooth), the edge ratio (the same
on the lesions' outer voxels: above 1 sharper edges than real), Dice of the lesion segmented
from the output (and of the real image, the ceiling), and fd_rotnet (the Frechet distance on ganhub's `rotnet`
features, trained once on the training phantoms and cached). Then the CPU time of one
training step (D and G phases, `process_time`, so other load on the machine counts less) at
64x64 and 32^3.

    python benchmarks/medgan.py                 # both parts (the defaults: 300 steps, batch 8)
    python benchmarks/medgan.py --steps 600     # longer quality runs
    python benchmarks/medgan.py --part quality --seeds 0 1 2   # mean and spread over seeds
    python benchmarks/medgan.py --part quality --gan objective.lambda_l1=10   # GAN-side keys
    python benchmarks/medgan.py --part quality --task progress   # lesion growth prediction

`--task progress` trains both sides to predict the follow-up scan from the baseline
(`task=progress`) and scores the lesion growth (`med_growth`): Dice, the share of the voxels the
lesions grew into that the prediction segments (new recall) and the lesion volume error, with
the same scores of predicting no change (the baseline scan scored as the prediction) beneath.
    python benchmarks/medgan.py --part speed
    python benchmarks/medgan.py --part startup     # loading a folder of 200 small NIfTI files

`--part startup` writes 200 NIfTI volumes of 20x18x12 voxels of 2x2x3 mm (the aspect ratio
notes' case) and times loading them as a 3D run does (`load_folder`, the median of 5 loads
after one warm-up) and a whole `ganhub run ... trainer.steps=1` on them (wall time).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from entry import Parser, run_main

from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit, train_step
from ganhub.metrics import evaluate
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

# per task: the metrics scored, the table's columns, its title and its footnote
TASKS: dict[str, tuple[list[str], list[tuple[str, str]], str, str]] = {
    "lesion": (
        ["med_fidelity", "med_texture", "med_dice", "fd_rotnet"],
        [("psnr", "PSNR dB"), ("ssim", "SSIM"), ("texture_ratio", "texture"), ("edge_ratio", "edge"),
         ("dice", "Dice"), ("dice_real", "Dice real"), ("fd_rotnet", "fd_rotnet")],
        "lesion simulation, 2D 64x64 FLAIR phantoms",
        "texture / edge: high-frequency energy of outputs / real in the lesion interiors / on "
        "their outer voxels (1 = real-like); Dice real: same rule on real images",
    ),
    "progress": (
        ["med_fidelity", "med_texture", "med_growth", "fd_rotnet"],
        [("psnr", "PSNR dB"), ("ssim", "SSIM"), ("texture_ratio", "texture"), ("dice", "Dice"),
         ("new_recall", "new recall"), ("volume_error", "vol. err"), ("fd_rotnet", "fd_rotnet")],
        "lesion progression (baseline -> follow-up), 2D 64x64 FLAIR phantoms",
        "new recall: share of the voxels the lesions grew into segmented as lesion; vol. err: "
        "sum |predicted - true lesion volume| / true volume",
    ),
}  # fmt: skip


def _scores(system: Any, task: str) -> dict[str, float]:
    """The task's metrics on 64 held-out pairs."""
    hub = get_hub()
    metrics = [hub.metrics.get(name) for name in TASKS[task][0]]
    return evaluate(system, metrics, n_samples=64, seed=0).values


def _config(out: Path, extra: list[str], task: str = "lesion") -> Any:
    return resolve(["plugin=medgan", f"task={task}", "trainer.progress=false", "loggers=[jsonl]",
                    "eval.metrics=[]", f"out_dir={out}", *extra])  # fmt: skip


def _keys(steps: int, batch: int, seed: int, name: str) -> list[str]:
    return [f"trainer.steps={steps}", f"trainer.batch_size={batch}", f"seed={seed}", f"name={name}"]


def train_gan(
    out: Path,
    steps: int,
    batch: int,
    seed: int = 0,
    keys: tuple[str, ...] = (),
    task: str = "lesion",
) -> tuple[dict[str, float], float]:
    """L1 + GAN through the ganhub loop (`keys`: more config keys); the metrics, the wall time."""
    run = make_run(_config(out, [*_keys(steps, batch, seed, "gan"), *keys], task))
    start = time.perf_counter()
    fit(run)
    seconds = time.perf_counter() - start
    return _scores(run.system, task), seconds


def train_l1(
    out: Path, steps: int, batch: int, seed: int = 0, task: str = "lesion"
) -> tuple[dict[str, float], float]:
    """L1 only: the same system's generator (same init, same batches), no discriminator."""
    run = make_run(_config(out, _keys(steps, batch, seed, "l1"), task))
    G = run.system.G
    opt = run.optimizers["G"]  # the same Adam settings as the GAN's G
    batches = run.batches()
    start = time.perf_counter()
    G.train()
    for _ in range(steps):
        condition, target = next(batches)
        loss = (G(condition) - target).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    run.close()
    return _scores(run.system, task), seconds


def score_unchanged(out: Path, batch: int) -> dict[str, float]:
    """The progress task's scores of predicting no change: the baseline scan itself is scored
    as the prediction, by the same metrics on the same held-out pairs as the trained sides."""
    run = make_run(_config(out, _keys(1, batch, 0, "unchanged"), "progress"))
    system = run.system
    system.translate_batched = lambda conditions, *_, **__: conditions.cpu()
    scores = _scores(system, "progress")
    run.close()
    return scores


def quality(
    steps: int,
    batch: int,
    seeds: list[int],
    gan_keys: tuple[str, ...] = (),
    task: str = "lesion",
) -> None:
    """Print the L1-only vs L1 + GAN table (one row per seed, then mean and spread)."""
    _, columns, title, footnote = TASKS[task]
    rows: dict[str, list[tuple[dict[str, float], float]]] = {"L1 only": [], "L1 + GAN": []}
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            rows["L1 only"].append(train_l1(Path(tmp), steps, batch, seed, task))
            rows["L1 + GAN"].append(train_gan(Path(tmp), steps, batch, seed, gan_keys, task))
    print(
        f"\n{title}, {steps} steps x batch {batch}, 64 held-out pairs"
        + (f"; L1 + GAN with {' '.join(gan_keys)}" if gan_keys else "")
    )
    head = (
        f"{'objective':<10}{'seed':>6}"
        + "".join(f"{heading:>11}" for _, heading in columns)
        + f"{'train s':>10}"
    )
    print(head)
    print("-" * len(head))
    for name, results in rows.items():
        for seed, (metrics, seconds) in zip(seeds, results):
            cells = "".join(f"{metrics[key]:>11.4g}" for key, _ in columns)
            print(f"{name:<10}{seed:>6}{cells}{seconds:>10.1f}")
    if len(seeds) > 1:  # mean and sample standard deviation over the seeds
        for name, results in rows.items():
            values = torch.tensor([[m[key] for key, _ in columns] for m, _ in results]).double()
            for stat, row in (("mean", values.mean(0)), ("sd", values.std(0))):
                print(f"{name:<10}{stat:>6}" + "".join(f"{v:>11.4g}" for v in row.tolist()))
    if task == "progress":  # the held-out pairs are fixed: the no-change scores are too
        with tempfile.TemporaryDirectory() as tmp:
            unchanged = score_unchanged(Path(tmp), batch)
        cells = "".join(f"{unchanged[key]:>11.4g}" for key, _ in columns)
        print(f"{'unchanged':<10}{'':>6}{cells}   (predicting no change: the baseline scan)")
        first = rows["L1 only"][0][0]
        print(f"the real follow-up: Dice {first['dice_real']:.4g}, "
              f"vol. err {first['volume_error_real']:.4g}")  # fmt: skip
    print(footnote)


def cpu_per_step(args: list[str], steps: int = 6, warmup: int = 2) -> float:
    """CPU seconds (all threads of this process) of one full training step, averaged."""
    with tempfile.TemporaryDirectory() as tmp:
        run = make_run(_config(Path(tmp), args))
        batches = run.batches()
        for _ in range(warmup):
            train_step(run, batches)
        start = time.process_time()
        for _ in range(steps):
            train_step(run, batches)
        per_step = (time.process_time() - start) / steps
        run.close()
    return per_step


def speed(batch: int) -> None:
    """Print the CPU time per step of each task at 64x64 and 32^3."""
    print(
        f"\nCPU time per training step (D + G phases), batch {batch}, torch threads {torch.get_num_threads()}"
    )
    print(f"{'task':<10}{'64x64 (2D)':>14}{'32^3 (3D)':>14}")
    for task in ("lesion", "translate", "progress", "generate"):
        base = [f"task={task}", f"trainer.batch_size={batch}"]
        two = cpu_per_step([*base, "spatial_dims=2", "model.image_size=64"])
        three = cpu_per_step([*base, "spatial_dims=3", "model.image_size=32"])
        print(f"{task:<10}{two:>12.3f} s{three:>12.3f} s")


def write_folder(out: Path, n: int = 200) -> Path:
    """n small anisotropic NIfTI volumes (generate layout: files directly in `out`)."""
    import nibabel as nib
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    for i in range(n):
        x = rng.normal(100, 20, (20, 18, 12)).astype(np.float32)
        nib.save(nib.Nifti1Image(x, affine), str(out / f"case{i:03d}.nii.gz"))
    return out


def startup(repeats: int = 5) -> None:
    """Print the time to load a folder of 200 small NIfTI files, and of a one-step run on it."""
    import statistics
    import subprocess
    import sys

    from ganhub_medgan.config import MedData
    from ganhub_medgan.folder import load_folder

    with tempfile.TemporaryDirectory() as tmp:
        folder = write_folder(Path(tmp) / "data")
        cfg = MedData(source="folder", path=folder)
        load_folder("generate", cfg, 3, 32)  # warm-up: MONAI's transforms are imported
        loads = []
        for _ in range(repeats):
            start = time.perf_counter()
            load_folder("generate", cfg, 3, 32)
            loads.append(time.perf_counter() - start)
        keys = ["plugin=medgan", "task=generate", f"data.path={folder}", "spatial_dims=3",
                "preset=tiny", "trainer.steps=1", "eval.metrics=[]", "trainer.progress=false",
                f"out_dir={tmp}/runs"]  # fmt: skip
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ganhub", "run", *keys], check=True)
        run = time.perf_counter() - start
    print("\nstart-up on 200 NIfTI files of 20x18x12 voxels (3D, model.image_size=32)")
    print(f"load_folder: median {statistics.median(loads):.3f} s of {repeats} "
          f"({', '.join(f'{t:.3f}' for t in loads)})")  # fmt: skip
    print(f"ganhub run ... trainer.steps=1: {run:.1f} s wall")


def main() -> None:
    """Parse arguments and run the chosen parts."""
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["all", "quality", "speed", "startup"], default="all")
    parser.add_argument("--steps", type=int, default=300, help="training steps of each quality run")
    parser.add_argument("--batch", type=int, default=8, help="batch size (quality and speed)")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="run seeds of the quality part"
    )
    parser.add_argument(
        "--gan",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="config keys for the L1 + GAN run only (e.g. objective.lambda_l1=10 model.d_layers=1)",
    )
    parser.add_argument(
        "--task", choices=sorted(TASKS), default="lesion", help="the quality part's task"
    )
    args = parser.parse_args()
    if args.gan:  # a wrong key is said now, not after the L1-only runs that come first
        _config(Path(tempfile.gettempdir()), list(args.gan), args.task)
    if args.part in ("all", "quality"):
        quality(args.steps, args.batch, args.seeds, tuple(args.gan), args.task)
    if args.part in ("all", "speed"):
        speed(args.batch)
    if args.part in ("all", "startup"):
        startup()


if __name__ == "__main__":
    run_main(main)
