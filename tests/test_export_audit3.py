"""`ganhub export` as a user meets it: the --device option, what the model card says of a
translator's inference mode, and the card's loading snippet of a multi-factor conditional run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ganhub
from ganhub.export import export_run


def _train(tmp_path: Path, name: str, *keys: str) -> Path:
    summary = ganhub.train([*keys, f"out_dir={tmp_path / 'runs'}", f"name={name}"])
    return Path(summary["run_dir"])


def test_an_unavailable_device_names_the_option_and_what_there_is(
    cli, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _train(workdir, "toy", "plugin=toy2d", "trainer.steps=2", "eval.metrics=[]")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    code, _, err = cli("export", str(run), "--device", "cuda")
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "--device cuda" in lines[0] and "device=" not in lines[0]
    assert "available here: cpu or auto" in lines[0]
    assert not (run / "export-safetensors").exists()
    code, _, err = cli("export", str(run), "--device", "cpu")
    assert code == 0, err
    assert (run / "export-safetensors" / "export.json").is_file()


def test_a_pix2pix_card_says_the_graph_runs_in_eval_mode_unlike_the_run(tmp_path: Path) -> None:
    # 64 px: a 6-level U-Net, which holds dropout; the run translates as in the paper
    run = _train(
        tmp_path, "p2p", "plugin=cyclegan", "task=paired", "preset=tiny",
        "model.image_size=64", "model.inference=paper", "trainer.steps=2", "eval.metrics=[]",
    )  # fmt: skip
    dest = export_run(run, "torchscript", out=tmp_path / "p2p-ts")
    manifest = json.loads((dest / "export.json").read_text())
    (function,) = manifest["functions"]
    assert function["eval_mode"] == ["dropout", "batch norm"]
    assert manifest["inference"] == "paper"
    # what the notes say is what happens: the graph is G in eval mode, the run is not
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        graph = torch.jit.load(str(dest / "translate_AtoB.pt"))(x)
    paper = ganhub.load(dest).system.translate(x)
    evaluated = ganhub.load(dest, overrides=["model.inference=eval"]).system.translate(x)
    assert (graph - evaluated).abs().max() < 1e-5
    assert (graph - paper).abs().max() > 1e-3
    card = (dest / "README.md").read_text()
    assert "runs the generator in eval mode: dropout off, batch norm on its running" in card
    assert "model.inference=paper" in card and "model.inference=eval gives the graph" in card


def test_a_dcgan_card_without_dropout_names_only_batch_norm(tmp_path: Path) -> None:
    run = _train(tmp_path, "d", "plugin=dcgan", "preset=tiny", "trainer.steps=2")
    dest = export_run(run, "torchscript", out=tmp_path / "d-ts")
    manifest = json.loads((dest / "export.json").read_text())
    assert manifest["functions"][0]["eval_mode"] == ["batch norm"]
    assert manifest["inference"] is None
    card = (dest / "README.md").read_text()
    assert "eval mode: batch norm on its running averages" in card
    assert "dropout" not in card and "pix2pix" not in card


def test_the_card_snippet_of_a_run_with_several_label_factors_runs(tmp_path: Path) -> None:
    run = _train(
        tmp_path, "stk", "plugin=dcgan", "preset=tiny", "data=stacked_digits",
        "model.conditional=true", "trainer.steps=2",
    )  # fmt: skip
    dest = export_run(run, out=tmp_path / "stk")
    card = (dest / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)\n```", card, re.S) if "ganhub" in b]
    script = block + "\nassert samples.shape[0] == 16, samples.shape\n"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
