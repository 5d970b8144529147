"""Image folders and shards as users have them: a shard written with its manifest as one pair,
write errors naming --out, huge images refused without Pillow's warning or a full decode,
broken symlinks and macOS' hidden files, unreadable files refused before a run starts, and
torchvision downloads that fail leaving nothing behind."""

from __future__ import annotations

import errno
import struct
import tracemalloc
import urllib.error
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from ganhub.data import LoaderBatches
from ganhub.data.images import ImageFolder, _torchvision_train_set, list_images
from ganhub.data.inspect import DataReport, inspect_image_files
from ganhub.errors import UsageError

from .conftest import TINY_DCGAN


def _images(folder: Path, n: int = 4, size: int = 16) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(n)
    for i in range(n):
        pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"i{i}.png")
    return folder


def _left(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _convert(cli, *args: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    return cli("data", "convert", "imgs", "plugin=dcgan", "--to", "shard", *args)  # type: ignore[no-any-return]


# -- 1, 2: the shard and its manifest, one pair --------------------------------------------------


def test_a_folder_at_the_manifest_path_is_refused_before_anything_is_written(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """It failed on the manifest's temporary name (".mj.json.123.tmp: Is a directory") after
    the shard was in place: a shard without manifest, a .tmp left, and the rerun refused."""
    _images(workdir / "imgs")
    (workdir / "mj.json").mkdir()
    code, out, err = _convert(cli, "--out", "mj.safetensors")
    assert code == 2 and len(err.strip().splitlines()) == 1, out + err
    assert "--out mj.safetensors: its manifest mj.json is a folder" in err and ".tmp" not in err
    assert _left(workdir) == ["imgs", "mj.json"]


def test_a_file_at_the_manifest_path_is_not_overwritten(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """`--out mydata.safetensors` replaced the user's mydata.json without a word."""
    _images(workdir / "imgs")
    (workdir / "mydata.json").write_text("my notes")
    code, out, err = _convert(cli, "--out", "mydata.safetensors")
    assert code == 2 and "mydata.json is taken by a file without that shard" in err, out + err
    assert (workdir / "mydata.json").read_text() == "my notes"
    assert _left(workdir) == ["imgs", "mydata.json"]
    code, out, err = _convert(cli, "--out", "ok.safetensors")
    assert code == 0, out + err
    code, out, err = _convert(cli, "--out", "ok.safetensors", "--force")  # the pair replaced
    assert code == 0 and _left(workdir) == ["imgs", "mydata.json", "ok.json", "ok.safetensors"]


@pytest.mark.parametrize("fails", ["shard", "manifest"])
def test_a_failed_write_names_out_and_leaves_nothing(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    fails: str,
) -> None:
    """A read-only destination was named by the temporary file beside --out, a full disk at
    the manifest was a traceback after the shard was in place, and the folders made for
    --out stayed."""
    import safetensors.torch

    _images(workdir / "imgs")
    if fails == "shard":

        def refuse(tensors: Any, filename: str, *args: Any, **kwargs: Any) -> None:
            Path(filename).write_bytes(b"part")
            raise OSError(errno.EROFS, "Read-only file system", filename)

        monkeypatch.setattr(safetensors.torch, "save_file", refuse)
    else:
        opened = Path.open

        def full(self: Path, *args: Any, **kwargs: Any) -> Any:
            if self.name.startswith(".t.json"):
                raise OSError(errno.ENOSPC, "No space left on device")
            return opened(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", full)
    code, out, err = _convert(cli, "--out", "sub/deep/t.safetensors")
    assert code == 2 and len(err.strip().splitlines()) == 1, out + err
    reason = "Read-only file system" if fails == "shard" else "No space left on device"
    assert f"--out sub/deep/t.safetensors cannot be written: {reason}" in err
    assert _left(workdir) == ["imgs"]  # no shard, no manifest, no .tmp, no sub/


# -- 3: huge images ------------------------------------------------------------------------------


def _png_header(path: Path, width: int, height: int) -> None:
    """A PNG that declares `width` x `height` grey pixels (its header is all a check reads of
    an image that large)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1))  # the first row only
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_an_image_over_the_pixel_limit_is_one_row_without_pillows_warning(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """Pillow's two-line DecompressionBombWarning was printed, and the row named the file
    twice ("big90m.png  image 'big90m.png' is 10000x9000...")."""
    _images(workdir / "imgs", n=2)
    _png_header(workdir / "imgs" / "big90m.png", 10000, 9000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, out, err = cli("data", "check", "imgs", "plugin=dcgan")
    assert not [w for w in caught if "exceeds limit" in str(w.message)]
    assert code == 1 and "exceeds limit" not in err, out + err
    (row,) = [line for line in out.splitlines() if "big90m.png" in line]
    assert " ".join(row.split()) == (
        "error big90m.png 10000x9000, over 89,478,485 pixels; refused -> drop"
    )


def test_the_check_of_a_large_image_keeps_its_pixels_8_bit(tmp_path: Path) -> None:
    """A 9000x9000 grey image took 3.4 GB and 20 s: its pixels went through float32
    (3, H, W) copies (and a copy of those for the hash). 2000x2000 here: 48 MB of float32
    then, 12 MB of 8-bit now."""
    path = tmp_path / "big.png"
    ramp = np.tile(np.arange(2000, dtype=np.uint32) % 251, (2000, 1)).astype(np.uint8)
    Image.fromarray(ramp, mode="L").save(path)
    report = DataReport("x", "images")
    tracemalloc.start()
    try:
        inspect_image_files(report, [("big.png", lambda: path)], channels=3, size=32)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 30e6, peak
    assert [f.problem for f in report.findings] == ["grey image in 3-channel data"]


# -- 4, 5: broken symlinks, hidden files -------------------------------------------------------


def test_a_broken_symlink_is_an_error_of_the_check(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """`dangling.png -> nonexist.png` was not mentioned: the check said clean."""
    _images(workdir / "imgs", n=2)
    (workdir / "imgs" / "dangling.png").symlink_to("nonexist.png")
    code, out, err = cli("data", "check", "imgs", "plugin=dcgan")
    assert code == 1 and "(1 error, 0 warnings" in out, out + err
    assert "dangling.png  broken symlink (to 'nonexist.png'): no file to read" in out


def test_hidden_files_are_no_data(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """macOS' `._img2.png` and `.DS_Store` were counted as images, then failed as
    unreadable; hidden folders were already skipped."""
    _images(workdir / "imgs", n=2)
    (workdir / "imgs" / "._i1.png").write_bytes(b"\0\5\26\7AppleDouble")
    (workdir / "imgs" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    assert [p.name for p in list_images(workdir / "imgs")] == ["i0.png", "i1.png"]
    code, out, err = cli("data", "check", "imgs", "plugin=dcgan")
    assert code == 0 and "imgs: 2 images, clean" in out, out + err


# -- 6: an unreadable file refused before a run starts ---------------------------------------


def test_an_unreadable_file_is_refused_before_step_one(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """dcgan met it when it first drew it (100 steps in, or hours) and stopped there."""
    _images(workdir / "imgs", n=12)
    (workdir / "imgs" / "i7x.png").write_text("junk")
    with pytest.raises(UsageError, match=r"cannot read image '.*i7x\.png'.*data\.skip_bad=true"):
        LoaderBatches(ImageFolder(workdir / "imgs", 16, 3))
    code, out, err = cli("run", *TINY_DCGAN, "data=folder", "data.path=imgs")
    assert code == 2 and len(err.strip().splitlines()) == 1, out + err
    assert "cannot read image 'imgs/i7x.png'" in err and "data.skip_bad=true" in err
    assert not (workdir / "runs").exists() or not any((workdir / "runs").iterdir())
    code, out, err = cli("run", *TINY_DCGAN, "data=folder", "data.path=imgs", "data.skip_bad=true")
    assert code == 0, out + err


# -- 7: torchvision sets -------------------------------------------------------------------------


def test_a_failed_torchvision_download_leaves_no_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline, `data=mnist data.path=tvdata` left empty tvdata/MNIST/raw behind."""
    import torchvision.datasets.mnist as mnist

    def offline(url: str, download_root: str, filename: str, **kwargs: Any) -> None:
        Path(download_root, filename).write_bytes(b"part")  # a download cut short
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(mnist, "download_and_extract_archive", offline)
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "mine.txt").write_text("stays")
    for root in (tmp_path / "tvdata", tmp_path / "kept"):
        with pytest.raises(UsageError, match=r"data=mnist: not in .* downloading it failed"):
            _torchvision_train_set("mnist", root)
    assert _left(tmp_path) == ["kept"] and _left(tmp_path / "kept") == ["mine.txt"]


def test_cifar_files_failing_the_checksum_are_said_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They were there, and the error said they were "not in 'fakecifar'"."""
    import torchvision.datasets.cifar as cifar

    def offline(*args: Any, **kwargs: Any) -> None:
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(cifar, "download_and_extract_archive", offline)
    batches = tmp_path / "fakecifar" / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    for name in ["batches.meta", "test_batch", *(f"data_batch_{i}" for i in range(1, 6))]:
        (batches / name).write_bytes(b"not torchvision's")  # never unpickled: checksum first
    with pytest.raises(UsageError) as caught:
        _torchvision_train_set("cifar10", tmp_path / "fakecifar")
    message = str(caught.value)
    assert "fail torchvision's checksum (5 of them, e.g. 'cifar-10-batches-py/data_batch_1')" in (
        message
    )
    assert "not in" not in message and len(message.splitlines()) == 1
    assert len(list(batches.iterdir())) == 7  # the user's files stay
