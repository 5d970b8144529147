"""cyclegan's data: `ganhub data check | clean | convert` on its folder layouts and embedded digits,
and the loader on the same files (one fixture set per problem class)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ganhub_cyclegan.folder import FolderPairs, read_image
from PIL import Image

from ganhub.config.resolve import resolve
from ganhub.data.inspect import DataReport
from ganhub.errors import ConfigError, UsageError
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

from .test_cyclegan import TINY_FOLDER, _png

pytestmark = pytest.mark.usefixtures("one_thread")

CHECK = ["plugin=cyclegan", "model.image_size=16", "model.n_layers_d=2"]


def _noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


def _ramp16(h: int, w: int) -> np.ndarray:
    return np.linspace(0, 65535, h * w).reshape(h, w).astype(np.uint16)


def _save(path: Path, image: Image.Image, **kwargs: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)
    return path


def _report(root: Path, *extra: str) -> DataReport:
    config = resolve([*CHECK, f"data.path={root}", *extra])
    return get_hub().require_domain("cyclegan").inspect_data(config)


def _findings(report: DataReport) -> dict[str, list[tuple[str, str, str]]]:
    out: dict[str, list[tuple[str, str, str]]] = {}
    for f in report.findings:
        out.setdefault(f.item, []).append((f.severity, f.action, f.problem))
    return out


def _dataset(root: Path, *extra: str) -> FolderPairs:
    source = make_run(resolve([*TINY_FOLDER, f"data.path={root}", *extra])).system.data()
    return source.dataset  # type: ignore[no-any-return, attr-defined]


def _index(dataset: FolderPairs, side: int, name: str) -> int:
    return [p.name for p in dataset.files[side]].index(name)


# -- fixture sets ------------------------------------------------------------------------------


def _unpaired(root: Path) -> Path:
    """trainA/: 4 good images, a 16-bit ramp, an unreadable file, an exact copy, one smaller
    than the 16 px crop; trainB/: 3 good images, a wide one, an RGBA one; testA/ (one copy of
    a training image) and testB/."""
    rng = np.random.default_rng(0)
    for i in range(4):
        _png(root / "trainA" / f"ok{i}.png", _noise(rng, 40, 40))
    _save(root / "trainA" / "deep.png", Image.fromarray(_ramp16(40, 40)))
    (root / "trainA" / "broken.png").write_bytes(b"not an image")
    _save(root / "trainA" / "same.png", Image.open(root / "trainA" / "ok0.png"))
    _png(root / "trainA" / "tiny.png", _noise(rng, 10, 12))
    for i in range(3):
        _png(root / "trainB" / "sub" / f"b{i}.png", _noise(rng, 40, 40))
    _png(root / "trainB" / "wide.png", _noise(rng, 20, 40))
    rgba = np.concatenate([_noise(rng, 24, 24), np.full((24, 24, 1), 128, np.uint8)], axis=2)
    _save(root / "trainB" / "alpha.png", Image.fromarray(rgba))
    (root / "trainB" / "README.txt").write_text("not an image")
    _save(root / "testA" / "leak.png", Image.open(root / "trainA" / "ok1.png"))
    _png(root / "testA" / "t0.png", _noise(rng, 32, 32))
    _png(root / "testB" / "t0.png", _noise(rng, 32, 32))
    return root


def _paired(root: Path) -> Path:
    """train/: 3 good pairs (40x20), a 16-bit pair, an odd width, halves smaller than the crop,
    identical halves, an exact copy, and a pair stored rotated with an EXIF orientation."""
    rng = np.random.default_rng(1)
    train = root / "train"
    for i in range(3):
        _png(train / f"p{i}.png", _noise(rng, 20, 40))
    _save(train / "deep.png", Image.fromarray(_ramp16(20, 40)))
    _png(train / "odd.png", _noise(rng, 20, 41))
    _png(train / "small.png", _noise(rng, 10, 20))
    half = _noise(rng, 20, 20)
    _png(train / "twins.png", np.concatenate([half, half], axis=1))
    _save(train / "p0_copy.png", Image.open(train / "p0.png"))
    pair = np.concatenate([np.zeros((20, 20, 3)), np.full((20, 20, 3), 255)], axis=1)
    stored = Image.fromarray(pair.astype(np.uint8)).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: the 40x20 pair again
    _save(train / "rotated.jpg", stored, exif=exif, quality=95)
    return root


def _unbalanced(root: Path, n_b: int) -> Path:
    rng = np.random.default_rng(2)
    for i in range(21):
        _png(root / "trainA" / f"a{i:02d}.png", _noise(rng, 18, 18))
    for i in range(n_b):
        _png(root / "trainB" / f"b{i}.png", _noise(rng, 18, 18))
    return root


# -- decoding keeps information ----------------------------------------------------------------


def test_a_16_bit_ramp_in_train_a_loads_to_the_full_range(workdir: Path) -> None:
    root = workdir / "deep"
    _save(root / "trainA" / "ramp.png", Image.fromarray(_ramp16(40, 40)))
    _png(root / "trainB" / "b.png", np.zeros((16, 16, 3)))
    x = read_image(root / "trainA" / "ramp.png", 1)
    assert x.min() == -1 and x.max() == 1  # an 8-bit conversion would clip it to white
    assert torch.allclose(
        x[0], torch.from_numpy(_ramp16(40, 40) / 65535.0).float() * 2 - 1, atol=1e-5
    )
    dataset = _dataset(root, "model.image_size=16", "data.load_size=16", "data.flip=false")
    a, _ = dataset[(0, 0, 0)]  # resized to 16 px, the whole ramp, no crop
    assert a.min() < -0.9 and a.max() > 0.9 and abs(float(a.mean())) < 0.05
    notes = _findings(_report(root))["trainA/ramp.png"]
    assert ("note", "convert", "16-bit (I;16): scaled by its full range, not clipped") in notes


# -- unpaired folders --------------------------------------------------------------------------


def test_unpaired_report_names_each_file_by_its_path_under_data(workdir: Path) -> None:
    root = _unpaired(workdir / "data")
    report = _report(root)
    found = _findings(report)
    assert report.items[0] == "trainA/broken.png" and "trainB/sub/b0.png" in report.items
    assert len(report.items) == 8 + 2 + 5 + 1  # trainA/, testA/, trainB/, testB/ (grids)
    assert [s[:2] for s in found["trainA/broken.png"]] == [("error", "drop")]
    assert found["trainA/same.png"] == [("warning", "drop", "duplicate of trainA/ok0.png")]
    assert found["testA/leak.png"] == [("warning", "drop", "duplicate of trainA/ok1.png")]
    tiny = found["trainA/tiny.png"][0]  # resized to load_size as the original does, then cropped
    assert tiny[:2] == ("note", "keep") and tiny[2].startswith(
        "smaller than the 16 px crop (12x10): upscaled 1.8x to 18x18 on load"
    )
    assert ("note", "keep", "not square (40x20): stretched to 18x18") in found["trainB/wide.png"]
    assert ("note", "convert", "transparency: composited on black") in found["trainB/alpha.png"]
    assert ("note", "convert", "grey image in 3-channel data") in found["trainA/deep.png"]
    assert report.dropped() == {
        "trainA/broken.png", "trainA/same.png", "testA/leak.png",
    }  # fmt: skip
    assert report.summary["files"] == {"trainA/": 8, "testA/": 2, "trainB/": 5, "testB/": 1}
    assert report.summary["balance A:B"] == "8:5" and report.summary["ignored (not images)"] == 1
    assert not report.clean


def test_the_loader_on_the_same_unpaired_files(workdir: Path) -> None:
    root = _unpaired(workdir / "data")
    dataset = _dataset(root)
    assert dataset.sizes() == (8, 5)  # the loader lists what the report lists
    with pytest.raises(UsageError, match=r"cannot read image '.*broken.png'"):
        dataset[(_index(dataset, 0, "broken.png"), 0, 0)]
    tiny, _ = dataset[(_index(dataset, 0, "tiny.png"), 0, 0)]  # upscaled to load_size, cropped
    assert tiny.shape == (3, 16, 16)
    a, b = dataset[(_index(dataset, 0, "deep.png"), _index(dataset, 1, "alpha.png"), 0)]
    assert a.shape == b.shape == (3, 16, 16) and torch.equal(a[0], a[1])  # grey -> RGB
    alpha = read_image(root / "trainB" / "alpha.png", 3)  # half-transparent: on black
    rgb = np.asarray(Image.open(root / "trainB" / "alpha.png").convert("RGB"), np.float32)
    assert torch.allclose(
        (alpha[:, 0, 0] + 1) / 2, torch.from_numpy(rgb[0, 0] / 255 * 128 / 255), atol=0.01
    )


def test_clean_keeps_the_layout_and_the_copy_checks_clean(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    root = _unpaired(workdir / "data")
    code, out, _ = cli("data", "check", str(root), *CHECK, "--json")
    assert code == 1 and json.loads(out)["clean"] is False
    code, out, _ = cli("data", "clean", str(root), *CHECK, "--out", "cleaned")
    assert code == 0 and "13 of 16 kept, 3 dropped" in out, out
    copy = workdir / "cleaned"
    kept = sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file())
    assert kept == [
        "testA/t0.png", "testB/t0.png", "trainA/deep.png", "trainA/ok0.png", "trainA/ok1.png",
        "trainA/ok2.png", "trainA/ok3.png", "trainA/tiny.png", "trainB/alpha.png",
        "trainB/sub/b0.png",
        "trainB/sub/b1.png", "trainB/sub/b2.png", "trainB/wide.png",
    ]  # fmt: skip
    assert {p.name for p in copy.iterdir()} == {"trainA", "trainB", "testA", "testB"}
    assert (root / "trainA" / "broken.png").exists()  # the user's files are never changed
    code, out, _ = cli("data", "check", "cleaned", *CHECK)
    assert code == 0, out
    assert _dataset(copy).sizes() == (6, 5)  # the cleaned copy trains as it is


# -- paired folders ----------------------------------------------------------------------------


def test_paired_report_finds_odd_widths_small_halves_and_identical_halves(workdir: Path) -> None:
    root = _paired(workdir / "pairs")
    report = _report(root, "task=paired")
    found = _findings(report)
    assert report.kind == "pair images" and len(report.items) == 9
    (odd,) = found["train/odd.png"]  # split at half its width, as the original does
    assert odd[:2] == ("note", "convert") and odd[2].startswith("odd width (41x20): split at 20 px")
    (small,) = found["train/small.png"]
    assert small[:2] == ("note", "keep") and small[2].startswith(
        "smaller than the 16 px crop (10x10 halves): upscaled"
    )
    assert found["train/twins.png"] == [
        ("warning", "drop", "A and B halves are identical: the pair teaches the identity")
    ]
    assert found["train/p0_copy.png"] == [("warning", "drop", "duplicate of train/p0.png")]
    assert [s[0] for s in found["train/deep.png"]] == ["note", "note"]  # 16-bit, grey
    assert [s[2] for s in found["train/rotated.jpg"]] == ["EXIF orientation 6: rotated upright"]
    assert report.dropped() == {
        "train/twins.png",
        "train/p0_copy.png",
    }
    assert "balance A:B" not in report.summary  # pairs are balanced by construction


def test_the_loader_on_the_same_paired_files(workdir: Path) -> None:
    root = _paired(workdir / "pairs")
    dataset = _dataset(root, "task=paired", "data.flip=false")
    a, b = dataset[(_index(dataset, 0, "odd.png"), 0)]  # A 20 px, B 21 px: both resized
    assert a.shape == b.shape == (3, 16, 16)
    a, b = dataset[(_index(dataset, 0, "small.png"), 0)]  # halves upscaled to load_size
    assert a.shape == b.shape == (3, 16, 16)
    a, b = dataset[(_index(dataset, 0, "rotated.jpg"), 0)]  # upright: black A | white B
    assert a.max() < -0.9 and b.min() > 0.9
    a, b = dataset[(_index(dataset, 0, "twins.png"), 0)]
    assert torch.equal(a, b)  # loaded as it is: the check warns, clean drops it
    a, b = dataset[(_index(dataset, 0, "deep.png"), 0)]
    assert a.min() < -0.5 and b.max() > 0.9  # the 16-bit ramp runs across the pair, not white


# -- balance between the sides -----------------------------------------------------------------


def test_a_side_under_a_tenth_of_the_other_is_a_warning(workdir: Path) -> None:
    report = _report(_unbalanced(workdir / "few", 2))
    assert report.summary["balance A:B"] == "21:2"
    assert _findings(report) == {
        "trainB/": [
            ("warning", "keep", "unbalanced: 2 images against 21 in trainA/ (under 10%): "
             "each is seen ~10 times per epoch")
        ]
    }  # fmt: skip
    assert report.dropped() == set() and not report.clean
    dataset = _dataset(workdir / "few")
    assert dataset.sizes() == (21, 2)  # the loader cycles the small side: an epoch is 21 pairs
    assert _report(_unbalanced(workdir / "enough", 3)).clean  # 3 of 21: over a tenth


# -- embedded data and convert -----------------------------------------------------------------


@pytest.mark.parametrize("task", ["unpaired", "paired"])
def test_the_embedded_digits_check_clean(cli, task: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("data", "check", "plugin=cyclegan", f"task={task}")
    assert code == 0, out + err
    assert f"(task={task}): 5000 digits, clean (0 errors, 0 warnings, 0 notes)" in out


def test_the_embedded_check_finds_a_planted_duplicate(monkeypatch: pytest.MonkeyPatch) -> None:
    from ganhub_cyclegan import checks

    grey = checks.digits(28)[0].clone()
    grey[7] = grey[3]
    monkeypatch.setattr(checks, "digits", lambda size: (grey, None))
    report = checks.inspect_embedded(resolve(["plugin=cyclegan"]))  # type: ignore[arg-type]
    assert {(f.item, f.problem) for f in report.findings} == {
        ("digit 7", "B: duplicate of digit 3"), ("digit 7", "A: duplicate of digit 3"),
    }  # fmt: skip


def test_convert_is_refused_with_what_works(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli(
        "data", "convert", "plugin=cyclegan", "--to", "shard", "--out", "d.safetensors"
    )
    assert code == 2 and err.count("\n") == 1 and "ganhub data clean DATA plugin=cyclegan" in err
    assert not (workdir / "d.safetensors").exists()


def test_a_folder_run_whose_data_moved_is_one_line_to_sample(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    import ganhub

    rng = np.random.default_rng(0)
    for side in ("trainA", "trainB"):
        for i in range(4):
            _png(workdir / "data" / side / f"{i}.png", _noise(rng, 20, 20))
    run_dir = ganhub.train([*TINY_FOLDER, "trainer.steps=1", f"data.path={workdir / 'data'}"])[
        "run_dir"
    ]
    (workdir / "data").rename(workdir / "moved")
    code, _, err = cli("sample", run_dir)  # from the inputs kept with the run, said in one line
    assert code == 0 and err.count("\n") == 1 and "inputs kept with the run" in err, err
    code, _, err = cli("eval", run_dir)  # metrics read the data: one line when it is gone
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"ganhub: error: data.path='{workdir / 'data'}': folder does not exist; "
                          "if the run's data has moved, give data.path=FOLDER")  # fmt: skip
    (workdir / "afile").write_text("x")
    with pytest.raises(ConfigError, match="is a file; give the folder with trainA/trainB or train"):
        _report(workdir / "afile")


def test_a_lone_test_folder_feeds_its_own_sides_grid(tmp_path: Path) -> None:
    """testA/ without testB/ was ignored: both grids came from the training folders."""
    from ganhub_cyclegan.folder import preview_folders

    rng = np.random.default_rng(0)
    for side in ("trainA", "trainB", "testA"):
        _png(tmp_path / side / "0.png", (rng.random((16, 16, 3)) * 255).astype(np.uint8))
    assert preview_folders(tmp_path, "unpaired") == ("testA", "trainB")
    _png(tmp_path / "testB" / "0.png", (rng.random((16, 16, 3)) * 255).astype(np.uint8))
    assert preview_folders(tmp_path, "unpaired") == ("testA", "testB")


def test_epoch_keys_are_dealt_so_another_world_size_continues_the_epoch() -> None:
    """Each rank took a contiguous block: resumed with another number of processes, part of
    the epoch came twice and part never. Dealt in turn, what all ranks took is a prefix."""
    from ganhub_cyclegan.data import epoch_keys

    full = epoch_keys((10, 7), seed=1, epoch=0)
    assert torch.equal(epoch_keys((10, 7), 1, 0, rank=0, world=1), full)  # one process: as was
    ranks = [epoch_keys((10, 7), 1, 0, rank=r, world=2, start=4) for r in range(2)]
    assert torch.equal(torch.stack(ranks, 1).reshape(-1, 3), full[4:])  # 4, 5, 6, ... in turn
    assert len(epoch_keys((10, 7), 1, 0, rank=2, world=3, start=4)) == 2  # equal shares


def test_paired_train_a_and_b_folders_are_refused_not_cut_in_halves(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """pix2pix's layout before its combine step trained each image's left half into its right
    half, and `data check` called it clean (with notes)."""
    rng = np.random.default_rng(0)
    for side in ("A", "B"):
        for i in range(2):
            _png(
                workdir / "pairs" / "train" / side / f"{i}.png",
                (rng.random((32, 32, 3)) * 255).astype(np.uint8),
            )
    line = r"train/ holds A/ and B/ folders; task=paired reads A\|B pairs side by side"
    with pytest.raises(ConfigError, match=line):
        resolve([*TINY_FOLDER, "task=paired", f"data.path={workdir / 'pairs'}"])
    code, _, err = cli("data", "check", "pairs", "plugin=cyclegan", "task=paired")
    assert code == 2 and "train/ holds A/ and B/ folders" in err


def test_a_paired_folders_test_pairs_are_scored(workdir: Path) -> None:
    """A pix2pix folder run had no metric: its test/ (else val/) pairs, never trained on, are
    scored by PSNR/SSIM like the embedded digits; without them there is nothing to score."""
    from ganhub_cyclegan.metrics import TranslationPSNRSSIM, psnr

    rng = np.random.default_rng(3)
    for folder, n in (("train", 6), ("val", 3), ("test", 4)):
        for i in range(n):
            _png(workdir / "facades" / folder / f"{i}.png", _noise(rng, 16, 32))
    keys = [*TINY_FOLDER, "task=paired", f"data.path={workdir / 'facades'}"]
    system = make_run(resolve(keys)).system
    assert system.default_metrics() == ["translation_psnr_ssim"]
    a, b = system.heldout_pairs()
    assert a.shape == b.shape == (4, 3, 16, 16)  # test/ over val/, A left and B right
    first = torch.from_numpy(np.array(Image.open(workdir / "facades" / "test" / "0.png")))
    assert torch.allclose(b[0].permute(1, 2, 0), first[:, 16:].float() / 127.5 - 1, atol=1e-6)
    scores = TranslationPSNRSSIM().compute(system, n_samples=16, seed=0)
    assert scores["n_pairs"] == 4
    assert scores["psnr_identity_AtoB"] == pytest.approx(float(psnr(a, b).mean()))
    for folder in ("test", "val"):
        for path in (workdir / "facades" / folder).iterdir():
            path.unlink()
    bare = make_run(resolve(keys)).system
    assert bare.default_metrics() == [] and bare.heldout_pairs() is None


def test_a_broken_preview_file_stops_the_run_before_step_one(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """A testA/ file that cannot be read stopped training at the first sample step, after the
    steps up to it and before any checkpoint: the grid's files are read before step one (and
    before the banner names a run directory that would then be removed)."""
    import ganhub

    rng = np.random.default_rng(4)
    for side in ("trainA", "trainB", "testB"):
        for i in range(2):
            _png(workdir / "h2z" / side / f"{i}.png", _noise(rng, 16, 16))
    (workdir / "h2z" / "testA").mkdir()
    (workdir / "h2z" / "testA" / "broken.png").write_bytes(b"not a png")
    keys = [*TINY_FOLDER, f"data.path={workdir / 'h2z'}", "trainer.steps=50", "name=broken"]
    with pytest.raises(UsageError, match=r"testA/broken\.png") as caught:
        ganhub.train(keys)
    assert "\n" not in str(caught.value) and not (workdir / "runs" / "broken").exists()
    code, out, err = cli("run", *keys, "trainer.progress=true")
    assert code != 0 and "testA/broken.png" in err and "run dir" not in out + err


def test_a_task_folder_linked_out_of_data_path_is_refused(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """trainA/ (or testB/, val/) linked to another folder was read by the check and the run:
    each listed folder was its own data folder. Links are judged against data.path, so a
    task folder leading out of it is refused in one line, and a link inside it is followed."""
    rng = np.random.default_rng(5)
    for i in range(2):
        _png(workdir / "secret" / f"{i}.png", _noise(rng, 20, 20))
        _png(workdir / "cyc" / "trainB" / f"{i}.png", _noise(rng, 20, 20))
        _png(workdir / "cyc" / "store" / f"{i}.png", _noise(rng, 20, 20))
    (workdir / "cyc" / "trainA").symlink_to(workdir / "secret")
    refused = "'cyc/trainA' is a symlink leading outside the data folder 'cyc'"
    code, out, err = cli("data", "check", "cyc", *CHECK)
    assert code == 2 and err.strip().splitlines() == [f"ganhub: error: {refused} (to "
           f"'{workdir / 'secret'}'); training reads files inside it only: copy the files in, "
           "or point data.path at them"], out + err  # fmt: skip
    with pytest.raises(ConfigError, match=refused):
        resolve([*TINY_FOLDER, "data.path=cyc"])
    (workdir / "cyc" / "trainA").unlink()
    (workdir / "cyc" / "trainA").symlink_to(workdir / "cyc" / "store")  # inside: followed
    assert [p.name for p in _dataset(workdir / "cyc").files[0]] == ["0.png", "1.png"]
    (workdir / "cyc" / "store" / "2.png").symlink_to(workdir / "cyc" / "trainB" / "0.png")
    code, out, err = cli("data", "check", "cyc", *CHECK)  # a link between task folders: inside
    assert code in (0, 1) and "symlink" not in out + err, out + err
    assert [p.name for p in _dataset(workdir / "cyc").files[0]] == ["0.png", "1.png", "2.png"]
    (workdir / "cyc" / "testB").symlink_to(workdir / "secret")  # the grids' folder
    with pytest.raises(ConfigError, match="'cyc/testB' is a symlink leading outside"):
        _report(Path("cyc"))
    (workdir / "cyc" / "testB").unlink()
    for name in ("trainA", "trainB"):
        (workdir / "cyc" / name).rename(workdir / "cyc" / f"x{name}")
    _png(workdir / "cyc" / "train" / "0.png", _noise(rng, 20, 40))
    (workdir / "cyc" / "val").symlink_to(workdir / "secret")  # a paired folder's test pairs
    with pytest.raises(ConfigError, match="'cyc/val' is a symlink leading outside"):
        _report(Path("cyc"), "task=paired")
