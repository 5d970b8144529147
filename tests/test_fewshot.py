"""Few-shot adaptation: init_from, few-shot digits, held-out evaluation, patience, FreezeD and
`ganhub adapt`, each on real components with tiny models."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
import torch
import yaml

import ganhub
from ganhub.config.resolve import resolve
from ganhub.data.fewshot import few_shot
from ganhub.data.images import digits
from ganhub.engine import checkpoint
from ganhub.engine.loop import fit
from ganhub.errors import ConfigError
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN, TINY_TOY
from .test_keep_best import Scripted, scripted_hub

DOCS = Path(__file__).resolve().parents[1] / "docs"


pytestmark = pytest.mark.usefixtures("one_thread")


def _trained(name: str, *extra: str) -> Path:
    """A tiny dcgan run of 2 steps; its directory."""
    summary = ganhub.train([*TINY_DCGAN, f"name={name}", *extra])
    return Path(summary["run_dir"])


# -- init_from ----------------------------------------------------------------------------------


def test_init_from_loads_the_source_weights_and_fills_ema_from_g(workdir: Path) -> None:
    source = _trained("source")
    _, _, saved, _ = checkpoint.load_newest(source / "checkpoints")  # type: ignore[misc]
    run = make_run(resolve([*TINY_DCGAN, "name=target", f"init_from={source}", "tricks=[ema]"]))
    try:
        state = run.system.state_dict()
        assert set(saved) < set(state)  # the target adds the EMA copy
        for key, value in saved.items():  # step 0: every source tensor, bit for bit
            assert torch.equal(state[key].cpu(), value), key
        for key in (k for k in state if k.startswith("G_ema.")):
            assert torch.equal(state[key].cpu(), saved["G." + key.removeprefix("G_ema.")]), key
        assert run.step == 0 and run.data.position.epoch == 0  # the rest starts fresh
    finally:
        run.close()


def test_init_from_an_exported_folder_loads_its_generator_only(workdir: Path) -> None:
    from ganhub.export import export_run

    folder = export_run(_trained("source"), "safetensors", out=workdir / "exported")
    source = ganhub.load(folder).system.state_dict()
    run = make_run(resolve([*TINY_DCGAN, "name=target", f"init_from={folder}"]))
    try:
        state = run.system.state_dict()
        assert all(torch.equal(state[k], source[k]) for k in state if k.startswith("G."))
        fresh = make_run(resolve([*TINY_DCGAN, "name=fresh"]))  # the same seed: the same init
        fresh.close()
        initial = fresh.system.state_dict()
        assert all(torch.equal(state[k], initial[k]) for k in state if k.startswith("D."))
        assert not all(torch.equal(state[k], initial[k]) for k in state if k.startswith("G."))
    finally:
        run.close()


def test_init_from_refuses_another_architecture_in_one_line(workdir: Path) -> None:
    source = _trained("source")
    with pytest.raises(ConfigError, match=r"init_from=.*differ in shape \(G\.") as e:
        make_run(resolve([*TINY_DCGAN, f"init_from={source}", "model.g_channels=4"]))
    assert "\n" not in str(e.value)
    assert not (workdir / "runs" / "dcgan").exists()  # refused before a directory was claimed


def test_init_from_names_another_domain_and_a_label_embedding(workdir: Path) -> None:
    """A stylegan source was a shape complaint, a conditional one "a run of another domain?"."""
    toy = Path(ganhub.train([*TINY_TOY, "name=pts"])["run_dir"])
    with pytest.raises(ConfigError, match=r"a 'toy2d' run; this run is 'dcgan', and init_from takes"):  # fmt: skip
        make_run(resolve([*TINY_DCGAN, f"init_from={toy}"]))
    digits = _trained("digits", "model.conditional=true")  # 10 classes
    three = _trained("three", "model.conditional=true", "data=shapes")  # 3 classes
    with pytest.raises(ConfigError, match=r"\(a label embedding: the two runs have other numbers of classes\)"):  # fmt: skip
        make_run(
            resolve([*TINY_DCGAN, "model.conditional=true", "data=shapes", f"init_from={digits}"])
        )
    with pytest.raises(ConfigError, match=r"one run conditional and the other not\?"):
        make_run(resolve([*TINY_DCGAN, f"init_from={three}"]))


def test_init_from_is_refused_next_to_resume_but_its_run_resumes(workdir: Path) -> None:
    source = _trained("source")
    other = _trained("other", f"init_from={source}")
    with pytest.raises(ConfigError, match="a resumed run continues from its own checkpoint"):
        make_run(resolve([f"resume={source}", f"init_from={other}"]))
    resumed = fit(make_run(resolve([f"resume={other}", "trainer.steps=3"])))  # its own init_from
    assert resumed["steps"] == 3 and resumed["steps_this_session"] == 1


# -- few-shot digits ----------------------------------------------------------------------------


def test_adaptation_reads_only_the_n_shots(workdir: Path) -> None:
    config = resolve([*TINY_DCGAN, "data.classes=[8]", "data.n_shots=10", "trainer.batch_size=5"])
    run = make_run(config)
    try:
        images, labels = digits(32)
        pick = few_shot(images, labels, classes=[8], n_shots=10, seed=config.seed)
        assert len(run.data) == 10 and (labels[pick.index] == 8).all()
        batches = run.batches()
        for _epoch in range(2):  # every epoch: the same 10 images, each once
            seen = torch.cat([next(batches) for _ in range(2)]).cpu()
            assert len(seen) == 10
            match = (seen.flatten(1)[:, None] == images[pick.index].flatten(1)[None]).all(-1)
            assert match.sum(1).eq(1).all() and match.sum(0).eq(1).all()
        held_out = run.system.validation_samples()
        assert held_out is not None and len(held_out) == (labels == 8).sum() - 10
        overlap = (held_out.flatten(1)[:, None] == seen.flatten(1)[None]).all(-1)
        assert not overlap.any()  # evaluation never sees a shot
    finally:
        run.close()


def test_the_shots_follow_the_seed_and_too_many_are_refused() -> None:
    images, labels = digits(32)
    a = few_shot(images, labels, classes=[3, 5], n_shots=6, seed=0).index
    b = few_shot(images, labels, classes=[3, 5], n_shots=6, seed=1).index
    assert not torch.equal(a, b)
    assert torch.equal(a, few_shot(images, labels, classes=[3, 5], n_shots=6, seed=0).index)
    with pytest.raises(ConfigError, match=r"data.n_shots=5000: the kept classes have only \d+"):
        few_shot(images, labels, classes=[3], n_shots=5000)


# -- held-out evaluation ------------------------------------------------------------------------


def test_eval_real_validation_compares_with_the_held_out_images(workdir: Path) -> None:
    from ganhub.metrics.features import features_of, get_extractor, real_features

    keys = ["data.classes=[8]", "data.n_shots=10", "eval.features=[digits]"]
    run_dir = _trained("shots", *keys, "eval.real=validation")
    held_out = ganhub.load(run_dir).system
    on_shots = ganhub.load(run_dir, overrides=["eval.real=train"]).system
    net = get_extractor("digits", held_out.config.eval, held_out)
    assert len(real_features(on_shots, net, 10_000)["features"]) == 10  # the shots
    expected = features_of(net, held_out.validation_samples())["features"]
    found = real_features(held_out, net, 10_000)["features"]
    assert len(found) == len(expected) > 10 and torch.allclose(found.double(), expected)
    values = get_hub().metrics.get("fid").compute(held_out, n_samples=20, seed=0)
    assert values["n_real"] == len(expected)


def test_intra_fid_on_held_out_images_groups_them_by_their_own_labels(workdir: Path) -> None:
    """A conditional few-shot run scored on its held-out images: intra_fid read the shots'
    labels for them (an IndexError after training, e.g. at the end of `ganhub adapt`)."""
    keys = ["data.classes=[3,8]", "data.n_shots=10", "eval.features=[digits]"]
    system = ganhub.load(_trained("cond", *keys, "model.conditional=true",
                                  "eval.real=validation", "eval.metrics=[]")).system  # fmt: skip
    images, labels = system.validation_samples(), system.validation_labels()
    assert labels is not None and images is not None and len(labels) == len(images) > 10
    assert set(labels.tolist()) == {0, 1}  # positions in condition.classes ["3", "8"]
    values = get_hub().metrics.get("intra_fid").compute(system, n_samples=20, seed=0)
    assert values["intra_classes"] == 2 and values["intra_fd_digits"] > 0


def test_eval_real_validation_is_refused_without_held_out_images(workdir: Path) -> None:
    with pytest.raises(ConfigError, match=r"^eval.real=validation: .* holds no real samples"):
        ganhub.train([*TINY_DCGAN, "eval.metrics=[fid]", "eval.real=validation"])


# -- patience -----------------------------------------------------------------------------------


def test_patience_stops_after_evaluations_without_a_better_value(workdir: Path) -> None:
    metric = Scripted([3.0, 2.0, 2.5, 2.6, 1.0, 1.0])
    hub = scripted_hub(metric)
    keys = ["trainer.steps=20", "trainer.eval_every=2", "trainer.keep_best=score",
            "trainer.patience=2", "eval.metrics=[scripted]", "name=p",
            "trainer.sample_every=4"]  # fmt: skip
    run = make_run(resolve([*TINY_TOY, *keys], hub=hub), hub)
    written, write = [], run.write_samples
    run.write_samples = lambda: written.append(run.step) or write()  # type: ignore[method-assign]
    summary = fit(run)
    assert written == [4, 8]  # the stop at a sampling step wrote them once, not again at the end
    # evaluations at steps 2 (3.0), 4 (2.0, best), 6 (2.5), 8 (2.6): two without improvement
    assert summary["stopped_early"] and summary["steps"] == 8
    assert summary["early_stop"] == {"reason": "patience", "step": 8, "patience": 2,
                                     "metric": "score", "best_step": 4}  # fmt: skip
    assert metric.values == [1.0, 1.0]  # no second evaluation at the step it stopped
    assert ganhub.load(summary["run_dir"], best=True, hub=hub).step == 4
    # finished as asked: the summary offers sampling and the report, not a resume
    from ganhub.console import summary_line, summary_rows

    assert "resume=" not in summary_line(summary)
    assert "resume=" not in dict(summary_rows(summary, tensorboard=False))["next"]
    # why it stopped, on the console and on disk (metrics.jsonl, trackers, the report)
    assert summary_line(summary).startswith("ganhub: stopped early by trainer.patience=2 (score")
    run_dir = Path(summary["run_dir"])
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r for r in records if "early_stop" in r] == [
        {
            "step": 8,
            "time": ANY,
            "early_stop": 1.0,
            "early_stop/patience": 2.0,
            "early_stop/best_step": 4.0,
        }
    ]
    from ganhub.metrics.report import write_report

    page = write_report(run_dir).read_text()
    assert "Stopped early at step 8 of 20: score did not improve in trainer.patience=2" in page


def test_patience_needs_a_score_and_evaluations() -> None:
    with pytest.raises(ConfigError, match=r"^trainer.patience=3 .* set trainer.keep_best"):
        resolve([*TINY_TOY, "trainer.patience=3"])
    with pytest.raises(ConfigError, match=r"trainer\.eval_every=0 evaluates only at the end"):
        resolve([*TINY_TOY, "trainer.patience=3", "trainer.keep_best=modes"])


# -- FreezeD ------------------------------------------------------------------------------------


def _pretrained() -> str:
    """A trained dcgan run for the fine-tuning tricks to start from."""
    return str(fit(make_run(resolve([*TINY_DCGAN, "name=pretrained"])))["run_dir"])


def test_freeze_d_freezes_exactly_the_first_layers(workdir: Path) -> None:
    source = _pretrained()
    run = make_run(
        resolve([*TINY_DCGAN, "trainer.steps=3", "tricks=[freeze_d]", f"init_from={source}"])
    )
    (trick,) = [t for t in run.tricks if t.name == "freeze_d"]
    assert trick.frozen == ["D.0", "D.2", "D.3"]  # conv, then conv + its BatchNorm
    state = run.system.D.state_dict()  # weights, and BatchNorm's running statistics
    before = {n: t.detach().clone() for n, t in state.items() if "num_batches" not in n}
    fit(run)
    for name, tensor in before.items():
        frozen = any(f"D.{name}".startswith(m + ".") for m in trick.frozen)
        assert torch.equal(state[name], tensor) == frozen, name


def test_freeze_d_refuses_freezing_every_layer_and_random_weights(workdir: Path) -> None:
    with pytest.raises(ConfigError, match=r"keeps a pretrained discriminator's first layers"):
        resolve([*TINY_DCGAN, "tricks=[freeze_d]"])  # a fresh run: random filters, frozen
    source = _pretrained()
    config = resolve(
        [*TINY_DCGAN, "tricks=[freeze_d]", "trick.freeze_d.layers=4", f"init_from={source}"]
    )
    with pytest.raises(ConfigError, match=r"has 4 parametrised layers, so at most 3"):
        make_run(config)


# -- EWC / L2-SP ------------------------------------------------------------------------------


def test_ewc_is_refused_without_trained_weights() -> None:
    with pytest.raises(ConfigError, match="random without init_from: give init_from=RUN"):
        make_run(resolve([*TINY_DCGAN, "tricks=[ewc]"]))


def test_ewc_fisher_and_penalty_have_their_closed_forms() -> None:
    """G(z) = a * z with loss mean_i sum_j c_j G(z_i)_j: sample i's gradient on a_j is
    z_ij c_j, so F_j = mean_i (z_ij c_j)^2, normalised to mean 1 over j; the penalty is then
    weight * sum_j F_j (a_j - a*_j)^2."""
    from ganhub.engine.system import Phase, PhaseOutput

    cls = get_hub().tricks.get("ewc")
    trick = cls(cls.Config(weight=0.5), resolve(TINY_TOY))
    a = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
    trick.params, trick.anchor, trick.stiffness = [a], None, None
    z = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    c = torch.tensor([1.0, 3.0, 0.0])  # the third weight does not matter to the loss: F = 0
    phase = Phase("G", "G", lambda batch, ctx: None)

    def g_phase() -> PhaseOutput:
        fake = a * z
        return PhaseOutput((fake * c).sum(1).mean(), {}, aux={"fake": fake})

    first = trick.extra_loss(phase, g_phase(), None)
    fisher = (z * c).square().mean(0)
    fisher = fisher / fisher.mean()
    assert torch.allclose(trick.stiffness[0].square(), fisher, atol=1e-6)
    assert first.item() == 0.0  # at the anchor
    with torch.no_grad():
        a.add_(torch.tensor([0.1, -0.2, 5.0]))
    penalty = trick.extra_loss(phase, g_phase(), None)
    expected = 0.5 * (fisher * torch.tensor([0.1, -0.2, 5.0]).square()).sum()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-5)
    assert trick.extra_loss(Phase("D", "D", lambda b, c: None), g_phase(), None) is None


@pytest.mark.parametrize("fisher", [True, False], ids=["ewc", "l2sp"])
def test_ewc_holds_the_generator_near_its_source(workdir: Path, fisher: bool) -> None:
    """From the same source, the same steps: G ends nearer its start with the penalty, and
    the penalty is logged."""
    source = _trained("source")
    start = {k: v for k, v in ganhub.load(source).system.G.state_dict().items()}
    drift = {}
    ewc = ["tricks=[ewc]", "trick.ewc.weight=1.0", f"trick.ewc.fisher={str(fisher).lower()}"]
    for tricks, keys in (("plain", ["tricks=[]"]), ("ewc", ewc)):
        run = make_run(resolve([*TINY_DCGAN, f"init_from={source}", "trainer.steps=8",
                                "optim.G.lr=0.01", *keys, f"name={tricks}"]))  # fmt: skip
        fit(run)
        G = run.system.G.state_dict()
        drift[tricks] = sum(float((G[k].float() - v.float()).square().sum()) for k, v in start.items()
                            if v.is_floating_point() and "running" not in k)  # fmt: skip
        if tricks == "ewc":
            assert "ewc_penalty" in (run.run_dir / "metrics.jsonl").read_text()
    assert drift["ewc"] < 0.5 * drift["plain"], drift


# -- ganhub adapt -------------------------------------------------------------------------------


@pytest.mark.slow
def test_adapt_runs_from_the_command_line_and_its_run_loads(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    source = _trained("digits7", "data.classes=[0,1,2,3,4,5,6]", "tricks=[ema]")
    code, out, err = cli("adapt", str(source), "data.classes=[8]", "tricks=[ema,freeze_d]",
                         "trainer.steps=4", "trainer.eval_every=2", "eval.n_samples=50",
                         "trick.freeze_d.layers=1")  # fmt: skip
    assert code == 0, err
    (adapted,) = sorted((workdir / "runs").glob("digits7-adapt-*"))
    config = yaml.safe_load((adapted / "config.yaml").read_text())
    assert config["init_from"] == str(source.absolute()) and config["data"]["n_shots"] == 10
    assert config["data"]["classes"] == [8] and config["eval"]["real"] == "validation"
    assert config["trainer"]["keep_best"] == "fd_digits" and config["trainer"]["batch_size"] == 8
    # the tiny source trained with eval.metrics=[]: the adapted run scores the domain's defaults
    assert "digit_modes" in config["eval"]["metrics"] and "fid" in config["eval"]["metrics"]
    assert ganhub.load(adapted).step == 4 and ganhub.load(adapted, best=True).step in (2, 4)
    assert "fd_digits" in out and "has no use for" not in err
    # evaluation switched off here: no best to keep (it was refused: keep_best=fd_digits)
    code, _, err = cli("adapt", str(source), "data.classes=[8]", "trainer.steps=2",
                       "eval.metrics=[]", "name=quiet")  # fmt: skip
    assert code == 0, err
    config = yaml.safe_load((workdir / "runs" / "quiet" / "config.yaml").read_text())
    assert config["eval"]["metrics"] == [] and config["trainer"]["keep_best"] is None
    assert "no use for: trainer.keep_best, trainer.patience (see" in err  # said, not silent


def test_adapt_says_which_defaults_a_run_has_no_use_for(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli(
        "run", "plugin=toy2d", "trainer.steps=4", "name=pts", "trainer.progress=false"
    )
    assert code == 0, err
    code, _, err = cli("adapt", "runs/pts", "trainer.steps=2", "trainer.progress=false")
    assert code == 0, err
    assert ("ganhub adapt: defaults this toy2d run has no use for: data.n_shots, eval.real, "
            "trainer.keep_best, trainer.patience") in err  # fmt: skip


def test_adapt_help_lists_the_defaults_it_adds(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("adapt", "--help")
    assert code == 0
    for key in ("init_from", "data.n_shots", "trainer.keep_best", "trainer.patience", "eval.real"):
        assert key in out


def test_adapt_names_an_edited_config_file_but_not_for_its_own_defaults(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edited config.yaml's key was blamed on "the saved config", a name of no file."""
    from ganhub.adapt import adapt_config

    source = _trained("edited")
    saved = source / "config.yaml"
    text = saved.read_text(encoding="utf-8")
    saved.write_text(text.replace("trainer:\n", "trainer:\n  stepz: 5\n", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=f"^config file '{saved}': unknown key 'trainer.stepz'"):
        adapt_config(source, [])
    saved.write_text(text, encoding="utf-8")
    # a value of adapt's own defaults is not the file's (the file has its own trainer.steps)
    monkeypatch.setattr("ganhub.adapt.STEPS", 0)
    with pytest.raises(ConfigError, match=r"^trainer\.steps=0: "):
        adapt_config(source, [])


def test_adapt_refuses_another_plugin(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    source = _trained("source")
    code, _, err = cli("adapt", str(source), "plugin=toy2d")
    assert code == 2 and "plugin= cannot be given to ganhub adapt" in err


# -- the page -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_fewshot_page_runs_as_written(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """docs/fewshot.md: every ganhub line in order (shortened to tiny models and a few steps),
    then its Python."""
    text = (DOCS / "fewshot.md").read_text()
    lines = [line.split("  #")[0] for block in text.split("```bash\n")[1:]
             for line in block.split("```", 1)[0].splitlines() if line.startswith("ganhub ")]  # fmt: skip
    assert [shlex.split(line)[1] for line in lines] == ["run", "adapt", "adapt", "adapt", "run",
                                                        "adapt", "adapt", "meta", "adapt",
                                                        "meta", "meta", "meta", "meta"]  # fmt: skip
    short = {
        "run": ["preset=tiny", "trainer.steps=2", "trainer.batch_size=8", "trainer.progress=false",
                "eval.metrics=[fid]", "eval.n_samples=20"],  # tiny evaluates nothing by default
        "adapt": ["trainer.steps=2", "eval.n_samples=20", "trainer.progress=false"],
        "meta": ["preset=tiny", "trainer.batch_size=8", "meta.outer_steps=2", "meta.inner_steps=1"],
    }  # fmt: skip
    for line in lines:
        args = shlex.split(line)[1:]
        code, _, err = cli(*args, *short[args[0]])
        assert code == 0, f"{line}: {err}"
    namespace: dict[str, Any] = {}
    block = text.split("```python\n")[1].split("```", 1)[0]
    exec(compile(block, "fewshot.md", "exec"), namespace)
    assert tuple(namespace["images"].shape) == (64, 1, 32, 32)


def test_adapt_names_the_shots_a_folder_run_cannot_take(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    (workdir / "imgs").mkdir()
    for i in range(20):
        Image.new("RGB", (32, 32), (12 * i, 0, 0)).save(workdir / "imgs" / f"{i}.png")
    args = ["plugin=dcgan", "preset=tiny", "data.path=imgs", "trainer.steps=1", "name=f"]
    assert cli("run", *args)[0] == 0
    code, _, err = cli("adapt", "runs/f", "trainer.steps=1", "eval.metrics=[]")
    assert code == 0 and "has no use for: data.n_shots" in err, err  # it trained on all 20


def test_adapting_a_conditional_run_keeps_the_best_per_class_distance(workdir: Path) -> None:
    """fid sampled every class against the held-out eights (fd_digits 1553 where the per-class
    distance was 111), so the kept checkpoint and early stopping followed noise."""
    from ganhub.adapt import adapt_config

    source = _trained("cond10", "model.conditional=true")
    config = adapt_config(source, ["data.classes=[8]"])
    assert config.trainer.keep_best == "intra_fd_digits"
    assert config.eval.metrics is not None and "intra_fid" in config.eval.metrics
    plain = adapt_config(_trained("plain10"), ["data.classes=[8]"])  # unconditional: as before
    assert plain.trainer.keep_best == "fd_digits" and "fid" in (plain.eval.metrics or [])
