"""The seed's optimisation tricks do what docs/tricks.md says they do: clipping by value
clamps each gradient element (clipping by norm rescales the whole gradient), and the classic
augmentations (scaling, rotation, horizontal and vertical flips) are ADA's ops with the
documented distributions; DCGAN's networks have the paper's layers; `param_stats` logs the
weights' statistics."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from .conftest import TINY_TOY
from .test_tricks import D_PHASE, _ctx, make_trick

N = 20000  # images per draw: a share of 1/8 is within 0.01 at 4 standard errors


def _grads() -> list[nn.Parameter]:
    """Two parameters whose gradients mix large and small elements of both signs."""
    params = [nn.Parameter(torch.zeros(3)) for _ in range(2)]
    params[0].grad = torch.tensor([3.0, -3.0, 0.1])
    params[1].grad = torch.tensor([-0.2, 8.0, 0.0])
    return params


def test_clip_by_value_clamps_each_element_and_leaves_the_small_ones() -> None:
    params = _grads()
    before = torch.cat([p.grad.clone() for p in params])  # type: ignore[union-attr]
    bound = 0.5
    trick, _ = make_trick("clip_grad", "trick.clip_grad.mode=value", f"trick.clip_grad.max={bound}")
    trick.before_optimizer_step(D_PHASE, params)
    after = torch.cat([p.grad for p in params])  # type: ignore[misc]
    assert torch.equal(after, before.clamp(-bound, bound))
    assert (after.abs() < bound).sum() == (before.abs() < bound).sum()  # small ones kept as is
    cos = torch.nn.functional.cosine_similarity(after, before, dim=0)
    assert cos < 0.99  # unlike clipping by norm, the direction changes


def test_clip_by_norm_rescales_the_whole_gradient_keeping_its_direction() -> None:
    params = _grads()
    before = torch.cat([p.grad.clone() for p in params])  # type: ignore[union-attr]
    bound = 0.5
    trick, _ = make_trick("clip_grad", f"trick.clip_grad.max={bound}")
    trick.before_optimizer_step(D_PHASE, params)
    after = torch.cat([p.grad for p in params])  # type: ignore[misc]
    assert torch.linalg.vector_norm(after).item() == pytest.approx(bound, rel=1e-5)
    assert torch.allclose(after, before * bound / torch.linalg.vector_norm(before), atol=1e-6)


def _pipe(*ops: str) -> Any:
    from ganhub.tricks.ada_augment import AdaPipeline

    return AdaPipeline(ops)


def _geometry(*ops: str) -> torch.Tensor:
    """The linear parts (N, 2, 2) of the output-to-input maps ADA draws at p = 1."""
    torch.manual_seed(0)
    return _pipe(*ops).geometry(torch.zeros(N, 1, 8, 8), torch.tensor(1.0))[:, :, :2]


def test_ada_scale_is_isotropic_with_log2_factor_of_the_documented_spread() -> None:
    from ganhub.tricks.ada_augment import SCALE_STD

    a = _geometry("scale")
    assert torch.allclose(a[:, 0, 1], torch.zeros(N)) and torch.allclose(a[:, 1, 0], torch.zeros(N))
    assert torch.allclose(a[:, 0, 0], a[:, 1, 1])  # the same factor along x and y
    log2_scale = -torch.log2(a[:, 0, 0])  # the map reads the input at 1 / s
    assert log2_scale.mean().item() == pytest.approx(0.0, abs=4 * SCALE_STD / math.sqrt(N))
    assert log2_scale.std().item() == pytest.approx(SCALE_STD, rel=0.03)


def test_ada_aniso_stretches_x_and_squeezes_y_by_the_same_factor() -> None:
    from ganhub.tricks.ada_augment import ANISO_STD

    a = _geometry("aniso")
    assert torch.allclose(a[:, 0, 0] * a[:, 1, 1], torch.ones(N), atol=1e-5)  # area kept
    assert torch.log2(a[:, 0, 0]).std().item() == pytest.approx(ANISO_STD, rel=0.03)


def test_ada_rotate_turns_by_a_uniform_angle() -> None:
    a = _geometry("rotate")
    eye = torch.eye(2).expand(N, 2, 2)
    assert torch.allclose(a @ a.transpose(1, 2), eye, atol=1e-5)  # a rotation: no scaling
    assert torch.allclose(torch.linalg.det(a), torch.ones(N), atol=1e-5)  # no mirroring
    angle = torch.atan2(a[:, 1, 0], a[:, 0, 0])
    quarters = torch.histc(angle, bins=4, min=-math.pi, max=math.pi) / N
    assert quarters.tolist() == pytest.approx([0.25] * 4, abs=0.015)


def test_xflip_with_rotate90_gives_horizontal_and_vertical_flips_alike() -> None:
    """docs/tricks.md: a vertical flip is a horizontal one turned by 180 degrees; at p = 1
    the two ops draw the 8 flips and quarter turns of the square evenly."""
    torch.manual_seed(0)
    x = torch.rand(N, 1, 4, 4)
    out = _pipe("xflip", "rotate90")(x, torch.tensor(1.0))

    def share(y: torch.Tensor) -> float:
        return ((out - y).flatten(1).abs().amax(1) < 1e-5).float().mean().item()

    assert share(x.flip(2)) == pytest.approx(1 / 8, abs=0.01)  # vertical
    assert share(x.flip(3)) == pytest.approx(1 / 8, abs=0.01)  # horizontal
    assert share(x) == pytest.approx(1 / 8, abs=0.01)


def test_dcgan_networks_have_the_papers_layers_and_ranges() -> None:
    """G: z ~ N(0, I) -> transposed convs + BatchNorm + ReLU -> Tanh, images in [-1, 1];
    D: strided convs + BatchNorm (not on the first) + LeakyReLU(0.2) -> one score per image."""
    from ganhub_dcgan.config import DCGANModel
    from ganhub_dcgan.networks import Discriminator, Generator

    arch = DCGANModel()
    latent, size, batch = 16, 32, 5
    g = Generator(latent, 8, 3, size, arch)
    kinds = [type(m) for m in g]
    assert kinds[-2:] == [nn.ConvTranspose2d, nn.Tanh]
    assert kinds[:-2] == [nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU] * (len(kinds[:-2]) // 3)
    torch.manual_seed(0)
    images = g(torch.randn(batch, latent))
    assert images.shape == (batch, 3, size, size)
    assert images.abs().max() <= 1 and images.std() > 0  # Tanh's range, not a constant
    d = Discriminator(8, 3, size, arch.d_norm, arch)
    convs = [m for m in d if isinstance(m, nn.Conv2d)]
    assert all(c.stride == (2, 2) for c in convs[:-1])  # downsampling by strides, no pooling
    acts = [m for m in d if not isinstance(m, nn.Conv2d | nn.BatchNorm2d)]
    assert acts and all(isinstance(a, nn.LeakyReLU) for a in acts)
    assert {a.negative_slope for a in acts} == {0.2}  # type: ignore[union-attr]
    assert not isinstance(d[1], nn.BatchNorm2d) and any(isinstance(m, nn.BatchNorm2d) for m in d)
    assert d(images).numel() == batch


def test_param_stats_measures_each_sides_weights_on_logging_steps_only() -> None:
    from ganhub.engine.run import prepare_system
    from ganhub.engine.system import Phase, PhaseOutput
    from ganhub.wiring import components

    trick, cfg = make_trick("param_stats")
    system, _ = prepare_system(cfg, components(cfg), torch.device("cpu"))
    trick.setup(system)
    ctx = _ctx()
    for group in ("G", "D"):
        phase = Phase(group, group, lambda b, c: None)  # type: ignore[arg-type,return-value]
        weights = [p for p in system.param_groups()[group] if p.ndim > 1]
        out = PhaseOutput(torch.zeros(()), {})
        ctx.diagnose = False
        trick.observe(phase, out, ctx)
        assert out.stats == {}  # no work off the logging steps
        ctx.diagnose = True
        trick.observe(phase, out, ctx)
        flat = torch.cat([w.detach().flatten() for w in weights])
        assert out.stats[f"param_norm/{group}"].item() == pytest.approx(
            torch.linalg.vector_norm(flat).item(), rel=1e-5
        )
        assert out.stats[f"param_absmax/{group}"].item() == flat.abs().max().item()


def test_param_stats_are_logged_in_a_run_and_follow_the_training(workdir: Path) -> None:
    import ganhub

    toy = [k for k in TINY_TOY if not k.startswith(("tricks=", "trainer.steps="))]
    args = [*toy, "tricks=[param_stats]", "trainer.steps=6", "optim.D.lr=0.05"]
    summary = ganhub.train(args)
    lines = Path(summary["run_dir"], "metrics.jsonl").read_text().splitlines()
    logged = [r for r in map(json.loads, lines) if "param_norm/D" in r]
    assert [r["step"] for r in logged] == [2, 4, 6]  # trainer.log_every=2
    assert all(r["param_norm/G"] > 0 and r["param_absmax/D"] > 0 for r in logged)
    assert logged[0]["param_norm/D"] != logged[-1]["param_norm/D"]  # the weights moved
