"""`ganhub data check` as a user meets it: the class counts of a conditional folder are of the
images a run can use, a class none of whose files is usable is an error, and an animated image
(of which the loaders read the first frame) is said to be one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from ganhub.data.decode import describe_image, read_image


def _classes(root: Path, broken: dict[str, int]) -> Path:
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    for name, n in broken.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            (root / name / f"bad{i}.png").write_bytes(b"not an image" if i else b"")
    return root


def test_class_counts_leave_out_unusable_files(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _classes(workdir / "data", {"b": 2})
    code, out, _ = cli("data", "check", "data", "plugin=dcgan", "model.conditional=true", "--json")
    report = json.loads(out)
    assert code == 1
    assert report["summary"]["classes"] == {"a": 3, "b": 3}  # not b: 5


def test_a_class_with_no_usable_image_is_an_error(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _classes(workdir / "data", {"c": 2})
    code, out, _ = cli("data", "check", "data", "plugin=dcgan", "model.conditional=true", "--json")
    report = json.loads(out)
    assert code == 1
    assert report["summary"]["classes"] == {"a": 3, "b": 3}  # c: the error row
    rows = [f for f in report["findings"] if f["item"] == "(labels)"]
    assert len(rows) == 1 and rows[0]["severity"] == "error", rows
    assert "class(es) c: no usable image" in rows[0]["problem"]
    # the refusal the check foretells is the run's
    code, _, err = cli("run", "plugin=dcgan", "data.path=data", "model.conditional=true",
                       "data.skip_bad=true", "trainer.steps=1", "trainer.batch_size=2")  # fmt: skip
    assert code != 0 and "every file of class c" in err
    # a cleaned copy drops the class with its files: its summary says so
    code, out, err = cli("data", "clean", "data", "plugin=dcgan", "model.conditional=true",
                         "--out", "clean")  # fmt: skip
    assert code == 0, err
    assert "6 of 8 kept" in out and "class(es) c: no usable image" in out
    assert sorted(p.name for p in (workdir / "clean").iterdir()) == ["a", "b"]


def test_an_animated_image_is_noted_and_its_first_frame_read(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frames = [Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)) for _ in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "still.gif")
    notes = describe_image(tmp_path / "anim.gif", "anim.gif").notes
    assert any("animated" in n and "first frame" in n for n in notes), notes
    assert not any("animated" in n for n in describe_image(tmp_path / "still.gif", "s").notes)
    pixels, _ = read_image(tmp_path / "anim.gif", 3)
    first = np.asarray(Image.open(tmp_path / "anim.gif").convert("RGB"), dtype=np.float32) / 255
    assert np.abs(pixels.transpose(1, 2, 0) - first).max() < 1e-6
