"""Names past ASCII, as errors, `ganhub data check` and config.yaml show them: bytes that are not
UTF-8 (Python reads them as lone surrogates) as the bytes they are (`latin\\xe9`) in every
one-line error; a DATA folder so named refused by `data check` as `ganhub run` refuses it; class
names and paths such as `ünï` written to config.yaml as UTF-8 text, not as escapes, where
control and invisible characters stay escaped; names with spaces at their ends quoted."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

from .conftest import TINY_TOY

LATIN = "latin\udce9"  # the bytes b"latin\xe9" as Python reads a name that is not UTF-8


def _png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def _folder(root: Path, files: dict[str, int]) -> Path:
    for name, seed in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(_png(seed) if seed >= 0 else b"no image")
    return root


def test_one_line_errors_show_bytes_that_are_not_utf8_as_bytes(cli: Any, tmp_path: Path) -> None:
    from ganhub.errors import one_line

    assert one_line(f"{LATIN}.png") == "latin\\xe9.png"
    assert one_line("a\ud800\x1b\n") == "a\\ud800\\x1b\\n"  # other surrogates, controls: as were
    code, _, err = cli("config", "plugin=dcgan", f"data.path={tmp_path / LATIN}")
    assert code == 2 and "latin\\xe9' holds bytes that are not UTF-8" in err, err
    assert "udc" not in err and len(err.strip().splitlines()) == 1, err
    code, _, err = cli("data", "check", f"{LATIN}.png", "plugin=dcgan")
    assert code == 2 and err == "ganhub: error: DATA 'latin\\xe9.png' does not exist\n", err


def test_data_check_refuses_a_folder_name_a_run_refuses(
    cli: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    data = _folder(tmp_path / LATIN, {"0.png": 0, "1.png": 1})
    code, out, err = cli("data", "check", str(data), "plugin=dcgan")
    assert code == 2 and not out and len(err.strip().splitlines()) == 1, (out, err)
    _, _, run_err = cli("run", "plugin=dcgan", f"data.path={data}")
    said = "holds bytes that are not UTF-8, and a run saves its settings as UTF-8 text"
    assert f"DATA '{tmp_path}/latin\\xe9' {said}" in err and said in run_err, (err, run_err)
    code, out, err = cli("data", "clean", str(data), "plugin=dcgan", f"--out={tmp_path / 'o'}")
    assert code == 2 and said in err and not (tmp_path / "o").exists(), err
    # `.` in that folder: a run saves it absolute, and could not resume from its config.yaml
    monkeypatch.chdir(data)
    for args in [("data", "check", "."), ("run", "data.path=."), ("config", "data.path=.")]:
        code, out, err = cli(*args, "plugin=dcgan")
        whole = f"data.path=.: '{tmp_path}/latin\\xe9' in full {said}"
        assert code == 2 and not out and err.startswith(f"ganhub: error: {whole}"), (args, err)


def test_config_yaml_holds_names_past_ascii_as_text(cli: Any, tmp_path: Path) -> None:
    from ganhub.config.overrides import ConfigLoader, dump_yaml

    data = _folder(tmp_path / "données", {"ünï/0.png": 0, "b/1.png": 1})
    code, out, err = cli("config", "plugin=dcgan", f"data.path={data}", "model.conditional=true")
    assert code == 0 and f"path: {data}\n" in out and "  - ünï\n" in out, err
    assert yaml.safe_load(out)["condition"]["classes"] == ["b", "ünï"]
    code, _, err = cli("run", *TINY_TOY, "trainer.steps=1", "out_dir=ünï runs", "name=r")
    saved = (tmp_path / "ünï runs" / "r" / "config.yaml").read_text(encoding="utf-8")
    assert code == 0 and "out_dir: ünï runs\n" in saved and "\\x" not in saved, err + saved
    # a text that shows nothing or moves the text is written in escapes, whole
    values = ["ünï", "名前 🙂", "a\u202eb", "ü\u2028", "\xa0é", "é\x00", "ü\tb", "e\u0301", "1e5"]
    text = dump_yaml({v: [v] for v in values}, sort_keys=False)
    assert yaml.safe_load(text) == yaml.load(text, Loader=ConfigLoader) == {v: [v] for v in values}
    assert "ünï:\n- ünï\n" in text and "名前 🙂" in text and "e\u0301" in text, text
    for hidden, escaped in [("\u202e", "\\u202E"), ("\u2028", "\\L"), ("\xa0", "\\_")]:
        assert hidden not in text and escaped in text, text
    assert "\x00" not in text and "\t" not in text, text
    # a config.yaml written with escapes, as earlier releases did, reads the same
    old = tmp_path / "old.yaml"
    old.write_text(f'plugin: dcgan\ndata:\n  path: "{tmp_path}/donn\\xE9es"\n', encoding="utf-8")
    code, out, err = cli("config", f"--config={old}")
    assert code == 0 and f"path: {data}\n" in out, err


def test_the_check_quotes_names_with_spaces_at_their_ends(cli: Any, tmp_path: Path) -> None:
    data = _folder(tmp_path / "d", {" lead.png": 1, "lead.png": 1, " bad.png": -1})
    code, out, _ = cli("data", "check", str(data), "plugin=dcgan")
    assert code == 1 and "  duplicate of ' lead.png' -> drop" in out, out
    assert "  error     ' bad.png'  not an image" in out, out


def test_copies_in_two_classes_name_a_first_copy_with_spaces_so(tmp_path: Path) -> None:
    from ganhub.data.inspect import DataReport, find_duplicates
    from ganhub.data.two_labels import name_two_labels

    report = DataReport("d", "images", items=[" a.png", "b.png"])
    thumbs = {name: np.zeros((16, 16, 3), np.float32) for name in report.items}
    find_duplicates(report, thumbs, {name: b"same" for name in report.items})
    name_two_labels(report, {" a.png": "cat", "b.png": "dog"})
    assert [f.problem for f in report.findings] == [
        "duplicate of ' a.png', labelled 'cat' there and 'dog' here: one image with two "
        "labels; keep it in one class"
    ]
