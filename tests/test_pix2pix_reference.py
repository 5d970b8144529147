"""pix2pix (`plugin=cyclegan task=paired`) checked against the paper and the reference code:
the paper's inference (dropout on, test-batch statistics), lsgan in the reference's MSELoss
form, and where the U-Net's dropout goes."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn

from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit
from ganhub.errors import ConfigError
from ganhub.wiring import make_run

# 64 px: the smallest U-Net (6 levels) with a dropout level, as the reference's formula places it
PAIRED = [
    "plugin=cyclegan", "task=paired", "model.image_size=64", "model.ngf=4", "model.ndf=4",
    "model.n_layers_d=2", "trainer.batch_size=2", "trainer.steps=2", "trainer.log_every=1",
    "trainer.sample_every=0", "trainer.progress=false", "loggers=[jsonl]", "data.n_test=8",
    "eval.n_samples=8", "eval.metrics=[]",
]  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_thread")


def _system(*keys: str):  # type: ignore[no-untyped-def]
    """A pix2pix system translating as the paper (model.inference=paper) unless keys say."""
    return make_run(resolve([*PAIRED, "model.inference=paper", *keys])).system


def _inputs(n: int = 4) -> torch.Tensor:
    return torch.rand(n, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1


def _norm_state(G: nn.Module) -> list[torch.Tensor]:
    return [b.clone() for b in G.buffers()]


# -- fix 1: the paper's inference ----------------------------------------------------------


def test_paper_inference_runs_g_as_in_training(workdir: Path) -> None:
    """Isola et al. sec. 3.3: dropout at test time, batch norm on the test batch's statistics;
    the reference's test.py runs batch 1, so each image is normalised by its own statistics."""
    s = _system()
    s.G.train()
    for _ in range(3):  # running averages that differ from any one image's statistics
        s.G(_inputs(2) * 0.5 + 0.3)
    x = _inputs()
    as_training = copy.deepcopy(s.G).train()
    expected = []
    for image in x.split(1):
        torch.manual_seed(0)
        expected.append(as_training(image))
    got = s.translate(x)
    assert torch.allclose(got, torch.cat(expected), atol=1e-6)
    assert not torch.allclose(got, copy.deepcopy(s.G).eval()(x), atol=1e-3)


def test_paper_inference_changes_nothing_and_is_reproducible(workdir: Path) -> None:
    s = _system()
    x = _inputs()
    for training in (True, False):
        s.G.train(training)
        buffers, rng = _norm_state(s.G), torch.get_rng_state()
        first = s.translate(x)
        assert all(torch.equal(a, b) for a, b in zip(buffers, s.G.buffers()))  # running stats
        assert torch.equal(rng, torch.get_rng_state())  # the training stream is not advanced
        assert all(m.training == training for m in s.G.modules())
        assert all(m.track_running_stats for m in s.G.modules() if isinstance(m, nn.BatchNorm2d))
        assert torch.equal(first, s.translate(x))  # the same seed: the same images
    assert not torch.allclose(first, s.translate(x, seed=1))  # another seed: other dropout
    # an image's translation does not depend on the images sent with it
    assert torch.allclose(s.translate(x[2:]), first[2:], atol=1e-6)
    assert torch.equal(s.sample(3, seed=5), s.sample(3, seed=5))


def test_paper_inference_restores_the_model_when_the_forward_raises(workdir: Path) -> None:
    s = _system()
    s.G.eval()
    norm = next(m for m in s.G.modules() if isinstance(m, nn.BatchNorm2d))

    def fail(module: nn.Module, args: object) -> None:
        raise RuntimeError("boom")

    handle = norm.register_forward_pre_hook(fail)
    with pytest.raises(RuntimeError, match="boom"):
        s.translate(_inputs(1))
    handle.remove()
    assert not any(m.training for m in s.G.modules())
    assert all(m.track_running_stats for m in s.G.modules() if isinstance(m, nn.BatchNorm2d))


def test_inference_eval_gives_the_conventional_eval_mode(workdir: Path) -> None:
    assert resolve(PAIRED).model.inference == "eval"  # type: ignore[attr-defined]
    s = _system("model.inference=eval")
    x = _inputs()
    assert torch.allclose(s.translate(x), copy.deepcopy(s.G).eval()(x), atol=1e-6)
    with pytest.raises(ConfigError, match=r"model\.inference.*'paper'"):
        resolve([*PAIRED, "model.inference=papr"])


def test_sampling_and_evaluation_leave_training_as_it_was(workdir: Path) -> None:
    """Grids and metrics in the paper's mode draw dropout from their own seeded stream: a run
    that writes them every step ends with the weights of one that never does."""
    quiet = make_run(resolve([*PAIRED, "model.inference=paper", "trainer.steps=3", "name=quiet"]))
    fit(quiet)  # a run seeds the global stream when it is made: each is made, then trained
    busy = make_run(
        resolve([*PAIRED, "model.inference=paper", "trainer.steps=3", "name=busy",
                 "trainer.sample_every=1",
                 "trainer.eval_every=1", "eval.metrics=[translation_psnr_ssim]"])
    )  # fmt: skip
    fit(busy)
    assert busy.final_metrics  # it did evaluate
    for a, b in zip(quiet.system.G.state_dict().values(), busy.system.G.state_dict().values()):
        assert torch.equal(a, b)


# -- fix 2: lsgan in the reference's form -----------------------------------------------------


@pytest.mark.parametrize("loss", ["lsgan", "nonsaturating"])
def test_pix2pix_adversarial_terms_are_the_reference_ganloss(workdir: Path, loss: str) -> None:
    """The reference: loss_D = 0.5 (GANLoss(D(real), 1) + GANLoss(D(fake), 0)) and
    loss_G = GANLoss(D(fake), 1) + 100 L1, with GANLoss('lsgan') = MSELoss."""
    run = make_run(resolve([*PAIRED, f"loss={loss}"]))
    s, ctx = run.system, run.ctx
    gen = torch.Generator().manual_seed(2)
    a, b = torch.rand(2, 3, 64, 64, generator=gen) * 2 - 1, torch.rand(2, 3, 64, 64, generator=gen)
    d_out = s.d_step((a, b), ctx)
    fake = ctx.cache["fake"]
    real_logits, fake_logits = s.D(s.pair(a, b)), s.D(s.pair(a, fake))
    if loss == "lsgan":
        gan = lambda x, t: ((x - t) ** 2).mean()  # noqa: E731  MSELoss
    else:
        gan = lambda x, t: nn.functional.binary_cross_entropy_with_logits(x, torch.full_like(x, t))  # noqa: E731
    expected_d = 0.5 * (gan(real_logits, 1.0) + gan(fake_logits, 0.0))
    assert d_out.loss.item() == pytest.approx(expected_d.item(), rel=1e-5)
    g_out = s.g_step((a, b), ctx)  # the fakes the D phase made
    expected_g = gan(s.D(s.pair(a, fake)), 1.0) + 100 * (fake - b).abs().mean()
    assert g_out.loss.item() == pytest.approx(expected_g.item(), rel=1e-5)


# -- fix 3: where the U-Net's dropout goes ---------------------------------------------------


def _dropouts(system) -> int:  # type: ignore[no-untyped-def]
    return sum(isinstance(m, nn.Dropout) for m in system.G.modules())


@pytest.mark.parametrize(("size", "levels"), [(64, 1), (128, 2), (256, 3)])
def test_dropout_levels_follow_the_reference(workdir: Path, size: int, levels: int) -> None:
    """unet_128 has 2 dropout levels, unet_256 3: levels deeper than the fourth but the innermost."""
    run = make_run(resolve([*PAIRED, f"model.image_size={size}", "model.n_layers_d=1"]))
    assert _dropouts(run.system) == levels
    assert not [w for w in run.preflight() if "dropout" in w]


def test_default_dropout_that_has_no_level_is_said_at_start(workdir: Path) -> None:
    run = make_run(resolve([*PAIRED, "model.image_size=32"]))
    assert _dropouts(run.system) == 0
    notes = [w for w in run.preflight() if "model.dropout" in w]
    assert len(notes) == 1 and "no dropout layer" in notes[0] and "\n" not in notes[0]
    assert not [w for w in make_run(resolve([*PAIRED, "model.image_size=32", "name=off",
                                             "model.dropout=false"])).preflight() if "dropout" in w]  # fmt: skip


def test_dropout_asked_for_where_it_cannot_go_is_refused(workdir: Path) -> None:
    with pytest.raises(ConfigError, match=r"model\.dropout=true adds nothing.*5-level U-Net"):
        resolve([*PAIRED, "model.image_size=32", "model.dropout=true"])
    with pytest.raises(ConfigError, match=r"model\.dropout=true"):  # an unpaired U-Net too
        resolve(["plugin=cyclegan", "model.generator=unet", "model.dropout=true"])
    resolve(["plugin=cyclegan", "model.dropout=true"])  # ResNet blocks always hold it
