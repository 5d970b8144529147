"""A checkpoint that does not fit names what truly differs: a buffer a module creates lazily
(registered empty, filled at first use, taken back by its own `_load_from_state_dict`, as
cyclegan's kept sample inputs) is no difference, and a changed shape leads the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from ganhub.engine.checkpoint import load_fitting

from .plugins.test_cyclegan import TINY_FOLDER, _png

pytestmark = pytest.mark.usefixtures("one_thread")


class _Lazy(nn.Module):
    """A linear layer and a buffer that exists once `fill` (or a load) gives it."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.lin = nn.Linear(2, width)
        self.register_buffer("kept", None)

    def fill(self) -> None:
        self._buffers["kept"] = torch.arange(3)

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        if prefix + "kept" in state_dict:
            self._buffers["kept"] = state_dict[prefix + "kept"].clone()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def _saved(width: int) -> dict[str, Tensor]:
    module = _Lazy(width)
    module.fill()
    return dict(module.state_dict())


def test_a_lazily_created_buffer_is_no_difference_and_a_shape_leads() -> None:
    fresh = _Lazy(4)
    before = fresh.lin.weight.detach().clone()
    message = load_fitting(fresh, _saved(3))
    assert message.startswith("2 differ in shape (lin.weight is (3, 2) in the checkpoint")
    assert "kept" not in message and "lacks" not in message
    assert torch.equal(fresh.lin.weight, before)  # nothing of a checkpoint that does not fit
    assert load_fitting(fresh, _saved(4)) == ""  # the same model loads, its buffer with it
    assert torch.equal(fresh.kept, torch.arange(3))


def test_names_torch_refuses_are_still_named() -> None:
    saved = {**_saved(4), "stray.weight": torch.zeros(1)}
    del saved["lin.bias"]
    message = load_fitting(_Lazy(4), saved)
    assert "the model has 1 tensor the checkpoint lacks (lin.bias)" in message
    assert "the checkpoint has 1 the model lacks (stray.weight)" in message
    assert "kept" not in message


def test_resuming_a_folder_run_with_another_width_names_only_the_shapes(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    rng = np.random.default_rng(0)
    for side, n in {"trainA": 2, "trainB": 2, "testA": 2, "testB": 2}.items():
        for i in range(n):
            _png(workdir / "h2z" / side / f"{i}.png", rng.integers(0, 255, (20, 20, 3)))
    run = [*TINY_FOLDER, "data.path=h2z", "data.load_size=18", "trainer.steps=1", "name=unp"]
    code, _, err = cli("run", *run)
    assert code == 0, err
    code, _, err = cli("run", "resume=runs/unp", "model.ngf=8", "trainer.steps=2")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "does not fit the model this resume builds (70 differ in shape (G_AB.1.weight" in err
    assert "it sets model.ngf=8 (the run's: " in err
    assert "sample_inputs" not in err and "lacks" not in err
    code, _, err = cli("run", "resume=runs/unp", "trainer.steps=2")  # its own settings resume
    assert code == 0, err
