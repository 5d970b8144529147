"""stylegan's conditional discriminator as StyleGAN2-ADA's (`condition.discriminator=cmap`, the
default): the epilogue's output layer gives cmap_dim values, dotted with a vector D's own
mapping network makes of the label and scaled by 1/sqrt(cmap_dim); runs saved with the
projection discriminator still load and resume with it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import ganhub
from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit
from ganhub.errors import ConfigError
from ganhub.wiring import make_run
from tests.conftest import TINY_DCGAN
from tests.plugins.test_stylegan import COND

pytestmark = pytest.mark.usefixtures("one_thread")


def _fc(layer: torch.nn.Module, x: torch.Tensor, lr_mul: float, act: bool) -> torch.Tensor:
    """NVIDIA's FullyConnectedLayer: weight x lr_mul / sqrt(in), bias x lr_mul, lrelu x sqrt 2."""
    w, b = layer.weight, layer.bias  # type: ignore[union-attr]
    y = x @ (w * (lr_mul / math.sqrt(w.shape[1]))).t() + b * lr_mul
    return F.leaky_relu(y, 0.2) * math.sqrt(2) if act else y


def test_the_default_conditional_discriminator_is_cmap(workdir: Path) -> None:
    """It was the projection discriminator, head(h) + <embed(y), h>: an unconditional logit
    plus a label term, which the docs called StyleGAN2-ADA's --cond."""
    from ganhub_stylegan.cmap import CmapDiscriminator

    run = make_run(resolve(COND))
    assert run.config.condition.discriminator == "cmap"  # type: ignore[attr-defined]
    assert isinstance(run.system.D, CmapDiscriminator)


def test_cmap_computes_stylegan2_ada_s_conditional_epilogue(workdir: Path) -> None:
    from ganhub_stylegan.cmap import CmapDiscriminator

    run = make_run(resolve([*COND, "condition.discriminator=cmap"]))
    D = run.system.D
    assert isinstance(D, CmapDiscriminator)
    c4 = D.net.feature_dim
    assert D.net.out.weight.shape == (c4, c4)  # cmap_dim = the 4x4 block's channels
    mapping = D.mapping
    assert mapping.embed.weight.shape == (c4, 10) and len(mapping.net) == 8
    assert not any("table" in k for k in D.state_dict())  # no projection embedding
    torch.manual_seed(0)
    for name, p in D.named_parameters():  # biases start at 0: make their scaling count too
        if name.endswith("bias"):
            p.data.normal_()
    x, y = run.system.real_samples(6), torch.tensor([0, 1, 2, 7, 8, 9])
    h = D.net.features(x)
    # NVIDIA's MappingNetwork(z_dim=0, c_dim=10, w_dim=c4, num_ws=None, w_avg_beta=None)
    e = _fc(mapping.embed, F.one_hot(y, 10).float(), 1.0, act=False)
    cmap = e * torch.rsqrt(e.square().mean(1, keepdim=True) + 1e-8)
    for layer in mapping.net:
        cmap = _fc(layer, cmap, 0.01, act=True)
    out = _fc(D.net.out, h, 1.0, act=False)  # DiscriminatorEpilogue.out: cmap_dim outputs
    expected = (out * cmap).sum(1) / math.sqrt(c4)
    assert torch.allclose(D(x, y), expected, rtol=1e-4, atol=1e-5)
    # every logit depends on the label: no unconditional term
    assert (D(x, y) - D(x, (y + 1) % 10)).abs().min() > 0


def test_cmap_trains_with_acgan_and_ada(workdir: Path) -> None:
    run = make_run(resolve([*COND, "condition.discriminator=cmap", "tricks=[ema,r1,ada,acgan]",
                            "trick.r1.interval=2", "trick.ada.p_init=0.5",
                            "trick.ada.interval=1"]))  # fmt: skip
    fit(run)
    lines = (run.run_dir / "metrics.jsonl").read_text()
    assert "acgan_G" in lines and "ada_p" in lines and "NaN" not in lines


def test_a_run_saved_with_the_projection_discriminator_loads_and_resumes_with_it(
    workdir: Path,
) -> None:
    """Saved configs name the mechanism (condition.discriminator=projection, the old default),
    so the old runs keep their networks."""
    from ganhub.conditioning.nets import ProjectionD

    run = make_run(resolve([*COND, "condition.discriminator=projection", "trainer.steps=2"]))
    fit(run)
    saved = (run.run_dir / "config.yaml").read_text()
    assert "discriminator: projection" in saved
    model = ganhub.load(run.run_dir)
    assert isinstance(model.system.D, ProjectionD)
    sevens = torch.full((2,), 7)
    assert torch.equal(model.system.sample(2, seed=1, labels=sevens),
                       run.system.sample(2, seed=1, labels=sevens))  # fmt: skip
    resumed = make_run(resolve([f"resume={run.run_dir}", "trainer.steps=4"]))
    assert isinstance(resumed.system.D, ProjectionD)
    fit(resumed)


def test_cmap_on_another_plugin_is_refused_in_one_line(tmp_path: Path) -> None:
    args = [*TINY_DCGAN, "model.conditional=true", "condition.discriminator=cmap"]
    with pytest.raises(ConfigError) as err:
        make_run(resolve([*args, f"out_dir={tmp_path}"]))
    text = str(err.value)
    assert "plugin=stylegan" in text and "projection" in text and "\n" not in text
    assert not list(tmp_path.iterdir())  # refused before any run folder


def test_explore_grid_of_a_conditional_run_has_one_row_per_class(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """explore's grid drew a random class per image where `ganhub sample` (and the docs) give
    one row per class; and a destination it cannot write stops it before any file is."""
    run_dir = Path(ganhub.train([*COND, "name=c"])["run_dir"])
    code, _, err = cli("stylegan", "explore", str(run_dir), "--n", "20", "--out", "o")
    assert code == 0, err
    explored = np.asarray(Image.open(workdir / "o" / "seed0_n20_grid.png"))
    code, _, err = cli("sample", str(run_dir), "--n", "20", "--out", "s")
    sampled = np.asarray(Image.open(next((workdir / "s").glob("*.png"))))
    assert code == 0 and explored.shape == sampled.shape, err
    (workdir / "p" / "seed0_truncation.png").mkdir(parents=True)
    code, _, err = cli("stylegan", "explore", str(run_dir), "--out", "p")
    assert code == 2 and "seed0_truncation.png" in err
    assert [p.name for p in (workdir / "p").iterdir()] == ["seed0_truncation.png"]


def test_the_stylegan_verbs_draw_the_class_label_asks_for(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """--label: the mixing grid, truncation rows and GIF showed a conditional run's first
    class only (`ganhub sample --label` had it)."""
    from ganhub.data.images import save_image_grid

    run_dir = Path(ganhub.train([*COND, "name=c"])["run_dir"])
    code, out, err = cli("stylegan", "explore", str(run_dir), "--n", "4", "--frames", "2",
                         "--label", "3", "--out", "o")  # fmt: skip
    assert code == 0, err
    assert [Path(p).name for p in out.split()] == [
        "seed0_n4_label3_grid.png", "seed0_label3_truncation.png", "seed0_label3_mixing.png",
        "seed0_frames2_label3_interp.gif"]  # fmt: skip

    def pixels(path: Path) -> np.ndarray:
        return np.asarray(Image.open(path))

    system = ganhub.load(run_dir).system  # the grid: four samples of class 3, drawn as the
    labels = torch.full((4,), 3)  # run's pictures are (its truncation, constant noise inputs)
    save_image_grid(system.display_samples(4, seed=0, labels=labels), workdir / "r.png")
    assert np.array_equal(pixels(workdir / "o/seed0_n4_label3_grid.png"), pixels(workdir / "r.png"))
    for label in ("0", None):  # the verbs' default is the first class
        more = [] if label is None else ["--label", label]
        code, out, err = cli("stylegan", "truncation", str(run_dir), "--out", "o", *more)
        assert code == 0, err
    first, default = (
        pixels(workdir / "o/seed0_label0_truncation.png"),
        pixels(workdir / "o/seed0_truncation.png"),
    )
    assert np.array_equal(first, default)
    assert not np.array_equal(first, pixels(workdir / "o/seed0_label3_truncation.png"))
    code, _, err = cli("stylegan", "mix", str(run_dir), "--label", "12", "--out", "bad")
    assert (
        code == 2
        and "label '12' is not one of this run's classes" in err
        and not Path("bad").exists()
    )
