"""The evaluation cache is built once when several processes need the same entry at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

# Enters the entry's lock, builds the entry (slowly) unless it is there, says what it did.
BUILDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from ganhub.metrics import store

    entry = Path(sys.argv[1])
    print("waiting", flush=True)
    with store.building(entry):
        if entry.exists():
            print("read", entry.read_text(), flush=True)
        else:
            time.sleep(1.5)
            store.write_text(entry, sys.argv[2])
            print("built", sys.argv[2], flush=True)
    """
)


def _start(entry: Path, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", BUILDER, str(entry), name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_building_one_entry_build_it_once(tmp_path: Path) -> None:
    entry = tmp_path / "features" / "net.json"
    first = _start(entry, "first")
    assert first.stdout is not None and first.stdout.readline() == "waiting\n"
    second = _start(entry, "second")
    outs = [p.communicate(timeout=60) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outs
    lines = sorted(out.split("\n")[-2] for out, _ in outs)
    # one built it, the other waited and read what the first wrote (without the lock both
    # found no entry and both built it, the second replacing the first's)
    built = [line for line in lines if line.startswith("built")]
    assert len(built) == 1, lines
    assert lines == sorted([built[0], "read " + built[0].split()[1]])
    assert entry.read_text() == built[0].split()[1]


def test_a_cache_folder_that_cannot_hold_the_lock_still_builds(tmp_path: Path) -> None:
    """A read-only cache (a shared one, mounted read-only) cannot take the lock file; reading
    or building the entry goes on unlocked. A folder in the lock file's place stands for it
    (root writes into read-only folders)."""
    from ganhub.metrics import store

    entry = tmp_path / "net.json"
    (tmp_path / ".net.json.lock").mkdir()
    with store.building(entry):
        store.write_text(entry, "built")
    assert entry.read_text() == "built"
