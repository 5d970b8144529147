"""`ganhub export`: what leaves a run (weights, graphs, card) and what `ganhub.load` takes back.

Tiny runs are trained once per module; each test exports into its own folder.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import ganhub
from ganhub.errors import GanhubError, UsageError
from ganhub.export import MANIFEST, WEIGHTS, example_inputs, export_run
from ganhub.export_card import code_block, markdown_text
from ganhub.plugins import get_hub

from .conftest import TINY_DCGAN, TINY_TOY

RUNS = {
    "toy2d": TINY_TOY,
    "dcgan": [*TINY_DCGAN, "tricks=[ema]"],
    "dcgan_labels": [*TINY_DCGAN, "model.conditional=true"],
    "textgan": ["plugin=textgan", "preset=tiny", "trainer.steps=2", "trainer.progress=false",
                "loggers=[jsonl]"],
}  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A tiny trained run of one of RUNS, trained on first use and shared by the module."""
    root = tmp_path_factory.mktemp("runs")
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            summary = ganhub.train([*RUNS[name], f"out_dir={root}", f"name={name}"])
            made[name] = Path(summary["run_dir"])
        return made[name]

    return get


def _copy(run_dir: Path, tmp_path: Path) -> Path:
    """A copy of a shared run that a test may change."""
    return Path(shutil.copytree(run_dir, tmp_path / run_dir.name))


def _python_blocks(text: str) -> list[str]:
    return [part.split("```", 1)[0] for part in text.split("```python\n")[1:]]


# -- what an export holds, and what load gives back ---------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["toy2d", "dcgan", "dcgan_labels"])
def test_a_safetensors_export_loads_to_the_same_samples(
    run: Callable[[str], Path], tmp_path: Path, name: str
) -> None:
    folder = export_run(run(name), "safetensors", out=tmp_path / "export")
    files = {p.name for p in folder.iterdir()}
    assert {MANIFEST, WEIGHTS, "config.yaml", "requires.json", "README.md", "samples"} <= files
    original, exported = ganhub.load(run(name)), ganhub.load(folder)
    assert exported.step == original.step and exported.checkpoint == folder / WEIGHTS
    assert torch.equal(original.sample(9, seed=4), exported.sample(9, seed=4))
    if name == "dcgan_labels":
        a, b = original.sample(5, seed=1, labels=3), exported.sample(5, seed=1, labels=3)
        assert torch.equal(a, b)
    # the weights are the generator's only (the EMA copy when the run used ema)
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["ema"] == (name == "dcgan") and manifest["roles"] == ["G"]
    from safetensors.torch import load_file

    saved = load_file(str(folder / WEIGHTS))
    assert set(saved) == {f"G.{k}" for k in original.generator.state_dict()}
    assert all(torch.equal(saved[f"G.{k}"], v) for k, v in original.generator.state_dict().items())


def test_an_export_exports_again_and_opens_in_commands(
    run: Callable[[str], Path], tmp_path: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    first = export_run(run("toy2d"), out=tmp_path / "first")
    second = export_run(first, out=tmp_path / "second")
    assert torch.equal(ganhub.load(run("toy2d")).sample(4), ganhub.load(second).sample(4))
    code, out, err = cli("sample", str(first), "--n", "8", "--out", str(tmp_path / "s"))
    assert code == 0 and Path(out.strip()).is_file(), err


@pytest.mark.slow
@pytest.mark.parametrize("name", ["toy2d", "dcgan", "dcgan_labels"])
def test_the_onnx_graph_gives_what_pytorch_gives(
    run: Callable[[str], Path], tmp_path: Path, name: str
) -> None:
    import onnxruntime

    folder = export_run(run(name), "onnx", out=tmp_path / "export")
    function = json.loads((folder / MANIFEST).read_text())["functions"][0]
    session = onnxruntime.InferenceSession(
        str(folder / function["files"]["onnx"]), providers=["CPUExecutionProvider"]
    )
    model = ganhub.load(run(name))
    n, latent = 7, function["inputs"][0]["shape"]
    # the noise ganhub's own sample(n, seed) draws on the CPU
    noise = torch.randn((n, *latent), generator=torch.Generator().manual_seed(5))
    feed = {"noise": noise.numpy()}
    if name == "dcgan_labels":
        labels = torch.arange(n) % function["inputs"][1]["classes"][0]
        feed["labels"] = labels.numpy()
        with torch.no_grad():
            want = model.generator(noise, labels)
    else:
        want = model.sample(n, seed=5)
    (got,) = session.run(None, feed)
    assert got.shape == tuple(want.shape) == (n, *function["output"]["shape"])
    assert float((torch.from_numpy(got) - want).abs().max()) <= 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("name", ["toy2d", "dcgan_labels"])
def test_the_torchscript_graph_gives_what_pytorch_gives(
    run: Callable[[str], Path], tmp_path: Path, name: str
) -> None:
    folder = export_run(run(name), "torchscript", out=tmp_path / "export")
    model = ganhub.load(run(name))
    function = model.system.export_spec().functions[0]
    inputs = example_inputs(function, 5, seed=9)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated upstream
        graph = torch.jit.load(str(folder / "generator.pt"))
        got = graph(*inputs)
    with torch.no_grad():
        want = model.generator(*inputs)
    # the same kernels on the same inputs: equal up to float rounding
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


# -- the model card ------------------------------------------------------------------------


@pytest.mark.slow
def test_the_model_card_has_config_metrics_grid_and_snippets_that_run(
    run: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = _copy(run("dcgan"), tmp_path)
    evaluation = {"step": 2, "n_samples": 64, "seeds": [0], "features": ["digits"],
                  "results": {"fid": {"mean": 123.456, "std": 0.0}}}  # fmt: skip
    (run_dir / "eval.json").write_text(json.dumps(evaluation))
    folder = export_run(run_dir, "onnx", out=tmp_path / "dcgan-onnx")
    card = (folder / "README.md").read_text()
    assert "```yaml\nplugin: dcgan\n" in card and "latent_dim: 16" in card
    assert "| fid | 123.5 |" in card and "Last logged training values (step 2)" in card
    assert "| loss/D |" in card
    assert "![Samples from the exported generator](samples/samples.png)" in card
    assert (folder / "samples/samples.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert "EMA" in card and "onnxruntime and PyTorch agree" in card
    blocks = _python_blocks(card)
    assert len(blocks) == 2 and 'ganhub.load("dcgan-onnx")' in blocks[0]
    monkeypatch.chdir(tmp_path)  # the snippets name the folder relative to its parent
    for block in blocks:
        namespace: dict[str, object] = {}
        exec(compile(block, "README.md", "exec"), namespace)
    assert tuple(namespace["output"].shape) == (16, 1, 32, 32)  # type: ignore[attr-defined]


def test_the_card_escapes_what_the_run_directory_says(
    run: Callable[[str], Path], tmp_path: Path
) -> None:
    run_dir = _copy(run("toy2d"), tmp_path)
    hostile = {
        "step": 4,
        "<img src=x onerror=alert(1)>": 1.0,
        "[click](javascript:alert(1))": 2.0,
        "a|b": 3.0,
        "line\n# heading": 4.0,
        "eval/```": 5.0,
        "note": "<script>",
    }
    with (run_dir / "metrics.jsonl").open("a") as fh:
        fh.write(json.dumps(hostile) + "\nnot json\n")
    card = (export_run(run_dir, out=tmp_path / "export") / "README.md").read_text()
    assert "<img" not in card and "&lt;img src=x onerror=alert(1)&gt;" in card
    assert "[click](" not in card and r"\[click\](javascript:alert(1))" in card
    assert r"| a\|b | 3 |" in card and "\n# heading" not in card
    assert "skipped 1 line not valid JSON" in card  # rundata's note reaches the card
    # an appended line of the last step hid the run's own values of it, and text went unsaid
    assert "| loss/D |" in card and "step 4: values that are not numbers were left out" in card
    for line in card.splitlines():
        if line.startswith("| ") and "|---" not in line:
            assert len(re.findall(r"(?<!\\)\|", line)) in (3, 6), line  # no cell added


def test_the_card_describes_the_exported_steps_weights(
    run: Callable[[str], Path], tmp_path: Path
) -> None:
    """The evaluation at the end is a line of its own after the training values (they were
    lost); what was logged or scored after the exported step is of other weights."""
    run_dir = _copy(run("toy2d"), tmp_path)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 4 and "eval/modes" in records[-1] and "loss/D" not in records[-1]
    card = (export_run(run_dir, out=tmp_path / "a") / "README.md").read_text()
    assert "Last logged training values (step 4)" in card and "| loss/D |" in card
    assert "last evaluation during training (step 4)" in card
    # a damaged newest checkpoint: the weights are step 4's, the logs and eval.json went on
    later = [{"step": 8, "loss/D": 99.0}, {"step": 8, "eval/modes": 99.0}]
    with (run_dir / "metrics.jsonl").open("a") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in later))
    scored = {"step": 8, "n_samples": 64, "seeds": [0], "results": {"fid": {"mean": 99.0}}}
    (run_dir / "eval.json").write_text(json.dumps(scored))
    card = (export_run(run_dir, out=tmp_path / "b") / "README.md").read_text()
    assert "| 99 |" not in card and "(step 8)" not in card
    assert "last evaluation during training (step 4)" in card and "| loss/D |" in card
    assert "eval.json scored step 8, not these weights (step 4)" in card
    scored["step"] = 4  # eval.json of the exported weights is shown
    (run_dir / "eval.json").write_text(json.dumps(scored))
    card = (export_run(run_dir, out=tmp_path / "c") / "README.md").read_text()
    assert "ganhub eval: step 4" in card and "| fid | 99 |" in card


def test_markdown_values_and_code_blocks_cannot_escape() -> None:
    assert str(markdown_text("*a* _b_ `c` <d> [e](f) g|h")) == (
        r"\*a\* \_b\_ \`c\` &lt;d&gt; \[e\](f) g\|h"
    )
    assert "\n" not in markdown_text("one\ntwo\r\nthree")
    block = code_block("x\n```\n````\ny", "yaml")
    assert block.startswith("`````yaml\n") and block.endswith("\n`````")


# -- refusals and one-line errors --------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_textgan_refuses_graph_formats_and_exports_safetensors(
    run: Callable[[str], Path], tmp_path: Path, fmt: str
) -> None:
    with pytest.raises(UsageError, match=f"cannot export this 'textgan' run as {fmt}: ") as info:
        export_run(run("textgan"), fmt, out=tmp_path / "x")
    assert "\n" not in str(info.value) and "--format safetensors" in str(info.value)
    assert not (tmp_path / "x").exists()
    folder = export_run(run("textgan"), out=tmp_path / "weights")
    assert {"G", "tokenizer"} == set(json.loads((folder / MANIFEST).read_text())["roles"])
    model, original = ganhub.load(folder), ganhub.load(run("textgan"))
    assert torch.equal(model.sample(6, seed=2), original.sample(6, seed=2))
    assert model.system.decode(model.sample(3)) == original.system.decode(original.sample(3))


def test_the_command_names_what_is_wrong_in_one_line(
    run: Callable[[str], Path], tmp_path: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("export", str(tmp_path))
    assert code == 2 and "is not a ganhub run directory" in err and err.count("\n") == 1
    code, _, err = cli("export", str(run("toy2d")), "--format", "onxx")
    assert code == 2 and "'onxx' is not one of" in err and "did you mean 'onnx'" in err
    with pytest.raises(UsageError, match="did you mean 'onnx'"):
        export_run(run("toy2d"), "onxx")
    code, _, err = cli("export", str(run("toy2d")), "--out", str(run("toy2d").parent))
    assert code == 2 and "is the run directory or a folder above it" in err
    checkpoints = sorted((run("toy2d") / "checkpoints").rglob("*"))
    code, _, err = cli("export", str(run("toy2d")), "--out", str(run("toy2d") / "checkpoints"),
                       "--force")  # fmt: skip
    assert code == 2 and "is inside the run directory" in err
    assert sorted((run("toy2d") / "checkpoints").rglob("*")) == checkpoints
    code, _, err = cli("export", str(run("toy2d")), "--out", str(run("toy2d") / "exports"))
    assert code == 2 and "only an export-* folder" in err  # "exports" was let through
    code, out, _ = cli("export", "--help")
    assert "--format [safetensors|onnx|torchscript]" in out and "--force" in out


def test_the_help_default_folder_is_the_one_written(
    run: Callable[[str], Path], tmp_path: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    run_dir = _copy(run("toy2d"), tmp_path)
    code, out, err = cli("export", str(run_dir))
    assert code == 0, err
    assert Path(out.strip()).resolve() == (run_dir / "export-safetensors").resolve()


# -- atomic and careful with what exists -------------------------------------------------


def _leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.endswith((".tmp", ".old"))]


def test_an_existing_folder_is_kept_unless_forced(
    run: Callable[[str], Path], tmp_path: Path
) -> None:
    dest = tmp_path / "export"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep me")
    with pytest.raises(UsageError, match=r"exists and is not empty; .* --force"):
        export_run(run("toy2d"), out=dest)
    # --force replaces an earlier export only: any other folder (another run's checkpoints,
    # the working directory) was removed whole
    with pytest.raises(UsageError, match=r"is not a ganhub export \(no export.json in it\)"):
        export_run(run("toy2d"), out=dest, force=True)
    assert [p.name for p in dest.iterdir()] == ["mine.txt"] and not _leftovers(tmp_path)
    earlier = export_run(run("toy2d"), out=tmp_path / "earlier")
    (earlier / "mine.txt").write_text("an earlier export's")
    export_run(run("toy2d"), out=earlier, force=True)
    assert (earlier / MANIFEST).is_file() and not (earlier / "mine.txt").exists()
    assert not _leftovers(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (export_run(run("toy2d"), out=empty) / WEIGHTS).is_file()
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="is a file or a link"):
        export_run(run("toy2d"), out=tmp_path / "file", force=True)


def test_a_failed_export_leaves_nothing_and_clobbers_nothing(
    run: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ganhub.export_card

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    dest = export_run(run("toy2d"), out=tmp_path / "old")  # an earlier export, to replace
    kept = sorted(p.name for p in dest.iterdir())
    monkeypatch.setattr(ganhub.export_card, "write_card", broken)
    with pytest.raises(OSError):
        export_run(run("toy2d"), out=tmp_path / "new")
    assert not (tmp_path / "new").exists() and not _leftovers(tmp_path)
    with pytest.raises(OSError):
        export_run(run("toy2d"), out=dest, force=True)
    assert sorted(p.name for p in dest.iterdir()) == kept and not _leftovers(tmp_path)


_KILLED_WHILE_WRITING = """
import sys, time
from pathlib import Path
import ganhub.export

def slow(model, spec, fmt, folder, *args):
    (folder / "generator.safetensors").write_text("half written")
    Path(sys.argv[2]).write_text("writing")
    time.sleep(60)

ganhub.export._write = slow
ganhub.export.export_run(sys.argv[1], out=sys.argv[3])
"""


def test_sigterm_during_an_export_leaves_nothing(
    run: Callable[[str], Path], tmp_path: Path
) -> None:
    """A SIGTERM (a job scheduler's, kill's) left the hidden scratch folder behind."""
    import signal
    import subprocess
    import sys
    import time

    marker, dest = tmp_path / "writing", tmp_path / "out" / "export"
    args = [sys.executable, "-c", _KILLED_WHILE_WRITING, str(run("toy2d")), str(marker), str(dest)]
    process = subprocess.Popen(args)
    deadline = time.monotonic() + 120
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == -signal.SIGTERM  # still ended by the signal, as before
    assert not dest.parent.exists()  # the folder it made for --out, as the scratch folder
    before = signal.getsignal(signal.SIGTERM)
    export_run(run("toy2d"), out=tmp_path / "whole")
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is put back


# -- an exported folder is untrusted input ------------------------------------------------


@pytest.fixture
def exported(run: Callable[[str], Path], tmp_path: Path) -> Path:
    """A fresh safetensors export of the toy2d run, for a test to tamper with."""
    return export_run(run("toy2d"), out=tmp_path / "export")


def test_load_refuses_a_bad_manifest(exported: Path) -> None:
    (exported / MANIFEST).write_text("{not json")
    with pytest.raises(UsageError, match=r"export\.json' is not valid JSON"):
        ganhub.load(exported)
    (exported / MANIFEST).write_text(json.dumps({"ganhub_export": True, "step": 1}))
    with pytest.raises(UsageError, match="not a ganhub export manifest of version 1"):
        ganhub.load(exported)
    (exported / MANIFEST).write_text(json.dumps({"ganhub_export": 1, "step": -1, "plugin": "x"}))
    with pytest.raises(UsageError, match="no whole-number 'step'"):
        ganhub.load(exported)


def test_load_refuses_weights_that_do_not_fit(exported: Path) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(exported / WEIGHTS))
    save_file({**tensors, "D.weight": torch.zeros(2)}, str(exported / WEIGHTS))
    with pytest.raises(UsageError, match=r"holds 1 tensor this 'toy2d' model has no place"):
        ganhub.load(exported)
    missing = dict(list(tensors.items())[1:])
    save_file(missing, str(exported / WEIGHTS))
    with pytest.raises(UsageError, match=r"does not fit its config\.yaml: G: the model has 1"):
        ganhub.load(exported)
    nan = {k: torch.full_like(v, float("nan")) for k, v in tensors.items()}
    save_file(nan, str(exported / WEIGHTS))
    with pytest.raises(UsageError, match="non-finite weights"):
        ganhub.load(exported)


class _Payload:
    """Unpickling this creates a file: the proof that something was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


def test_load_never_unpickles_the_weights(exported: Path, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    torch.save({"G.weight": _Payload(marker)}, exported / WEIGHTS)
    with pytest.raises(UsageError, match=r"generator\.safetensors' is unreadable"):
        ganhub.load(exported)
    assert not marker.exists()


# -- every registered domain declares an export that works ---------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("domain", get_hub().domains.names())
def test_every_domain_declares_an_export_its_functions_keep(domain: str) -> None:
    from ganhub.config.resolve import resolve
    from ganhub.engine.run import prepare_system
    from ganhub.wiring import components

    presets = get_hub().domains.get(domain).presets
    config = resolve([f"plugin={domain}", *(["preset=tiny"] if "tiny" in presets else [])],
                     training=False)  # fmt: skip
    system, _ = prepare_system(config, components(config, training=False), torch.device("cpu"))
    system.eval()
    spec = system.export_spec()
    inside = {id(m) for m in system.modules()}
    assert spec.state and all(id(m) in inside for m in spec.state.values())
    assert spec.functions or spec.refusal
    for function in spec.functions:
        with torch.no_grad():
            out = function.module(*example_inputs(function, 2))
        assert out.dtype == torch.float32 and len(out) == 2 and bool(torch.isfinite(out).all())
        if function.output_range is not None:
            low, high = function.output_range
            assert low <= float(out.min()) and float(out.max()) <= high


def test_an_exporter_failure_is_one_line(
    run: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("unsupported operator\nwith a long trace")

    monkeypatch.setattr(torch.jit, "trace", broken)
    with pytest.raises(GanhubError, match="could not be exported as torchscript: unsupported") as e:
        export_run(run("toy2d"), "torchscript", out=tmp_path / "x")
    assert "\n" not in str(e.value) and not (tmp_path / "x").exists()


# -- the page ----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_export_page_runs_as_written(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """docs/export.md: its ganhub lines (the run shortened) and its Python, in order."""
    import shlex

    text = (Path(__file__).resolve().parents[1] / "docs" / "export.md").read_text()
    bash = text.split("```bash\n")[1].split("```", 1)[0]
    lines = [line.split("#")[0] for line in bash.splitlines() if line.startswith("ganhub ")]
    assert [shlex.split(line)[1] for line in lines] == ["run", "export", "export", "export"]
    for line in lines:
        args = shlex.split(line)[1:]
        if args[0] == "run":
            args += ["trainer.steps=2", "trainer.progress=false"]
        code, _, err = cli(*args)
        assert code == 0, err
    namespace: dict[str, object] = {}
    for block in _python_blocks(text):
        exec(compile(block, "export.md", "exec"), namespace)
    assert tuple(namespace["images"].shape) == (16, 1, 32, 32)  # type: ignore[attr-defined]
