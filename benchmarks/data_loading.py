"""Is training data-bound on folder data? The loader alone against the training step.

python benchmarks/data_loading.py [--images 512] [--steps 20] [--workers 0,1]
    [--epoch-images 260,2000] [--only train|epochs]

For dcgan, cyclegan and stylegan, a folder of PNG files is written (random images of the size
each domain reads), then per `trainer.num_workers`:
  loader img/s    the batch stream alone (decode, resize, collate, copy), no model
  train img/s     training steps fed from the folder (what a run consumes)
  memory img/s    the same training steps fed from the same images in memory
                  (a tensor shard for dcgan and stylegan, the embedded data for cyclegan)
  data-bound      1 - train / memory: the share of step time spent waiting for data
A loader several times faster than the step it feeds and a data-bound share near zero mean
decoding stays off the critical path.

Epoch boundaries (a second table): a dcgan folder of 64 px PNGs read at 32 px in batches of 64
over several epochs, by the loader as it is (one DataLoader for the whole stream, its workers
kept) and as it was (`PerEpochLoader`: a DataLoader, and its workers, built anew each epoch):
  img/s           images per second over the epochs (after the first batch)
  median ms       median wait for a batch inside an epoch
  boundary ms     median wait for the first batch of an epoch
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI: no spinning on a shared CPU

import numpy as np
import torch
from entry import Parser, count, run_main
from PIL import Image
from torch.utils.data import DataLoader

from ganhub.config.resolve import resolve
from ganhub.data import LoaderBatches, Position, ahead_on_device, epoch_order
from ganhub.data.images import ImageFolder
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
    cycle = ["plugin=cyclegan", "trainer.batch_size=4", "model.image_size=32"]
    # a folder is resized to load_size and cropped; the embedded digits are neither
    cycle_folder = [
        *cycle,
        f"data.path={root / 'cyclegan'}",
        "data.channels=3",
        "data.load_size=36",
    ]
    return {
        "dcgan": (dcgan_folder, [*dcgan, f"data.path={shard(root / 'dcgan', dcgan_folder, root / 'd.safetensors')}"]),
        "stylegan": (style_folder, [*style, f"data.path={shard(root / 'stylegan', style_folder, root / 's.safetensors')}"]),
        "cyclegan": (cycle_folder, [*cycle, "data.channels=3"]),
    }  # fmt: skip


class PerEpochLoader(LoaderBatches):
    """LoaderBatches as it was: a DataLoader built per epoch, its workers forked anew at each
    epoch boundary (the same batches, for the comparison)."""

    def batches(
        self, batch_size: int, device: torch.device, *, seed: int, rank: int = 0, world: int = 1
    ) -> Iterator[Any]:
        """Yield batches forever, one DataLoader per epoch."""
        while True:
            at = self.position
            order = epoch_order(len(self), seed, at.epoch, rank, world, at.start).tolist()
            per_epoch = len(order) // batch_size
            sampler = [order[i * batch_size : (i + 1) * batch_size]
                       for i in range(at.index, per_epoch)]  # fmt: skip
            loader = DataLoader(
                self.dataset, batch_sampler=sampler, num_workers=self.num_workers,
                collate_fn=self.collate,
                generator=torch.Generator().manual_seed(seed * 1_000_003 + at.epoch),
            )  # fmt: skip
            for batch in ahead_on_device(loader, device):
                self.position.index += 1
                yield batch
            self.position = Position(self.position.epoch + 1, 0)


def epoch_waits(source: LoaderBatches, batch: int, epochs: int) -> tuple[float, float, float]:
    """(img/s, median ms for a batch inside an epoch, median ms for an epoch's first batch)
    over `epochs` epochs after the first batch."""
    stream = source.batches(batch, torch.device("cpu"), seed=0)
    per_epoch = len(source) // batch
    next(stream)  # start-up: workers forked, the first batches decoded
    waits = []
    start = time.perf_counter()
    for _ in range(epochs * per_epoch):
        t0 = time.perf_counter()
        next(stream)
        waits.append(time.perf_counter() - t0)
    rate = len(waits) * batch / (time.perf_counter() - start)
    stream.close()  # ends its workers
    first = set(range(per_epoch - 1, len(waits), per_epoch))  # global batches e * per_epoch
    inside = [w for i, w in enumerate(waits) if i not in first]
    boundary = [waits[i] for i in sorted(first)]
    return rate, 1e3 * statistics.median(inside), 1e3 * statistics.median(boundary)


def epoch_table(root: Path, sizes: list[int], workers: list[int], epochs: int) -> None:
    """Print the epoch-boundary table: the loader as it is and as it was, side by side."""
    head = "| images | workers | loader                    |  img/s | median ms | boundary ms |"
    print("\n" + head + "\n|" + "|".join("-" * len(c) for c in head.split("|")[1:-1]) + "|")
    rng = np.random.default_rng(1)
    for n in sizes:
        folder = root / f"epochs{n}"
        write_images(folder, n, 64, rng)
        dataset = ImageFolder(folder, 32, 3)
        for w in workers:
            for name, kind in [("one per epoch (before)", PerEpochLoader),
                               ("one for the stream (now)", LoaderBatches)]:  # fmt: skip
                rate, inside, boundary = epoch_waits(kind(dataset, num_workers=w), 64, epochs)
                cells = f"{rate:>6.0f} | {inside:>9.1f} | {boundary:>11.1f}"
                print(f"| {n:>6} | {w:>7} | {name:<25} | {cells} |", flush=True)


def main() -> None:
    """Print the tables."""
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=count, default=512, help="images per folder")
    parser.add_argument("--steps", type=count, default=20, help="timed batches per measurement")
    parser.add_argument("--workers", default="0,1", help="trainer.num_workers values to time")
    parser.add_argument("--epoch-images", default="260,2000", help="folder sizes, epoch table")
    parser.add_argument("--epochs", type=count, default=4, help="epochs timed, epoch table")
    parser.add_argument("--only", choices=["train", "epochs"], help="print one table")
    args = parser.parse_args()
    torch.set_num_threads(max(1, (os.cpu_count() or 2)))
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    workers = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.only != "epochs":
            train_table(root, args.images, args.steps, workers)
        if args.only != "train":
            sizes = [int(n) for n in args.epoch_images.split(",")]
            epoch_table(root, sizes, workers, args.epochs)


def train_table(root: Path, images: int, steps: int, workers: list[int]) -> None:
    """Print the loader, training and in-memory rates per domain and number of workers."""
    head = f"| {'domain':<9}| workers | loader img/s | train img/s | memory img/s | data-bound |"
    print(head + "\n|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    runs = [f"out_dir={root / 'runs'}"]

    def rate(overrides: list[str], train: bool) -> float:
        return image_rate([*overrides, *QUIET, *runs], steps, train)

    for name, (folder, memory) in domains(root, images, np.random.default_rng(0)).items():
        in_memory = rate(memory, True)
        for w in workers:
            cfg = [*folder, f"trainer.num_workers={w}"]
            loader, train = rate(cfg, False), rate(cfg, True)
            bound = max(0.0, 1 - train / in_memory)
            cells = f"{loader:>11.0f} | {train:>11.0f} | {in_memory:>12.0f} | {bound:>9.0%}"
            print(f"| {name:<9}| {w:>7} | {cells} |", flush=True)


if __name__ == "__main__":
    run_main(main)
