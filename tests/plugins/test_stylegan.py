"""The stylegan plugin: truncation, the core r1/ada/ema tricks as StyleGAN2-ADA
uses them (defaults_for), mixing, path length, resume, data, commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from ganhub_stylegan.data import faces
from ganhub_stylegan.networks import Generator, mix_styles
from ganhub_stylegan.sampling import mixing_ws
from PIL import Image
from torch import nn

from ganhub.config.resolve import resolve
from ganhub.engine import checkpoint
from ganhub.engine.loop import fit
from ganhub.engine.run import Run
from ganhub.errors import ConfigError, UsageError
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

TINY = [
    "plugin=stylegan", "model.image_size=16", "model.z_dim=16", "model.w_dim=16",
    "model.channel_base=128", "model.channel_max=16", "trainer.batch_size=4",
    "trainer.steps=4", "trainer.log_every=2", "trainer.sample_every=0", "trainer.max_seconds=null",
    "trainer.progress=false", "loggers=[jsonl]", "sample.grid=4", "sample.frames=4",
    "eval.metrics=[]",  # the default fd_rotnet trains a feature net: tested on its own below
    # StyleGAN2's full objective (the CPU preset `small` leaves these two off)
    "objective.pl_weight=2", "objective.style_mixing=0.9", "model.noise=true",
]  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_thread")


def _face_folder(root: Path, n: int, size: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(faces(size)[:n]):
        arr = ((img[0].numpy() + 1) * 127.5).round().astype(np.uint8)
        Image.fromarray(arr).convert("RGB").save(root / f"face_{i:02d}.png")
    return root


# -- networks -------------------------------------------------------------------------------


def test_truncation_psi_zero_returns_w_avg() -> None:
    G = Generator(8, 8, 2, 16, 1, 64, 16)
    with torch.no_grad():
        G.mapping.w_avg.normal_()
    z = torch.randn(5, 8)
    ws = G.ws(z, psi=0.0)
    assert torch.allclose(ws, G.mapping.w_avg.expand_as(ws))
    cut = G.ws(z, psi=0.0, cutoff=2)
    full = G.ws(z)
    assert torch.allclose(cut[:, :2], G.mapping.w_avg.expand(5, 2, 8))
    assert torch.equal(cut[:, 2:], full[:, 2:])
    half = G.ws(z, psi=0.5)
    assert torch.allclose(half, (full + G.mapping.w_avg) / 2, atol=1e-6)


def test_noise_inputs_vary_images_only_when_enabled() -> None:
    ws = torch.randn(2, 8, 8)
    for noise in (True, False):
        G = Generator(8, 8, 2, 16, 1, 64, 16, noise=noise)
        with torch.no_grad():
            for conv in G.synthesis.modules():
                if hasattr(conv, "noise_strength"):
                    conv.noise_strength.fill_(0.5)
        a, b = G.synthesis(ws, "random"), G.synthesis(ws, "random")
        assert torch.equal(a, b) != noise
        if noise:  # const noise is one fixed pattern: repeatable, unlike random noise
            assert torch.equal(G.synthesis(ws, "const"), G.synthesis(ws, "const"))


def test_metric_samples_are_untruncated_and_grids_use_sample_psi(workdir: Path) -> None:
    system = make_run(resolve([*TINY, "sample.psi=0.5"])).system
    with torch.no_grad():
        system.G_ema.mapping.w_avg.normal_()  # type: ignore[union-attr]
    plain = system.sample(4, seed=3)
    assert torch.equal(plain, system.sample(4, seed=3, psi=1.0))
    grid = system.sample(4, seed=3, psi=None)
    assert torch.equal(grid, system.sample(4, seed=3, psi=0.5))
    assert not torch.equal(plain, grid)
    for bad in ({"psi": "a"}, {"psi": -5.0}, {"cutoff": 999}, {"cutoff": -1}):
        with pytest.raises(UsageError, match=rf"^sample\({next(iter(bad))}="):
            system.sample(2, seed=3, **bad)  # type: ignore[arg-type]
    n_ws = system.G.num_ws
    assert system.config.style_vectors() == n_ws  # what the config checks is what G takes
    resolve([*TINY, f"sample.cutoff={n_ws}"])
    with pytest.raises(ConfigError, match=rf"^sample.cutoff={n_ws + 1}: a 16 px generator has"):
        resolve([*TINY, f"sample.cutoff={n_ws + 1}"])  # refused before training, not after


@pytest.mark.parametrize(
    ("bad", "key"), [("model.image_size=0", "model.image_size=0"),
                     ("trainer.batch_size=0", "trainer.batch_size=0")],
)  # fmt: skip
def test_a_bad_value_is_named_by_its_own_key_not_what_derives_from_it(bad: str, key: str) -> None:
    """r1's gamma and ema's half-life derive from these: they were reported as set to 0."""
    with pytest.raises(ConfigError) as error:
        resolve(["plugin=stylegan", "tricks=[ema,r1]", bad])
    assert str(error.value).startswith(key) and "trick." not in str(error.value)


def test_w_avg_tracks_the_mapping_output_during_training() -> None:
    G = Generator(8, 8, 2, 16, 1, 64, 16)
    z = torch.randn(64, 8)
    for _ in range(2000):
        G.mapping(z, update_w_avg=True)
    assert torch.allclose(G.mapping.w_avg, G.mapping(z).mean(0), atol=1e-4)


def test_style_mixing_takes_a_suffix_from_the_second_latent() -> None:
    ws, ws2 = torch.zeros(64, 6, 3), torch.ones(64, 6, 3)
    assert torch.equal(mix_styles(ws, ws2, 0.0), ws)
    mixed = mix_styles(ws, ws2, 1.0)[..., 0]  # (64, 6): 0 = first latent, 1 = second
    assert (mixed[:, 0] == 0).all() and (mixed[:, -1] == 1).all()  # crossover in [1, 5]
    assert (mixed.diff(dim=1) >= 0).all()  # one crossover: a prefix of 0s then 1s
    # one crossover for the batch (StyleGAN2-ADA's loss.py), another for the next batch
    assert len(set(mixed.sum(1).tolist())) == 1
    torch.manual_seed(0)
    crossovers = {int(mix_styles(ws, ws2, 1.0)[0, :, 0].sum()) for _ in range(40)}
    assert crossovers == {1, 2, 3, 4, 5}
    mixed_batches = [bool(mix_styles(ws, ws2, 0.5)[0, -1, 0] == 1) for _ in range(200)]
    assert 0.4 < sum(mixed_batches) / 200 < 0.6


def test_mixing_grid_cells_take_coarse_from_rows_and_fine_from_columns() -> None:
    rows, cols = torch.randn(3, 6, 4), torch.randn(2, 6, 4)
    grid = mixing_ws(rows, cols, 2)
    for i in range(3):
        for j in range(2):
            assert torch.equal(grid[i, j, :2], rows[i, :2])
            assert torch.equal(grid[i, j, 2:], cols[j, 2:])


# -- training pieces: stylegan's phases and the core tricks it turns on --------------------------


def _trick(run: Run, name: str) -> Any:
    return next(t for t in run.tricks if t.name == name)


def test_r1_matches_the_analytic_gradient_of_a_linear_d(workdir: Path) -> None:
    """The r1 trick's lazy phase on what Dmain saw: gamma/2 * ||grad_x D||^2 * interval."""
    run = make_run(resolve([*TINY, "trick.r1.gamma=3.0"]))
    system, r1 = run.system, _trick(run, "r1")
    assert r1.options.interval == 16  # stylegan's default: lazy every 16 steps
    system.D = nn.Sequential(nn.Flatten(), nn.Linear(16 * 16, 1))  # D(x) = <w, x> + b
    real = torch.randn(4, 1, 16, 16)
    dmain = run.phases[0]
    out = dmain.loss(real, run.ctx)  # through ADA at p = 0: the identity
    assert out.pairs[0].real_logits is not None  # what ADA reads
    r1.observe(dmain, out, run.ctx)
    lazy = r1.lazy_phase(real, run.ctx)
    w = system.D[1].weight
    expected = 3.0 / 2 * w.square().sum() * 16  # ||grad_x D|| = ||w|| for every x
    assert torch.allclose(lazy.loss, expected, rtol=1e-5)
    w.grad = None
    lazy.loss.backward()  # d/dw = gamma * interval * w (ADA at p = 0: identity to rounding)
    assert torch.allclose(w.grad, 3.0 * 16 * w.detach(), atol=48e-5 * float(w.abs().max()))


def _count_r1(run: Run) -> list[int]:
    """Wrap the r1 trick's penalty: the steps at which it is evaluated, once per call."""
    r1 = _trick(run, "r1")
    calls: list[int] = []
    penalty = r1.penalty
    r1.penalty = lambda pairs, ctx: calls.append(ctx.step) or penalty(pairs, ctx)  # type: ignore[method-assign]
    return calls


@pytest.mark.parametrize("tricks", [None, "[r1]"], ids=["default tricks", "tricks=[r1]"])
def test_r1_runs_once_per_due_step(tricks: str | None, workdir: Path) -> None:
    """The tiny preset's 20 steps: one R1 evaluation at steps 0 and 16, no second copy."""
    args = ["plugin=stylegan", "preset=tiny", "trainer.progress=false", "loggers=[jsonl]"]
    run = make_run(resolve([*args, *([f"tricks={tricks}"] if tricks else [])]))
    assert [t.name for t in run.tricks] == (["r1"] if tricks else ["r1", "ada", "ema"])
    calls = _count_r1(run)
    fit(run)
    assert calls == [0, 16]
    assert [p.name for p in run.phases] == ["Dmain", "Dr1", "Gmain"]


def test_r1_not_lazy_joins_every_dmain_step_once(workdir: Path) -> None:
    args = ["plugin=stylegan", "preset=tiny", "trainer.progress=false", "loggers=[jsonl]"]
    every = make_run(resolve([*args, "tricks=[r1]", "trick.r1.interval=1", "trainer.steps=4"]))
    calls = _count_r1(every)
    fit(every)
    assert calls == [0, 1, 2, 3]
    assert [p.name for p in every.phases] == ["Dmain", "Gmain"]


def test_diffaug_instead_of_ada_trains_and_both_are_refused(workdir: Path) -> None:
    run = make_run(resolve([*TINY, "tricks=[ema,r1,diffaug]", "trick.r1.interval=2"]))
    fit(run)
    assert sorted(t.name for t in run.tricks) == ["diffaug", "ema", "r1"]
    assert set(run.config.trick.model_dump()) == {"ema", "r1", "diffaug"}  # type: ignore[attr-defined]
    with pytest.raises(ConfigError) as err:
        resolve([*TINY, "tricks=[ada,diffaug]"])
    assert "cannot be combined" in str(err.value) and "\n" not in str(err.value)


def test_lazy_regularisation_corrects_lr_and_betas(workdir: Path) -> None:
    """D by the r1 trick (every 16 steps), G by stylegan's path-length phase (every 4)."""
    run = make_run(resolve([*TINY, "objective.pl_interval=4"]))
    for group, k in (("D", 16), ("G", 4)):
        pg = run.optimizers[group].param_groups[0]
        assert pg["lr"] == pytest.approx(0.0025 * k / (k + 1))
        assert pg["betas"][1] == pytest.approx(0.99 ** (k / (k + 1)))
    no_g = make_run(resolve([*TINY, "objective.lazy_correction=false"]))
    assert no_g.optimizers["G"].param_groups[0]["lr"] == pytest.approx(0.0025)
    assert no_g.optimizers["D"].param_groups[0]["lr"] == pytest.approx(0.0025 * 16 / 17)
    no_d = make_run(resolve([*TINY, "trick.r1.lazy_correction=false"]))
    assert no_d.optimizers["D"].param_groups[0]["lr"] == pytest.approx(0.0025)
    # TTUR moves both sides' rates and keeps both corrections
    ttur = make_run(resolve([*TINY, "objective.pl_interval=4", "tricks=[r1,ttur]",
                             "trick.ttur.g_lr=0.001", "trick.ttur.d_lr=0.004"]))  # fmt: skip
    assert ttur.optimizers["G"].param_groups[0]["lr"] == pytest.approx(0.001 * 4 / 5)
    assert ttur.optimizers["D"].param_groups[0]["lr"] == pytest.approx(0.004 * 16 / 17)


def test_ema_half_life_in_images_with_rampup(workdir: Path) -> None:
    run = make_run(resolve([*TINY, "trainer.batch_size=8"]))
    ema = _trick(run, "ema")
    half_life = run.config.trick.ema.half_life_kimg * 1000  # type: ignore[attr-defined]
    assert half_life == pytest.approx(10_000 * 8 / 32)  # StyleGAN: 10 kimg per 32 batch
    late = 10**6  # ramp-up long over: the weight of old EMA halves every half_life images
    assert ema.decay_at(late) ** (half_life / 8) == pytest.approx(0.5)
    step = 100  # ramp-up: half-life = images seen before the step * 0.05
    assert ema.decay_at(step + 1) ** (step * 8 * 0.05 / 8) == pytest.approx(0.5)
    # and the trick applies it: one update moves G_ema by (1 - decay) toward G
    G, G_ema = run.system.G, run.system.G_ema
    with torch.no_grad():
        for p in G_ema.parameters():
            p.zero_()
    ema.after_step(late, run.system)
    p, q = next(G.parameters()), next(G_ema.parameters())
    assert torch.allclose(q, p * (1 - ema.decay_at(late)), atol=1e-7)
    # a rate the user chose is kept, never replaced by the half-life
    given = resolve([*TINY, "trick.ema.decay=0.99"]).trick.ema  # type: ignore[attr-defined]
    assert (given.decay, given.half_life_kimg, given.rampup) == (0.99, None, None)
    own = resolve([*TINY, "trick.ema.half_life_kimg=5"]).trick.ema  # type: ignore[attr-defined]
    assert (own.decay, own.half_life_kimg, own.rampup) == (None, 5.0, None)


def test_defaults_depend_on_the_choices_and_never_replace_them() -> None:
    domain = get_hub().domains.get("stylegan")
    assert domain.defaults_for({}) == {
        "trick": {
            "r1": {"interval": 16, "gamma": pytest.approx(0.0002 * 32**2 / 32)},
            "ada": {"kimg": 20.0},
            "ema": {"half_life_kimg": 10.0, "rampup": 0.05},
        }
    }
    # only enabled tricks get options; data.path alone means folder data
    chosen = {"tricks": ["ema"], "data": {"path": "x"}, "trainer": {"batch_size": 64}}
    assert domain.defaults_for(chosen) == {
        "data": {"source": "folder"},
        "trick": {"ema": {"half_life_kimg": 20.0, "rampup": 0.05}},
    }
    r1 = resolve(["plugin=stylegan", "model.image_size=64", "trainer.batch_size=16"]).trick.r1  # type: ignore[attr-defined]
    assert r1.gamma == pytest.approx(0.0002 * 64**2 / 16) and r1.interval == 16
    assert resolve(["plugin=stylegan", "trick.r1.gamma=0.5"]).trick.r1.gamma == 0.5  # type: ignore[attr-defined]
    paper = resolve(["plugin=stylegan", "preset=paper256"])
    assert paper.trick.r1.gamma == 1.0 and paper.trick.ada.kimg == 500  # type: ignore[attr-defined]
    assert resolve(["plugin=stylegan", "preset=auto"]).trick.ada.kimg == 500  # type: ignore[attr-defined]
    no_ada = resolve(["plugin=stylegan", "preset=auto", "tricks=[ema,r1]"])
    assert set(no_ada.trick.model_dump()) == {"ema", "r1"}  # the preset's ada options dropped


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("model.resolution=16", "model.image_size=16"),
        ("objective.r1_gamma=3", "trick.r1.gamma=3"),
        ("objective.r1_interval=4", "trick.r1.interval=4"),
        ("ada.kimg=0.2", "trick.ada.kimg=0.2"),
        ("ada.enabled=false", "leave it out of tricks"),
    ],
)
def test_old_keys_are_refused_naming_the_new_one(old: str, new: str) -> None:
    with pytest.raises(ConfigError) as err:
        resolve(["plugin=stylegan", old])
    assert new in str(err.value) and "\n" not in str(err.value)


def test_ada_p_rises_on_a_tiny_dataset(workdir: Path) -> None:
    folder = _face_folder(workdir / "tiny", 4, 16)
    # 40 steps: at 24, p had risen for 5 of 6 seeds (D needs a few more steps on some)
    run = make_run(resolve([*TINY, f"data.path={folder}", "trick.ada.kimg=0.2",
                            "trick.ada.interval=2", "trainer.steps=40", "trainer.log_every=4"]))  # fmt: skip
    assert run.config.data.source == "folder"  # type: ignore[attr-defined]
    ada = _trick(run, "ada")
    assert float(ada.p) == 0
    fit(run)
    assert float(ada.p) > 0  # D tells 8 images from fakes: sign(D(real)) > 0.6
    lines = (run.run_dir / "metrics.jsonl").read_text().splitlines()
    assert any("ada_p" in line for line in lines)


def test_small_preset_skips_path_length_and_gpu_presets_keep_it(workdir: Path) -> None:
    small = make_run(resolve(["plugin=stylegan", "trainer.progress=false"]))
    assert [p.name for p in small.phases] == ["Dmain", "Dr1", "Gmain"]
    auto = resolve(["plugin=stylegan", "preset=auto", "model.image_size=8"])
    assert auto.objective.pl_weight == 2 and auto.objective.style_mixing == 0.9  # type: ignore[attr-defined]
    with_pl = make_run(resolve([*TINY, "objective.pl_interval=4"]))
    assert [p.name for p in with_pl.phases] == ["Dmain", "Dr1", "Gmain", "Greg"]


def test_path_length_mean_moves_and_penalty_is_finite(workdir: Path) -> None:
    run = make_run(resolve([*TINY, "objective.pl_interval=1"]))
    fit(run)
    assert float(run.system.pl_mean) > 0


def test_resume_restores_every_state_exactly(workdir: Path) -> None:
    args = [*TINY, "deterministic=true", "trick.r1.interval=2", "objective.pl_interval=3",
            "trick.ada.kimg=0.05", "trick.ada.interval=1", "trick.ada.p_init=0.5",
            "trainer.checkpoint_every=3"]  # fmt: skip
    fit(make_run(resolve([*args, "trainer.steps=8", "name=full"])))
    fit(make_run(resolve([*args, "trainer.steps=5", "name=part"])))
    resumed = make_run(resolve(["resume=runs/part", "trainer.steps=8"]))
    assert resumed.step == 5
    fit(resumed)
    full_step, full_state, full_rest = checkpoint.load(checkpoint.latest(workdir / "runs/full/checkpoints"))  # type: ignore[arg-type]  # fmt: skip
    part_step, part_state, part_rest = checkpoint.load(checkpoint.latest(workdir / "runs/part/checkpoints"))  # type: ignore[arg-type]  # fmt: skip
    assert full_step == part_step == 8  # image count = steps * batch
    for key in ("pl_mean", "G.mapping.w_avg", "G_ema.mapping.w_avg"):
        assert key in full_state, key
    assert float(full_state["pl_mean"]) > 0
    assert float(full_rest["tricks"]["ada"]["p"]) != 0.5  # ADA's p moved, and is the trick's
    assert full_state.keys() == part_state.keys()
    for key in full_state:
        assert torch.equal(full_state[key], part_state[key]), key
    _assert_same(full_rest["optimizers"], part_rest["optimizers"])
    _assert_same(full_rest["tricks"], part_rest["tricks"])


def _assert_same(a: object, b: object) -> None:
    """Nested dicts/lists of tensors and plain values are equal."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b)
    else:
        assert a == b


# -- class-conditional runs (model.conditional) ----------------------------------------------

COND = [*TINY, "data=digits", "model.conditional=true"]
COND_FOLDER = [*TINY, "model.conditional=true"]


def test_conditional_digits_train_write_a_class_grid_and_sample_by_label(workdir: Path) -> None:
    """StyleGAN2-ADA's conditioning (label embedding into the mapping network, D's `cmap`) on
    the embedded digits, with path length and style mixing on: trains, writes one grid row per
    class, and samples the asked labels reproducibly."""
    from ganhub_stylegan.cmap import CmapDiscriminator

    from ganhub.conditioning.nets import MappingLabels

    run = make_run(resolve([*COND, "trainer.sample_every=4", "sample.grid=20"]))
    system = run.system
    assert run.config.condition.generator == "mapping"  # type: ignore[attr-defined]
    assert isinstance(system.G.mapping, MappingLabels) and isinstance(system.D, CmapDiscriminator)
    caps = system.capabilities()
    assert caps.labels is not None and caps.labels.sizes == (10,)
    assert system.default_metrics() == ["fid", "class_accuracy", "intra_fid"]
    fit(run)
    grid = Image.open(next((run.run_dir / "samples").glob("*.png")))
    columns = 2  # sample.grid=20 images over 10 class rows
    assert grid.size == (columns * 18 + 2, 10 * 18 + 2)  # 16 px cells, 2 px padding
    sevens = torch.full((3,), 7)
    a = system.sample(3, seed=5, labels=sevens)
    assert torch.equal(a, system.sample(3, seed=5, labels=sevens))
    assert not torch.equal(a, system.sample(3, seed=5, labels=torch.full((3,), 2)))
    assert not torch.equal(a, system.sample(3, seed=6, labels=sevens))
    assert torch.equal(system.sample(3, seed=5), system.sample(3, seed=5))  # labels drawn
    # one running w_avg for every class (StyleGAN2-ADA): psi 0 gives one image for all cells;
    # untruncated, a column (one latent) differs from class to class
    assert torch.allclose(*system.class_grid(columns=1, rows=2, psi=0.0), atol=1e-5)
    assert not torch.allclose(*system.class_grid(columns=1, rows=2, psi=1.0), atol=1e-5)
    # the class grid, mixing grid and GIF from the trained model (the last two: class 0)
    system.eval()
    paths = system.write_samples(workdir / "out", "final")
    assert [p.name for p in paths] == ["final.png", "final_mixing.png", "final_interp.gif"]


@pytest.mark.parametrize(
    ("tricks", "stat"),
    [("[r1,acgan]", "acgan_D"), ("[ema,r1,ada]", "ada_p")],
    ids=["acgan", "ada"],
)
def test_conditional_runs_take_acgan_and_ada(tricks: str, stat: str, workdir: Path) -> None:
    extra = ["trick.ada.p_init=0.5", "trick.ada.interval=1"] if "ada" in tricks else []
    run = make_run(resolve([*COND, f"tricks={tricks}", "trick.r1.interval=2", *extra]))
    fit(run)
    lines = (run.run_dir / "metrics.jsonl").read_text()
    assert stat in lines and "NaN" not in lines
    if "acgan" in tricks:
        assert "acgan_G" in lines  # G learns from the class head on its fakes too
    else:
        assert float(_trick(run, "ada").p) != 0.5  # ADA read the bound D's real logits


@pytest.mark.parametrize("mechanism", ["input_concat", "none"])
def test_other_discriminator_mechanisms_train(mechanism: str, workdir: Path) -> None:
    tricks = "[r1,acgan]" if mechanism == "none" else "[r1]"  # none: AC-GAN conditions D
    run = make_run(resolve([*COND, f"condition.discriminator={mechanism}", f"tricks={tricks}",
                            "trainer.steps=2"]))  # fmt: skip
    fit(run)
    assert run.system.sample(2, seed=0, labels=torch.tensor([3, 4])).shape == (2, 1, 16, 16)


def _class_folders(root: Path, per_class: int, size: int, classes: tuple[str, ...]) -> Path:
    gen = np.random.default_rng(0)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            arr = gen.integers(0, 64, (size, size, 3)) + 60 * k
            Image.fromarray(arr.astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def test_conditional_folder_per_class_and_csv_labels_train(workdir: Path) -> None:
    folder = _class_folders(workdir / "pets", 3, 16, ("cat", "dog", "fox"))
    run = make_run(resolve([*COND_FOLDER, f"data.path={folder}", "trainer.steps=2"]))
    assert run.config.condition.classes == ["cat", "dog", "fox"]  # type: ignore[attr-defined]
    source = run.system.data()
    assert len(source) == 18  # 9 images and their x-flips, which keep their labels
    assert source.gather_labels(torch.arange(18)).tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] * 2
    fit(run)
    assert run.system.sample(2, seed=0, labels=torch.tensor([0, 2])).shape == (2, 3, 16, 16)
    # labels from a CSV instead of the folders (two classes across the same files)
    csv = workdir / "labels.csv"
    rows = [f"{c}/{i}.png,{'wild' if c == 'fox' else 'pet'}" for c in ("cat", "dog", "fox")
            for i in range(3)]  # fmt: skip
    csv.write_text("file,label\n" + "\n".join(rows) + "\n")
    by_csv = make_run(resolve([*COND_FOLDER, f"data.path={folder}", f"data.labels={csv}",
                               "trainer.steps=2", "data.mirror=false"]))  # fmt: skip
    assert by_csv.config.condition.classes == ["pet", "wild"]  # type: ignore[attr-defined]
    assert by_csv.system.data().gather_labels(torch.arange(9)).tolist() == [0] * 6 + [1] * 3
    fit(by_csv)


def test_conditional_folder_keeps_the_header_check(workdir: Path) -> None:
    folder = _class_folders(workdir / "pets", 2, 16, ("cat", "dog"))
    Image.new("RGB", (20, 16)).save(folder / "dog" / "wide.png")
    with pytest.raises(ConfigError) as err:
        fit(make_run(resolve([*COND_FOLDER, f"data.path={folder}", "trainer.steps=1"])))
    assert "wide.png" in str(err.value) and "not square" in str(err.value)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["data=faces"], "needs labelled data: data=digits or a folder"),
        (["data.path=FOLDER/only"], "at least two classes"),
        (["data=digits", "data.labels=x.csv"], "data.labels"),
    ],
    ids=["faces", "one class", "csv without folder"],
)
def test_conditional_runs_without_labels_are_refused_in_one_line(
    args: list[str], says: str, workdir: Path
) -> None:
    _class_folders(workdir / "only", 2, 16, ("a",))
    args = [a.replace("FOLDER", str(workdir)) for a in args]
    with pytest.raises(ConfigError) as err:
        resolve([*TINY, "model.conditional=true", *args])
    assert says in str(err.value) and "\n" not in str(err.value)


def test_unconditional_networks_are_unchanged_by_conditioning() -> None:
    """No label modules, D's logit is head(features(x)), and a labelled call is refused."""
    torch.manual_seed(0)
    G = Generator(8, 8, 2, 16, 1, 64, 16)
    assert not any("embed" in k or ".net.net." in k for k in G.state_dict())
    assert "mapping.w_avg" in G.state_dict()
    with pytest.raises(ValueError, match="takes no labels"):
        G.ws(torch.randn(2, 8), labels=torch.zeros(2, dtype=torch.long))
    from ganhub_stylegan.networks import Discriminator

    D = Discriminator(16, 1, 64, 16)
    x = torch.randn(4, 1, 16, 16)
    h = D.features(x)
    assert h.shape == (4, D.feature_dim)
    assert torch.equal(D(x), D.head(h))
