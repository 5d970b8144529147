"""`ganhub export --force` swaps the new folder in with two renames: an interruption between
them puts the old export back instead of leaving it in a hidden folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ganhub import export


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, OSError])
def test_an_interrupted_replacement_keeps_the_old_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interruption: type[BaseException]
) -> None:
    dest, tmp = tmp_path / "export-safetensors", tmp_path / ".export-safetensors.1234.tmp"
    dest.mkdir()
    (dest / "generator.safetensors").write_bytes(b"old")
    tmp.mkdir()
    (tmp / "generator.safetensors").write_bytes(b"new")
    real_rename = os.rename

    def rename(src: Path, dst: Path) -> None:
        if Path(src) == tmp:  # the new folder's move into place is where it stops
            raise interruption()
        real_rename(src, dst)

    monkeypatch.setattr(export.os, "rename", rename)
    with pytest.raises(interruption):
        export._commit(tmp, dest, force=True)
    assert (dest / "generator.safetensors").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [tmp.name, dest.name]  # no .old left
    monkeypatch.setattr(export.os, "rename", real_rename)
    export._commit(tmp, dest, force=True)  # uninterrupted, the new one replaces it
    assert (dest / "generator.safetensors").read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == [dest.name]
