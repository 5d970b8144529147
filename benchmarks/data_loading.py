"""Is training data-bound on folder data? The loader alone against the training step.

python benchmarks/data_loading.py [--images 512] [--steps 20] [--workers 0,1]

For dcgan, cyclegan and stylegan, a folder of PNG files is written (random images of the size
each domain reads), then per `trainer.num_workers`:
  loader img/s    the batch stream alone (decode, resize, collate, copy), no model
  train img/s     training steps fed from the folder (what a run consumes)
  memory img/s    the same training steps fed from the same images in memory
                  (a tensor shard for dcgan and stylegan, the embedded data for cyclegan)
  data-bound      1 - train / memory: the share of step time spent waiting for data
A loader several times faster than the step it feeds and a data-bound share near zero mean
decoding stays off the critical path.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI: no spinning on a shared CPU

import numpy as np
import torch
from PIL import Image

from ganhub.config.resolve import resolve
from ganhub.engine.loop import train_steps
from ganhub.wiring import make_run

QUIET = ["trainer.progress=false", "loggers=[]", "eval.metrics=[]", "device=cpu"]


def write_images(folder: Path, n: int, size: int, rng: np.random.Generator) -> None:
    """n random RGB PNGs of size x size (smooth noise: realistic PNG decode cost)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        low = rng.integers(0, 255, (size // 4, size // 4, 3), dtype=np.uint8)
        Image.fromarray(low).resize((size, size), Image.Resampling.BICUBIC).save(
            folder / f"{i:05d}.png"
        )


def image_rate(args: list[str], steps: int, train: bool) -> float:
    """Images per second of `steps` batches: the stream alone, or training on it."""
    run = make_run(resolve(args))
    try:
        batches = run.batches()
        batch = run.config.trainer.batch_size
        if train:
            train_steps(run, batches, 2)  # warm-up: first batches, allocator, workers
            t0 = time.perf_counter()
            train_steps(run, batches, steps)
        else:
            for _ in range(2):
                next(batches)
            t0 = time.perf_counter()
            for _ in range(steps):
                next(batches)
        return steps * batch / (time.perf_counter() - t0)
    finally:
        run.close()


def domains(root: Path, n: int, rng: np.random.Generator) -> dict[str, tuple[list[str], list[str]]]:
    """Per domain: (folder-data overrides, in-memory overrides of the same model)."""
    from ganhub.data.shards import write_shard

    def shard(folder: Path, args: list[str], out: Path) -> Path:
        source = make_run(resolve([*args, *QUIET, f"out_dir={root / 'runs'}"]))
        try:
            data = source.data
            write_shard(out, data.gather(torch.arange(len(data))), {"benchmark": str(folder)})
        finally:
            source.close()
        return out

    write_images(root / "dcgan", n, 32, rng)
    dcgan = ["plugin=dcgan", "trainer.batch_size=64", "data=folder", "data.channels=3"]
    dcgan_folder = [*dcgan, f"data.path={root / 'dcgan'}"]
    write_images(root / "stylegan", n, 32, rng)
    style = ["plugin=stylegan", "trainer.batch_size=32", "data.mirror=false", "data.channels=3"]
    style_folder = [*style, f"data.path={root / 'stylegan'}"]
    for side in ("trainA", "trainB"):
        write_images(root / "cyclegan" / side, n // 2, 36, rng)
    cycle = ["plugin=cyclegan", "trainer.batch_size=4", "model.image_size=32", "data.load_size=36"]
    cycle_folder = [*cycle, f"data.path={root / 'cyclegan'}", "data.channels=3"]
    return {
        "dcgan": (dcgan_folder, [*dcgan, f"data.path={shard(root / 'dcgan', dcgan_folder, root / 'd.safetensors')}"]),
        "stylegan": (style_folder, [*style, f"data.path={shard(root / 'stylegan', style_folder, root / 's.safetensors')}"]),
        "cyclegan": (cycle_folder, [*cycle, "data.channels=3"]),
    }  # fmt: skip


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512, help="images per folder")
    parser.add_argument("--steps", type=int, default=20, help="timed batches per measurement")
    parser.add_argument("--workers", default="0,1", help="trainer.num_workers values to time")
    args = parser.parse_args()
    torch.set_num_threads(max(1, (os.cpu_count() or 2)))
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    head = f"| {'domain':<9}| workers | loader img/s | train img/s | memory img/s | data-bound |"
    print(head + "\n|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        runs = [f"out_dir={root / 'runs'}"]

        def rate(overrides: list[str], train: bool) -> float:
            return image_rate([*overrides, *QUIET, *runs], args.steps, train)

        for name, (folder, memory) in domains(root, args.images, np.random.default_rng(0)).items():
            in_memory = rate(memory, True)
            for workers in (int(w) for w in args.workers.split(",")):
                cfg = [*folder, f"trainer.num_workers={workers}"]
                loader, train = rate(cfg, False), rate(cfg, True)
                bound = max(0.0, 1 - train / in_memory)
                print(f"| {name:<9}| {workers:>7} | {loader:>11.0f} | {train:>11.0f} | {in_memory:>12.0f} | {bound:>9.0%} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
