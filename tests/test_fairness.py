"""Fairness: per-sample real weights in every loss, the density-ratio tricks, the fairness metric
with its corrections, and the CLI and resume paths they take (Choi et al. 2020; CLEAM)."""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from ganhub.capabilities import Attribute, Capabilities
from ganhub.config.resolve import resolve
from ganhub.engine.context import TrainContext
from ganhub.engine.loop import fit
from ganhub.engine.system import GANSystem, Phase
from ganhub.errors import ConfigError, UsageError
from ganhub.losses import AdversarialLoss
from ganhub.plugins import get_hub
from ganhub.testing import check_metric
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN

HUB = get_hub()
BIASED_DIGITS = [*TINY_DCGAN, "data=digits", "data.proportions=[0.9,0.1]"]
DIGIT_GROUPS = Attribute("digit group", ("01234", "56789"), (0.9, 0.1), "digits", ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9)))  # fmt: skip


def _takes_weights(loss: AdversarialLoss) -> bool:
    import inspect

    return "real_weight" in inspect.signature(loss.d_loss).parameters


# -- losses: the real_weight contract --------------------------------------------------------


def test_every_builtin_loss_takes_real_weights() -> None:
    builtin = HUB.losses.by_plugin("ganhub.losses.adversarial")
    assert builtin and all(_takes_weights(HUB.losses.get(name)) for name in builtin)


@pytest.mark.parametrize("name", [e.name for e in HUB.losses if _takes_weights(e.obj)])
@pytest.mark.parametrize("shape", [(8,), (8, 1, 3, 3)], ids=["logits", "patch"])
def test_uniform_weights_give_the_unweighted_loss(name: str, shape: tuple[int, ...]) -> None:
    loss = HUB.losses.get(name)
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)
    plain = loss.d_loss(real, fake)
    for scale in (1.0, 3.7):  # weights are normalised to mean 1: only their ratios count
        weighted = loss.d_loss(real, fake, real_weight=torch.full((8,), scale))
        assert torch.allclose(weighted, plain, rtol=1e-6, atol=1e-7)
    skewed = loss.d_loss(real, fake, real_weight=torch.linspace(0.1, 2.0, 8))
    assert not torch.allclose(skewed, plain)  # the weights do reach the real term


class ConvD(nn.Module):
    """A small D without batch statistics, so one sample's logit does not depend on another's."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 4, 3, 2, 1), nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(2), nn.Flatten()
        )
        self.head = nn.Linear(4 * 2 * 2, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.net(x)).squeeze(1)


def _d_grads(ctx: TrainContext, D: nn.Module, real: Tensor, fake: Tensor) -> list[Tensor]:
    D.zero_grad()
    ctx.d_loss(D, real, fake).loss.backward()
    return [p.grad.clone() for p in D.parameters()]  # type: ignore[union-attr]


@pytest.mark.parametrize("name", [e.name for e in HUB.losses if _takes_weights(e.obj)])
def test_zero_weight_on_half_a_batch_equals_training_on_the_other_half(name: str) -> None:
    """Through the engine's fixed point: a real_batch hook that zeroes half the weights gives
    D the gradient of the other half alone. The fakes repeat (f, f), so pairwise losses (RSGAN)
    pair each kept real with the same fake either way."""
    torch.manual_seed(0)
    D = ConvD()
    real, f = torch.randn(8, 1, 8, 8), torch.randn(4, 1, 8, 8)
    keep_first_half = torch.tensor([1.0] * 4 + [0.0] * 4)
    weighted = TrainContext(HUB.losses.get(name), real_hooks=[lambda x, ctx: (x, keep_first_half)])
    plain = TrainContext(HUB.losses.get(name))
    got = _d_grads(weighted, D, real, torch.cat([f, f]))
    want = _d_grads(plain, D, real[:4], f)
    for g, w in zip(got, want):
        assert torch.allclose(g, w, rtol=1e-5, atol=1e-6)


def test_packed_logits_take_the_mean_weight_of_their_samples() -> None:
    loss = HUB.losses.get("hinge")
    ctx = TrainContext(loss)
    real, fake = torch.tensor([0.5, -1.0, 2.0, 0.0]), torch.zeros(4)
    weight = torch.tensor([1.0, 3.0, 0.0, 2.0, 1.0, 1.0, 4.0, 0.0])  # pairs: 2, 1, 1, 2
    got = ctx.adversarial_d_loss(real, fake, weight)
    assert torch.allclose(got, loss.d_loss(real, fake, real_weight=torch.tensor([2.0, 1, 1, 2])))


def test_a_loss_without_real_weight_is_refused_in_one_line() -> None:
    class OldLoss(AdversarialLoss):
        name = "old"

        def d_loss(self, real: Tensor, fake: Tensor, targets: Any = None) -> Tensor:  # type: ignore[override]
            return fake.mean() - real.mean()

        def g_loss(self, fake: Tensor, real: Tensor | None = None, targets: Any = None) -> Tensor:  # type: ignore[override]
            return -fake.mean()

    ctx = TrainContext(OldLoss(), real_hooks=[lambda x, c: (x, torch.ones(len(x)))])
    with pytest.raises(ConfigError, match="loss 'old' takes no per-sample weights") as err:
        ctx.d_loss(ConvD(), torch.randn(2, 1, 8, 8), torch.randn(2, 1, 8, 8))
    assert "\n" not in str(err.value)
    # unweighted, the same loss keeps working: runs without such a trick never pass weights
    TrainContext(OldLoss()).d_loss(ConvD(), torch.randn(2, 1, 8, 8), torch.randn(2, 1, 8, 8))


def test_runs_without_a_real_batch_trick_collect_no_hook(workdir: Path) -> None:
    run = make_run(resolve([*TINY_DCGAN, "tricks=[ema]"]))
    assert run.ctx.real_hooks == []


# -- the density-ratio classifier ------------------------------------------------------------


def blobs(n_left: int, n_right: int, seed: int, size: int = 16) -> tuple[Tensor, Tensor]:
    """Noisy images with a bright square in the left (value 0) or right (value 1) half, at a
    random height and offset; returns the images and their value."""
    gen = torch.Generator().manual_seed(seed)
    n = n_left + n_right
    side = torch.cat([torch.zeros(n_left), torch.ones(n_right)]).long()
    x = -1 + 0.2 * torch.randn(n, 1, size, size, generator=gen)
    half, s = size // 2, size // 4
    top = torch.randint(0, size - s, (n,), generator=gen)
    left = torch.randint(0, half - s, (n,), generator=gen) + side * half
    for i in range(n):
        x[i, :, top[i] : top[i] + s, left[i] : left[i] + s] = 1.0
    return x, side


@pytest.fixture(scope="module")
def ratio_net() -> Any:
    """The classifier trained on 90/10 data against a 50/50 reference set."""
    from ganhub_fairness.ratio import fit_density_ratio

    data, _ = blobs(1800, 200, seed=1)
    reference, _ = blobs(200, 200, seed=2)
    net, report = fit_density_ratio(
        data, reference, seed=0, steps=300, batch_size=64, lr=3e-3, width=8
    )
    return net, report


def test_the_density_ratio_gives_the_minority_its_true_weight(ratio_net: Any) -> None:
    """On 90/10 data against a 50/50 reference, w = p_ref / p_data is 0.5 / 0.9 for the
    majority and 0.5 / 0.1 for the minority: a ratio of 9, and a mean of 1 over the data."""
    net, report = ratio_net
    fresh, side = blobs(900, 100, seed=3)
    with torch.no_grad():
        w = net(fresh).exp()
    majority, minority = w[side == 0].mean(), w[side == 1].mean()
    assert 6.0 < minority / majority < 13.5, (majority, minority)
    assert 0.8 < float(0.9 * majority + 0.1 * minority) < 1.25
    # both sides are told apart as well as the data allows: 0.5 (0.9 + 0.5) = 70 %
    assert 0.6 < report.accuracy <= 0.75
    assert 0.8 < report.data_weight_mean < 1.25


def _trick(name: str, *overrides: str) -> Any:
    cfg = resolve([*BIASED_DIGITS, f"tricks=[{name}]", *overrides])
    return HUB.tricks.get(name)(getattr(cfg.trick, name), cfg)


def test_resample_lifts_the_minority_toward_half_of_each_batch(ratio_net: Any) -> None:
    trick = _trick("resample")
    trick.net = ratio_net[0]
    ctx = TrainContext(HUB.losses.get("nonsaturating"), real_hooks=[trick.real_batch])
    torch.manual_seed(0)
    shares = []
    for seed in range(40):
        batch, _ = blobs(58, 6, seed=100 + seed)  # 9.4 % minority, as a 90/10 data set gives
        drawn, weight = ctx.real_batch(batch)
        assert weight is None and drawn.shape == batch.shape
        right = drawn[..., 8:].mean((1, 2, 3)) > drawn[..., :8].mean((1, 2, 3))
        shares.append(float(right.float().mean()))
    assert 0.35 < sum(shares) / len(shares) < 0.65


def test_reweight_weights_the_batch_and_logs_its_mean(ratio_net: Any) -> None:
    trick = _trick("reweight", "trick.reweight.max_weight=4")
    trick.net = ratio_net[0]
    ctx = TrainContext(HUB.losses.get("nonsaturating"), real_hooks=[trick.real_batch])
    ctx.diagnose = True
    batch, side = blobs(58, 6, seed=7)
    drawn, weight = ctx.real_batch(batch)
    assert drawn is batch and weight is not None
    assert float(weight.max()) <= 4.0 + 1e-6  # clipped
    assert weight[side == 1].mean() > 2 * weight[side == 0].mean()
    out = ctx.d_loss(ConvD(), batch, torch.randn(64, 1, 16, 16).clamp(-1, 1))
    trick.observe(Phase("D", "D", lambda b, c: out), out, ctx)
    assert {"reweight/weight_mean", "reweight/ess"} <= set(out.stats)
    assert 0 < float(out.stats["reweight/ess"]) <= 1


def test_flatten_zero_turns_the_correction_off(ratio_net: Any) -> None:
    trick = _trick("reweight", "trick.reweight.flatten=0")
    trick.net = ratio_net[0]
    batch, _ = blobs(10, 10, seed=8)
    assert torch.equal(trick.weights(batch), torch.ones(20))


# -- errors ------------------------------------------------------------------------------


def test_reweight_without_a_reference_set_stops_in_one_line(workdir: Path) -> None:
    with pytest.raises(UsageError) as err:
        make_run(resolve([*TINY_DCGAN, "tricks=[reweight]"]))
    message = str(err.value)
    assert "\n" not in message and "trick.reweight.reference=PATH" in message
    assert not (workdir / "runs").exists() or not any((workdir / "runs").iterdir())


def test_a_reference_of_another_shape_or_kind_is_refused(workdir: Path) -> None:
    from ganhub.data.shards import write_shard

    write_shard(workdir / "ref.safetensors", torch.zeros(8, 1, 16, 16), {"test": True})
    for path, words in (("ref.safetensors", "its images are [1, 16, 16]"), ("nope.txt", "give a folder")):  # fmt: skip
        with pytest.raises(UsageError, match=re.escape(words)) as err:
            make_run(resolve([*TINY_DCGAN, "tricks=[reweight]", f"trick.reweight.reference={path}"]))  # fmt: skip
        assert "\n" not in str(err.value)


def test_a_reference_too_small_or_unreadable_is_one_line(tmp_path: Path) -> None:
    """3 reference images were trained on (held-out accuracy NaN); an unreadable one pointed
    at data.skip_bad, which skips training images only."""
    from ganhub_fairness.ratio import MIN_REFERENCE, load_reference
    from PIL import Image

    for i in range(3):
        Image.new("L", (16, 16), i * 60).save(tmp_path / f"{i}.png")
    with pytest.raises(UsageError, match=rf"3 reference images; .* at least {MIN_REFERENCE}"):
        load_reference(tmp_path, (1, 16, 16), "trick.reweight.reference")
    for i in range(3, MIN_REFERENCE):  # enough images: the count is checked before decoding
        Image.new("L", (16, 16), i % 250).save(tmp_path / f"{i}.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(UsageError) as err:
        load_reference(tmp_path, (1, 16, 16), "trick.reweight.reference")
    assert "bad.png" in str(err.value) and "fix or remove that file" in str(err.value)
    assert "skip_bad" not in str(err.value) and "\n" not in str(err.value)


def test_resample_refuses_conditional_runs_and_reweight() -> None:
    with pytest.raises(ConfigError, match="conditional run's labels") as err:
        resolve([*BIASED_DIGITS, "model.conditional=true", "tricks=[resample]"])
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="cannot be combined with: reweight"):
        resolve([*BIASED_DIGITS, "tricks=[resample,reweight]"])


# -- the fairness metric -----------------------------------------------------------------


@functools.cache
def read_digits() -> tuple[Tensor, Tensor, Tensor]:
    """The embedded digits, their labels and the digit classifier's reading of them."""
    from ganhub.data.images import digits
    from ganhub.metrics.featurenet import classify_digits

    images, labels = digits(32)
    return images, labels, classify_digits(images)[0]


class HeldOutDigits(GANSystem):
    """A "generator" that draws embedded digits of chosen classes in chosen shares, among the
    digits the digit classifier reads as their label: samples whose attribute value is known."""

    def __init__(self, config: Any, classes: dict[int, float]) -> None:
        super().__init__(config)
        images, labels, read = read_digits()
        self.pools = [(images[(labels == c) & (read == c)], s) for c, s in classes.items()]
        self.anchor = nn.Parameter(torch.zeros(1))  # a device to live on

    def capabilities(self) -> Capabilities:
        return Capabilities(modality="image", attribute=DIGIT_GROUPS)

    def phases(self) -> list[Phase]:
        return []

    def data(self) -> Any:
        raise AssertionError("the metric needs no training data")

    def sample(self, n: int, *, seed: int | None = None, use_ema: bool = True, labels: Any = None) -> Tensor:  # fmt: skip
        gen = torch.Generator().manual_seed(seed or 0)
        shares = torch.tensor([share for _, share in self.pools])
        which = torch.multinomial(shares, n, replacement=True, generator=gen)
        out = torch.empty(n, 1, 32, 32)
        for k, (pool, _) in enumerate(self.pools):
            rows = (which == k).nonzero().squeeze(1)
            out[rows] = pool[torch.randint(len(pool), (len(rows),), generator=gen)]
        return out

    def write_samples(self, directory: Path, stem: str, *, n: int | None = None, seed: int = 0) -> list[Path]:  # fmt: skip
        return []


def test_samples_of_one_value_are_0_7071_from_uniform() -> None:
    system = HeldOutDigits(resolve(BIASED_DIGITS), {1: 1.0})
    values = check_metric(HUB.metrics.get("fairness"), system, n_samples=100)
    assert values["fairness_l2"] == pytest.approx(math.sqrt(0.5), abs=1e-3)
    assert values["fairness_l1"] == pytest.approx(1.0, abs=2e-3)
    assert (
        values["fairness_share/01234"] == pytest.approx(1.0, abs=2e-3)
        and values["fairness_other"] == 0
    )
    assert values["fairness_l2_corrected"] == pytest.approx(math.sqrt(0.5), abs=0.02)
    assert values["fairness_accuracy"] > 0.97
    # rejection keeps only what exists: no sample of 56789 to keep
    assert values["fairness_l2_rejection"] == pytest.approx(math.sqrt(0.5), abs=1e-3)


def test_rejection_sampling_brings_a_90_10_generator_to_the_target() -> None:
    system = HeldOutDigits(resolve([*BIASED_DIGITS, "eval.fairness_target=uniform"]), {1: 0.9, 7: 0.1})  # fmt: skip
    values = HUB.metrics.get("fairness").compute(system, n_samples=400, seed=0)
    assert 0.5 < values["fairness_l2"] < 0.65  # ‖(0.9, 0.1) − (0.5, 0.5)‖ = 0.566
    assert values["fairness_l2_rejection"] < 0.1
    assert 0.15 < values["fairness_accept"] < 0.25  # 1 / M, M = 0.5 / 0.1
    data_target = resolve([*BIASED_DIGITS, "eval.fairness_target=data"])
    near = HUB.metrics.get("fairness").compute(HeldOutDigits(data_target, {1: 0.9, 7: 0.1}), n_samples=400, seed=0)  # fmt: skip
    assert near["fairness_l2"] < 0.06  # the data's own 90/10 is the target now


def test_the_correction_recovers_proportions_through_a_known_confusion() -> None:
    from ganhub.metrics.fairness import correct_proportions, project_to_simplex

    confusion = torch.tensor([[0.8, 0.15, 0.05], [0.25, 0.7, 0.05]], dtype=torch.float64)
    true = torch.tensor([0.3, 0.7], dtype=torch.float64)
    assert torch.allclose(correct_proportions(confusion.T @ true, confusion), true)
    # a finite sample read through the confusion: the correction lands near the truth,
    # while the raw reading is far off
    gen = torch.Generator().manual_seed(0)
    value = torch.multinomial(true, 20000, replacement=True, generator=gen)
    read = torch.multinomial(confusion[value], 1, generator=gen).squeeze(1)
    observed = torch.bincount(read, minlength=3).double() / len(read)
    raw = observed[:2] / observed[:2].sum()
    assert (raw - true).abs().max() > 0.05
    assert (correct_proportions(observed, confusion) - true).abs().max() < 0.02
    # samples that are no value at all (blobs, read as "other") do not move p, and when every
    # sample is one, p is empty (zeros), as the raw distribution is
    blobs_too = 0.6 * (confusion.T @ true) + torch.tensor([0, 0, 0.4], dtype=torch.float64)
    assert torch.allclose(correct_proportions(blobs_too, confusion), true)
    all_blobs = torch.tensor([0, 0, 1.0], dtype=torch.float64)
    assert torch.equal(correct_proportions(all_blobs, confusion), torch.zeros(2, dtype=torch.float64))  # fmt: skip
    p = project_to_simplex(torch.tensor([1.4, -0.2, 0.1], dtype=torch.float64))
    assert torch.allclose(p, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))


def test_labelled_reference_is_balanced_and_read_correctly() -> None:
    from ganhub.data.attributes import classify_attribute, labelled_reference

    images, values = labelled_reference(DIGIT_GROUPS, 400, seed=0, size=32, channels=1)
    assert images.shape == (400, 1, 32, 32) and torch.equal(values.bincount(), torch.tensor([200, 200]))  # fmt: skip
    assert (classify_attribute(DIGIT_GROUPS, images) == values).float().mean() > 0.97
    odd = Attribute("odd", ("1", "3"), (0.5, 0.5), "digits", ((1,), (3,)))
    read = classify_attribute(odd, images)
    assert (read == -1).float().mean() > 0.7  # most digits are neither 1 nor 3: "other"


def test_the_shape_attribute_reads_rendered_shapes() -> None:
    from ganhub.data.attributes import classify_attribute, labelled_reference
    from ganhub.data.shapes import shape_attribute

    attribute = shape_attribute(["square", "ellipse"], [0.9, 0.1])
    assert attribute is not None
    images, values = labelled_reference(attribute, 200, seed=0, size=32, channels=1)
    assert (classify_attribute(attribute, images) == values).float().mean() > 0.97


# -- runs ----------------------------------------------------------------------------------

RESUMABLE = [
    *BIASED_DIGITS,
    "tricks=[reweight]",
    "trick.reweight.steps=40",
    "deterministic=true",
    "trainer.checkpoint_every=3",
    "trainer.log_every=3",
    "eval.metrics=[]",
]


@pytest.mark.slow
def test_a_reweighted_run_resumes_exactly(workdir: Path) -> None:
    from safetensors.torch import load_file

    from ganhub.engine import checkpoint

    def final(name: str) -> dict[str, Tensor]:
        path = checkpoint.latest(workdir / "runs" / name / "checkpoints")
        assert path is not None
        return load_file(str(path / "model.safetensors"))

    fit(make_run(resolve([*RESUMABLE, "trainer.steps=6", "name=full"])))
    fit(make_run(resolve([*RESUMABLE, "trainer.steps=3", "name=part"])))
    # the checkpoint's classifier is kept (another recipe on resume is refused:
    # tests/plugins/test_fairness_resume_options.py); were it trained again, the weights differ
    resumed = make_run(resolve(["resume=runs/part", "trainer.steps=6"]))
    fit(resumed)
    a, b = final("full"), final("part")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.tricks[0].report["steps"] == 40  # the checkpoint's classifier


@pytest.mark.slow
def test_ganhub_eval_scores_fairness_of_a_biased_digits_run(workdir: Path, cli: Any) -> None:
    fit(make_run(resolve([*BIASED_DIGITS, "eval.metrics=[]", "name=biased"])))
    code, out, err = cli("eval", "runs/biased", "eval.metrics=[fairness]", "--n", "200")
    assert code == 0, err
    for key in (
        "fairness_l2",
        "fairness_l2_corrected",
        "fairness_l2_rejection",
        "fairness_share/01234",
        "fairness_accuracy",
    ):
        assert key in out
    code, out, err = cli("eval", "runs/biased", "eval.metrics=[fairness]", "eval.fairness_target=fair")  # fmt: skip
    assert code == 2 and "fairness_target" in err and "uniform" in err


def test_the_fairness_page_runs_as_written() -> None:
    """Its `ganhub run` lines resolve, to runs whose data declares the attribute's options."""
    import shlex

    text = (Path(__file__).resolve().parents[1] / "docs" / "fairness.md").read_text()
    runs = [line for line in text.splitlines() if line.startswith("ganhub run ")]
    assert len(runs) == 3
    for line in runs:
        config = resolve(shlex.split(line)[2:])
        assert config.data.proportions == [0.9, 0.1]  # type: ignore[attr-defined]
        assert "fairness" in (config.eval.metrics or [])


def test_no_sample_read_as_any_value_gives_no_distribution_not_a_negative_kl() -> None:
    from ganhub.metrics.fairness import discrepancies, distribution, value_shares

    target = torch.tensor([0.5, 0.5], dtype=torch.float64)
    none_read = value_shares(torch.tensor([-1, -1, -1]), 2)  # every sample "other"
    worst = discrepancies(distribution(none_read), target)  # "other" as a value of no share
    assert math.isclose(worst["fairness_l2"], math.sqrt(1.5)) and worst["fairness_l1"] == 2.0
    assert worst["fairness_kl"] > 0
    some_read = value_shares(torch.tensor([0, 0, 1, -1]), 2)
    found = discrepancies(distribution(some_read), target)
    assert found["fairness_kl"] > 0 and math.isclose(found["fairness_l1"], 1 / 3)


LOW_DIGITS = Attribute("low digit", ("01", "23"), (0.5, 0.5), "digits", ((0, 1), (2, 3)))


class Sevens(HeldOutDigits):
    """A "generator" of 7s judged on an attribute of digits 0-3: every sample is "other"."""

    def capabilities(self) -> Capabilities:
        return Capabilities(modality="image", attribute=LOW_DIGITS)


def test_samples_of_no_value_have_no_corrected_discrepancy_either() -> None:
    """fairness_l2 was NaN but fairness_l2_corrected 0.7071, the score of a one-value
    generator: a study ranking by the corrected score took blobs for a biased generator."""
    system = Sevens(resolve(BIASED_DIGITS), {7: 1.0})
    values = HUB.metrics.get("fairness").compute(system, n_samples=100, seed=0)
    assert values["fairness_other"] == 1.0
    assert values["fairness_l2"] == values["fairness_l2_corrected"] > math.sqrt(0.5)
