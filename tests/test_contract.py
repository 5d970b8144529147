"""Contract tests generated from the registries: a new loss, trick, metric or domain is tested
the day it is registered (timm's pattern), with the same checks `ganhub.testing` gives plugin
authors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import ganhub
from ganhub import testing
from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit
from ganhub.engine.run import Run
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN, TINY_TOY

HUB = get_hub()

# What makes each built-in domain's contract run small (plugins' domains bring a `tiny` preset).
DOMAIN_SETUP = {
    "toy2d": [
        "trainer.batch_size=32",
        "model.g_hidden=16",
        "model.d_hidden=16",
        "data.n_samples=1000",
        "eval.n_samples=500",
    ],
}

# Options that make a trick applicable to the tiny domains (a WGAN-GP needs a D without BatchNorm).
TRICK_SETUP = {
    "gp": ["loss=wasserstein", "model.d_norm=none"],
    "r1": ["model.d_norm=none"],
    "r2": ["model.d_norm=none"],
    "n_critic": ["loss=wasserstein", "trick.n_critic.n=2"],
    "balance": ["trick.balance.check_every=1"],
    "acgan": ["model.conditional=true"],  # a class head needs labels
    "arch_cost": ["model.supernet=true"],  # it prices a supernet's choices
    # biased digits have a reference set; a short classifier keeps the runs small
    "reweight": ["data.proportions=[0.9,0.1]", "trick.reweight.steps=20"],
    "resample": ["data.proportions=[0.9,0.1]", "trick.resample.steps=20"],
    "task_relations": ["trick.task_relations.mode=project"],  # the mode that changes training
}
# Tricks a trick needs beside it: one that relates auxiliary tasks needs a task.
COMPANIONS = {"task_relations": ["rotation_head"]}


def _steps(args: list[str]) -> Run:
    run = make_run(resolve(args))
    before = [p.detach().clone() for p in run.system.parameters()]
    summary = fit(run)
    assert summary["steps"] == run.config.trainer.steps
    after = list(run.system.parameters())
    assert any(not torch.equal(b, a) for b, a in zip(before, after)), "no parameter changed"
    for line in (run.run_dir / "metrics.jsonl").read_text().splitlines():
        assert "nan" not in line.lower()
    return run


def _trick_base(name: str, workdir: Path) -> list[str]:
    tricks = [HUB.tricks.get(n) for n in [name, *COMPANIONS.get(name, [])]]
    vector_ok = all(t.modalities is None or "vector" in t.modalities for t in tricks)
    base = TINY_TOY if vector_ok else TINY_DCGAN
    extra = [
        a
        for a in TRICK_SETUP.get(name, [])
        if not (base is TINY_TOY and a.startswith("model.d_norm"))
    ]
    if HUB.tricks.get(name).needs_trained_weights:  # ewc, freeze_d: start from a trained run
        source = ganhub.train([*base, "trainer.steps=2", f"out_dir={workdir}", "name=source"])
        extra.append(f"init_from={source['run_dir']}")
    return [*base, *extra]


@pytest.mark.parametrize("name", HUB.tricks.names())
def test_every_trick_keeps_the_contract(name: str, workdir) -> None:  # type: ignore[no-untyped-def]
    """It trains, its state survives a checkpoint and a resumed run continues exactly."""
    base = _trick_base(name, workdir)
    testing.check_trick(name, base, workdir=workdir, companions=COMPANIONS.get(name, []))


@pytest.mark.parametrize("name", HUB.tricks.names())
def test_every_trick_trains_two_steps(name: str, workdir) -> None:  # type: ignore[no-untyped-def]
    tricks = [*COMPANIONS.get(name, []), name]
    run = _steps([*_trick_base(name, workdir), "trainer.steps=2", f"tricks=[{','.join(tricks)}]"])
    assert sorted(t.name for t in run.tricks) == sorted(tricks)


@pytest.mark.parametrize("name", HUB.losses.names())
def test_every_loss_keeps_the_contract(name: str) -> None:
    testing.check_loss(HUB.losses.get(name))


@pytest.mark.parametrize("name", HUB.losses.names())
def test_every_loss_trains_two_steps(name: str, workdir) -> None:  # type: ignore[no-untyped-def]
    run = _steps([*TINY_TOY, "trainer.steps=2", f"loss={name}"])
    assert run.ctx.loss.name == name


@pytest.mark.slow
@pytest.mark.parametrize("name", HUB.domains.names())
def test_every_domain_keeps_the_contract(name: str, workdir) -> None:  # type: ignore[no-untyped-def]
    """Config round trip, training, exact resume, declared capabilities, samples, load()."""
    testing.check_domain(name, DOMAIN_SETUP.get(name, ["preset=tiny"]), workdir=workdir)


def _conditional_domains() -> list[str]:
    """Domains whose config has a `model.conditional` switch (class-conditional training)."""
    out = []
    for name in HUB.domains.names():
        model = HUB.domains.get(name).config_class.model_fields.get("model")
        fields = getattr(getattr(model, "annotation", None), "model_fields", {})
        if "conditional" in fields:
            out.append(name)
    return out


# what a conditional contract run needs besides the tiny preset (labelled data)
CONDITIONAL_SETUP = {"stylegan": ["data=digits"]}


@pytest.mark.slow
@pytest.mark.parametrize("name", _conditional_domains())
def test_every_conditional_domain_keeps_the_contract(name: str, workdir) -> None:  # type: ignore[no-untyped-def]
    """The conditional variant: round trip, training, exact resume, labels, samples, load()."""
    setup = ["preset=tiny", "model.conditional=true", *CONDITIONAL_SETUP.get(name, [])]
    testing.check_domain(name, setup, workdir=workdir)


def test_image_domains_offer_conditioning() -> None:
    assert {"dcgan", "stylegan"} <= set(_conditional_domains())


@pytest.mark.slow
@pytest.mark.parametrize("name", HUB.domains.names())
def test_every_domains_default_run_computes_its_default_metrics(name: str, workdir) -> None:  # type: ignore[no-untyped-def]
    """The default config (shortened to two steps) evaluates every default metric: none is
    skipped as not applicable, and each reports a finite value."""
    run = make_run(resolve([f"plugin={name}", "trainer.steps=2", "trainer.progress=false",
                            "eval.n_samples=256", "loggers=[jsonl]"]))  # fmt: skip
    defaults = run.system.default_metrics()
    assert defaults, f"domain {name} has no default metrics"
    summary = fit(run)
    assert run.skipped_metrics == []
    assert summary["metrics"] and all(math.isfinite(v) for v in summary["metrics"].values())
    caps = run.system.capabilities()
    for metric in run.metrics():
        assert metric.supports(caps), f"{name}: default metric {metric.name} not applicable"


@pytest.mark.parametrize("name", HUB.domains.names())
def test_every_domain_resolves_its_defaults_and_presets(name: str) -> None:
    domain = HUB.domains.get(name)
    assert domain.description and domain.modality in ("vector", "image", "volume", "tokens")
    cfg = resolve([f"plugin={name}"])
    assert cfg.plugin == name
    for preset in domain.presets:
        assert resolve([f"plugin={name}", f"preset={preset}"]).preset == preset
    # `preset=tiny`, the seconds-long first try the docs and plugin checks use, is everywhere
    # (toy2d had none: "unknown toy2d preset 'tiny'")
    if HUB.provider("domains", name)["dist"] == "ganhub":
        assert "tiny" in domain.presets


@pytest.mark.parametrize("name", HUB.tricks.names())
def test_every_trick_documents_itself(name: str) -> None:
    entry = HUB.tricks.entry(name)
    assert entry.description, f"trick {name} has no one-line description"
    for field_name, field in entry.obj.Config.model_fields.items():
        assert field.description, f"trick.{name}.{field_name} has no description"


def test_combining_tricks_in_one_run(workdir) -> None:  # type: ignore[no-untyped-def]
    run = _steps(
        [
            *TINY_DCGAN,
            "trainer.steps=3",
            "tricks=[ema,diffaug,spectral_norm,clip_grad,label_smoothing,instance_noise,lr_schedule]",
        ]
    )
    assert math.isfinite(sum(p.sum().item() for p in run.system.G_ema.parameters()))


@pytest.mark.parametrize(
    "options",
    [
        ["precision=bf16"],
        ["trainer.channels_last=true"],
        ["trainer.grad_accum=2", "tricks=[pacgan]", "trainer.batch_size=8"],
    ],
    ids=["bf16", "channels_last", "accum+pacgan"],
)
def test_loop_options_train_the_image_domain(options: list[str], workdir) -> None:  # type: ignore[no-untyped-def]
    run = _steps([*TINY_DCGAN, *options])
    if "trainer.channels_last=true" in options:
        assert run.system.D[0].weight.is_contiguous(memory_format=torch.channels_last)


CHANNELS_LAST_POINTWISE = """
import torch
from torch import nn
from ganhub.engine.environment import use_channels_last

torch.set_num_threads(2)
torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 16, 1, stride=2))
reference = [p.detach().clone() for p in model.parameters()]
x = torch.randn(3, 3, 16, 16)
model(x).square().sum().backward()
grads = [p.grad.clone() for p in model.parameters()]
model.zero_grad()
use_channels_last(model, torch.device("cpu"))
assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
model(x).square().sum().backward()
for p, g in zip(model.parameters(), grads):
    torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-5)
print("same gradients")
"""


def test_channels_last_on_the_cpu_survives_a_strided_pointwise_convolution() -> None:
    """torch 2.14's CPU weight gradient of a 1x1 stride-2 convolution on channels_last input
    corrupts memory with 2 threads (8 -> 16 channels at 16x16 crashed every time): such layers
    take NCHW input. In a subprocess, so that a regression fails this test, not the suite."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", CHANNELS_LAST_POINTWISE], capture_output=True, text=True
    )
    assert done.returncode == 0 and "same gradients" in done.stdout, done.stderr[-2000:]


def test_fp16_without_a_gpu_is_a_config_error() -> None:
    from ganhub.errors import ConfigError

    with pytest.raises(ConfigError, match="precision=16 needs a GPU"):
        make_run(resolve([*TINY_TOY, "device=cpu", "precision=16"]))
