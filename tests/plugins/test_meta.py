"""The meta plugin: Reptile's outer update, its step-size schedule, and `ganhub meta` end to end
(its run directory opens with ganhub.load, samples, and adapts)."""

from __future__ import annotations

import json
import tempfile
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from ganhub_meta.cli import parse_options
from ganhub_meta.rates import UpdateAlignment, group_ratios, next_rates, set_rates
from ganhub_meta.reptile import MetaOptions, epsilon_at, meta_config, meta_train, reptile_update
from torch import nn

import ganhub
from ganhub.adapt import adapt_config
from ganhub.errors import ConfigError
from ganhub.plugins import get_hub


def test_reptile_update_is_its_formula_on_a_tiny_model() -> None:
    model = nn.Sequential(nn.Linear(2, 1), nn.BatchNorm1d(1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 2.0]]))
        model[0].bias.fill_(0.0)
    meta = {k: v.clone() for k, v in model.state_dict().items()}
    task_a = {**meta, "0.weight": torch.tensor([[3.0, 2.0]]), "0.bias": torch.tensor([1.0])}
    task_b = {**meta, "0.weight": torch.tensor([[1.0, 6.0]]), "0.bias": torch.tensor([-3.0])}
    task_a["1.num_batches_tracked"] = torch.tensor(7)
    new = reptile_update(meta, [task_a, task_b], epsilon=0.5)
    # theta + 0.5 * mean(phi - theta): weight [1,2] + 0.5 * ([2,4] - [1,2]) = [1.5, 3]
    assert torch.equal(new["0.weight"], torch.tensor([[1.5, 3.0]]))
    assert torch.equal(new["0.bias"], torch.tensor([-0.5]))  # 0 + 0.5 * (-1 - 0)
    assert torch.equal(new["1.running_mean"], meta["1.running_mean"])  # no task moved it
    assert int(new["1.num_batches_tracked"]) == 0  # a counter keeps the meta value
    assert torch.equal(meta["0.weight"], torch.tensor([[1.0, 2.0]]))  # inputs untouched
    model.load_state_dict(new)  # the result is a state of the same model


def test_the_outer_step_size_anneals_linearly_to_zero() -> None:
    options = MetaOptions(classes=[0, 1], outer_steps=4, outer_lr=0.8)
    assert [epsilon_at(options, s) for s in range(4)] == pytest.approx([0.8, 0.6, 0.4, 0.2])
    constant = MetaOptions(classes=[0, 1], outer_steps=4, outer_lr=0.8, anneal=False)
    assert epsilon_at(constant, 3) == 0.8


def test_meta_options_are_checked_with_their_full_key() -> None:
    options, rest = parse_options(["plugin=dcgan", "meta.classes=[0,1,2]", "meta.inner_steps=3"])
    assert options.inner_steps == 3 and rest == ["plugin=dcgan"]
    with pytest.raises(ConfigError, match=r"^meta\.classes_per_task=3 must be below"):
        parse_options(["meta.classes=[0,1,2]", "meta.classes_per_task=3"])
    with pytest.raises(ConfigError, match=r"did you mean 'meta\.outer_lr'"):
        parse_options(["meta.classes=[0,1]", "meta.outer_rl=0.5"])
    with pytest.raises(ConfigError, match=r"^meta\.classes: needs a value \(it has no default\)$"):
        parse_options(["plugin=dcgan"])


def test_meta_refuses_resume_before_touching_the_run(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    run = workdir / "runs" / "earlier"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("plugin: dcgan\n")
    code, _, err = cli("meta", "plugin=dcgan", "preset=tiny", "meta.classes=[0,1]",
                       f"resume={run}")  # fmt: skip
    assert code == 2 and "does not take resume=" in err
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml"]


def test_meta_without_arguments_names_the_plugin_first(cli) -> None:  # type: ignore[no-untyped-def]
    """It said "meta.classes: Field required" when plugin= was missing too."""
    code, _, err = cli("meta")
    assert code == 2 and "ganhub meta needs plugin=NAME and meta.classes=[...]" in err


def test_sigterm_saves_the_meta_weights_and_exits_with_its_status(workdir: Path) -> None:
    """As `ganhub run`: the outer loop stops after its step and checkpoints (it died with
    the signal, leaving no checkpoint; Ctrl-C deleted the run)."""
    import json
    import signal
    import subprocess
    import sys
    import time

    args = ["meta", "plugin=dcgan", "preset=tiny", "meta.classes=[0,1,2]", "name=stop",
            "meta.outer_steps=100000", "meta.inner_steps=1", "trainer.progress=false"]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "ganhub", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    metrics = workdir / "runs/stop/metrics.jsonl"
    deadline = time.monotonic() + 120
    while proc.poll() is None and not (metrics.is_file() and metrics.stat().st_size > 0):
        assert time.monotonic() < deadline, "meta-training logged nothing"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    model = ganhub.load(workdir / "runs/stop")  # the meta weights open, for adapt and sample
    assert 0 < model.step < 100000
    assert json.loads((workdir / "runs/stop/meta.json").read_text())["method"] == "reptile"
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert records[-1]["stop/signal"] == signal.SIGTERM and records[-1]["step"] == model.step


@pytest.mark.slow
def test_meta_then_sample_and_adapt_from_the_command_line(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
    one_thread: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scratch = workdir / "tmp"  # this test's own: another meta run may be using the system's
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    code, out, err = cli("meta", "plugin=dcgan", "preset=tiny", "trainer.batch_size=8",
                         "meta.classes=[0,1,2]", "meta.outer_steps=3", "meta.inner_steps=2",
                         "meta.tasks_per_step=2", "tricks=[ema]", "loggers=[jsonl]", "name=m")  # fmt: skip
    assert code == 0, err
    run = workdir / "runs" / "m"
    assert "outer step" in out and not list(scratch.glob("ganhub-meta-*/task-*"))
    assert "3 outer steps in" in out and " outer steps/s)" in out  # not "(0.5 steps/s)"
    code, out, err = cli("meta", "plugin=dcgan", "preset=tiny", "trainer.batch_size=8",
                         "meta.classes=[0,1,2]", "meta.outer_steps=1", "meta.inner_steps=1",
                         "trainer.progress=false", "name=quiet")  # fmt: skip
    assert code == 0 and out.strip().startswith("ganhub: done at outer step 1"), out
    assert " outer steps/s" in out  # "0.5 steps/s" of outer steps read as a slow run
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["data"]["classes"] == [0, 1, 2]
    model = ganhub.load(run)
    assert model.step == 3 and model.sample(4).shape == (4, 1, 32, 32)
    G, G_ema = model.system.G, model.system.G_ema  # the EMA copy follows the meta weights
    assert all(
        torch.equal(a, b) for a, b in zip(G.state_dict().values(), G_ema.state_dict().values())
    )
    assert (run / "meta.json").is_file() and (run / "metrics.jsonl").read_text().count("\n") == 3
    code, _, err = cli("sample", str(run), "--n", "4")
    assert code == 0, err
    code, _, err = cli("adapt", str(run), "data.classes=[8]", "trainer.steps=2",
                       "eval.n_samples=20", "name=m-adapted")  # fmt: skip
    assert code == 0, err
    adapted = ganhub.load(workdir / "runs" / "m-adapted")
    assert adapted.config.init_from == run and adapted.step == 2


# -- learned learning rates (meta.learn_lr) ---------------------------------------------------


@pytest.mark.parametrize(("lr", "cosine"), [(0.5, -1.0), (1.5, 1.0)])
def test_the_hypergradient_sees_steps_too_short_and_steps_that_overshoot(
    lr: float, cosine: float
) -> None:
    """SGD on 0.5 |w|^2: below lr 1 every gradient points on past the last update (cos -1:
    the rate should grow), between 1 and 2 each step overshoots the minimum and the gradient
    points back along it (cos +1: the rate should shrink)."""
    w = nn.Parameter(torch.tensor([3.0, -4.0]))
    optimizer = torch.optim.SGD([w], lr=lr)
    alignment = UpdateAlignment()
    alignment.watch({"G": optimizer})
    alignment.start_task()
    for _ in range(4):
        optimizer.zero_grad()
        (0.5 * (w**2).sum()).backward()
        optimizer.step()
    assert alignment.mean_cosines() == {"G": pytest.approx(cosine)}  # 3 consecutive pairs
    grown = next_rates({"G": lr}, {"G": cosine}, rate=0.1)["G"]
    assert grown == pytest.approx(lr * (1 - 0.1 * cosine))
    assert (grown > lr) == (lr < 1)
    alignment.start_task()  # a new task's first step has nothing to compare with
    optimizer.zero_grad()
    (0.5 * (w**2).sum()).backward()
    optimizer.step()
    assert alignment.mean_cosines() == {}
    set_rates({"G": optimizer}, {"G": 0.25}, {"G": [1.0]})
    assert optimizer.param_groups[0]["lr"] == 0.25


def test_a_learned_rate_moves_every_param_group_in_its_ratio() -> None:
    """A supernet's architecture logits (arch_lr) or StyleGAN's lazy path-length correction
    keep their rate relative to the side's: they used to get the side's rate itself."""
    weights, logits = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.Adam([{"params": [weights]}, {"params": [logits], "lr": 0.01}], lr=2e-4)
    ratios = group_ratios({"G": optimizer}, {"G": 2e-4})
    assert ratios == {"G": [1.0, pytest.approx(50.0)]}
    set_rates({"G": optimizer}, {"G": 3e-4}, ratios)
    assert [g["lr"] for g in optimizer.param_groups] == [pytest.approx(3e-4), pytest.approx(0.015)]


@pytest.mark.slow
def test_learned_rates_keep_ttur_and_the_lazy_r1_correction(
    workdir: Path, one_thread: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """meta.learn_lr=true gave every param group optim.<side>.lr: TTUR's G 1e-4 / D 4e-4 became
    2e-4 / 2e-4, and the lazy R1 correction's D * 4/5 was dropped."""
    import ganhub_meta.carry as carry

    visits: list[dict[str, list[float]]] = []
    train_visit = carry.train_visit

    def spy(run: Any, batches: Any, n: int) -> Any:
        visits.append({s: [float(g["lr"]) for g in o.param_groups]
                       for s, o in run.optimizers.items()})  # fmt: skip
        return train_visit(run, batches, n)

    monkeypatch.setattr(carry, "train_visit", spy)
    options, items = parse_options(["plugin=dcgan", "preset=tiny", "trainer.batch_size=8",
                                    "meta.classes=[0,1,2]", "meta.outer_steps=2",
                                    "meta.inner_steps=2", "meta.learn_lr=true",
                                    "tricks=[ttur,r1]", "trick.r1.interval=4",
                                    "model.d_norm=layer", "loggers=[jsonl]",
                                    "trainer.progress=false", "name=m"])  # fmt: skip
    meta_train(meta_config(items, options, get_hub()), options)
    built = {"G": [1e-4], "D": [4e-4 * 4 / 5]}  # TTUR's rates, D's with the lazy correction
    assert visits[0] == {s: [pytest.approx(lr) for lr in lrs] for s, lrs in built.items()}
    logged = yaml.safe_load((workdir / "runs/m/metrics.jsonl").read_text().splitlines()[0])
    for side, lrs in built.items():  # the second visit: scaled by what the first step learned
        scale = logged[f"meta/lr_{side}"] / 2e-4
        assert logged[f"meta/lr_{side}"] != 2e-4
        assert visits[1][side] == [pytest.approx(lr * scale) for lr in lrs]
    # what adapt trains with: TTUR's rates set outright, so they carry the learned factors
    learned = json.loads((workdir / "runs/m/meta.json").read_text())["learned_lr"]
    adapted = ganhub.load(workdir / "runs/m").config
    assert adapted.optim.G.lr == learned["G"] and adapted.optim.D.lr == learned["D"]
    ttur = adapted.trick.ttur  # type: ignore[attr-defined]
    assert ttur.g_lr == pytest.approx(1e-4 * learned["G"] / 2e-4)
    assert ttur.d_lr == pytest.approx(4e-4 * learned["D"] / 2e-4)


def test_learned_rates_are_refused_next_to_an_lr_schedule() -> None:
    options, items = parse_options(["plugin=dcgan", "meta.classes=[0,1]", "meta.learn_lr=true",
                                    "tricks=[lr_schedule]"])  # fmt: skip
    with pytest.raises(ConfigError, match=r"meta\.learn_lr=true sets the learning rates itself"):
        meta_config(items, options, get_hub())


def test_a_class_the_data_lacks_is_blamed_on_meta_classes() -> None:
    """The user typed meta.classes; the message named data.classes, which meta refuses."""
    options, items = parse_options(["plugin=dcgan", "meta.classes=[0,12]"])
    with pytest.raises(ConfigError, match=r"^meta\.classes=\[0, 12\]: give distinct digits"):
        meta_config(items, options, get_hub())


@pytest.mark.slow
def test_meta_learns_the_rates_that_adapt_starts_from(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
    one_thread: None,
) -> None:
    code, _, err = cli("meta", "plugin=dcgan", "preset=tiny", "trainer.batch_size=8",
                       "meta.classes=[0,1,2]", "meta.outer_steps=4", "meta.inner_steps=3",
                       "meta.learn_lr=true", "meta.lr_rate=0.2", "optim.D.lr=0.0003",
                       "loggers=[jsonl]", "name=m")  # fmt: skip
    assert code == 0, err
    run = workdir / "runs" / "m"
    learned = yaml.safe_load((run / "meta.json").read_text())["learned_lr"]
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["optim"]["G"]["lr"] == learned["G"] and config["optim"]["D"]["lr"] == learned["D"]
    assert learned["G"] != 2e-4 and learned["D"] != 3e-4  # they moved
    logged = [yaml.safe_load(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert logged[-1]["meta/lr_G"] == learned["G"]
    start = {"G": 2e-4, "D": 3e-4}  # each outer step moves a rate by at most lr_rate of itself
    for side, first in start.items():
        rates = [first, *(row[f"meta/lr_{side}"] for row in logged)]
        assert all(abs(b / a - 1) <= 0.2 + 1e-9 for a, b in pairwise(rates))
    adapted = adapt_config(run, ["data.classes=[8]"])
    assert (adapted.optim.G.lr, adapted.optim.D.lr) == (learned["G"], learned["D"])


def test_a_conditional_meta_run_leaves_room_for_the_classes_it_adapts_to(workdir: Path) -> None:
    """A conditional meta run on digits 0-2 conditioned on those three alone, and the next
    step its summary gives, `ganhub adapt RUN data.classes=[K]`, refused every other digit. It
    conditions on the data's ten (typed condition.classes still win)."""
    args = ["plugin=dcgan", "preset=tiny", "trainer.batch_size=8", "model.conditional=true",
            "meta.classes=[0,1,2]", "meta.outer_steps=1", "meta.inner_steps=1",
            "eval.metrics=[]", "loggers=[]", "trainer.progress=false", "name=c"]  # fmt: skip
    options, items = parse_options(args)
    config = meta_config(items, options, get_hub())
    assert config.condition.classes == list("0123456789")  # type: ignore[attr-defined]
    meta_train(config, options)
    adapted = adapt_config(workdir / "runs/c", ["data.classes=[8]"])
    assert adapted.data.classes == [8]  # type: ignore[attr-defined]
    options, items = parse_options([*args, 'condition.classes=["0","1","2"]'])
    typed = meta_config(items, options, get_hub())
    assert typed.condition.classes == ["0", "1", "2"]  # type: ignore[attr-defined]
