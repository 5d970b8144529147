"""Folder data as a practitioner's own images meet it: the same batches with any number of
workers and after a resume, a fresh order each epoch, the last partial batch left out."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganhub.data import LoaderBatches, Position
from ganhub.data.images import ImageFolder

CPU = torch.device("cpu")


def _folder(root: Path, n: int, cut: int | None = None) -> Path:
    """n 8x8 grey PNGs, image i all of level 10 * i (so a batch names its files); file `cut`
    cut short: its header reads, its pixels do not (a truncated download)."""
    root.mkdir()
    for i in range(n):
        path = root / f"{i:02d}.png"
        if i == cut:
            noise = np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)
            Image.fromarray(noise).save(path)
            path.write_bytes(path.read_bytes()[:200])
        else:
            Image.fromarray(np.full((8, 8), 10 * i, np.uint8)).save(path)
    return root


def _files(source: LoaderBatches, batches: int, at: Position | None = None) -> list[list[int]]:
    """The files of the first `batches` batches of a stream (from `at`), by their levels."""
    source.position = at or Position()
    stream = source.batches(4, CPU, seed=7)
    out = [
        ((b[:, 0, 0, 0] + 1) * 127.5 / 10).round().int().tolist() for b in islice(stream, batches)
    ]
    stream.close()  # ends the workers
    return out


def test_a_stand_in_is_the_same_with_any_workers_and_after_a_resume(tmp_path: Path) -> None:
    """data.skip_bad stood a file drawn from each DataLoader worker's own seed in for a file
    cut short: 0 and 2 workers trained on other images from the first batch holding it, and a
    resumed run (its workers started anew) on others than the unbroken run. The stand-in is
    now drawn by the run's seed, the epoch and the file: the same everywhere, new each epoch."""
    root = _folder(tmp_path / "d", 10, cut=3)
    one = _files(LoaderBatches(ImageFolder(root, 8, 1, skip_bad=True)), 8)  # 4 epochs
    two = _files(LoaderBatches(ImageFolder(root, 8, 1, skip_bad=True), num_workers=2), 8)
    assert one == two
    resumed = LoaderBatches(ImageFolder(root, 8, 1, skip_bad=True), num_workers=2)
    assert _files(resumed, 5, Position(epoch=1, index=1)) == one[3:]
    planned = [o[i * 4 : (i + 1) * 4] for o in map(_order, range(4)) for i in range(2)]
    pairs = [(p, f) for plan, files in zip(planned, one) for p, f in zip(plan, files)]
    assert all(p == f for p, f in pairs if p != 3)
    drawn = [f for p, f in pairs if p == 3]  # the cut file's stand-ins, epoch by epoch
    assert len(drawn) >= 3 and 3 not in drawn and len(set(drawn)) > 1  # anew each epoch


def _order(epoch: int) -> list[int]:
    from ganhub.data import epoch_order

    return epoch_order(10, 7, epoch).tolist()


def test_workers_give_the_same_batches_each_epoch_reshuffled_the_rest_left_out(
    tmp_path: Path,
) -> None:
    """11 images in batches of 4: two batches an epoch, 3 images left out (other ones each
    epoch), a new order each epoch, and the same batches with 0 and 2 workers."""
    root = _folder(tmp_path / "d", 11)
    one = _files(LoaderBatches(ImageFolder(root, 8, 1)), 6)
    assert one == _files(LoaderBatches(ImageFolder(root, 8, 1), num_workers=2), 6)
    epochs = [one[0] + one[1], one[2] + one[3], one[4] + one[5]]
    assert all(len(set(e)) == 8 for e in epochs)  # each image at most once an epoch
    assert len({tuple(e) for e in epochs}) == 3  # reshuffled
    left_out = [frozenset(range(11)) - set(e) for e in epochs]
    assert all(len(s) == 3 for s in left_out) and len(set(left_out)) > 1


def test_a_sigterm_to_every_process_of_a_run_ends_its_workers_cleanly(tmp_path: Path) -> None:
    """SIGTERM sent to a run's whole process group (`kill -TERM -PGID`, SLURM at its time
    limit) killed the DataLoader workers by its default action: the DataLoader then raised
    'worker killed by signal' in the training process, mid-step, and the run lost the
    checkpoint it saves on the way out. A worker now ends as on Ctrl-C, with status 0."""
    import multiprocessing
    import subprocess
    import time

    before = set(multiprocessing.active_children())
    stream = LoaderBatches(ImageFolder(_folder(tmp_path / "d", 8), 8, 1), num_workers=2)
    batches = stream.batches(4, CPU, seed=0)
    next(batches), next(batches)  # one batch from each worker: both have installed their handler
    workers = [p for p in multiprocessing.active_children() if p not in before]
    assert len(workers) == 2
    # sent from another process, as a group's signal is (the DataLoader's own handler ends a
    # worker cleanly only when the signal comes from the training process, its parent)
    subprocess.run(["kill", "-TERM", *(str(w.pid) for w in workers)], check=True)
    for worker in workers:
        worker.join(5)
    time.sleep(0.2)  # the DataLoader's SIGCHLD handler raised here (in the training process)
    assert [w.exitcode for w in workers] == [0, 0]
    batches.close()
