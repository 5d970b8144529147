"""stylegan's zips as users have them: encrypted or Deflate64 members, unsafe member names,
and what `ganhub data clean` writes for a zip."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError
from ganhub.wiring import make_run

from .test_stylegan import TINY

pytestmark = pytest.mark.usefixtures("one_thread")


def _png(seed: int) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 255, (16, 16, 3), np.uint8)
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def _patched_zip(path: Path, patch: str) -> Path:
    """A zip of PNGs whose last member is encrypted or Deflate64-compressed (the bytes a
    password-protected or Windows Explorer zip has there; Python's zipfile writes neither)."""
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(3):
            zf.writestr(f"img{i}.png", _png(i))
    raw = bytearray(path.read_bytes())
    local, central = raw.rindex(b"PK\x03\x04"), raw.rindex(b"PK\x01\x02")
    if patch == "encrypted":  # general-purpose flag bit 0
        raw[local + 6] |= 1
        raw[central + 8] |= 1
    else:  # compression method 9
        raw[local + 8 : local + 10] = raw[central + 10 : central + 12] = (9).to_bytes(2, "little")
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize(
    ("patch", "message"),
    [("encrypted", "re-zip it without a password"), ("deflate64", "compression method")],
)
def test_an_encrypted_or_deflate64_zip_is_refused_in_one_line(
    workdir: Path, cli, patch: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    """Reading such a member raised RuntimeError / NotImplementedError: a traceback from
    `ganhub data check` and from the run."""
    data = _patched_zip(workdir / "z.zip", patch)
    code, out, err = cli("data", "check", str(data), "plugin=stylegan", "model.image_size=16")
    assert code == 1 and "img2.png" in out and message in out, out + err
    assert "Traceback" not in err
    with pytest.raises(ConfigError, match=rf"'img2\.png': .*{message}") as refused:
        make_run(resolve([*TINY, f"data.path={data}"]))
    assert len(str(refused.value).splitlines()) == 1


def test_unsafe_member_names_are_refused_and_never_copied(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """'../../evil.png' and '/abs.png' were read, called clean, and copied by `data clean`
    into a zip that another tool may extract outside its folder; `--out outdir` wrote a zip
    named like a folder."""
    with zipfile.ZipFile(workdir / "z.zip", "w") as zf:
        for i in range(3):
            zf.writestr(f"ok{i}.png", _png(i))
        zf.writestr("../../evil.png", _png(7))
        zf.writestr("/abs.png", _png(8))
    check = ("data", "check", "z.zip", "plugin=stylegan", "model.image_size=16")
    code, out, err = cli(*check)
    assert code == 1 and out.count("an unsafe member name (absolute or with '..')") == 2, out + err
    with pytest.raises(ConfigError, match=r"2 files cannot be trained on.*unsafe member"):
        make_run(resolve([*TINY, "data.path=z.zip"]))
    code, _, err = cli("data", "clean", *check[2:], "--out", "outdir")
    assert code == 2 and "DATA is a zip, so its cleaned copy is a zip" in err, err
    code, _, err = cli("data", "clean", *check[2:], "--out", "clean.zip")
    assert code == 0, err
    with zipfile.ZipFile(workdir / "clean.zip") as zf:
        assert sorted(zf.namelist()) == ["ok0.png", "ok1.png", "ok2.png"]
