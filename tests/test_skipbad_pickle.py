"""A folder dataset with data.skip_bad copies (pickle, deepcopy) outside a DataLoader, and a
copy still names a file cut short once per run, with workers too."""

from __future__ import annotations

import copy
import pickle
from itertools import islice
from pathlib import Path

import pytest
import torch

from ganhub.data import LoaderBatches, Position
from ganhub.data.images import ImageFolder

from .test_loading_audit import _folder


def test_a_skip_bad_dataset_copies_and_its_copy_warns_once(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Its one-warning-per-file guard held a multiprocessing lock, which refuses pickling
    outside a process start: pickle.dumps and copy.deepcopy of the dataset raised
    RuntimeError. A copy now makes its own lock and shares its flags with its workers."""
    root = _folder(tmp_path / "d", 10, cut=3)  # file 3 cut short
    dataset = ImageFolder(root, 8, 1, skip_bad=True)
    deep = copy.deepcopy(dataset)
    assert torch.equal(deep[0], dataset[0])
    unpickled = pickle.loads(pickle.dumps(dataset))
    source = LoaderBatches(unpickled, num_workers=2)
    source.position = Position()
    stream = source.batches(4, torch.device("cpu"), seed=7)
    assert len(list(islice(stream, 8))) == 8  # 4 epochs, both workers meeting file 3
    stream.close()  # ends the workers (their lines are written by then)
    lines = [ln for ln in capfd.readouterr().err.splitlines() if "03.png" in ln]
    assert len(lines) == 1, lines
    assert lines[0].startswith("ganhub: warning: skipped (data.skip_bad=true): cannot read")
