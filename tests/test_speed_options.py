"""Speed options train like eager fp32: same logged losses and weights after a few steps.

Each option is run against the plain eager fp32 run of the same tiny config, seed and data,
with deterministic kernels, for STEPS steps (every step logged). Options that only change how
the arithmetic is laid out or scheduled (channels_last, torch.compile, gradient accumulation)
must agree to float32 rounding; bf16 autocast rounds every matmul and convolution input to 8
bits of mantissa, so it is held to a looser, stated tolerance (`assert_close_to_bf16`).
The last test runs the CPU quick mode of benchmarks/gpu_speed.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from ganhub.config.resolve import resolve
from ganhub.engine.loop import train_step
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN, TINY_TOY

STEPS = 3
EXACT = 1e-5  # float32 rounding of a reordered sum, far below one Adam step (lr 2e-4 to 1e-3)

DOMAINS = {"toy2d": TINY_TOY, "dcgan": TINY_DCGAN}  # MLPs without norms; convs with BatchNorm


class Trained:
    """What a short run leaves: logged losses per step, weights before and after, buffers."""

    def __init__(self, overrides: list[str], out_dir: Path, name: str, steps: int = STEPS,
                 log_every: int = 1) -> None:  # fmt: skip
        run = make_run(resolve([*overrides, "deterministic=true", "seed=3", "loggers=[]",
                                f"trainer.log_every={log_every}", f"out_dir={out_dir}",
                                f"name={name}"]))  # fmt: skip
        self.lr = {g: opt.param_groups[0]["lr"] for g, opt in run.optimizers.items()}
        self.initial = self._params(run.system)
        batches = run.batches()
        self.losses: list[dict[str, float]] = []
        for _ in range(steps):
            train_step(run, batches)
            logged = run.stats.flush()  # what `fit` logs at this step
            self.losses.append({k: v for k, v in logged.items() if k.startswith("loss/")})
        self.params = self._params(run.system)
        self.buffers = {_plain(k): b.detach().clone() for k, b in run.system.named_buffers()}
        self.channels_last = [  # conv weights held channels_last
            k for k, p in run.system.named_parameters()
            if p.dim() == 4 and p.shape[1] > 1 and not p.is_contiguous()
            and p.is_contiguous(memory_format=torch.channels_last)
        ]  # fmt: skip
        run.close()

    @staticmethod
    def _params(system: torch.nn.Module) -> dict[str, torch.Tensor]:
        return {_plain(k): p.detach().float().clone() for k, p in system.named_parameters()}


def _plain(key: str) -> str:
    """A weight's name without torch.compile's wrapper."""
    return key.replace("_orig_mod.", "")


@pytest.fixture
def train(tmp_path: Path):  # type: ignore[no-untyped-def]
    """train(overrides) -> Trained; restores the process-wide determinism settings after."""
    flags = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
             torch.backends.cudnn.benchmark)  # fmt: skip
    count = iter(range(100))

    def call(overrides: list[str], steps: int = STEPS, log_every: int = 1) -> Trained:
        return Trained(overrides, tmp_path, f"run{next(count)}", steps, log_every)

    yield call
    torch.use_deterministic_algorithms(flags[0])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags[1], flags[2]


def assert_same_training(eager: Trained, other: Trained, atol: float = EXACT) -> None:
    """Same losses at every step and the same weights and buffers, to `atol`."""
    assert [step.keys() for step in other.losses] == [step.keys() for step in eager.losses]
    for step, (a, b) in enumerate(zip(eager.losses, other.losses), 1):
        for key in a:
            assert abs(a[key] - b[key]) <= atol, f"step {step} {key}: {a[key]} vs {b[key]}"
    assert other.params.keys() == eager.params.keys()
    for key, weight in eager.params.items():
        diff = (weight - other.params[key]).abs().max().item()
        assert diff <= atol, f"{key}: weights differ by up to {diff:.3g}"
    assert other.buffers.keys() == eager.buffers.keys()
    for key, buffer in eager.buffers.items():
        if buffer.numel() == 0 == other.buffers[key].numel():  # an empty pool (pool_size=0)
            continue
        diff = (buffer.double() - other.buffers[key].double()).abs().max().item()
        assert diff <= atol, f"{key}: buffers differ by up to {diff:.3g}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_channels_last_trains_like_eager(domain: str, train: Any) -> None:
    base = DOMAINS[domain]
    eager, channels_last = train(base), train([*base, "trainer.channels_last=true"])
    assert not eager.channels_last
    assert bool(channels_last.channels_last) == (domain == "dcgan")  # toy2d has no convolutions
    assert_same_training(eager, channels_last)


# torch.compile on a 2-core CPU (torch 2.14, empty compile cache): about 22 s per test, most of
# it the first step; two to five times that when other jobs share the cores.
@pytest.mark.slow
@pytest.mark.parametrize("domain", DOMAINS)
def test_compile_trains_like_eager(domain: str, train: Any) -> None:
    base = DOMAINS[domain]
    eager = train(base)
    try:
        compiled = train([*base, "trainer.compile=true"])
    finally:
        torch._dynamo.reset()
    assert_same_training(eager, compiled)


# The G phase trains on the D phase's noise micro-batch by micro-batch (before that was so,
# its second micro-batch drew new noise: toy2d G weights 3.4e-3 apart after 3 steps).
# BatchNorm normalises by the statistics of the batch it sees, so a micro-batch is normalised
# differently from the whole batch: accumulation is the same as one batch only without it.
ACCUM_DOMAINS = {
    "toy2d": DOMAINS["toy2d"],
    "dcgan_no_batchnorm": [*DOMAINS["dcgan"], "model.g_norm=none", "model.d_norm=none"],
}


@pytest.mark.parametrize("domain", ACCUM_DOMAINS)
def test_grad_accum_trains_like_one_batch(domain: str, train: Any) -> None:
    base = ACCUM_DOMAINS[domain]
    assert_same_training(train(base), train([*base, "trainer.grad_accum=2"]))


def assert_close_to_bf16(eager: Trained, bf16: Trained) -> None:
    """bf16 autocast against fp32, after STEPS Adam steps.

    - logged losses within 1% (one bf16 rounding is up to 0.4%);
    - every weight within 2 * lr * STEPS of the fp32 one: Adam moves a weight by about lr a
      step whatever the gradient's size, so a gradient near zero may flip sign under bf16 and
      send that weight the other way;
    - the update of each network (final - initial weights) pointing the same way as fp32's:
      cosine similarity at least 0.9 (measured: 0.955 for the tiny dcgan G, 0.99 and above for
      the others);
    - BatchNorm running statistics within 2% (relative norm of the difference).
    """
    for step, (a, b) in enumerate(zip(eager.losses, bf16.losses), 1):
        assert a.keys() == b.keys()
        for key in a:
            assert abs(a[key] - b[key]) <= 0.01 * abs(a[key]), f"step {step} {key}: {a[key]} vs {b[key]}"  # fmt: skip
    for group, lr in eager.lr.items():
        keys = [k for k in eager.params if k.startswith(f"{group}.")]
        assert keys, group
        for key in keys:
            diff = (eager.params[key] - bf16.params[key]).abs().max().item()
            assert diff <= 2 * lr * STEPS, f"{key}: weights differ by up to {diff:.3g}"
        update_fp32 = torch.cat([(eager.params[k] - eager.initial[k]).flatten() for k in keys])
        update_bf16 = torch.cat([(bf16.params[k] - bf16.initial[k]).flatten() for k in keys])
        cos = torch.nn.functional.cosine_similarity(update_fp32, update_bf16, dim=0).item()
        assert cos >= 0.9, f"{group}: bf16 update direction differs (cosine {cos:.3f})"
    for key, buffer in eager.buffers.items():
        if buffer.is_floating_point():
            rel = ((buffer - bf16.buffers[key]).norm() / buffer.norm().clamp_min(1e-12)).item()
            assert rel <= 0.02, f"{key}: running statistics differ by {rel:.3g} (relative)"
        else:
            assert torch.equal(buffer, bf16.buffers[key]), key


@pytest.mark.parametrize("domain", DOMAINS)
def test_bf16_trains_close_to_fp32(domain: str, train: Any) -> None:
    base = DOMAINS[domain]
    eager, bf16 = train(base), train([*base, "precision=bf16"])
    assert eager.losses != bf16.losses  # autocast took effect
    assert_close_to_bf16(eager, bf16)


def test_gpu_speed_quick_mode_reports_a_failing_contender_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """gpu_speed.py --device cpu --quick: a contender that raises gets one `failed:` line."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_speed.py"
    spec = importlib.util.spec_from_file_location("gpu_speed", path)
    assert spec is not None and spec.loader is not None
    gpu_speed = importlib.util.module_from_spec(spec)
    monkeypatch.setattr(sys, "path", list(sys.path))  # it puts benchmarks/ on the path
    monkeypatch.setitem(sys.modules, "gpu_speed", gpu_speed)
    spec.loader.exec_module(gpu_speed)

    def broken_compile(self: torch.nn.Module, *args: Any, **kwargs: Any) -> None:
        def fail(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("inductor could not lower this\n(pages of generated code)")

        self.forward = fail  # type: ignore[method-assign]

    monkeypatch.setattr(torch.nn.Module, "compile", broken_compile)
    monkeypatch.setattr(sys, "argv", ["gpu_speed.py", "--device", "cpu", "--quick",
                                      "--precision", "fp32", "--skip"])  # fmt: skip
    gpu_speed.main()
    rows = {line[17:39].strip(): line[39:].strip() for line in capsys.readouterr().out.splitlines()
            if line.startswith("fp32 ")}  # fmt: skip
    failed = rows["ganhub + compile"]  # a plain RuntimeError in a forward: the phase names it
    assert failed.startswith("failed: ") and "RuntimeError: inductor could not lower this" in failed
    assert rows["ganhub + compile, NCHW"] == "n/a (inductor's layout optimisation is a GPU pass)"
    assert rows["ganhub + CUDA graphs"] == "n/a (CUDA graphs need a GPU)"
    for name in ("classic eager (plain)", "ganhub eager", "ganhub eager, foreach"):
        img_s, ms, *_ = rows[name].split()
        assert float(img_s) > 0 and float(ms) > 0


# -- optimizer kernels, compile with penalties, CUDA graphs, copies ahead -----------------------


@pytest.mark.parametrize("domain", DOMAINS)
def test_fused_optimizers_train_like_foreach(domain: str, train: Any) -> None:
    """impl=fused (torch's one-kernel Adam, auto's choice on CPU too) against foreach."""
    base = DOMAINS[domain]
    kinds = [[*base, f"optim.G.impl={k}", f"optim.D.impl={k}"] for k in ("foreach", "fused")]
    assert_same_training(train(kinds[0]), train(kinds[1]))


def test_fused_optimizer_kinds_are_what_the_config_says(tmp_path: Path) -> None:
    """auto: fused on CPU and CUDA; foreach where asked; rmsprop has no fused kernel."""
    from ganhub.errors import ConfigError

    run = make_run(resolve([*TINY_TOY, "optim.G.impl=foreach", f"out_dir={tmp_path}"]))
    kinds = {
        g: (opt.defaults["fused"], opt.defaults["foreach"]) for g, opt in run.optimizers.items()
    }
    assert kinds == {"G": (None, True), "D": (True, None)}
    run.close()
    with pytest.raises(ConfigError, match="impl=fused: torch has no fused rmsprop"):
        resolve([*TINY_TOY, "optim.G.name=rmsprop", "optim.G.impl=fused"])


# R1 differentiates D's output twice; torch.compile's autograd has no double backward, so the
# penalty's forward runs eager (before, the first step raised "does not currently support
# double backward"). About 10 s on a 2-core CPU.
@pytest.mark.slow
@pytest.mark.parametrize("penalty", [["tricks=[r1]"], ["tricks=[gp]", "trick.gp.variant=dragan"]],
                         ids=["r1", "gp"])  # fmt: skip
def test_compile_with_a_gradient_penalty_trains_like_eager(penalty: list[str], train: Any) -> None:
    base = [*TINY_TOY, *penalty]
    eager = train(base)
    try:
        compiled = train([*base, "trainer.compile=true"])
    finally:
        torch._dynamo.reset()
    assert any(k.startswith("loss/") for k in compiled.losses[0])
    assert_same_training(eager, compiled)


def test_cuda_graphs_are_refused_in_one_line_naming_every_reason(tmp_path: Path) -> None:
    """On this CPU, with fp16, compile and a trick holding host state: all reasons, one line,
    before any run directory exists."""
    from ganhub.errors import ConfigError

    config = resolve([*TINY_TOY, "trainer.cuda_graphs=true", "trainer.compile=true",
                      "tricks=[balance,ema]", f"out_dir={tmp_path}"])  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        make_run(config)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("trainer.cuda_graphs=true: ")
    for reason in ("needs a CUDA device (this run is on cpu)", "trainer.compile is on",
                   "trick balance does per-step work"):  # fmt: skip
        assert reason in message
    assert "ema" not in message.split("trick balance")[1]  # EMA updates in place after the step
    assert not any(tmp_path.iterdir())


def test_graph_safety_of_the_built_in_tricks_and_domains() -> None:
    """Declared or judged from the hooks: a trick that only shapes the models at setup is safe,
    one with per-step hooks must say so; those annealing or counting on the host are not."""
    from ganhub.engine.system import GANSystem
    from ganhub.plugins import get_hub
    from ganhub.tricks import Trick

    hub = get_hub()
    config = resolve(TINY_TOY)
    tricks = {name: hub.tricks.get(name) for name in hub.tricks.names()}
    capturable = {name: cls(cls.Config(), config).capturable() for name, cls in tricks.items()}
    unsafe = {name for name, ok in capturable.items() if not ok}
    assert "balance" in unsafe
    assert not unsafe & {"ema", "r1", "r2", "gp", "ada", "diffaug", "spectral_norm", "init",
                         "instance_noise",
                         "clip_grad", "n_critic", "ttur", "lr_schedule", "pacgan",
                         "label_smoothing"}  # fmt: skip

    class SetupOnly(Trick):
        name = "setup_only"

        def setup(self, system: GANSystem) -> None:
            pass

    class Counts(SetupOnly):
        name = "counts"

        def after_step(self, step: int, system: GANSystem) -> None:
            pass

    class Declared(Counts):
        graph_safe = True

    assert SetupOnly(Trick.Config(), config).capturable()
    assert not Counts(Trick.Config(), config).capturable()
    assert Declared(Trick.Config(), config).capturable()
    from ganhub_cyclegan.system import CycleGANSystem, Pix2PixSystem
    from ganhub_dcgan.system import DCGANSystem
    from ganhub_medgan.system import MedGenerateGAN, MedPairedGAN
    from ganhub_stylegan.system import StyleGANSystem
    from ganhub_toy2d.system import Toy2dSystem

    safe = (DCGANSystem, Toy2dSystem, StyleGANSystem, MedGenerateGAN, MedPairedGAN, Pix2PixSystem,
            CycleGANSystem)  # fmt: skip
    assert all(system.graph_safe for system in safe)


def test_compiler_failures_become_one_line_and_other_errors_pass() -> None:
    """An exception raised from torch's compiler (its frames, or inductor's generated code)
    becomes a ConfigError naming trainer.compile; the model's own errors and ganhub's do not."""
    from ganhub.engine.compiled import compiler_failure
    from ganhub.errors import ConfigError, UsageError

    def raised_in(filename: str, error: BaseException) -> BaseException:
        namespace: dict[str, Any] = {}
        exec(compile("def call(e):\n    raise e\n", filename, "exec"), namespace)
        try:
            namespace["call"](error)
        except BaseException as exc:
            return exc
        raise AssertionError("not raised")

    generated = "/tmp/torchinductor_user/ab/cabcdef.py"
    stride = AssertionError("expected size 128==128, stride 25==1 at dim=1\nError in op: ...")
    failure = compiler_failure(raised_in(generated, stride))
    assert isinstance(failure, ConfigError)
    text = str(failure)
    assert text.startswith("trainer.compile=true: torch.compile failed on this model")
    assert "AssertionError: expected size 128==128, stride 25==1 at dim=1" in text
    assert "pytorch#171622" in text and "\n" not in text
    lowering = raised_in("/site-packages/torch/_inductor/lowering.py", RuntimeError("no lowering"))
    assert "pytorch#171622" not in str(compiler_failure(lowering))
    # the model's own error, ganhub's errors and Ctrl-C are not the compiler's
    assert compiler_failure(raised_in("/work/model.py", RuntimeError("shape mismatch"))) is None
    assert compiler_failure(raised_in(generated, UsageError("bad key"))) is None
    assert compiler_failure(raised_in(generated, KeyboardInterrupt())) is None
    # the compiler's frame may be one error down the chain (raised from it)
    try:
        try:
            raise raised_in(generated, stride)
        except AssertionError as inner:
            raise RuntimeError("backward failed") from inner
    except RuntimeError as outer:
        assert compiler_failure(outer) is not None


def test_batches_are_handed_out_in_order_with_the_next_one_already_read() -> None:
    from ganhub.data import ahead_on_device

    pulled: list[int] = []

    def source():  # type: ignore[no-untyped-def]
        for i in range(4):
            pulled.append(i)
            yield (torch.full((2, 3), float(i)), torch.tensor([i, i]))

    out = ahead_on_device(source(), torch.device("cpu"))
    first = next(out)
    assert pulled == [0, 1]  # one batch ahead
    rest = list(out)
    assert [int(b[1][0]) for b in [first, *rest]] == [0, 1, 2, 3]
    assert all(
        torch.equal(b[0], torch.full((2, 3), float(i))) for i, b in enumerate([first, *rest])
    )


# -- on a CUDA machine only -------------------------------------------------------------------

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@needs_cuda
@pytest.mark.parametrize(
    "overrides",
    [
        DOMAINS["toy2d"],
        DOMAINS["dcgan"],
        [*DOMAINS["toy2d"], "tricks=[r1]", "trick.r1.interval=2"],
        [*DOMAINS["toy2d"], "tricks=[ema,lr_schedule]"],
        [*DOMAINS["dcgan"], "tricks=[instance_noise]", "trick.instance_noise.anneal_steps=12"],
        ["plugin=medgan", "preset=tiny", "model.image_size=32", "trainer.batch_size=4"],
        # no pool: eager draws its decisions on the host, a graph run on the device (the
        # device pool's rule is tested on the CPU, tests/plugins/test_cyclegan.py)
        [
            "plugin=cyclegan",
            "model.image_size=16",
            "model.ngf=4",
            "model.ndf=4",
            "model.n_layers_d=2",
            "trainer.batch_size=2",
            "objective.pool_size=0",
        ],
    ],
    ids=[
        "toy2d",
        "dcgan",
        "toy2d-lazy-r1",
        "toy2d-lr-schedule",
        "dcgan-instance-noise",
        "medgan-lesion",
        "cyclegan",
    ],
)
def test_cuda_graphs_train_like_eager_on_a_gpu(overrides: list[str], train: Any) -> None:
    """Steps replayed as CUDA graphs against eager on the GPU, over 20 steps with a log every
    fourth (those run eagerly), so each plan warms up three times, is captured and replayed:
    with lazy R1 every second step, the steps with and without it are two plans."""
    from ganhub.engine.graphs import WARMUP

    steps, log_every = 20, 4
    odd_plain_steps = [s for s in range(1, steps, 2) if (s + 1) % log_every]
    assert len(odd_plain_steps) > WARMUP + 1  # the plan without R1 is replayed too
    base = [*overrides, "device=cuda", f"trainer.steps={steps}"]
    eager = train(base, steps=steps, log_every=log_every)
    graphs = train([*base, "trainer.cuda_graphs=true"], steps=steps, log_every=log_every)
    assert_same_training(eager, graphs, atol=1e-4)


@needs_cuda
def test_fused_adam_trains_like_foreach_on_a_gpu(train: Any) -> None:
    base = [*DOMAINS["dcgan"], "device=cuda"]
    foreach = [*base, "optim.G.impl=foreach", "optim.D.impl=foreach"]
    assert_same_training(train(foreach), train(base), atol=1e-4)


def test_a_resumed_run_takes_its_kernels_from_its_config(tmp_path: Path) -> None:
    """A checkpoint written with foreach Adam resumes fused when the config says so (`auto`
    does where torch has the kernel), with the saved moments and step counts, and trains on."""
    from ganhub.engine.loop import fit

    base = [*TINY_TOY, "trainer.steps=2", "trainer.progress=false", f"out_dir={tmp_path}"]
    fit(make_run(resolve([*base, "name=part", "optim.G.impl=foreach", "optim.D.impl=foreach"])))
    run = make_run(resolve([f"resume={tmp_path / 'part'}", "trainer.steps=4",
                            "optim.G.impl=fused"]))  # fmt: skip
    g, d = run.optimizers["G"], run.optimizers["D"]
    assert g.param_groups[0]["fused"] is True and not g.param_groups[0]["foreach"]
    assert d.param_groups[0]["foreach"] is True and not d.param_groups[0]["fused"]
    steps = {int(s["step"]) for s in g.state.values()}
    assert steps == {2}  # the moments and counts came back
    summary = fit(run)
    assert summary["steps"] == 4 and {int(s["step"]) for s in g.state.values()} == {4}


def test_learning_rates_on_the_device_are_scheduled_in_place(tmp_path: Path) -> None:
    """With CUDA graphs the learning rates are device tensors that a captured update reads:
    lr_schedule (and TTUR before it) must fill those very tensors, and a checkpoint written
    with them resumes as plain numbers in a run without graphs."""
    from ganhub.engine.optimizers import learning_rates_on_device, load_state

    run = make_run(resolve([*TINY_TOY, "tricks=[ttur,lr_schedule]", "trainer.steps=10",
                            "trick.lr_schedule.kind=linear", f"out_dir={tmp_path}"]))  # fmt: skip
    schedule = next(t for t in run.tricks if t.name == "lr_schedule")
    learning_rates_on_device(run.optimizers.values())
    held = {g: opt.param_groups[0]["lr"] for g, opt in run.optimizers.items()}
    assert all(isinstance(lr, torch.Tensor) for lr in held.values())
    schedule.after_step(5, run.system)
    for g, opt in run.optimizers.items():
        lr = opt.param_groups[0]["lr"]
        assert lr is held[g]  # the same tensor, filled
        expected = opt.param_groups[0]["initial_lr"] * schedule.factor(5)
        assert (
            float(lr) == pytest.approx(expected) and float(lr) < opt.param_groups[0]["initial_lr"]
        )
    saved = run.optimizers["G"].state_dict()
    fresh = make_run(resolve([*TINY_TOY, "tricks=[ttur,lr_schedule]", "trainer.steps=10",
                              f"out_dir={tmp_path}", "name=fresh"]))  # fmt: skip
    load_state(fresh.optimizers["G"], saved)
    assert type(fresh.optimizers["G"].param_groups[0]["lr"]) is float
    assert fresh.optimizers["G"].param_groups[0]["lr"] == pytest.approx(float(held["G"]))
    run.close()
    fresh.close()
