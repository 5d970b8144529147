"""`ganhub interpret features`: channel maps, D's saliency and integrated gradients, attention
maps on a real tiny dcgan (with SAGAN attention) and stylegan, and the page end to end."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch
from ganhub_dcgan.networks import SelfAttention
from ganhub_interpret.features import (
    attention_maps,
    channel_maps,
    converged_integrated_gradients,
    critic_scores,
    integrated_gradients,
    saliency,
)
from torch import nn

import ganhub
from ganhub.latent import LatentSpace

from ..browser import dump_dom, image_counts
from ..conftest import TINY_DCGAN, TINY_TOY

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny 32 px dcgan with self-attention at 16x16 in G and D, trained for two steps on
    shapes (one white shape on a black background: the baseline of integrated gradients)."""
    root = tmp_path_factory.mktemp("features-runs")
    ganhub.train([*TINY_DCGAN, "data=shapes", "model.attention=true", "name=att",
                  f"out_dir={root}", "trainer.sample_every=0"])  # fmt: skip
    return root / "att"


@pytest.fixture(scope="module")
def trained(dcgan_run: Path) -> ganhub.TrainedGAN:
    """The run, loaded, in eval mode."""
    loaded = ganhub.load(dcgan_run)
    loaded.system.eval()
    return loaded


@pytest.fixture(scope="module")
def space(trained: ganhub.TrainedGAN) -> LatentSpace:
    """The run's z space."""
    latent = trained.system.latent_space()
    assert latent is not None
    return latent


# -- attributions -----------------------------------------------------------------------------


def test_saliency_is_the_absolute_input_gradient_of_each_image_alone(space: LatentSpace) -> None:
    assert space.critic is not None
    images = space.decode(space.sample(3, 1))
    x = images.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(space.critic(x).sum(), x)
    shown = saliency(space, images)
    assert shown.shape == images.shape and float(grad.abs().max()) > 0
    assert float((shown - grad.abs()).abs().max()) <= 1e-6 * float(grad.abs().max())
    # one image's map does not depend on the others in the batch
    assert torch.allclose(saliency(space, images[1:2]), shown[1:2], rtol=1e-5, atol=0)


def test_integrated_gradients_add_up_to_the_score_change_from_the_empty_image(
    trained: ganhub.TrainedGAN, space: LatentSpace
) -> None:
    real = trained.system.real_samples(2, seed=0)
    attributions, delta, steps = converged_integrated_gradients(space, real)
    assert attributions.shape == real.shape and 32 <= steps <= 256
    empty = torch.full_like(real, -1.0)  # the baseline: every pixel at the background value
    change = critic_scores(space, real) - critic_scores(space, empty)
    total = attributions.flatten(1).sum(1)
    assert torch.allclose(total - change, delta, rtol=1e-3, atol=1e-7)
    assert bool(((total - change).abs() < 0.05 * change.abs()).all()), (total, change)
    # the attributions follow the image: another shape, another map
    assert (attributions[0] - attributions[1]).abs().max() > 0.1 * attributions.abs().max()
    flipped, _ = integrated_gradients(space, real.flip(-1), steps=steps)
    assert not torch.allclose(flipped[0], attributions[0].flip(-1), rtol=0.05)


# -- channel maps -----------------------------------------------------------------------------


def test_channel_maps_are_each_layers_output_and_keep_the_most_energetic_channels(
    trained: ganhub.TrainedGAN, space: LatentSpace
) -> None:
    codes = space.sample(3, 2)
    full = channel_maps(space, codes, top=None)
    assert [m.name for m in full] == [name for name, _ in space.feature_layers]
    G = trained.system.generator()
    assert isinstance(G, nn.Sequential) and space.feature_layers[0][1] is G[2]
    with torch.no_grad():  # the first transposed conv, its norm, its activation
        direct = nn.Sequential(*list(G)[:3])(codes.view(len(codes), -1, 1, 1))
    assert full[0].shape == tuple(direct.shape) and torch.allclose(full[0].maps, direct)
    assert full[-1].shape[2:] == (16, 16) and full[-1].shape[0] == 3

    kept = channel_maps(space, codes, top=4)
    energy = direct.square().mean(dim=(0, 2, 3))
    assert torch.allclose(kept[0].energy, energy, rtol=1e-5)
    assert kept[0].channels == torch.argsort(energy, descending=True)[:4].tolist()
    assert torch.allclose(kept[0].maps, direct[:, kept[0].channels])
    assert [m.shape for m in kept] == [m.shape for m in full]

    again = channel_maps(space, space.sample(3, 2), top=4)
    assert all(torch.equal(a.maps, b.maps) for a, b in zip(again, kept, strict=True))
    other = channel_maps(space, space.sample(3, 3), top=4)
    assert not torch.allclose(other[0].energy, kept[0].energy)


# -- attention --------------------------------------------------------------------------------


def test_attention_maps_of_g_and_d_are_distributions_over_16x16_keys(
    trained: ganhub.TrainedGAN, space: LatentSpace
) -> None:
    codes = space.sample(2, 4)
    found = attention_maps(space, codes)
    assert [m.name for m in found] == [name for name, _ in space.attention] == ["G.9", "D.2"]
    for maps in found:
        assert maps.queries == maps.keys == (16, 16) and maps.maps.shape == (2, 2, 16, 16)
        assert torch.allclose(maps.maps.sum(dim=(2, 3)), torch.ones(2, 2), atol=1e-5)
        assert maps.where[:, 0].tolist() == [[8, 8], [8, 8]]  # the centre query
    # G's centre row is the module's own weights for the input it gets in a direct forward
    G = trained.system.generator()
    at = next(i for i, m in enumerate(G) if isinstance(m, SelfAttention))
    with torch.no_grad():
        x = nn.Sequential(*list(G)[:at])(codes.view(2, -1, 1, 1))
        weights = G[at].attention_map(x)
    assert torch.allclose(found[0].maps[:, 0], weights[:, 8 * 16 + 8].view(2, 16, 16), atol=1e-6)
    energy = x.square().sum(1).flatten(1).argmax(1)
    assert found[0].where[:, 1].tolist() == [list(divmod(int(e), 16)) for e in energy]


# -- the page ---------------------------------------------------------------------------------


def _images_in(page: Path) -> int:
    return page.read_text().count("src='data:image/png;base64,")


def test_the_page_end_to_end_and_in_a_browser(cli, dcgan_run: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("interpret", "features", str(dcgan_run), "--images", "3")
    assert code == 0, err
    page = Path(out.strip())
    assert page == dcgan_run / "interpret" / "features.html"
    text = page.read_text()
    for section in ("samples", "channels", "attribution", "attention"):
        assert f"<h2 id='{section}'>" in text
    assert "id='no-attention'" not in text and "every pixel −1" in text
    assert len(re.findall(r"<tr><td>#\d</td>", text)) == 3  # a score row per sample
    layers = 4  # three ReLUs and G's attention
    expected = 1 + layers + 1 + 2  # samples, a grid per layer, attributions, G's and D's attention
    assert _images_in(page) == expected
    pngs = {p.name for p in (dcgan_run / "interpret").iterdir()}
    assert {"features-samples.png", "features-attribution.png", "features-attention-01.png",
            f"features-layer-{layers - 1:02d}.png", "features.html"} <= pngs  # fmt: skip
    assert not [name for name in pngs if name.startswith(".")]  # no temporary files left
    dom = dump_dom(page, tmp_path / "profile")
    ok, broken = image_counts(dom)
    assert broken == 0 and ok == dom.count("<img") == expected


def test_an_exported_folder_shows_no_discriminator_it_does_not_hold(
    cli, dcgan_run: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """An export holds G only; the page used to show a freshly initialised D's scores and
    saliency as the model's."""
    code, _, err = cli("export", str(dcgan_run), "--out", str(tmp_path / "exp"))
    assert code == 0, err
    assert ganhub.load(tmp_path / "exp").exported and not ganhub.load(dcgan_run).exported
    code, out, err = cli("interpret", "features", str(tmp_path / "exp"), "--images", "2")
    assert code == 0, err
    text = Path(out.strip()).read_text()
    assert "D's attributions are not shown: an exported folder holds the generator only" in text
    assert not re.findall(r"<tr><td>#\d</td>", text) and "features-attribution.png" not in text


def test_a_planted_link_is_never_followed(cli, dcgan_run: Path, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    run = workdir / "copy"
    shutil.copytree(dcgan_run, run, ignore=shutil.ignore_patterns("interpret"))
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    (run / "interpret").symlink_to(elsewhere)
    code, _, err = cli("interpret", "features", str(run))
    assert code == 2 and "interpret' is a link" in err and len(err.strip().splitlines()) == 1
    assert not list(elsewhere.iterdir())
    # a link planted where a figure goes: refused too, its target left alone
    (run / "interpret").unlink()
    (run / "interpret").mkdir()
    secret = workdir / "secret.txt"
    secret.write_text("keep")
    (run / "interpret" / "features-samples.png").symlink_to(secret)
    code, _, err = cli("interpret", "features", str(run), "--images", "1")
    assert code == 2 and "features-samples.png' is a link" in err, err
    assert secret.read_text() == "keep"


def test_a_run_without_a_latent_space_is_refused_in_one_line(cli, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("run", *TINY_TOY, "name=toy")
    assert code == 0, err
    code, _, err = cli("interpret", "features", str(workdir / "runs" / "toy"))
    assert code == 2 and "no latent space" in err and len(err.strip().splitlines()) == 1
    assert not (workdir / "runs" / "toy" / "interpret").exists()


TINY_STYLEGAN = [
    "plugin=stylegan", "model.image_size=16", "model.z_dim=16", "model.w_dim=12",
    "model.channel_base=128", "model.channel_max=16", "model.map_layers=2",
    "trainer.batch_size=4", "trainer.steps=2", "trainer.sample_every=0",
    "trainer.progress=false", "loggers=[jsonl]", "eval.metrics=[]", "data=digits",
]  # fmt: skip


def test_stylegan_images_are_scored_alone_and_its_page_renders(cli, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    ganhub.train([*TINY_STYLEGAN, "name=sg", f"out_dir={workdir}"])
    space = ganhub.load(workdir / "sg").system.latent_space()
    assert space is not None and space.critic is not None and not space.attention
    images = space.decode(space.sample(2, 0))
    with torch.no_grad():  # minibatch stddev: D's score of an image depends on its batch
        assert not torch.allclose(space.critic(images)[1:], space.critic(images[1:]))
    assert torch.allclose(critic_scores(space, images)[1:], critic_scores(space, images[1:]))
    assert torch.allclose(saliency(space, images)[1:], saliency(space, images[1:]))
    code, out, err = cli("interpret", "features", str(workdir / "sg"), "--images", "2")
    assert code == 0, err
    page = Path(out.strip())
    text = page.read_text()
    assert "id='no-attention'" in text and "<table id='scores'>" in text
    assert _images_in(page) == 1 + len(space.feature_layers) + 1
