"""An export is made for sharing: its config.yaml, model card, export.json and requires.json
hold no path of the machine the run trained on (`ganhub.exported.shareable_config`), while
what worked on an export still works, with the data given back where a command reads it.

Each folder run is trained in a folder named `secret` and exported beside it: no file of the
export may hold that folder's path.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import BaseModel

import ganhub
from ganhub.config.overrides import load_yaml
from ganhub.config.resolve import resolve
from ganhub.config.schema import holds_path
from ganhub.errors import ConfigError, UsageError
from ganhub.export import export_run
from ganhub.exported import NOT_EXPORTED, is_local_path, mark_local, shareable_config
from ganhub.plugins import get_hub

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = ["trainer.steps=2", "trainer.progress=false", "loggers=[jsonl]", "eval.metrics=[]"]


def _pngs(folder: Path, n: int, seed: int, side: int = 32) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        image = rng.integers(0, 255, (side, side, 3), dtype=np.uint8)
        Image.fromarray(image).save(folder / f"{i}.png")
    return folder


def _quoting(folder: Path, text: str) -> list[str]:
    """The files under `folder` whose bytes hold `text`."""
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and text.encode() in p.read_bytes()
    )


def _config(folder: Path) -> dict[str, Any]:
    return load_yaml(folder / "config.yaml")


@pytest.fixture(scope="module")
def dcgan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(secret folder, run): a conditional dcgan run on class folders and a labels file, with
    local Inception weights named and its runs under the secret folder."""
    secret = tmp_path_factory.mktemp("home") / "secret"
    data = secret / "patients_t1"
    rows = ["file,label"]
    for k, name in enumerate(("healthy", "sick")):
        _pngs(data / name, 8, k)
        rows += [f"{name}/{i}.png,{name}" for i in range(8)]
    (secret / "labels.csv").write_text("\n".join(rows) + "\n")
    (secret / "inception.pth").write_bytes(b"")
    summary = ganhub.train(
        ["plugin=dcgan", "preset=tiny", *FAST, "trainer.batch_size=8", f"data.path={data}",
         f"data.labels={secret / 'labels.csv'}", "model.conditional=true",
         f"eval.inception_weights={secret / 'inception.pth'}", f"out_dir={secret / 'runs'}",
         "name=dc"]
    )  # fmt: skip
    return secret, Path(summary["run_dir"])


# -- what an export leaves out ----------------------------------------------------------------


@pytest.mark.slow
def test_a_folder_runs_export_holds_none_of_its_paths(
    dcgan: tuple[Path, Path], tmp_path: Path, cli: Any
) -> None:
    secret, run_dir = dcgan
    for fmt in ("safetensors", "onnx"):
        if fmt == "onnx":
            pytest.importorskip("onnxruntime")
            pytest.importorskip("onnxscript")
        export = export_run(run_dir, fmt, out=tmp_path / fmt)
        assert _quoting(export, str(secret.parent)) == []
        if fmt == "onnx":  # nor the source files the exporter traced (site-packages, plugins)
            graph = (export / "generator.onnx").read_bytes()
            assert b"stack_trace" not in graph and b".py" not in graph
        saved = _config(export)
        assert saved["data"]["path"] == saved["data"]["labels"] == NOT_EXPORTED
        assert saved["eval"]["inception_weights"] == NOT_EXPORTED
        assert saved["out_dir"] == "runs" and saved["resume"] is None
        assert saved["condition"]["classes"] == ["healthy", "sick"]  # names, not paths: kept
        manifest = json.loads((export / "export.json").read_text())
        assert sorted(manifest["paths_left_out"]) == [
            "data.labels", "data.path", "eval.inception_weights", "out_dir",
        ]  # fmt: skip
        card = (export / "README.md").read_text()
        assert "config.yaml holds no local path of the run" in card
        assert f"ganhub sample {fmt} data.path=PATH data.labels=PATH" in card
    # what worked on the export still does: the same samples, the sample command
    run, exported = ganhub.load(run_dir), ganhub.load(export)
    assert torch.equal(run.sample(4, seed=1, labels=1), exported.sample(4, seed=1, labels=1))
    code, _, err = cli("sample", str(export), "--n", "4", "--out", str(tmp_path / "s"))
    assert code == 0, err
    # a command that reads the data is given it back, and says so when it is not
    code, _, err = cli("eval", str(export), "eval.metrics=[fid]", "eval.n_samples=8")
    assert code == 2 and f"'{NOT_EXPORTED}'" in err and err.count("\n") == 1, err
    data = secret / "patients_t1"
    given = [f"data.path={data}", f"data.labels={secret / 'labels.csv'}"]
    model = ganhub.load(export, overrides=given)
    assert model.config.model_dump()["data"]["path"] == data and len(model.system.data()) == 16
    # an export of the export says what its source left out
    again = export_run(export, out=tmp_path / "again")
    assert _quoting(again, str(secret.parent)) == []
    left = json.loads((again / "export.json").read_text())["paths_left_out"]
    assert sorted(left) == ["data.labels", "data.path", "eval.inception_weights"]
    assert _config(again)["data"] == _config(export)["data"]


@pytest.mark.slow
def test_the_card_hides_the_paths_a_note_quotes(
    dcgan: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A note quotes what went wrong (here a sample writer's error naming a data file and the
    run directory): the card shows the marker and RUN_DIR instead."""
    from ganhub.api import TrainedGAN
    from ganhub.errors import GanhubError

    secret, run_dir = dcgan
    image = secret / "patients_t1" / "sick" / "3.png"

    def failing(*args: object, **kwargs: object) -> list[Path]:
        raise GanhubError(f"cannot read '{image}' (listed in '{run_dir.resolve()}/data.json')")

    monkeypatch.setattr(TrainedGAN, "write_samples", failing)
    export = export_run(run_dir, out=tmp_path / "e")
    assert _quoting(export, str(secret.parent)) == []
    card = (export / "README.md").read_text()
    assert "cannot read &#x27;&lt;not exported&gt;/sick/3.png&#x27;" in card
    assert "RUN\\_DIR/data.json" in card


@pytest.mark.slow
def test_a_translators_export_translates_and_samples_with_its_folder_given(
    tmp_path: Path, cli: Any
) -> None:
    secret = tmp_path / "secret"
    data = secret / "horses"
    for side, seed in (("trainA", 0), ("trainB", 1), ("testA", 2), ("testB", 3)):
        _pngs(data / side, 4, seed, side=20)
    args = ["plugin=cyclegan", "preset=tiny", *FAST, "data.load_size=18", "model.image_size=16"]
    run_dir = Path(ganhub.train([*args, f"data.path={data}", f"out_dir={secret}"])["run_dir"])
    export = export_run(run_dir, "torchscript", out=tmp_path / "shared")
    assert _quoting(export, str(secret)) == [] and _config(export)["data"]["path"] == NOT_EXPORTED
    for graph in export.glob("*.pt"):  # no debug records naming this machine's source files
        with zipfile.ZipFile(graph) as archive:
            assert not [n for n in archive.namelist() if n.endswith(".debug_pkl")]
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    run, exported = ganhub.load(run_dir), ganhub.load(export)
    assert torch.equal(run.system.translate(x, "AtoB"), exported.system.translate(x, "AtoB"))
    code, _, err = cli("cyclegan", "translate", str(export), "--input", str(data / "testA"),
                       "--out", str(tmp_path / "t"))  # fmt: skip
    assert code == 0 and len(list((tmp_path / "t").glob("*.png"))) == 4, err
    # null would mean the embedded digits: sampling without the folder stops, naming it
    code, _, err = cli("sample", str(export), "--out", str(tmp_path / "s1"))
    assert code == 2 and "data.path=FOLDER" in err and NOT_EXPORTED in err, err
    code, _, err = cli("sample", str(export), "--out", str(tmp_path / "s2"), f"data.path={data}")
    assert code == 0, err


@pytest.mark.slow
def test_a_medgan_export_of_scans_names_no_folder(tmp_path: Path, cli: Any) -> None:
    pytest.importorskip("monai")
    nib = pytest.importorskip("nibabel")
    secret = tmp_path / "secret"
    data = secret / "hospital" / "patients_t1"
    for i in range(4):
        scan = np.random.default_rng(i).uniform(0, 9, (16, 16, 8)).astype(np.float32)
        mask = np.zeros((16, 16, 8), np.float32)
        mask[4:10, 4:10, 3:5] = 1
        for sub, values in (("images", scan), ("masks", mask)):
            (data / sub).mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(values, np.eye(4)), str(data / sub / f"c{i}.nii.gz"))
    args = ["plugin=medgan", "preset=tiny", "task=lesion", *FAST, f"data.path={data}"]
    run_dir = Path(ganhub.train([*args, f"out_dir={secret}"])["run_dir"])
    export = export_run(run_dir, "onnx" if _has_onnx() else "safetensors", out=tmp_path / "e")
    assert _quoting(export, str(secret)) == [] and _config(export)["data"]["path"] == NOT_EXPORTED
    with pytest.raises(UsageError, match=f"data.path='{NOT_EXPORTED}' is not there: .*FOLDER"):
        ganhub.load(export).sample(2)
    given = ganhub.load(export, overrides=[f"data.path={data}"])
    assert torch.equal(given.sample(2, seed=3), ganhub.load(run_dir).sample(2, seed=3))
    code, _, err = cli("sample", str(export), "--n", "2", "--out", str(tmp_path / "s"),
                       f"data.path={data}")  # fmt: skip
    assert code == 0, err


def _has_onnx() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime"))


# -- the rule, over every registered domain ----------------------------------------------------


def _path_keys(model: BaseModel, prefix: str = "") -> list[tuple[str, Any]]:
    keys = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            keys += _path_keys(value, f"{prefix}{name}.")
        elif holds_path(field.annotation) and name != "resume":
            keys.append((prefix + name, field.annotation))
    return keys


def _set(data: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    *parents, last = key.split(".")
    node = data
    for part in parents:
        node = node[part]
    node[last] = value
    return data


# the choices under which a path key is read (dcgan reads data.path with data=folder)
_READ_WITH = [[], ["data.source=folder"], ["task=transfer"]]


@pytest.mark.parametrize("domain", get_hub().domains.names())
def test_every_path_key_of_every_domain_is_left_out_and_the_config_opens(domain: str) -> None:
    presets = get_hub().domains.get(domain).presets
    base = [f"plugin={domain}", *(["preset=tiny"] if "tiny" in presets else [])]
    keys = _path_keys(resolve(base, training=False))
    assert {"init_from", "eval.inception_weights", "out_dir"} <= {k for k, _ in keys}
    for key, annotation in keys:
        many = "tuple" in str(annotation) or "list" in str(annotation)
        value = ["/secret/a", "/secret/b"] if many else "/secret/x"
        for choice in _READ_WITH:  # a config a run could have saved
            try:
                data = resolve([*base, *choice], training=False).model_dump(mode="json")
                config = resolve([], training=False, saved=_set(data, key, value))
                break
            except ConfigError:
                continue
        else:
            pytest.fail(f"no config of {domain} reads {key}")
        shared, left = shareable_config(config)
        assert "/secret" not in json.dumps(shared) and set(left) == {key}, (key, left)
        opened = resolve([], training=False, saved=shared)  # as ganhub.load opens an export
        assert opened.model_dump(mode="json") == shared


def test_text_that_names_a_local_place_is_left_out_and_names_are_kept() -> None:
    local = ["/data/x", "~/x", "C:\\data", "c:/data", "\\\\server\\share", "file:///x",
             "sqlite:///runs.db"]  # fmt: skip
    assert all(is_local_path(t) for t in local)
    assert not any(is_local_path(t) for t in ("runs", "images", "http://host:5000", "cat", ""))
    left: dict[str, list[str]] = {}
    lm = {"_name_or_path": "/home/me/lm", "n_layer": 2, "id2label": {"0": "cat"}, "tags": ["~/a"]}
    assert mark_local(lm, "model.lm_config", left) == {
        "_name_or_path": NOT_EXPORTED, "n_layer": 2, "id2label": {"0": "cat"},
        "tags": [NOT_EXPORTED],
    }  # fmt: skip
    assert left == {
        "model.lm_config._name_or_path": ["/home/me/lm"],
        "model.lm_config.tags": ["~/a"],
    }
    # a str key holding an absolute folder, a logger's database; class names stay whatever
    # they look like (OpenImages' "/m/..." ids are names)
    config = resolve(
        ["plugin=medgan", "data.image_dir=/secret/images", "loggers=[jsonl,mlflow]",
         "logger.mlflow.tracking_uri=sqlite:////secret/mlflow.db"],
        training=False,
    )  # fmt: skip
    shared, left = shareable_config(config)
    assert shared["data"]["image_dir"] == shared["logger"]["mlflow"]["tracking_uri"] == NOT_EXPORTED
    assert shared["data"]["mask_dir"] == "masks" and "/secret" not in json.dumps(shared)
    assert sorted(left) == ["data.image_dir", "logger.mlflow.tracking_uri"]
    dc = resolve(["plugin=dcgan", "model.conditional=true", "condition.classes=[/m/01,/m/02]"],
                 training=False)  # fmt: skip
    assert shareable_config(dc)[0]["condition"]["classes"] == ["/m/01", "/m/02"]
