"""Exported graphs of fully convolutional generators take images of other sizes than the run
trained at (`ExportInput.spatial_step`), and the export says which sizes are valid."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

import ganhub
from ganhub.engine.system import ExportFunction, ExportInput, ExportSpec
from ganhub.errors import GanhubError
from ganhub.export import MANIFEST, export_run
from ganhub.export_graph import other_sizes, spatial_problem, to_graph

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = [
    "plugin=cyclegan", "model.image_size=16", "model.ngf=4", "model.ndf=4", "model.n_layers_d=2",
    "trainer.batch_size=2", "trainer.steps=1", "trainer.sample_every=0", "trainer.progress=false",
    "loggers=[jsonl]", "data.n_test=8", "eval.metrics=[]",
]  # fmt: skip


def _images(n: int, h: int, w: int, seed: int = 0) -> Tensor:
    return torch.rand((n, 3, h, w), generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("task", "step", "least", "sizes"),
    [("unpaired", 4, 8, [(8, 36), (24, 40)]), ("paired", 16, 16, [(16, 48), (32, 16)])],
)
def test_the_onnx_translators_take_other_sizes_than_the_training_size(
    workdir: Path, task: str, step: int, least: int, sizes: list[tuple[int, int]]
) -> None:
    """The graphs fixed the training size (16 x 16): onnxruntime refused a 16 x 32 image
    ("Got invalid dimensions for input: image") that the generators translate in PyTorch. The
    ResNet takes multiples of 4 from 8, the 4-level U-Net of 16 px multiples of 16."""
    import onnxruntime

    run_dir = ganhub.train([*TINY, f"task={task}", f"name={task}"])["run_dir"]
    folder = export_run(run_dir, "onnx", out=workdir / "onnx")
    model = ganhub.load(run_dir)
    manifest = json.loads((folder / MANIFEST).read_text())
    for function in manifest["functions"]:
        (image,) = function["inputs"]
        assert (image["shape"], image["spatial_step"], image["spatial_min"]) == (
            [3, 16, 16], step, least
        )  # fmt: skip
        assert function["output"]["sides_of"] == "image"
        assert function["checked_sizes"] == [16 + step, 16 + 2 * step]
        session = onnxruntime.InferenceSession(
            str(folder / function["files"]["onnx"]), providers=["CPUExecutionProvider"]
        )
        direction = function["name"].removeprefix("translate_")
        for h, w in sizes:
            x = _images(2, h, w)
            (got,) = session.run(None, {"image": x.numpy()})
            want = model.system.translate(x, direction)  # type: ignore[attr-defined]
            assert got.shape == (2, 3, h, w) == tuple(want.shape)
            assert float((torch.from_numpy(got) - want).abs().max()) <= 1e-4
    card = " ".join((folder / "README.md").read_text().split())
    assert (
        f"| input | image | (B, 3, H, W) | float32 | an image in \\[-1, 1\\]; H and W: any "
        f"multiples of {step} from {least} (trained at 16 x 16) |"
    ) in card
    assert (
        "| output | output | (B, 3, H, W) | float32 | in \\[-1, 1\\]; the size of input image |"
        in card
    )
    assert f"on a seeded batch of 3 and on {16 + step} x {16 + 2 * step} inputs." in card


@pytest.mark.slow
def test_the_torchscript_translator_takes_other_sizes_too(workdir: Path) -> None:
    run_dir = ganhub.train([*TINY, "task=paired", "name=ts"])["run_dir"]
    folder = export_run(run_dir, "torchscript", out=workdir / "ts")
    function = json.loads((folder / MANIFEST).read_text())["functions"][0]
    assert (function["inputs"][0]["spatial_step"], function["checked_sizes"]) == (16, [32, 48])
    x = _images(1, 48, 32)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated upstream
        got = torch.jit.load(str(folder / "translate_AtoB.pt"))(x)
    want = ganhub.load(run_dir).system.translate(x, "AtoB")  # type: ignore[attr-defined]
    assert got.shape == want.shape == (1, 3, 48, 32)
    assert float((got - want).abs().max()) <= 1e-5


# -- the contract -----------------------------------------------------------------------


def _function(*inputs: ExportInput) -> ExportFunction:
    return ExportFunction("translate", nn.Identity(), inputs)


@pytest.mark.parametrize(
    ("inputs", "problem"),
    [
        ((ExportInput("image", (3, 16, 16), kind="image", spatial_step=4, spatial_min=8),), ""),
        ((ExportInput("image", (3, 16, 16), kind="image", spatial_min=8),),
         "gives spatial_min without spatial_step"),
        ((ExportInput("image", (3, 16, 16), kind="image", spatial_step=4, spatial_min=6),),
         "spatial_min 6 is no positive multiple of spatial_step 4"),
        ((ExportInput("image", (3, 16, 18), kind="image", spatial_step=4),),
         "its shape (3, 16, 18) has a side that is no valid size"),
        ((ExportInput("image", (3, 16, 16), kind="image", spatial_step=4, spatial_min=32),),
         "its shape (3, 16, 16) has a side that is no valid size"),
        ((ExportInput("labels", (), "int64", "labels", (10,), spatial_step=4),),
         "only float inputs with sides after their channels have a step"),
        ((ExportInput("a", (3, 16, 16), kind="image", spatial_step=4),
          ExportInput("b", (1, 16, 32), kind="image", spatial_step=4)),
         "input 'b' of 'translate': inputs with a spatial_step must share it and their sides"),
    ],
)  # fmt: skip
def test_a_spatial_declaration_is_checked(inputs: tuple[ExportInput, ...], problem: str) -> None:
    got = spatial_problem(_function(*inputs))
    assert got.endswith(problem) if problem else got == ""


def test_the_checked_sides_differ_from_the_declared_ones_and_each_other() -> None:
    volume = ExportInput("scan", (1, 8, 16, 16), kind="image", spatial_step=8)
    assert other_sizes(_function(volume)) == (16, 32, 40)
    assert other_sizes(_function(ExportInput("noise", (64,)))) is None


def test_an_export_with_a_broken_spatial_declaration_is_refused_in_one_line(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ganhub_cyclegan.system import CycleGANSystem

    run_dir = ganhub.train([*TINY, "name=bad"])["run_dir"]

    def export_spec(self: CycleGANSystem) -> ExportSpec:
        image = ExportInput("image", (3, 16, 16), kind="image", spatial_step=4, spatial_min=6)
        return ExportSpec({"G_AB": self.G_AB}, (ExportFunction("translate", self.G_AB, (image,)),))

    monkeypatch.setattr(CycleGANSystem, "export_spec", export_spec)
    with pytest.raises(GanhubError, match=r"declares an export it cannot write \(input 'image'"):
        export_run(run_dir, "torchscript", out=workdir / "x")
    assert not (workdir / "x").exists()


class _FixedSides(nn.Module):
    """Reads its input's sides as Python ints: a trace keeps them as constants."""

    def forward(self, x: Tensor) -> Tensor:
        h, w = int(x.shape[2]), int(x.shape[3])
        return torch.zeros(x.shape[0], 3, h, w) + x.mean()


def test_a_graph_that_fixes_the_sides_fails_the_export(tmp_path: Path) -> None:
    """The batch-of-3 check alone, at the declared sides, would have let it through."""
    image = ExportInput("image", (3, 16, 16), kind="image", spatial_step=4)
    function = ExportFunction("translate", _FixedSides(), (image,))
    with warnings.catch_warnings(), pytest.raises(GanhubError) as caught:
        warnings.simplefilter("ignore")
        to_graph("torchscript", function.module, function, tmp_path / "t.pt", 0, "mine")
    assert str(caught.value) == (
        "the torchscript graph of 'mine' gives shape (1, 3, 16, 16) for 20 x 24 inputs, "
        "PyTorch (1, 3, 20, 24): its input size is fixed in the graph"
    )
