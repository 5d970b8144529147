"""Each trick changes what it claims to change."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from ganhub.config.resolve import resolve
from ganhub.engine.context import TrainContext
from ganhub.engine.loop import fit
from ganhub.engine.run import prepare_system
from ganhub.engine.system import Pair, Phase, PhaseOutput
from ganhub.errors import ConfigError
from ganhub.losses import Targets
from ganhub.plugins import get_hub
from ganhub.wiring import components, make_run

from .conftest import TINY_DCGAN, TINY_TOY

# toy2d sets its own options for r1, ema and lr_schedule; these tests check the tricks' generic
# defaults, so they name the generic values where toy2d's differ
GENERIC = ["trick.r1.gamma=10", "trick.lr_schedule.start=0", "trick.lr_schedule.final=0"]
GENERIC_GP = "trick.gp.weight=10"  # the trick's own lambda, not toy2d's WGAN-GP 0.1


def make_trick(name: str, *overrides: str, plugin: list[str] = TINY_TOY):  # type: ignore[no-untyped-def]
    generic = [o for o in GENERIC if o.startswith(f"trick.{name}.")] if plugin is TINY_TOY else []
    if name == "gp" and plugin is TINY_TOY and not any("trick.gp.weight" in o for o in overrides):
        generic.append(GENERIC_GP)
    if name == "ema" and plugin is TINY_TOY and not any("trick.ema." in o for o in overrides):
        generic.append("trick.ema.decay=0.999")
    cfg = resolve([*plugin, f"tricks=[{name}]", *generic, *overrides])
    return get_hub().tricks.get(name)(getattr(cfg.trick, name), cfg), cfg


class LinearD(nn.Module):
    """D(x) = w . x: the input gradient is w everywhere, so penalties have closed forms."""

    def __init__(self, w: list[float]) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.w


def d_output(real: torch.Tensor, fake: torch.Tensor, D: nn.Module) -> PhaseOutput:
    return PhaseOutput(torch.zeros(()), {}, [Pair(D, real, fake)])


D_PHASE = Phase("D", "D", lambda b, c: d_output(b, b, LinearD([0.0])))


# -- weights ---------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["normal", "xavier", "kaiming", "orthogonal"])
def test_init_sets_the_scheme_statistics(scheme: str) -> None:
    cfg = resolve(
        [
            *TINY_TOY,
            "tricks=[init]",
            f"trick.init.scheme={scheme}",
            "model.d_hidden=256",
            "model.g_hidden=256",
        ]
    )
    system, _ = prepare_system(cfg, components(cfg), torch.device("cpu"))
    w = system.D[2].weight.detach()  # 256 x 256 hidden layer
    fan_in = fan_out = 256
    expected_std = {
        "normal": 0.02,
        "xavier": math.sqrt(2.0 / (fan_in + fan_out)),
        "kaiming": math.sqrt(2.0 / (1 + 0.2**2)) / math.sqrt(fan_in),
        "orthogonal": 1 / math.sqrt(256),
    }[scheme]
    assert w.std().item() == pytest.approx(expected_std, rel=0.05)
    assert torch.count_nonzero(system.D[2].bias) == 0
    if scheme == "orthogonal":
        assert torch.allclose(w @ w.T, torch.eye(256), atol=1e-4)


def test_spectral_norm_makes_every_d_layer_1_lipschitz() -> None:
    torch.manual_seed(0)  # the starting vectors: not whatever the tests before left behind
    cfg = resolve([*TINY_TOY, "tricks=[spectral_norm]", "trick.spectral_norm.power_iterations=20"])
    system, _ = prepare_system(cfg, components(cfg), torch.device("cpu"))
    # each forward in train mode runs 20 power iterations, continuing from the last: from a
    # random start one forward left 2 in 40 seeds above 1.001 (close top singular values
    # converge slowly); ten forwards, as ten training steps would, left none in 200
    for _ in range(10):
        system.D(torch.randn(8, 2))
    linears = [m for m in system.D.modules() if isinstance(m, nn.Linear)]
    assert linears and all(hasattr(m, "parametrizations") for m in linears)
    for m in linears:
        assert torch.linalg.matrix_norm(m.weight.detach(), ord=2).item() == pytest.approx(
            1.0, abs=1e-3
        )
    assert not any(hasattr(m, "parametrizations") for m in system.G.modules())


def test_ema_update_is_the_exponential_average() -> None:
    trick, cfg = make_trick("ema", "trick.ema.decay=0.9", "trick.ema.warmup=false")
    system, _ = prepare_system(cfg, components(cfg), torch.device("cpu"))
    trick.setup(system)  # a second EMA copy, driven by this trick instance
    before = [p.detach().clone() for p in system.G_ema.parameters()]
    with torch.no_grad():
        for p in system.G.parameters():
            p.add_(1.0)
    trick.after_step(1, system)
    for b, p, e in zip(before, system.G.parameters(), system.G_ema.parameters()):
        assert torch.allclose(e, 0.9 * b + 0.1 * p)


def test_ema_warmup_keeps_little_of_the_initial_weights_in_a_short_run() -> None:
    """With warm-up the share of the initial weights left after t steps, the product of the
    decays, is 10! (t + 1)! / (t + 10)!: vanishing, where plain 0.999 ** t keeps 22 % at 1,500."""
    trick, _ = make_trick("ema")
    assert trick.decay_at(1) == pytest.approx(2 / 11) and trick.decay_at(10_000) == 0.999
    kept = math.prod(trick.decay_at(t) for t in range(1, 1501))
    assert kept < 0.01 < 0.999**1500  # 0.22 without warm-up
    trick.options.warmup = False
    assert math.prod(trick.decay_at(t) for t in range(1, 1501)) == pytest.approx(0.999**1500)


def test_ema_half_life_formula() -> None:
    trick, _ = make_trick("ema", "trick.ema.half_life_kimg=10", "trainer.batch_size=32")
    trick.batch = 32
    # after half_life / batch steps the weight of the starting value is exactly one half
    beta = trick.decay_at(100)
    assert beta ** (10_000 / 32) == pytest.approx(0.5)
    trick.options.rampup = 0.05
    # the images seen before the step (StyleGAN2-ADA's cur_nimg at its EMA update)
    assert trick.decay_at(11) == pytest.approx(0.5 ** (32 / (10 * 32 * 0.05)))
    assert trick.decay_at(1) == 0.0  # the first update copies G


def test_weight_penalty_equals_the_norm_of_the_weights() -> None:
    for kind, order in (("l1", 1), ("l2", 2)):
        trick, cfg = make_trick(
            "weight_penalty", f"trick.weight_penalty.kind={kind}", "trick.weight_penalty.weight=0.5"
        )
        system, _ = prepare_system(cfg, components(cfg), torch.device("cpu"))
        trick.setup(system)
        penalty = trick.extra_loss(Phase("G", "G", lambda b, c: None), None, None)  # type: ignore[arg-type,return-value]
        weights = [p for p in system.G.parameters() if p.ndim > 1]
        expected = sum((p.abs() ** order).sum() for p in weights) * 0.5
        assert penalty.item() == pytest.approx(expected.item(), rel=1e-5)


def test_weight_penalty_trains_each_discriminator_once_a_step(workdir: Path) -> None:
    """cyclegan's D_A phase penalised D_B too, so D's optimizer stepped D_B twice a step (the
    second time on its stale moments): Adam counted 2 steps per D after one step."""
    from ganhub.engine.loop import train_steps

    keys = ["plugin=cyclegan", "preset=tiny", "trainer.progress=false", "tricks=[weight_penalty]"]
    run = make_run(resolve(keys))
    train_steps(run, run.batches(), 2)
    optimizer = run.optimizers["D"]
    for name in ("D_A", "D_B"):
        for p in getattr(run.system, name).parameters():
            assert int(optimizer.state[p]["step"]) == 2, name
    run.close()


# -- penalties -------------------------------------------------------------------------------


def _ctx() -> TrainContext:
    return TrainContext(get_hub().losses.get("wasserstein"))


def test_gradient_penalty_on_a_linear_critic_is_analytic() -> None:
    D = LinearD([3.0, 4.0])  # ||grad|| = 5 everywhere
    for variant in ("wgan", "dragan"):
        trick, _ = make_trick(
            "gp",
            f"trick.gp.variant={variant}",
            "loss=wasserstein" if variant == "wgan" else "loss=nonsaturating",
        )
        out = d_output(torch.randn(16, 2), torch.randn(16, 2), D)
        penalty = trick.extra_loss(D_PHASE, out, _ctx())
        assert penalty.item() == pytest.approx(10.0 * (5.0 - 1.0) ** 2, rel=1e-5)
        penalty.backward()  # the penalty trains D: d/dw of 10(||w|| - 1)^2 = 20(||w|| - 1) w / ||w||
        assert torch.allclose(D.w.grad, 20 * 4 * torch.tensor([3.0, 4.0]) / 5)
        D.w.grad = None


@pytest.mark.parametrize("name", ["r1", "r2"])
def test_r1_r2_on_a_linear_discriminator_are_gamma_half_norm_squared(name: str) -> None:
    D = LinearD([1.0, 2.0])
    trick, _ = make_trick(name, f"trick.{name}.gamma=4")
    trick.setup(_NoBatchNorm())
    out = d_output(torch.randn(8, 2), torch.randn(8, 2), D)
    assert trick.extra_loss(D_PHASE, out, _ctx()).item() == pytest.approx(4 / 2 * 5.0)


def test_penalties_on_packed_inputs_are_taken_per_pack() -> None:
    """With pacgan, D's input is a pack of m samples: WGAN-GP interpolates and takes norms per
    pack, R1 averages over packs. A packed linear critic of weight norm sqrt(2) got GP 0 (a
    per-sample norm of 1) and R1 half its value."""

    def pack(x: torch.Tensor, ctx: TrainContext) -> torch.Tensor:
        return x.reshape(x.shape[0] // 2, 2 * x.shape[1])  # what pacgan's d_input does

    D = LinearD([0.6, 0.8, 0.6, 0.8])  # per sample ||w|| = 1, per pack sqrt(2)
    ctx = TrainContext(get_hub().losses.get("wasserstein"), d_transforms=[pack])
    out = ctx.d_loss(D, torch.randn(8, 2), torch.randn(8, 2))
    assert out.pairs[0].samples_per_input == 2
    gp, _ = make_trick("gp", "loss=wasserstein")
    assert gp.extra_loss(D_PHASE, out, ctx).item() == pytest.approx(10 * (2**0.5 - 1) ** 2)
    r1, _ = make_trick("r1", "trick.r1.gamma=2")
    r1.setup(_NoBatchNorm())
    assert r1.extra_loss(D_PHASE, out, ctx).item() == pytest.approx(2 / 2 * 2.0)


@pytest.mark.parametrize("name", ["r1", "r2"])
def test_lazy_r1_r2_own_a_phase_scaled_by_the_interval(name: str) -> None:
    D = LinearD([1.0, 2.0])
    trick, _ = make_trick(name, f"trick.{name}.gamma=4", f"trick.{name}.interval=3")
    trick.setup(_NoBatchNorm())
    phases = [Phase("D", "D", D_PHASE.loss, start=5), Phase("G", "G", D_PHASE.loss)]
    trick.adjust_phases(phases)
    lazy = phases[1]
    assert [p.name for p in phases] == ["D", f"D{name}", "G"]
    assert (lazy.group, lazy.interval, lazy.start, lazy.stop) == ("D", 3, 5, None)
    out = d_output(torch.randn(8, 2), torch.randn(8, 2), D)
    assert trick.extra_loss(D_PHASE, out, _ctx()) is None  # not on the D phase itself
    trick.observe(phases[0], out, _ctx())  # the lazy phase penalises what D saw this step
    lazy_out = lazy.loss(None, _ctx())
    assert lazy_out.loss.item() == pytest.approx(4 / 2 * 5.0 * 3)  # x interval
    assert lazy_out.stats[f"{name}_penalty"].item() == pytest.approx(5.0)


def test_lazy_r1_corrects_the_d_optimizer_as_stylegan2() -> None:
    trick, _ = make_trick("r1", "trick.r1.interval=16")
    d_param = nn.Parameter(torch.zeros(1))
    optimizers = {
        "D": torch.optim.Adam([d_param], lr=0.0025, betas=(0.0, 0.99)),
        "G": torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=0.0025, betas=(0.0, 0.99)),
    }
    trick.on_optimizers(optimizers)
    d, g = optimizers["D"].param_groups[0], optimizers["G"].param_groups[0]
    assert d["lr"] == pytest.approx(0.0025 * 16 / 17) and g["lr"] == 0.0025
    assert d["betas"][1] == pytest.approx(0.99 ** (16 / 17)) and g["betas"] == (0.0, 0.99)


def test_r1_runs_once_per_due_step_in_a_real_run(workdir: Path) -> None:
    """Counted in training: one lazy R1 evaluation on each due step, none on the others."""
    run = make_run(resolve([*TINY_TOY, "tricks=[r1]", "trick.r1.interval=4", "trainer.steps=8"]))
    (r1,) = run.tricks
    calls: list[int] = []
    penalty = r1.penalty
    r1.penalty = lambda pairs, ctx: calls.append(ctx.step) or penalty(pairs, ctx)  # type: ignore[method-assign]
    fit(run)
    assert calls == [0, 4]
    assert [p.name for p in run.phases] == ["D", "Dr1", "G"]


class _Counted(nn.Module):
    """A non-linear D that counts its forwards."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.net(x)


@pytest.mark.parametrize("name", ["r1", "r2"])
def test_every_step_r1_r2_differentiate_the_losss_own_forward(name: str) -> None:
    """Asked for by the trick, d_loss keeps the penalised side's graph: two D forwards per D
    phase instead of three, and the same penalty as a second forward gives."""
    trick, _ = make_trick(name, f"trick.{name}.gamma=4")
    assert trick.input_graphs() == {"real" if name == "r1" else "fake"}
    D = _Counted()
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    loss = get_hub().losses.get("nonsaturating")
    kept = TrainContext(loss, input_graphs=trick.input_graphs()).d_loss(D, real, fake)
    assert D.calls == 2
    reused = trick.extra_loss(D_PHASE, kept, _ctx())
    assert D.calls == 2  # no second forward
    recomputed = trick.extra_loss(D_PHASE, TrainContext(loss).d_loss(D, real, fake), _ctx())
    assert D.calls == 5  # real, fake, and the penalty's own
    assert reused.item() == pytest.approx(recomputed.item(), rel=1e-6)
    lazy, _ = make_trick(name, f"trick.{name}.interval=4")
    assert lazy.input_graphs() == frozenset()
    # compiled forwards have no double backward: the context keeps no graph then
    assert TrainContext(loss, compiled=True, input_graphs=frozenset({"real"})).input_graphs == set()


def test_both_lazy_penalties_are_refused() -> None:
    with pytest.raises(ConfigError, match="r1 and r2 are both lazy"):
        resolve([*TINY_TOY, "tricks=[r1,r2]", "trick.r1.interval=4", "trick.r2.interval=4"])


class _NoBatchNorm(nn.Module):
    """A system stand-in with one BatchNorm-free discriminator, for penalty setup."""

    discriminator_names = ("D",)

    def __init__(self) -> None:
        super().__init__()
        self.D = nn.Linear(2, 1)


def test_r1_differs_from_r2_on_a_nonlinear_d() -> None:
    D = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    out = d_output(torch.zeros(8, 2), torch.full((8, 2), 3.0), D)
    r1, _ = make_trick("r1")
    r2, _ = make_trick("r2")
    assert r1.extra_loss(D_PHASE, out, _ctx()).item() != pytest.approx(
        r2.extra_loss(D_PHASE, out, _ctx()).item()
    )


# -- what D sees -----------------------------------------------------------------------------


def test_label_smoothing_moves_the_targets() -> None:
    one, _ = make_trick("label_smoothing")
    two, _ = make_trick("label_smoothing", "trick.label_smoothing.mode=two_sided")
    assert one.targets(Targets()) == Targets(real=0.9, fake=0.0, gen=1.0)
    assert two.targets(Targets()) == Targets(real=0.9, fake=0.1, gen=1.0)
    run = make_run(resolve([*TINY_TOY, "tricks=[label_smoothing]"]))
    assert run.ctx.targets.real == 0.9
    run.close()


def test_an_option_its_trick_would_ignore_is_refused() -> None:
    """fake= under one_sided kept the fake target at 0, max_repeat=1 balanced nothing: both
    ran without a word."""
    with pytest.raises(ConfigError, match=r"fake=0.2 applies only with mode=two_sided"):
        make_trick("label_smoothing", "trick.label_smoothing.fake=0.2")
    two, _ = make_trick("label_smoothing", "trick.label_smoothing.fake=0.2",
                        "trick.label_smoothing.mode=two_sided")  # fmt: skip
    assert two.targets(Targets()).fake == 0.2
    with pytest.raises(ConfigError, match=r"trick\.balance\.max_repeat=1"):
        make_trick("balance", "trick.balance.max_repeat=1")
    # ema: a ramp-up with a fixed decay, warmup=false with a half-life; gp: wgan's DRAGAN scale
    with pytest.raises(ConfigError, match=r"trick\.ema\.rampup=0\.05 applies only with half"):
        make_trick("ema", "trick.ema.decay=0.99", "trick.ema.rampup=0.05")
    with pytest.raises(ConfigError, match=r"trick\.ema\.warmup=false applies only with a fixed"):
        make_trick("ema", "trick.ema.half_life_kimg=1", "trick.ema.warmup=false")
    with pytest.raises(ConfigError, match=r"trick\.gp\.dragan_scale=0\.3 applies only with"):
        make_trick("gp", "loss=wasserstein", "trick.gp.dragan_scale=0.3")
    make_trick("ema", "trick.ema.half_life_kimg=1", "trick.ema.rampup=0.05")  # both apply


def test_instance_noise_has_the_annealed_std() -> None:
    trick, _ = make_trick(
        "instance_noise", "trick.instance_noise.std=0.2", "trick.instance_noise.anneal_steps=100"
    )
    ctx = _ctx()
    x = torch.zeros(200_000)
    ctx.step = 0
    assert trick.d_input(x, ctx).std().item() == pytest.approx(0.2, rel=0.02)
    ctx.step = 50
    assert trick.d_input(x, ctx).std().item() == pytest.approx(0.1, rel=0.02)
    ctx.step = 100
    assert torch.equal(trick.d_input(x, ctx), x)


def test_instance_noise_anneals_its_device_std_in_place() -> None:
    """A step replayed as a CUDA graph reads the std tensor it was captured with: after_step
    must fill that very tensor with the next step's value, and a run resumed at step 50 holds
    step 50's std from its first D input."""
    trick, _ = make_trick(
        "instance_noise", "trick.instance_noise.std=0.2", "trick.instance_noise.anneal_steps=100"
    )
    ctx = _ctx()
    ctx.step = 50  # a resumed run's first step
    trick.d_input(torch.zeros(4), ctx)
    held = trick.std
    assert held is not None and held.item() == pytest.approx(0.1)
    for step in (51, 75, 100):
        trick.after_step(step, None)  # type: ignore[arg-type]
        assert trick.std is held and held.item() == pytest.approx(0.2 * (1 - step / 100))
    assert trick.held_step == 100 and trick.capturable()


def test_diffaug_changes_d_inputs_on_images() -> None:
    trick, _ = make_trick("diffaug", plugin=TINY_DCGAN)
    trick.setup(None)
    x = torch.rand(4, 1, 32, 32)
    y = trick.d_input(x, _ctx())
    assert y.shape == x.shape and not torch.equal(x, y)


def test_pacgan_packs_samples_and_widens_d() -> None:
    cfg = resolve([*TINY_DCGAN, "tricks=[pacgan]", "trick.pacgan.pack=4"])
    system, tricks = prepare_system(cfg, components(cfg), torch.device("cpu"))
    assert system.D[0].in_channels == 4  # 1 channel x pack 4
    x = torch.arange(8.0).view(8, 1, 1, 1).expand(8, 1, 32, 32)
    packed = tricks[0].d_input(x, _ctx())
    assert packed.shape == (2, 4, 32, 32)
    assert packed[1, :, 0, 0].tolist() == [4.0, 5.0, 6.0, 7.0]
    assert system.D(packed).shape == (2,)


# -- schedule --------------------------------------------------------------------------------


def test_clip_grad_bounds_the_norm_and_values() -> None:
    params = [nn.Parameter(torch.zeros(10)) for _ in range(3)]
    for p in params:
        p.grad = torch.full((10,), 5.0)
    trick, _ = make_trick("clip_grad", "trick.clip_grad.max=2")
    trick.before_optimizer_step(D_PHASE, params)
    assert torch.linalg.vector_norm(torch.cat([p.grad for p in params])).item() == pytest.approx(
        2.0, rel=1e-4
    )
    trick, _ = make_trick("clip_grad", "trick.clip_grad.mode=value", "trick.clip_grad.max=0.5")
    trick.before_optimizer_step(D_PHASE, params)
    assert all(p.grad.abs().max().item() <= 0.5 for p in params)


def test_n_critic_steps_d_n_times_per_step(workdir) -> None:  # type: ignore[no-untyped-def]
    run = make_run(
        resolve([*TINY_TOY, "tricks=[n_critic]", "trick.n_critic.n=3", "trainer.steps=4"])
    )
    fit(run)
    step_count = lambda opt: int(next(iter(opt.state.values()))["step"])  # noqa: E731
    assert step_count(run.optimizers["D"]) == 12 and step_count(run.optimizers["G"]) == 4
    assert run.data.position.index == 12  # each of the 3 D repeats drew its own batch


def test_balance_trains_the_losing_side_within_bounds() -> None:
    trick, _ = make_trick("balance", "trick.balance.check_every=2", "trick.balance.max_repeat=2")
    phases = [Phase("D", "D", lambda b, c: None), Phase("G", "G", lambda b, c: None)]  # type: ignore[arg-type,return-value]
    trick.adjust_phases(phases)
    ctx = _ctx()

    def feed(rate: float, steps: int) -> None:
        for step in range(1, steps + 1):
            trick.observe(
                phases[0], PhaseOutput(torch.zeros(()), {"D_win": torch.tensor(rate)}), ctx
            )
            trick.after_step(step, None)  # type: ignore[arg-type]

    feed(0.95, 6)  # D wins: G trains more, up to the bound
    assert trick.repeats() == (2, 1)
    feed(0.5, 6)  # D loses: D trains more
    assert trick.repeats() == (1, 2)
    feed(0.7, 2)  # balanced: back to one each
    assert trick.repeats() == (1, 1)
    out = PhaseOutput(torch.zeros(()), {"D_win": torch.tensor(0.95)})
    trick.observe(phases[0], out, ctx)  # what it decided is logged, not kept to itself
    assert (float(out.stats["balance/G_repeat"]), float(out.stats["balance/D_repeat"])) == (1, 1)
    feed(0.95, 2)
    trick.observe(phases[0], out, ctx)
    assert float(out.stats["balance/G_repeat"]) == 2


def test_ttur_sets_separate_learning_rates() -> None:
    run = make_run(
        resolve([*TINY_TOY, "tricks=[ttur]", "trick.ttur.g_lr=1e-4", "trick.ttur.d_lr=4e-4"])
    )
    assert run.optimizers["G"].param_groups[0]["lr"] == pytest.approx(1e-4)
    assert run.optimizers["D"].param_groups[0]["lr"] == pytest.approx(4e-4)
    run.close()


def test_lr_schedule_shapes() -> None:
    linear, _ = make_trick("lr_schedule", "trick.lr_schedule.start=0.5", "trainer.steps=100")
    assert [linear.factor(s) for s in (0, 50, 75, 100)] == pytest.approx([1.0, 1.0, 0.5, 0.0])
    cosine, _ = make_trick(
        "lr_schedule",
        "trick.lr_schedule.kind=cosine",
        "trick.lr_schedule.final=0.1",
        "trainer.steps=100",
    )
    assert [cosine.factor(s) for s in (0, 50, 100)] == pytest.approx([1.0, 0.55, 0.1])
    warm, _ = make_trick("lr_schedule", "trick.lr_schedule.warmup_steps=10", "trainer.steps=100")
    assert warm.factor(4) == pytest.approx(0.5)


def test_lr_schedule_drives_the_optimizers(workdir) -> None:  # type: ignore[no-untyped-def]
    run = make_run(
        resolve(
            [
                *TINY_TOY,
                "tricks=[lr_schedule]",
                *GENERIC[1:],  # the generic schedule, not toy2d's decay to a tenth
                "trainer.steps=4",
                "optim.G.lr=1e-3",
                "optim.D.lr=1e-3",
            ]
        )
    )
    fit(run)
    assert run.optimizers["G"].param_groups[0]["lr"] == pytest.approx(
        0.0
    )  # linear to zero at the end
