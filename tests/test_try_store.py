"""What the ranks of a torchrun job say in torchrun's store, checked in one process against a
real `torch.distributed.TCPStore` (the one torchrun serves; a process is one rank here).

* A rank that fails after the engine was imported, before it joined the process group, told
  its failure twice (`interrupts._failed_early` and the engine's `_last_words`): the try's
  failure count read 2 for one failure.
* The keys of every try and run stayed in the store for the job's whole life (a script that
  trained 1,000 times left some 10,000); now a run's first meeting clears those behind it.
* A rank other than 0 whose config was refused slept RANK0_GRACE_S (30 s) for torchrun to stop
  it, even in a script that went on to its next `ganhub.cli.main`; in a later try it now waits
  only for rank 0 to have said that it fails too.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import torch.distributed as dist

from ganhub import interrupts
from ganhub.engine import distributed, startup_meetings, store_cleanup
from ganhub.errors import ConfigError
from ganhub.interrupts import job_key, terminate_unwinds, try_key


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[dist.TCPStore]:
    """Rank 1 of 2 of a torchrun job whose store this process serves, in a fresh first try."""
    server = dist.TCPStore("127.0.0.1", 0, is_master=True, timeout=timedelta(seconds=5))
    for key, value in {
        "TORCHELASTIC_USE_AGENT_STORE": "True", "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(server.port), "TORCHELASTIC_RUN_ID": "job", "RANK": "1",
        "WORLD_SIZE": "2", "TORCHELASTIC_RESTART_COUNT": "0", "TORCHELASTIC_ERROR_FILE": "",
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    for module, name, value in [
        (interrupts, "_try", 0), (interrupts, "_said", False), (interrupts, "_closed", False),
        (interrupts, "_joined", False), (interrupts, "_rank_0_says", []), (interrupts, "_told_in", 0),
        (distributed, "_joined", None), (distributed, "_member", False),
        (distributed, "_failing", False), (startup_meetings, "_run", None),
        (store_cleanup, "_tries", 0), (store_cleanup, "_runs", 1),
        (store_cleanup, "_meetings", {}),
    ]:  # fmt: skip
        monkeypatch.setattr(module, name, value, raising=False)  # the old code checks too
    yield server
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_a_failure_before_the_rank_joined_is_counted_once(store: dist.TCPStore) -> None:
    # the engine is imported (its `before_exit` hooks registered), the rank never joined
    with pytest.raises(ConfigError), terminate_unwinds():
        raise ConfigError("trainer.steps='many': must be a whole number")
    assert store.add(job_key("failed", "count"), 0) == 1
    assert store.get(job_key("failed", 1)).decode().startswith("ConfigError: trainer.steps")
    # the try ended: the next one says what it says in keys of its own
    assert interrupts.try_number() == 1 and try_key("failed", 1) != job_key("failed", 1)


# what a two-rank job held after three `ganhub.train`s (torch 2.14, gloo), as torchrun showed it
SEEN = [
    "arrived/0", "arrived/1", "arrived/count", "failed/count", "run1/failed/count",
    "run1/group/0//cpu//0/0", "run1/group/0//cpu//0/1", "run1/met1/count", "run1/met2/count",
    "run1/met3/count", "run2/failed/count", "run2/met1/count", "run2/met3/count", "runs/count",
    "try1/arrived/0", "try1/arrived/1", "try1/arrived/count", "try1/failed/count",
    "try1/failed/1", "try1/stopped/0", "try1/parted/0", "run2/failed/0", "try2/arrived/0",
    "try2/arrived/1", "try2/arrived/count", "try2/failed/count", "run3/met1/count",
    "run3/group/0//cpu//0/0", "run3/failed/count", "try3/failed/1", "try3/failed/count",
]  # fmt: skip
# what run 3's first meeting leaves (try 2 agreed on run 3; try 3 failed after it began)
KEPT = ["run3/met1/count", "run3/group/0//cpu//0/0", "run3/failed/count", "runs/count"]


class Unlisted(dist.Store):
    """A store that cannot list its keys (torch before `list_keys`), over a real one."""

    def __init__(self, inner: dist.Store) -> None:
        super().__init__()
        self.inner = inner

    def delete_key(self, key: str) -> bool:
        return self.inner.delete_key(key)


@pytest.mark.parametrize("listed", [True, False])
def test_a_runs_first_meeting_clears_the_keys_behind_it(store: dist.TCPStore, listed: bool) -> None:
    prefix = job_key("", "").removesuffix("//")
    for name in SEEN:
        store.set(f"{prefix}/{name}", "1")
    store.set("someone/else", "1")  # not the job's: never touched
    store_cleanup.run_ended(1, 3)
    store_cleanup.run_ended(2, 2)
    removed = store_cleanup.clear_behind(store if listed else Unlisted(store), 2, 2, 3)
    left = sorted(key.removeprefix(f"{prefix}/") for key in store.list_keys())
    # without a list, torch's own keys of the group stay: named ones only
    torch_own = [] if listed else ["run1/group/0//cpu//0/0", "run1/group/0//cpu//0/1"]
    assert left == sorted([*KEPT, "try3/failed/1", "try3/failed/count", "someone/else", *torch_own])
    assert removed == len(SEEN) + 1 - len(left)


def test_the_same_ranks_next_clearing_starts_where_the_last_ended(store: dist.TCPStore) -> None:
    prefix = job_key("", "").removesuffix("//")
    store_cleanup.clear_behind(Unlisted(store), 2, 2, 3)
    store.set(f"{prefix}/try1/arrived/0", "1")  # cleared before: not asked for again
    store.set(f"{prefix}/try3/arrived/0", "1")
    store.set(f"{prefix}/run3/met2/count", "1")
    store_cleanup.run_ended(3, 1)  # another rank came to one meeting more at most
    assert store_cleanup.clear_behind(Unlisted(store), 2, 4, 4) == 2
    assert store.check([f"{prefix}/try1/arrived/0"])


def _refused() -> None:
    """This rank's config is refused: it tells so in its try's keys (which the error ends)."""
    with pytest.raises(ConfigError), terminate_unwinds():
        raise ConfigError("trainer.steps='many': must be a whole number")


def _waited(limit_s: float) -> float:
    started = time.monotonic()
    interrupts.wait_for_rank_0(limit_s)
    return time.monotonic() - started


def test_a_refused_rank_waits_the_grace_only_in_its_first_try(store: dist.TCPStore) -> None:
    _refused()
    store.set(job_key("parted", 0), "1")  # rank 0 parts in the same try (told, before its line)
    # the first try: most likely a command that ends the process, which torchrun stops
    assert _waited(0.3) >= 0.3
    _refused()  # a later try: the process went on (a script's next `ganhub.cli.main`)
    store.set(try_key("parted", 0, 1), "1")
    assert _waited(30.0) < 2 * interrupts.RANK0_LINE_S + 1.0
    _refused()  # rank 0 said nothing in this try: the whole grace
    assert _waited(0.3) >= 0.3
