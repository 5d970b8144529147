"""DataLoader workers audit: a file data.skip_bad skips is named once per run whatever the
number of workers, and medgan's start-up scan ends its workers quietly on a job's SIGTERM."""

from __future__ import annotations

import multiprocessing
import subprocess
from itertools import islice
from pathlib import Path

import pytest
import torch

from ganhub.data import LoaderBatches, Position
from ganhub.data.images import ImageFolder

from .test_loading_audit import _folder

CPU = torch.device("cpu")


@pytest.mark.parametrize("workers", [0, 2])
def test_a_file_cut_short_is_named_once_per_run_with_any_workers(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], workers: int
) -> None:
    """Each DataLoader worker kept its own list of the files it had warned about: with
    trainer.num_workers=2 a truncated file was named twice (the two lines at times run
    together), with 0 workers once. Four epochs, both workers meeting the file: one line."""
    root = _folder(tmp_path / "d", 10, cut=3)  # file 3 cut short
    source = LoaderBatches(ImageFolder(root, 8, 1, skip_bad=True), num_workers=workers)
    source.position = Position()
    stream = source.batches(4, CPU, seed=7)
    assert len(list(islice(stream, 8))) == 8  # 2 batches an epoch: 4 epochs
    stream.close()  # ends the workers (their lines are written by then)
    lines = [ln for ln in capfd.readouterr().err.splitlines() if "03.png" in ln]
    assert len(lines) == 1, lines
    assert lines[0].startswith("ganhub: warning: skipped (data.skip_bad=true): cannot read")


def test_a_sigterm_during_medgans_start_up_scan_ends_its_workers_cleanly() -> None:
    """medgan reads its folder at start-up (a run's `iter_folder`, `ganhub data check`) with
    `trainer.num_workers` DataLoader workers (`scan_loader`) that SIGTERM killed by its
    default action: a job's `kill -TERM -PGID` during the scan printed 'DataLoader worker ...
    killed by signal: Terminated' tracebacks. Its workers now end as on Ctrl-C, status 0."""
    from ganhub_medgan.folder import scan_loader

    before = set(multiprocessing.active_children())
    scan = iter(scan_loader(list(range(8)), num_workers=2))  # the items: no MONAI read
    assert [next(scan), next(scan)] == [0, 1]  # one from each worker: both have started
    workers = [p for p in multiprocessing.active_children() if p not in before]
    assert len(workers) == 2
    # from another process, as a group's signal is (the DataLoader's own handler ends a
    # worker cleanly only when the signal comes from its parent)
    subprocess.run(["kill", "-TERM", *(str(w.pid) for w in workers)], check=True)
    for worker in workers:
        worker.join(5)
    assert [w.exitcode for w in workers] == [0, 0]
    del scan  # shuts the loader down
