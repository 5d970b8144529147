"""`ganhub data check` and `convert` on odd folders: each problem is one line naming the file,
the exit code is the one `--help` promises (0 clean, 1 errors or warnings, 2 refused), and no
traceback reaches the user."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

Cli = Callable[..., tuple[int, str, str]]
ARGS = ("plugin=dcgan", "data=folder")


def _png_header(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height pixels (its data is a few bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


@pytest.fixture
def odd(tmp_path: Path) -> Path:
    """Folders of one odd kind each, beside a plain red image where the kind needs company."""
    for name in ("empty", "one", "link", "broken", "deep", "cmyk", "huge"):
        (tmp_path / name).mkdir()
    for name in ("one", "link", "broken", "deep", "huge"):
        Image.new("RGB", (40, 40), "red").save(tmp_path / name / "a.png")
    (tmp_path / "outside.png").write_bytes((tmp_path / "one" / "a.png").read_bytes())
    (tmp_path / "link" / "b.png").symlink_to(tmp_path / "outside.png")
    (tmp_path / "broken" / "b.png").write_bytes((tmp_path / "one" / "a.png").read_bytes()[:60])
    grey16 = (np.arange(40 * 40).reshape(40, 40) * 40).astype(np.uint16)
    Image.fromarray(grey16).save(tmp_path / "deep" / "b.png")
    Image.new("CMYK", (40, 40), (0, 255, 255, 0)).save(tmp_path / "cmyk" / "a.jpg")
    _png_header(tmp_path / "huge" / "b.png", 100_000, 100_000)
    return tmp_path


@pytest.mark.parametrize(
    ("folder", "code", "line"),
    [
        ("empty", 2, "no images"),
        ("one", 0, "clean"),
        ("link", 1, "b.png  symlink leading outside the data folder"),
        ("broken", 1, "b.png  image file is truncated -> drop"),
        ("deep", 0, "b.png  16-bit (I;16): scaled by its full range"),
        ("cmyk", 0, "a.jpg  CMYK: converted to RGB -> convert"),
        ("huge", 1, "b.png  over 89,478,485 pixels"),
    ],
)
def test_check_says_one_line_per_odd_file(
    cli: Cli, odd: Path, folder: str, code: int, line: str
) -> None:
    status, out, err = cli("data", "check", str(odd / folder), *ARGS)
    assert status == code, out + err
    assert line in out + err and "Traceback" not in out + err
    if code == 2:
        assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("folder", "message"),
    [("broken", "cannot read image"), ("huge", "decompression-bomb"), ("link", "symlink")],
)
def test_convert_refuses_unusable_files_in_one_line(
    cli: Cli, odd: Path, tmp_path: Path, folder: str, message: str
) -> None:
    out_file = tmp_path / f"{folder}.safetensors"
    status, _out, err = cli("data", "convert", str(odd / folder), *ARGS, "--to", "shard",
                           "--out", str(out_file))  # fmt: skip
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out_file.exists()
