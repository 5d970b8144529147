"""Data of the stylegan domain: embedded faces and digits, rendered shapes (`data=shapes`,
`ganhub.data.shapes`: never x-flipped), folders, zips and shards of images.

Embedded faces: `skimage.data.lfw_subset()` ships 200 grey 25x25 crops inside the
scikit-image wheel (no download); its first 100 are faces and the last 100 are *non-face*
patches, so only the 100 faces are used, resized to `model.image_size` (x-flips double them
to 200 with `data.mirror`). That is a limited-data setting where ADA matters.

Folder or zip data must hold square images of `model.image_size` (StyleGAN2-ADA's
`dataset_tool` convention); `data.resize=true` resizes square images of another size. Files
are decoded by `ganhub.data.decode.decode_image` (16-bit depth scaled, EXIF orientation
applied, palette and transparency converted). Before training, `refuse_unusable` reads every
file's header (no pixels) and refuses data with unreadable, oversized, non-square or wrongly
sized files; `ganhub data check DATA plugin=stylegan` lists every problem (`StyleGANDomain.
inspect_data`). `ganhub data convert` writes a folder as a zip of PNGs at `model.image_size`
(`write_zip`) or as a tensor shard, which `data.path=X.safetensors` trains from memory.
"""

from __future__ import annotations

import io
import os
import shlex
import zipfile
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import torch
from ganhub_stylegan.config import StyleGANData
from torch import Tensor
from torch.utils.data import Dataset

from ganhub.data.images import IMAGE_SUFFIXES, digits, list_images
from ganhub.data.images import resize_square as resize
from ganhub.data.inspect import DataReport, inspect_image_files, report_unread_images
from ganhub.errors import ConfigError, UsageError
from ganhub.plural import counted

N_FACES = 100  # lfw_subset: 100 faces, then 100 non-faces
# zip entries get this fixed time, so converting the same files twice gives the same bytes
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def faces(size: int) -> Tensor:
    """The 100 LFW faces scikit-image ships, (100, 1, size, size) in [-1, 1]."""
    from skimage.data import lfw_subset

    arr = np.asarray(lfw_subset()[:N_FACES], dtype=np.float32)  # (100, 25, 25) in [0, 1]
    x = torch.from_numpy(arr).unsqueeze(1) * 2 - 1
    return resize(x, size).contiguous()


def mirrored(x: Tensor, mirror: bool) -> Tensor:
    """`x` followed by its x-flipped copies when `mirror` (`data.mirror`)."""
    return torch.cat([x, x.flip(3)]) if mirror else x


def shapes(cfg: StyleGANData, size: int) -> Tensor:
    """The rendered shapes of `data=shapes` (never x-flipped: their factors stay exact)."""
    from ganhub.data.shapes import shapes_dataset

    return shapes_dataset(
        size, n=cfg.n, shapes=cfg.shapes, proportions=cfg.proportions, colour=cfg.colour
    )[0]


def embedded(source: str, size: int, mirror: bool, data: StyleGANData | None = None) -> Tensor:
    """Embedded training images (faces or digits, with x-flipped copies when `mirror`), or the
    rendered shapes of `data`'s options (default options without it)."""
    if source == "shapes":
        return shapes(data or StyleGANData(source="shapes", mirror=False), size)
    return mirrored(faces(size) if source == "faces" else digits(size)[0], mirror)


# -- folders and zips ---------------------------------------------------------------------


def is_zip(path: Path) -> bool:
    """Whether `data.path` is a zip file (rather than a folder)."""
    return path.is_file() and zipfile.is_zipfile(path)


def list_files(path: Path) -> list[str]:
    """Image names in a folder (relative paths, recursive) or zip (member names), sorted.

    A zip's `__MACOSX/` entries (Finder's resource forks, named like the images) are skipped.
    """
    if is_zip(path):
        with zipfile.ZipFile(path) as zf:
            return zip_images(zf)
    if not path.exists():
        raise ConfigError(f"data.path='{path}' does not exist")
    if not path.is_dir():
        raise ConfigError(f"data.path='{path}': neither a folder, a zip nor a .safetensors shard")
    return [str(p.relative_to(path)) for p in list_images(path)]


def zip_images(zf: zipfile.ZipFile) -> list[str]:
    """The image members of an open zip, sorted (no folders, no `__MACOSX/` resource forks)."""
    names = zf.namelist()
    return sorted(
        n
        for n in names
        if Path(n).suffix.lower() in IMAGE_SUFFIXES
        and not n.endswith("/")
        and not n.startswith("__MACOSX/")
    )


# what reading a member can raise: besides a broken archive, an encrypted member
# (RuntimeError: "password required") or a compression method Python lacks (Deflate64,
# which Windows Explorer writes: NotImplementedError)
ZIP_READ_ERRORS: tuple[type[Exception], ...] = (zipfile.BadZipFile, OSError, ValueError)
ZIP_READ_ERRORS += (EOFError, RuntimeError, NotImplementedError)


def zip_read_problem(exc: BaseException) -> str:
    """Why a zip member could not be read, with the fix for the two cases users can fix."""
    if isinstance(exc, NotImplementedError):
        return f"{exc} (re-zip it with the usual deflate or no compression)"
    if isinstance(exc, RuntimeError) and "encrypted" in str(exc):
        return f"{exc} (ganhub reads unencrypted zips: re-zip it without a password)"
    return str(exc)


def refuse_unsafe_member(name: str) -> None:
    """A member named as an absolute path or climbing with '..' is refused (read by name it is
    harmless here, but `data clean` would copy it into a zip that other tools may extract)."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ".." in parts or (parts[0].endswith(":") and parts[0]):
        raise UsageError(
            f"cannot read '{name}' from the zip: an unsafe member name (absolute or with '..'); "
            "re-zip the images under plain relative names"
        )


def open_file(path: Path, name: str, zf: zipfile.ZipFile | None) -> io.BytesIO | Path:
    """One image of a folder (its path) or of the open zip `zf` (its bytes)."""
    if zf is None:
        return path / name
    refuse_unsafe_member(name)
    try:
        return io.BytesIO(zf.read(name))
    except ZIP_READ_ERRORS as exc:
        raise UsageError(f"cannot read '{name}' from the zip: {zip_read_problem(exc)}") from None


def openers(path: Path, zf: zipfile.ZipFile | None) -> list[tuple[str, Callable[[], object]]]:
    """`(name, opener)` pairs of every image (for `ganhub.data.inspect.inspect_image_files`)."""
    return [(name, partial(open_file, path, name, zf)) for name in list_files(path)]


def inspect_files(
    report: DataReport, path: Path, *, channels: int, size: int, resize: bool, crop: bool = False
) -> None:
    """Every file of a folder or zip through `inspect_image_files` with stylegan's rules:
    square (unless `crop`), `size` (resized when `resize` or `crop`), `channels`."""
    zf = zipfile.ZipFile(path) if is_zip(path) else None
    try:
        inspect_image_files(
            report,
            openers(path, zf),
            channels=channels,
            size=size,
            resize=resize or crop,
            square=not crop,
        )
        if zf is None:
            report_unread_images(report, path)
    finally:
        if zf is not None:
            zf.close()


def header(path: Path, name: str, zf: zipfile.ZipFile | None) -> tuple[int, int]:
    """An image's (width, height) from its header alone (no pixels decoded)."""
    from PIL import Image, UnidentifiedImageError

    from ganhub.data.decode import MAX_PIXELS

    try:
        if zf is not None:
            refuse_unsafe_member(name)
            with zf.open(name) as fh, Image.open(fh) as im:  # streams the header only
                width, height = im.size
        else:
            with Image.open(path / name) as im:
                width, height = im.size
    except UnidentifiedImageError:
        raise UsageError(
            f"cannot read image '{name}': not an image in a format Pillow reads"
        ) from None
    except Image.DecompressionBombError:  # over twice MAX_PIXELS: Pillow refuses first
        raise UsageError(f"image '{name}' is over {MAX_PIXELS:,} pixels") from None
    except ZIP_READ_ERRORS as exc:
        raise UsageError(f"cannot read image '{name}': {zip_read_problem(exc)}") from None
    if width * height > MAX_PIXELS:
        raise UsageError(f"image '{name}' is {width}x{height}, over {MAX_PIXELS:,} pixels")
    return width, height


def refuse_unusable(path: Path, image_size: int, resize: bool, crop: bool = False) -> None:
    """Read every file's header (fast: no decoding) and refuse, naming one file, data that
    would stop training: unreadable, oversized, non-square (without `crop`) or (without
    `resize` or `crop`) wrongly sized files. Truncated pixel data only shows when decoding
    (`ganhub data check` decodes all)."""
    bad: list[str] = []
    zf = zipfile.ZipFile(path) if is_zip(path) else None
    try:
        for name in list_files(path):
            try:
                w, h = header(path, name, zf)
            except UsageError as exc:
                bad.append(f"'{name}': {str(exc).split(': ', 1)[-1]}")
                continue
            if w != h and not crop:
                bad.append(f"'{name}' is {w}x{h}, not square (data.center_crop=true crops it)")
            elif w != image_size and not (resize or crop):
                bad.append(
                    f"'{name}' is {w}x{h}, not {image_size}x{image_size} (data.resize=true "
                    "resizes square images)"
                )
    finally:
        if zf is not None:
            zf.close()
    if bad:
        raise ConfigError(
            f"data.path='{path}': {counted(len(bad), 'files')} cannot be trained on, e.g. "
            f"{bad[0]}; "
            f"`{data_command('check', path, image_size, resize, crop=crop)}` lists every "
            f"problem and `{data_command('clean', path, image_size, resize, crop=crop)}` writes "
            "a copy without them"
        )


def decode(source: io.BytesIO | Path, name: str, channels: int) -> Tensor:
    """One image as (channels, H, W) in [-1, 1], decoded keeping its information."""
    from ganhub.data.decode import decode_image

    return torch.from_numpy(decode_image(source, channels, name)).mul_(2.0).sub_(1.0)


class ImageFiles(Dataset[Tensor]):
    """Images of a folder or zip as (channels, r, r) tensors in [-1, 1], decoded per item
    (in DataLoader workers) by `ganhub.data.decode.decode_image`; x-flipped copies follow
    the originals when `mirror`. Square images of another size are resized when `resize`;
    with `crop` a non-square image is cut to its centre square first, and every image is
    resized (StyleGAN2-ADA's dataset_tool center-crop)."""

    def __init__(
        self,
        path: Path,
        image_size: int,
        channels: int,
        mirror: bool,
        resize: bool = False,
        names: list[str] | None = None,
        crop: bool = False,
    ) -> None:
        self.path, self.image_size, self.channels = path, image_size, channels
        # `names`: the files to read (labelled data's, in label order); default: every image
        self.names = list_files(path) if names is None else names
        if not self.names:
            raise ConfigError(f"data.path='{path}': no images ({', '.join(IMAGE_SUFFIXES)})")
        self.mirror, self.resize, self.crop = mirror, resize or crop, crop
        self.is_zip = is_zip(path)
        # opened lazily, once per process: a forked worker must not share the parent's file
        # offset, so a zip opened by another process is opened again
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid = 0

    def __len__(self) -> int:
        return len(self.names) * (2 if self.mirror else 1)

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_zip": None}  # an open zip is not sent to workers

    @property
    def files(self) -> list[Path]:
        """The files read: the zip, or every image of the folder (for data fingerprints)."""
        return [self.path] if self.is_zip else [self.path / name for name in self.names]

    def __getitem__(self, i: int) -> Tensor:
        flip, name = i >= len(self.names), self.names[i % len(self.names)]
        if self.is_zip and (self._zip is None or self._zip_pid != os.getpid()):
            self._zip, self._zip_pid = zipfile.ZipFile(self.path), os.getpid()
        where = str(self.path / name)
        x = decode(open_file(self.path, name, self._zip), where, self.channels)
        h, w = x.shape[1:]
        if h != w and self.crop:  # the centre square of the short side
            side = min(h, w)
            top, left = (h - side) // 2, (w - side) // 2
            x, h, w = x[:, top : top + side, left : left + side], side, side
        if h != w:
            raise UsageError(f"image '{where}' is {w}x{h}, not square")
        if h != self.image_size and not self.resize:
            raise UsageError(
                f"image '{where}' is {w}x{h}, not {self.image_size}x{self.image_size}; "
                "data.resize=true resizes it"
            )
        x = resize(x[None], self.image_size)[0]
        return x.flip(2) if flip else x


class LabelledImages(Dataset[tuple[Tensor, Tensor]]):
    """`ImageFiles` with every item's label (x-flipped copies included): (image, label)."""

    def __init__(self, images: ImageFiles, labels: Tensor) -> None:
        if len(labels) != len(images):
            raise ValueError(f"{len(labels)} labels for {len(images)} images")
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    @property
    def files(self) -> list[Path]:
        """The files read (for data fingerprints)."""
        return self.images.files

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.images[i], self.labels[i]


# -- shards and conversion ------------------------------------------------------------------


def converted_images(
    path: Path | None,
    source: str,
    image_size: int,
    channels: int,
    data: StyleGANData | None = None,
    names: list[str] | None = None,
) -> list[tuple[str, Callable[[], Tensor]]]:
    """`(name, load)` pairs to convert; `load()` gives a (C, r, r) image in [-1, 1], x-flips
    left out (the loader adds them): the files of a folder or zip (resized to r; PNG names),
    a shard's images, or the embedded faces/digits (or the shapes `data`'s options render).
    Unreadable and non-square files raise UsageError from their `load()`. `names`: the files
    of a folder or zip to convert, in this order (a labelled run's); default: all of them."""
    from ganhub.data.shards import is_shard, load_image_shard

    if source != "folder" or is_shard(path):
        if source != "folder":
            images, stem = embedded(source, image_size, mirror=False, data=data), source
        else:
            assert path is not None
            images, stem = load_image_shard(path, image_size, channels, resize=True), path.stem
        return [(f"{stem}_{i:06d}.png", partial(images.__getitem__, i)) for i in range(len(images))]
    assert path is not None
    crop = data.center_crop if data is not None else False
    dataset = ImageFiles(
        path, image_size, channels, mirror=False, resize=True, names=names, crop=crop
    )
    is_png = [name.lower().endswith(".png") for name in dataset.names]
    taken = {name for name, png in zip(dataset.names, is_png, strict=True) if png}  # kept
    pairs: list[tuple[str, Callable[[], Tensor]]] = []
    for i, name in enumerate(dataset.names):
        new = name if is_png[i] else str(Path(name).with_suffix(".png"))
        if not is_png[i]:
            new = new if new not in taken else f"{name}.png"  # a.jpg next to a.png
            taken.add(new)
        pairs.append((new, partial(dataset.__getitem__, i)))
    return pairs


def load_all(images: list[tuple[str, Callable[[], Tensor]]]) -> Iterator[tuple[str, Tensor | str]]:
    """Each `(name, image)`, or `(name, why)` for an image that cannot be read."""
    for name, load in images:
        try:
            yield name, load()
        except UsageError as exc:
            yield name, str(exc)


def data_command(
    verb: str,
    path: Path | None,
    image_size: int,
    resize: bool,
    channels: int | None = None,
    *,
    crop: bool = False,
) -> str:
    """`ganhub data check|clean` for this data with the keys that decide what is dropped
    (without them a clean would judge by the default size and could drop everything)."""
    keys = [f"model.image_size={image_size}"]
    keys += ["data.resize=true"] if resize and not crop else []
    keys += ["data.center_crop=true"] if crop else []
    keys += [f"data.channels={channels}"] if channels is not None else []
    out = " --out CLEAN" if verb == "clean" else ""
    return f"ganhub data {verb} {shlex.quote(str(path))} plugin=stylegan {' '.join(keys)}{out}"


def refuse_failed(failed: list[str], clean: str) -> None:
    """One line for files that could not be converted (nothing was written); `clean`: the
    command that writes a copy without them (`data_command`)."""
    if failed:
        raise UsageError(
            f"{counted(len(failed), 'files')} cannot be converted, e.g. {failed[0]}; nothing "
            "written. "
            f"`{clean}` writes a copy without them"
        )


def _add_member(zf: zipfile.ZipFile, name: str, content: bytes) -> None:
    info = zipfile.ZipInfo(name, ZIP_TIME)
    info.external_attr = 0o644 << 16  # rw-r--r-- when unzipped
    zf.writestr(info, content)


def write_zip(
    out: Path, images: list[tuple[str, Callable[[], Tensor]]], extra: dict[str, bytes] | None = None
) -> list[str]:
    """Write the images as 8-bit PNGs into the zip `out` (atomically, stored, with fixed entry
    times: the same images give the same bytes), then the `extra` members (a dataset.json).
    Returns the failures, one line each; nothing is written when any image fails."""
    from PIL import Image

    if out.suffix.lower() != ".zip":
        raise UsageError(f"--out {out}: --to zip writes a .zip file")
    if out.exists() and not out.is_file():
        raise UsageError(f"--out {out} is a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    failed: list[str] = []
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, image in load_all(images):
                if isinstance(image, str):
                    failed.append(image)
                    continue
                pixels = ((image + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
                arr = pixels[0].numpy() if len(pixels) == 1 else pixels.permute(1, 2, 0).numpy()
                buf = io.BytesIO()
                Image.fromarray(np.ascontiguousarray(arr)).save(buf, "PNG")
                _add_member(zf, name, buf.getvalue())  # one image in memory at a time
            for name, content in (extra or {}).items():
                _add_member(zf, name, content)
        if not failed:
            tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return failed
