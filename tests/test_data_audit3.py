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
    assert "class c: no usable image" in rows[0]["problem"]
    # the refusal the check foretells is the run's
    code, _, err = cli("run", "plugin=dcgan", "data.path=data", "model.conditional=true",
                       "data.skip_bad=true", "trainer.steps=1", "trainer.batch_size=2")  # fmt: skip
    assert code != 0 and "every file of class c" in err
    # a cleaned copy drops the class with its files: its summary says so
    code, out, err = cli("data", "clean", "data", "plugin=dcgan", "model.conditional=true",
                         "--out", "clean")  # fmt: skip
    assert code == 0, err
    assert "6 of 8 kept" in out and "class c: no usable image" in out
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


def _hidden_rows(root: Path) -> Path:
    """Four visible images (classes a, b) and three hidden ones that labels.csv names too."""
    rng = np.random.default_rng(2)
    for name in ("", ".hidden", "sub/.cache"):
        (root / name).mkdir(parents=True, exist_ok=True)
    names = ["0.png", "1.png", "2.png", "3.png", ".hidden/h.png", "sub/.cache/c.png", "._x.png"]
    for name in names:
        pixels = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / name)
    rows = "".join(f"{n},{'ab'[i % 2]}\n" for i, n in enumerate(names))
    (root.parent / "labels.csv").write_text("file,label\n" + rows)
    return root


def test_labels_rows_naming_hidden_files_are_errors_of_the_check(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _hidden_rows(workdir / "data")
    args = ("plugin=dcgan", "model.conditional=true", "data.labels=labels.csv")
    code, out, _ = cli("data", "check", "data", *args, "--json")
    report = json.loads(out)
    assert code == 1
    errors = {f["item"] for f in report["findings"] if f["severity"] == "error"}
    assert errors == {".hidden/h.png", "sub/.cache/c.png", "._x.png"}, report["findings"]
    assert report["summary"]["classes"] == {"a": 2, "b": 2}  # the four images a run reads
    assert report["summary"]["data.labels rows naming hidden files"] == 3
    # the run agrees: it refuses the rows, in one line, instead of training hidden files
    code, _, err = cli("run", "data.path=data", *args, "trainer.steps=1", "trainer.batch_size=2")
    assert code == 2 and "hidden" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "row 6: '.hidden/h.png'" in err
    # a cleaned copy leaves them out of its labels, and trains
    code, out, err = cli("data", "clean", "data", *args, "--out", "clean")
    assert code == 0, err
    kept = (workdir / "clean" / "labels.csv").read_text().splitlines()
    assert kept == ["file,label", "0.png,a", "1.png,b", "2.png,a", "3.png,b"]


def test_labels_rows_naming_only_hidden_files_are_refused_as_such(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _hidden_rows(workdir / "data")
    (workdir / "hidden.csv").write_text("file,label\n.hidden/h.png,a\n._x.png,b\n")
    code, _, err = cli("data", "check", "data", "plugin=dcgan", "model.conditional=true",
                       "data.labels=hidden.csv")  # fmt: skip
    assert code == 2 and "hidden" in err and "not an image" not in err, err


def test_a_conditional_run_on_a_shard_is_told_which_folder_to_train_on(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _classes(workdir / "data", {})
    code, _, err = cli("data", "convert", "data", "plugin=dcgan", "--to", "shard", "--out",
                       "d.safetensors")  # fmt: skip
    assert code == 0, err
    cond = ("plugin=dcgan", "model.conditional=true", "trainer.steps=1")
    code, _, err = cli("run", "data.path=d.safetensors", *cond)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "a shard holds no labels" in err and "('data')" in err  # the folder it came from
    assert "model.conditional=false" in err
    # a missing shard is no missing folder
    code, _, err = cli("run", "data.path=gone.safetensors", *cond)
    assert code == 2 and "no such shard" in err and "folder" not in err, err


def test_labels_rows_resolve_as_the_file_system_does(tmp_path: Path) -> None:
    """Rows are resolved folder by folder (once each): the same files as `Path.resolve`."""
    import os

    from ganhub.data.label_csv import read_rows

    root = _hidden_rows(tmp_path / "data")
    os.symlink(root / "sub", root / "linked")  # a folder link inside the data
    os.symlink(root / "3.png", root / "sub" / "alias.png")  # a file link inside it
    (root / "sub" / "d.png").write_bytes((root / "1.png").read_bytes())
    texts = ["0.png", "./1.png", "sub/../2.png", "linked/d.png", "sub/alias.png", "gone.png"]
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("file,label\n" + "".join(f"{t},a\n" for t in texts))
    base = root.resolve()
    got = [row.path for row in read_rows(csv_path, root, "data.labels")]
    assert got == [(base / t).resolve() for t in texts]
    assert got[3] == base / "sub" / "d.png" and got[4] == base / "3.png"


def test_a_folder_or_an_image_given_for_data_labels_is_named_as_such(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _classes(workdir / "data", {})
    cond = ("data", "check", "data", "plugin=dcgan", "model.conditional=true")
    code, _, err = cli(*cond, "data.labels=data")  # was: "file does not exist"
    assert code == 2 and "is a folder" in err and "does not exist" not in err, err
    code, _, err = cli(*cond, "data.labels=data/a/0.png")  # was: "not UTF-8 text"
    assert code == 2 and "is no CSV" in err and "UTF-8" not in err, err


def test_a_shards_manifest_given_for_the_shard_is_named(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _classes(workdir / "data", {})
    code, _, err = cli("data", "convert", "data", "plugin=dcgan", "--to", "shard", "--out",
                       "d.safetensors")  # fmt: skip
    assert code == 0, err
    code, _, err = cli("data", "check", "d.json", "plugin=dcgan")
    assert code == 2 and "manifest of shard 'd.safetensors'" in err, err
    code, _, err = cli("data", "check", "d.safetensors", "plugin=dcgan")
    assert code == 0, err  # the shard itself checks


def test_check_help_names_every_exit_code_the_command_gives(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _, out, _ = cli("data", "check", "--help")
    code, _, _ = cli("data", "check", "missing", "plugin=dcgan")  # a usage error
    assert code == 2 and "2 when" in " ".join(out.split()), out
