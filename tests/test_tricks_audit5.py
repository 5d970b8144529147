"""Tricks, a fifth audit: bound refusals that say why for the weight, penalty and clipping
tricks; label smoothing that would smooth nothing; `check_trick` holding a plugin trick's
`warnings()` to its contract; a corrupt EXIF block as a note of its file, not Pillow's
warning."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from ganhub import testing
from ganhub.config.resolve import resolve
from ganhub.data.decode import describe_image, read_image
from ganhub.errors import ConfigError
from ganhub.hookspecs import hookimpl
from ganhub.plugins import Hub
from ganhub.tricks import Trick

from .conftest import TINY_TOY

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize(
    ("trick", "key", "accepted"),
    [
        ("clip_grad", "trick.clip_grad.max=0", "trick.clip_grad.max=0.01"),
        ("clip_grad", "trick.clip_grad.max=-1", None),
        ("r1", "trick.r1.interval=0", "trick.r1.interval=1"),
        ("r2", "trick.r2.interval=-2", None),
        ("r1", "trick.r1.gamma=0", "trick.r1.gamma=0.01"),
        ("ema", "trick.ema.decay=1", "trick.ema.decay=0.9999"),
        ("ema", "trick.ema.decay=1.5", None),
        ("ema", "trick.ema.decay=-0.1", None),
        ("ema", "trick.ema.decay=0", "trick.ema.decay=0.001"),
        ("ema", "trick.ema.half_life_kimg=0", "trick.ema.half_life_kimg=0.5"),
        ("ema", "trick.ema.start_step=-1", "trick.ema.start_step=0"),
        ("init", "trick.init.std=0", "trick.init.std=0.02"),
        ("spectral_norm", "trick.spectral_norm.power_iterations=0",
         "trick.spectral_norm.power_iterations=1"),
        ("weight_penalty", "trick.weight_penalty.weight=0", "trick.weight_penalty.weight=1e-6"),
        ("gp", "trick.gp.weight=-1", "trick.gp.weight=1"),
        ("gp", "trick.gp.center=-1", "trick.gp.center=0"),
    ],
)  # fmt: skip
def test_a_weight_or_penalty_bound_is_refused_saying_why(
    trick: str, key: str, accepted: str | None
) -> None:
    """trick.clip_grad.max=0, trick.r1.interval=0, trick.ema.decay=1 (and the other bounds of
    these tricks) were refused with pydantic's "Input should be greater than 0": what, not
    why. One line naming the key, the reason and the valid values; the bound resolves."""
    base = [*TINY_TOY, f"tricks=[{trick}]", *(["loss=hinge"] if trick == "gp" else [])]
    with pytest.raises(ConfigError) as refused:
        resolve([*base, key])
    message = str(refused.value)
    assert message.startswith(key + ":") and "\n" not in message
    assert "Input should" not in message and "give " in message
    if accepted is not None:
        config = resolve([*base, accepted])
        option, value = accepted.removeprefix(f"trick.{trick}.").split("=")
        assert getattr(getattr(config.trick, trick), option) == float(value)


def test_the_ema_rampup_bound_is_refused_saying_why() -> None:
    """rampup=0 held the half-life at 0: the average a copy of G (pydantic's words before)."""
    with pytest.raises(ConfigError, match=r"^trick\.ema\.rampup=0: would make the average a copy"):
        resolve([*TINY_TOY, "tricks=[ema]", "trick.ema.half_life_kimg=1", "trick.ema.rampup=0"])


SMOOTHING = [*TINY_TOY, "loss=nonsaturating", "tricks=[label_smoothing]"]


@pytest.mark.parametrize(
    ("keys", "key"),
    [
        (["real=1"], "trick.label_smoothing.real=1:"),
        (["mode=two_sided", "fake=0"], "trick.label_smoothing.fake=0:"),
        (["mode=two_sided", "real=1", "fake=0"], "trick.label_smoothing.real=1 and fake=0:"),
        (["mode=two_sided", "real=0.4", "fake=0.6"], "trick.label_smoothing.real=0.4 with"),
    ],
)
def test_label_smoothing_that_smooths_nothing_is_refused(keys: list[str], key: str) -> None:
    """trick.label_smoothing.real=1 (one_sided) was accepted: the target is the hard label, so
    the trick changed nothing; two_sided with fake=0 smoothed only the real side, and a real
    target at or below the fake one taught D the labels the wrong way round."""
    with pytest.raises(ConfigError) as refused:
        resolve([*SMOOTHING, *(f"trick.label_smoothing.{k}" for k in keys)])
    message = str(refused.value)
    assert message.startswith(key) and "\n" not in message and "give " in message


@pytest.mark.parametrize(
    "keys", [[], ["real=0.95"], ["mode=two_sided"], ["mode=two_sided", "real=1", "fake=0.1"]]
)
def test_label_smoothing_that_moves_a_target_is_accepted(keys: list[str]) -> None:
    """A target moved off its hard label on either side still resolves."""
    config = resolve([*SMOOTHING, *(f"trick.label_smoothing.{k}" for k in keys)])
    options = config.trick.label_smoothing  # type: ignore[attr-defined]
    assert options.real < 1 or (options.mode == "two_sided" and options.fake > 0)


def test_the_refusal_is_one_line_from_the_cli(cli: Any, workdir: Path) -> None:
    """`ganhub config ... trick.ema.decay=1` says why in one line, exit code 2."""
    code, _, err = cli("config", *TINY_TOY, "tricks=[ema]", "trick.ema.decay=1")
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("ganhub: error: trick.ema.decay=1: would stop the average"), err


class SetUpOnly(Trick):
    """Its warnings read what setup makes: `ganhub config` (which never sets tricks up) fails."""

    name = "setup_only"

    def setup(self, system: Any) -> None:
        """Remember the system's generator names."""
        self.names = list(system.generator_names)

    def warnings(self) -> list[str]:
        """Reads an attribute only setup gives."""
        return [f"generators {self.names}"] if len(self.names) > 5 else []


class OneString(Trick):
    """Its warnings return one str, not a list of them."""

    name = "one_string"

    def warnings(self) -> list[str]:
        """A str, not a list."""
        return "trick.one_string: always"  # type: ignore[return-value]


def _hub(cls: type[Trick]) -> Hub:
    plugin = SimpleNamespace(
        register_tricks=hookimpl(lambda register: register(cls.name, cls))  # type: ignore[misc]
    )
    return Hub.discover(extra=(("odd", plugin),))


@pytest.mark.parametrize(
    ("cls", "said"),
    [
        (SetUpOnly, "raised AttributeError: 'SetUpOnly' object has no attribute 'names'"),
        (OneString, "returned str, not a list of str"),
    ],
)
def test_check_trick_holds_warnings_to_their_contract(
    cls: type[Trick], said: str, workdir: Path
) -> None:
    """A plugin trick whose warnings() needs setup() passed check_trick (a run sets tricks up
    first) and then broke `ganhub config`, which calls warnings() on tricks never set up;
    one returning a str passed too. check_trick now calls it as `ganhub config` does."""
    base = [a for a in TINY_TOY if not a.startswith("tricks=")]
    with pytest.raises(testing.ContractError) as err:
        testing.check_trick(cls.name, base, hub=_hub(cls), workdir=workdir)
    message = str(err.value)
    assert message.startswith(f"trick '{cls.name}': warnings() on the trick made"), message
    assert "never set up (as `ganhub config` calls it)" in message and said in message
    assert not list(workdir.rglob("*.jsonl"))  # refused before any training


def _corrupt_exif_jpeg(path: Path, how: str) -> None:
    """A JPEG with an EXIF orientation and a Make tag whose EXIF block this corrupts: `tag`
    points the Make tag's text past the block's end, `count` claims 300 entries."""
    pixels = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "A camera maker's long name"
    Image.fromarray(pixels).save(path, exif=exif.tobytes(), quality=95)
    raw = bytearray(path.read_bytes())
    tiff = raw.index(b"Exif\x00\x00") + 6
    end = "<" if raw[tiff : tiff + 2] == b"II" else ">"
    (ifd,) = struct.unpack_from(end + "L", raw, tiff + 4)
    (count,) = struct.unpack_from(end + "H", raw, tiff + ifd)
    if how == "count":
        struct.pack_into(end + "H", raw, tiff + ifd, 300)
    for at in range(tiff + ifd + 2, tiff + ifd + 2 + 12 * count, 12):
        if how == "tag" and struct.unpack_from(end + "H", raw, at)[0] == 0x010F:
            struct.pack_into(end + "L", raw, at + 8, 5000)
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("how", ["tag", "count"])
def test_a_corrupt_exif_block_is_a_note_of_its_file(tmp_path: Path, how: str) -> None:
    """Pillow printed `UserWarning: Corrupt EXIF data...` (or "Truncated File Read"), two lines
    naming no file, during `ganhub data check` and runs. Its warning is not shown; the file's
    facts say what is corrupt, and the image still decodes."""
    path = tmp_path / "photo.jpg"
    _corrupt_exif_jpeg(path, how)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's warning would raise here
        facts = describe_image(path, "photo.jpg")
        pixels, _ = read_image(path, 3, "photo.jpg")
    (note,) = [n for n in facts.notes if n.startswith("corrupt EXIF data (")]
    assert "past the block's" in note  # tag's bytes run, a directory runs
    assert pixels.shape[0] == 3 and np.isfinite(pixels).all()
    clean = tmp_path / "clean.jpg"  # a sound block: no note
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(clean, exif=Image.Exif().tobytes())
    assert not [n for n in describe_image(clean, "clean.jpg").notes if "EXIF" in n]


def test_data_check_names_the_file_with_corrupt_exif(cli: Any, workdir: Path) -> None:
    """`ganhub data check` notes the file; stderr has no Pillow warning."""
    folder = workdir / "photos"
    folder.mkdir()
    _corrupt_exif_jpeg(folder / "bad.jpg", "tag")
    pixels = np.random.default_rng(1).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / "good.jpg")
    code, out, err = cli("data", "check", str(folder), "plugin=dcgan")
    report = out + err
    assert "Warning" not in report and "TiffImagePlugin" not in report, report
    (line,) = [line for line in report.splitlines() if "corrupt EXIF data" in line]
    assert "bad.jpg" in line and code == 0, report
