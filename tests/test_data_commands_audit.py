"""`ganhub data check | clean | convert` take DATA literally as a path, refuse what `ganhub run`
refuses (one line, exit 2), write a --list every line of which is one kept name, expand `~` in
--out and --list, and give a cleaned copy the labels of its kept files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _images(root: Path, names: list[str], seed: int = 0) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        pixels = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(os.path.join(os.fsencode(root), os.fsencode(name)), "PNG")
    return root


@pytest.mark.parametrize("name", ["null", "~", "true", "[x]", "{a}"])
def test_data_is_the_folder_of_that_name_never_a_config_value(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
    name: str,
) -> None:
    """`null` was read as data.path=None (the embedded digits, "clean"); `~` as the home
    folder; `true`, `[x]` and `{a}` as a bool, a list and a mapping."""
    _images(workdir / name, ["a.png", "b.png"])
    code, out, err = cli("data", "check", name, "plugin=dcgan", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["items"] == 2 and report["kind"] == "images", out


def test_convert_reads_the_folder_named_null(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    _images(workdir / "null", ["a.png", "b.png", "c.png"])
    args = ["convert", "null", "plugin=dcgan", "--to", "shard", "--out", "n.safetensors"]
    code, _, err = cli("data", *args)
    assert code == 0, err
    manifest = json.loads((workdir / "n.json").read_text())
    assert manifest["count"] == 3, manifest


@pytest.mark.parametrize("command", ["check", "convert"])
def test_folder_data_without_a_path_is_refused_in_one_line(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
    command: str,
) -> None:
    """No DATA and no data.path: an AssertionError traceback, where `ganhub run` says which key."""
    extra = ["--to", "shard", "--out", "q.safetensors"] if command == "convert" else []
    code, out, err = cli("data", command, "plugin=dcgan", "data=folder", *extra)
    assert code == 2, (out, err)
    assert "data.path is required for folder data" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not (workdir / "q.safetensors").exists()


@pytest.mark.parametrize(
    ("command", "setting", "message"),
    [
        ("check", "data.channels=2", "data.channels=2: must be 1 or 3"),
        ("convert", "data.channels=7", "data.channels=7: must be 1 or 3"),
        ("check", "data.labels=labels.csv", "add model.conditional=true"),
        ("convert", "data.labels=labels.csv", "add model.conditional=true"),
    ],
)
def test_the_refusals_of_ganhub_run_are_made_by_check_and_convert(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
    command: str,
    setting: str,
    message: str,
) -> None:
    """They passed as clean (exit 0) and converted to a 3-channel shard."""
    _images(workdir / "d", ["a.png", "b.png"])
    (workdir / "labels.csv").write_text("file,label\na.png,x\nb.png,y\n")
    extra = ["--to", "shard", "--out", "o.safetensors"] if command == "convert" else []
    code, out, err = cli("data", command, "d", "plugin=dcgan", setting, *extra)
    assert code == 2 and message in err, (out, err)
    assert len(err.strip().splitlines()) == 1 and not (workdir / "o.safetensors").exists()


@pytest.mark.parametrize(
    ("name", "problem"), [(b"latin\xe9.png", "is not UTF-8"), (b"nl\nname.png", "line break")]
)
def test_a_kept_name_no_list_line_can_hold_is_refused_naming_it(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
    name: bytes,
    problem: str,
) -> None:
    """Not UTF-8: a UnicodeEncodeError traceback; a newline: one name read as two."""
    _images(workdir / "d", ["ok.png", os.fsdecode(name)])
    code, out, err = cli("data", "clean", "d", "plugin=dcgan", "--list", "kept.txt")
    assert code == 2 and problem in err and "--list" in err, (out, err)
    assert len(err.strip().splitlines()) == 1 and not (workdir / "kept.txt").exists()
    code, out, err = cli("data", "clean", "d", "plugin=dcgan", "--out", "c")  # the way out
    assert code == 0 and sorted(os.listdir(os.fsencode(workdir / "c"))) == sorted([b"ok.png", name])


def test_the_list_has_one_line_per_kept_file(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    _images(workdir / "d", ["a.png", "b c.png", "é.png"])
    code, out, err = cli("data", "clean", "d", "plugin=dcgan", "--list", "kept.txt")
    assert code == 0 and "3 of 3 kept" in out, err
    lines = (workdir / "kept.txt").read_bytes().decode("utf-8").split("\n")
    assert sorted(lines[:-1]) == ["a.png", "b c.png", "é.png"] and lines[-1] == ""


@pytest.mark.parametrize("flag", ["--out", "--list"])
def test_a_tilde_after_the_equals_sign_is_the_home_folder(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    flag: str,
) -> None:
    """`--out=~/x` made a folder named `~` in the current folder."""
    home = workdir / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    _images(workdir / "d", ["a.png"])
    code, out, err = cli("data", "clean", "d", "plugin=dcgan", f"{flag}=~/x")
    assert code == 0 and str(home / "x") in out, err
    assert (home / "x").exists() and not (workdir / "~").exists()
    code, out, err = cli(
        "data", "convert", "d", "plugin=dcgan", "--to", "shard", "--out=~/s.safetensors"
    )
    assert code == 0 and (home / "s.safetensors").is_file() and not (workdir / "~").exists(), err


@pytest.mark.parametrize("inside", [True, False])
def test_a_cleaned_copy_comes_with_the_labels_of_its_kept_files(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
    inside: bool,
) -> None:
    """The copy had no labels CSV, and the original one names the dropped duplicate, so the
    copy could not be checked or trained on; a README of DATA was left out without a word."""
    data = _images(workdir / "lab", ["a0.png", "a1.png", "b0.png", "b1.png"])
    shutil.copy(data / "a0.png", data / "zz_dup.png")  # an exact copy: dropped
    (data / "README.txt").write_text("where the photos come from\n")
    csv = data / "labels.csv" if inside else workdir / "good.csv"
    csv.write_text("file,label\na0.png,a\na1.png,a\nb0.png,b\nb1.png,b\nzz_dup.png,a\n")
    key = f"data.labels={csv}"
    code, out, err = cli("data", "clean", "lab", "plugin=dcgan", "model.conditional=true", key,
                         "--out", "clean")  # fmt: skip
    assert code == 0, err
    written = workdir / "clean" / csv.name
    assert "4 of 5 kept, 1 dropped" in out and "labels -> clean/" in out, out
    left_out = out.split("; the kept files' labels")[0]
    assert "not copied (README.txt)" in left_out and "labels.csv" not in left_out
    assert written.read_text() == "file,label\na0.png,a\na1.png,a\nb0.png,b\nb1.png,b\n"
    assert not (workdir / "clean" / "README.txt").exists()
    code, out, err = cli("data", "check", "clean", "plugin=dcgan", "model.conditional=true",
                         f"data.labels={written}")  # fmt: skip
    assert code == 0 and "4 images, clean" in out, (out, err)


def test_hard_links_of_a_zip_are_refused(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """--hard-links was ignored for a zip DATA (its copy is written anew), exit 0."""
    import zipfile

    with zipfile.ZipFile(workdir / "d.zip", "w") as zf:
        zf.writestr("a.png", b"")
    code, _, err = cli("data", "clean", "d.zip", "plugin=dcgan", "--hard-links", "--out", "c.zip")
    assert code == 2 and "--hard-links links a folder's files; d.zip is a file" in err, err
    assert not (workdir / "c.zip").exists()


@pytest.mark.parametrize(
    ("plugin", "said"),
    [
        ("medgan", "a shard would lose the masks"),
        ("cyclegan", "cyclegan has no converted format"),
        ("toy2d", "toy2d has no converted format"),
        ("textgan", "--to tokens writes its token ids"),
        ("dcgan", "a shard is a .safetensors file"),  # a domain that writes shards: the suffix
    ],
)
def test_a_domain_that_writes_no_shard_says_so_before_the_shard_suffix(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
    plugin: str,
    said: str,
) -> None:
    """medgan said "a shard is a .safetensors file" and, renamed, that it writes no shard."""
    code, _, err = cli("data", "convert", f"plugin={plugin}", "--to", "shard", "--out", "x")
    assert code == 2 and err.count("\n") == 1 and said in err, err
    assert not (workdir / "x").exists()
