"""cyclegan's image pool at training batch sizes: a query is a fixed handful of device ops for
the whole batch (no op per image, no host read), with the original's rule image by image,
including a batch that draws one slot twice or straddles the fill."""

from __future__ import annotations

import importlib.util
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch
from ganhub_cyclegan.pool import ImagePool
from torch.overrides import TorchFunctionMode

# torch calls that read a device value on the host (a sync on a GPU)
HOST_READS = {"item", "__bool__", "__int__", "__float__", "__index__", "tolist", "cpu", "nonzero",
              "equal", "masked_select", "unique"}  # fmt: skip


def _plain_pool(size: int) -> Any:
    """The original's list-based pool, from the cyclegan benchmark script."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "cyclegan.py"
    spec = importlib.util.spec_from_file_location("bench_cyclegan_pool", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["bench_cyclegan_pool"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.PlainPool(size)


class _Calls(TorchFunctionMode):
    """The torch functions and tensor methods a block calls, by name."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.calls[getattr(func, "__name__", str(func))] += 1
        return func(*args, **(kwargs or {}))


def _sequential(images: list[float], n: int, pool: list[float], swap: Any, slot: Any) -> Any:
    """The rule image by image, with the given draws: fill while there is room, then with the
    swap draw return the slot's image and store the new one."""
    out = []
    for j, image in enumerate(images):
        if len(pool) < n:
            pool.append(image)
            out.append(image)
        elif swap[j] > 0.5:
            out.append(pool[int(slot[j])])
            pool[int(slot[j])] = image
        else:
            out.append(image)
    return out


@pytest.mark.parametrize("size", [1, 3])
def test_host_draws_match_the_original_with_slots_drawn_twice_in_a_batch(size: int) -> None:
    ours, original = ImagePool(size, (1, 2)), _plain_pool(size)
    batches = [torch.randn(9, 1, 2) for _ in range(12)]  # 9 images, <= 3 slots: repeats
    random.seed(5)
    expected = [original.query(b) for b in batches]
    random.seed(5)
    for b, e in zip(batches, expected):
        assert torch.equal(ours.query(b), e)
    assert torch.equal(ours.images, torch.cat(original.images)) and ours.filled == size


def test_device_draws_follow_the_rule_image_by_image_for_a_whole_batch() -> None:
    """One batch of draws (swap decisions, then slots) applied in batch order."""
    pool, plain = ImagePool(3, (1,), "device"), []
    gen = torch.Generator().manual_seed(11)
    torch.manual_seed(11)
    for step in range(10):
        batch = [float(10 * step + i) for i in range(8)]
        swap, slot = torch.rand(8, generator=gen), torch.randint(0, 3, (8,), generator=gen)
        expected = _sequential(batch, 3, plain, swap, slot)
        assert pool.query(torch.tensor(batch).view(8, 1)).flatten().tolist() == expected
        assert pool.images.flatten().tolist() == plain and int(pool.count) == 3


@pytest.mark.parametrize("draws", ["host", "device"])
def test_a_query_is_the_same_few_ops_at_any_batch_size_and_reads_nothing(draws: str) -> None:
    def calls(batch: int) -> Counter[str]:
        pool = ImagePool(4, (2, 2), draws)  # type: ignore[arg-type]
        pool.query(torch.randn(4, 2, 2))  # full: the next queries swap
        random.seed(0)
        torch.manual_seed(0)
        new = torch.randn(batch, 2, 2)
        with _Calls() as seen:
            pool.query(new)
        return seen.calls

    small, large = calls(16), calls(64)
    assert small == large and sum(large.values()) < 50, large
    assert not HOST_READS & set(large), large


@pytest.mark.parametrize("draws", ["host", "device"])
def test_a_pool_restored_mid_run_continues_exactly(draws: str) -> None:
    a = ImagePool(5, (1,), draws)  # type: ignore[arg-type]
    a.query(torch.arange(7.0).view(7, 1))
    b = ImagePool(5, (1,), draws)  # type: ignore[arg-type]
    b.load_state_dict(a.state_dict())
    state = random.getstate(), torch.get_rng_state()
    got_a = [a.query(torch.full((6, 1), float(i))).tolist() for i in range(8)]
    random.setstate(state[0])
    torch.set_rng_state(state[1])
    assert [b.query(torch.full((6, 1), float(i))).tolist() for i in range(8)] == got_a
    assert torch.equal(a.images, b.images)
