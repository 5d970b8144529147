"""`ganhub interpret directions`: SeFa, GANSpace and boundaries recover planted directions,
scoring names the factor a direction moves, and the page works end to end (dcgan, stylegan)."""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from ganhub_interpret.directions import boundaries, ganspace, sefa
from ganhub_interpret.scoring import difference, score_directions, spread

import ganhub
from ganhub.data.shapes import FACTOR_INFO, estimate_factors, render, shapes_dataset
from ganhub.latent import LatentSpace

from ..browser import dump_dom, image_counts
from ..conftest import TINY_DCGAN, TINY_TOY

pytestmark = pytest.mark.usefixtures("one_thread")

CLI = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)


def _orthonormal(rows: int, cols: int, seed: int) -> torch.Tensor:
    """A (rows, cols) matrix with orthonormal columns."""
    q, _ = torch.linalg.qr(torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed)))
    return q.double()


def _abs_cos(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a @ b).abs() / (a.norm() * b.norm()))


# -- SeFa -----------------------------------------------------------------------------------


def test_sefa_recovers_the_top_right_singular_vectors_and_their_squared_values() -> None:
    U, V = _orthonormal(20, 6, 0), _orthonormal(6, 6, 1)
    S = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.5, 1.0], dtype=torch.float64)
    A = U @ torch.diag(S) @ V.T
    directions, values = sefa(A, 3, normalize_rows=False)
    assert directions.shape == (3, 6) and values.shape == (3,)
    for i in range(3):
        assert _abs_cos(directions[i], V[:, i]) > 1 - 1e-6
    assert torch.allclose(values.double(), S[:3].square(), rtol=1e-5)
    assert torch.allclose(directions.norm(dim=1), torch.ones(3), atol=1e-6)


def test_sefa_row_normalisation_ignores_each_output_rows_scale() -> None:
    # the reference implementation's normalisation: stacking a layer with 10x larger weights
    # must not let that layer decide the directions
    A = torch.randn(30, 5, generator=torch.Generator().manual_seed(2))
    scaled = A * torch.linspace(0.1, 10, 30)[:, None]
    same, _ = sefa(scaled, 2)
    reference, _ = sefa(A, 2)
    assert all(_abs_cos(same[i], reference[i]) > 1 - 1e-6 for i in range(2))
    raw, _ = sefa(scaled, 2, normalize_rows=False)  # without it, the big rows win
    assert _abs_cos(raw[0], reference[0]) < 0.99


# -- GANSpace -------------------------------------------------------------------------------


def _gaussian_space(dim: int, early: torch.Tensor | None = None, cov: torch.Tensor | None = None) -> LatentSpace:  # fmt: skip
    """Codes N(0, cov) (default I); early features = codes @ early.T when given."""
    root = torch.linalg.cholesky(cov).float() if cov is not None else torch.eye(dim)

    def sample(n: int, seed: int) -> torch.Tensor:
        return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed)) @ root.T

    features = None if early is None else (lambda z: z.double() @ early.T)
    return LatentSpace("z", dim, sample, decode=lambda c: c, early_features=features)


def test_ganspace_regresses_the_early_features_principal_axes_back_to_z() -> None:
    U, V = _orthonormal(12, 6, 3), _orthonormal(6, 6, 4)
    S = torch.tensor([6.0, 4.0, 2.5, 1.5, 1.0, 0.5], dtype=torch.float64)
    space = _gaussian_space(6, early=U @ torch.diag(S) @ V.T)
    directions, ratios = ganspace(space, 3, n=4000, seed=0)
    assert directions.shape == (3, 6)
    for i in range(3):
        assert _abs_cos(directions[i], V[:, i]) > 0.99, i
    expected = S.square() / S.square().sum()
    assert torch.allclose(ratios.double(), expected[:3], atol=0.02)


def test_ganspace_in_w_takes_the_codes_own_principal_axes() -> None:
    V = _orthonormal(5, 5, 5)
    cov = V @ torch.diag(torch.tensor([9.0, 4.0, 1.0, 0.25, 0.1], dtype=torch.float64)) @ V.T
    directions, ratios = ganspace(_gaussian_space(5, cov=cov), 2, n=4000, seed=0)
    assert _abs_cos(directions[0], V[:, 0]) > 0.99 and _abs_cos(directions[1], V[:, 1]) > 0.99
    assert ratios[0] > ratios[1] > 0.2


# -- boundaries -----------------------------------------------------------------------------


def test_boundaries_find_the_planted_normals_of_each_kind_of_factor() -> None:
    gen = torch.Generator().manual_seed(6)
    codes = torch.randn(1000, 8, generator=gen)
    t = torch.nn.functional.normalize(torch.randn(8, generator=gen), dim=0)
    t1, t2 = torch.eye(8)[3], torch.eye(8)[4]
    factors = {
        "x": codes @ t + 0.1 * torch.randn(1000, generator=gen),
        "rotation": torch.atan2(codes @ t2, codes @ t1) % (2 * math.pi),
        "shape": torch.stack([codes[:, 0], codes[:, 1], -codes[:, 0] - codes[:, 1]], 1).argmax(1),
    }
    info = {k: FACTOR_INFO[k] for k in ("x", "rotation", "shape")}
    found = dict(boundaries(codes, factors, info))
    assert set(found) == {"x", "rotation·cos", "rotation·sin", "shape=square", "shape=ellipse",
                          "shape=triangle"}  # fmt: skip
    assert float(found["x"] @ t) > 0.95  # |cos| > 0.95, and pointing towards larger x
    assert float(found["rotation·cos"] @ t1) > 0.9 and float(found["rotation·sin"] @ t2) > 0.9
    assert float(found["shape=square"] @ torch.eye(8)[0]) > 0.6
    # a factor that does not vary among the samples gets no boundary
    flat = {"x": torch.zeros(1000)}
    assert boundaries(codes, flat, {"x": FACTOR_INFO["x"]}) == []


def test_differences_and_spreads_by_kind() -> None:
    a, b = torch.tensor([0.1, 6.2, 3.0]), torch.tensor([6.2, 0.1, 3.0])
    assert torch.allclose(difference(a, b, "circular"), torch.tensor([0.1832, 0.1832, 0.0]).double(), atol=1e-3)  # fmt: skip
    assert torch.allclose(difference(a, b, "continuous"), torch.tensor([6.1, 6.1, 0.0]).double())
    assert difference(torch.tensor([1, 2]), torch.tensor([1, 3]), "categorical").tolist() == [0, 1]
    normal = torch.randn(20000, generator=torch.Generator().manual_seed(0))
    assert spread(normal, "continuous") == pytest.approx(2 / math.sqrt(math.pi), rel=0.03)
    with pytest.raises(ValueError, match="kind 'ordinal'"):
        difference(a, b, "ordinal")


# -- scoring on rendered shapes -------------------------------------------------------------


def _shapes_space() -> LatentSpace:
    """A planted generator of squares: code 0 drives x, code 1 drives y, codes 2-3 nothing."""

    def decode(codes: torch.Tensor) -> torch.Tensor:
        n = len(codes)
        factors = torch.zeros(n, 5)
        factors[:, 0] = 0  # square
        factors[:, 1] = 0.75
        factors[:, 2] = 0.3
        factors[:, 3] = 0.5 + 0.22 * torch.tanh(codes[:, 0] / 1.5)
        factors[:, 4] = 0.5 + 0.22 * torch.tanh(codes[:, 1] / 1.5)
        return render(factors, 32)

    def sample(n: int, seed: int) -> torch.Tensor:
        return torch.randn(n, 4, generator=torch.Generator().manual_seed(seed))

    return LatentSpace("z", 4, sample, decode)


def test_scoring_names_the_factor_a_direction_moves_and_how_exclusively() -> None:
    space = _shapes_space()
    real, _ = shapes_dataset(32, n=600, seed=0)
    reference = estimate_factors(real)
    e = torch.eye(4)
    diagonal = (e[0] + e[1]) / math.sqrt(2)
    directions = torch.stack([e[0], e[1], diagonal, e[2]])
    table = score_directions(
        space, directions, space.sample(200, 0), estimate=estimate_factors,
        info={k: FACTOR_INFO[k] for k in ("shape", "scale", "rotation", "x", "y")},
        reference=reference, names=["e0", "e1", "diagonal", "e2"], n_base=32,
    )  # fmt: skip
    e0, e1, mixed, idle = table.directions
    assert e0.top == "x" and e0.exclusivity > 0.8 and e0.effects["x"] > 0.5
    assert e1.top == "y" and e1.exclusivity > 0.8
    assert mixed.exclusivity < 0.7 and mixed.effects["x"] > 0.3 and mixed.effects["y"] > 0.3
    assert max(idle.effects.values()) < 0.05  # the unused code moves nothing
    best = {f.factor: f for f in table.per_factor}
    assert best["x"].direction == 0 and best["y"].direction == 1
    assert best["x"].exclusivity > 0.8
    assert "e0" in table.format() and "x" in table.format()


# -- the command, end to end ----------------------------------------------------------------


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny dcgan trained for two steps on shapes."""
    root = tmp_path_factory.mktemp("interpret-runs")
    ganhub.train(
        [
            *TINY_DCGAN,
            "data=shapes",
            "data.n=512",
            "name=dc",
            f"out_dir={root}",
            "trainer.sample_every=0",
        ]
    )
    return root / "dc"


def _images_in(page: Path) -> int:
    return page.read_text().count("src='data:image/png;base64,")


@pytest.mark.parametrize("method", ["sefa", "ganspace", "boundary"])
def test_directions_page_for_each_method(cli: CLI, dcgan_run: Path, method: str) -> None:
    code, out, err = cli("interpret", "directions", str(dcgan_run), "--method", method,
                         "--samples", "96", "--directions", "3")  # fmt: skip
    assert code == 0, err
    page = Path(out.strip())
    assert page == dcgan_run / "interpret" / f"directions-{method}.html"
    text = page.read_text()
    assert "id='scores'" in text and "<th>x</th>" in text and "<th>rotation</th>" in text
    spectrum = method != "boundary"
    assert _images_in(page) == 3 + 1 + spectrum  # 3 traversal grids, effects, spectrum
    pngs = {p.name for p in (dcgan_run / "interpret").glob(f"directions-{method}-*.png")}
    assert {f"directions-{method}-walk{i}.png" for i in range(3)} <= pngs
    assert not [p for p in (dcgan_run / "interpret").iterdir() if p.name.startswith(".")]


def test_directions_page_decodes_in_a_browser(cli: CLI, dcgan_run: Path, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    code, _, err = cli("interpret", "directions", str(dcgan_run), "--samples", "64",
                       "--directions", "2", "--out", str(page))  # fmt: skip
    assert code == 0, err
    dom = dump_dom(page, tmp_path / "profile")
    ok, broken = image_counts(dom)
    assert broken == 0 and ok == dom.count("<img") == 5
    assert re.search(r"<table id=\"scores\">.*direction 1", dom, re.S)


def test_a_planted_link_and_runs_without_a_latent_space_are_refused(
    cli: CLI, dcgan_run: Path, workdir: Path
) -> None:
    run = workdir / "copy"
    shutil.copytree(dcgan_run, run, ignore=shutil.ignore_patterns("interpret"))
    target = workdir / "elsewhere"
    target.mkdir()
    (run / "interpret").symlink_to(target)
    code, _, err = cli("interpret", "directions", str(run), "--samples", "32")
    assert code == 2 and "interpret' is a link" in err and len(err.strip().splitlines()) == 1
    assert not list(target.iterdir())

    code, _, err = cli("run", *TINY_TOY, "name=toy")
    assert code == 0, err
    code, _, err = cli("interpret", "directions", str(workdir / "runs" / "toy"))
    assert code == 2 and "no latent space" in err and len(err.strip().splitlines()) == 1


def test_boundary_needs_factor_labels(cli: CLI, workdir: Path) -> None:
    code, _, err = cli(
        "run", *TINY_DCGAN, "data=stacked_digits", "name=st", "trainer.sample_every=0"
    )
    assert code == 0, err
    run = workdir / "runs" / "st"
    code, _, err = cli("interpret", "directions", str(run), "--method", "boundary")
    assert code == 2 and "needs factor labels" in err and len(err.strip().splitlines()) == 1
    code, out, err = cli(
        "interpret", "directions", str(run), "--samples", "32", "--directions", "2"
    )
    assert code == 0, err
    page = Path(out.strip())
    text = page.read_text()
    assert "id='unscored'" in text and "has no known factors" in text
    assert "id='scores'" not in text and _images_in(page) == 4  # 3 grids and the spectrum


def test_digits_runs_are_scored_on_the_digit_class(cli: CLI, workdir: Path) -> None:
    code, _, err = cli("run", *TINY_DCGAN, "name=dg", "trainer.sample_every=0")
    assert code == 0, err
    code, out, err = cli("interpret", "directions", str(workdir / "runs" / "dg"),
                         "--method", "ganspace", "--samples", "64", "--directions", "2")  # fmt: skip
    assert code == 0, err
    text = Path(out.strip()).read_text()
    assert "id='scores'" in text and "<th>digit</th>" in text and "explained variance" in text


# -- stylegan's w -----------------------------------------------------------------------------

TINY_STYLEGAN = [
    "plugin=stylegan", "model.image_size=16", "model.z_dim=16", "model.w_dim=12",
    "model.channel_base=128", "model.channel_max=16", "model.map_layers=2",
    "trainer.batch_size=4", "trainer.steps=2", "trainer.sample_every=0",
    "trainer.progress=false", "loggers=[jsonl]", "eval.metrics=[]",
]  # fmt: skip


def test_stylegan_w_space_walks(tmp_path: Path) -> None:
    ganhub.train([*TINY_STYLEGAN, "data=digits", "name=sg", f"out_dir={tmp_path}"])
    system = ganhub.load(tmp_path / "sg").system
    assert system.capabilities().can("latent_space")
    space = system.latent_space()
    assert space is not None and space.name == "w" and space.dim == 12
    assert space.early_features is None and space.projection is not None
    assert space.projection.shape[1] == 12
    assert [name for name, _ in space.feature_layers][:2] == ["b4.conv0", "b8.conv0"]
    directions, values = sefa(space.projection, 4)
    assert directions.shape == (4, 12) and bool((values[:-1] >= values[1:]).all())
    codes = space.sample(4, 0)
    assert codes.shape == (4, 12)
    images = space.decode(codes)
    assert images.shape == (4, 1, 16, 16) and torch.equal(images, space.decode(codes))
    moved = space.decode(codes + 3 * directions[0])
    assert (moved - images).abs().mean() > 1e-3
    assert space.critic is not None and space.critic(images).shape == (4,)


def test_a_conditional_stylegan_has_no_latent_space(tmp_path: Path) -> None:
    ganhub.train([*TINY_STYLEGAN, "data=digits", "model.conditional=true", "name=c",
                  f"out_dir={tmp_path}"])  # fmt: skip
    system = ganhub.load(tmp_path / "c").system
    assert not system.capabilities().can("latent_space") and system.latent_space() is None


def test_a_page_written_elsewhere_takes_its_figures_with_it(
    cli: CLI, dcgan_run: Path, tmp_path: Path
) -> None:
    """With --out the PNGs were written into RUN_DIR/interpret/ under the default names, over
    the default page's own figures, and none beside the page."""
    folder = dcgan_run / "interpret"
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} if folder.exists() else {}
    for command, page in (("directions", tmp_path / "d" / "mine.html"), ("features", tmp_path / "f.html")):  # fmt: skip
        extra = ["--samples", "16", "--directions", "2"] if command == "directions" else []
        code, _, err = cli("interpret", command, str(dcgan_run), *extra, "--out", str(page))
        assert code == 0 and page.is_file(), err
        assert any((page.parent / f"{page.stem}_files").glob(f"{page.stem}-*.png"))
    after = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} if folder.exists() else {}
    assert after == before
