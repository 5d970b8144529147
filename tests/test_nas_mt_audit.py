"""Architecture search audit: a one-shot study takes a search file that lists the supernet's
values in another order (or an int range with its default step); the tune guide's third-party
`arch_space` snippet runs as written; `arch_cost` logs the compute it prices."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import ganhub

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize(
    "param",
    [
        [512, 256, 128, 64],  # toy2d's model.g_hidden choices, in another order
        {"type": "categorical", "choices": [128, 64, 512, 256]},
    ],
)
def test_oneshot_takes_the_supernets_choices_in_any_order(tmp_path: Path, param: Any) -> None:
    """Refused before: 'searches [512, 256, 128, 64], and toy2d's supernet spans [64, 128, 256,
    512]', the same values."""
    pytest.importorskip("optuna")
    from ganhub_tune.cli import parse_options
    from ganhub_tune.study import prepare

    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"params": {"model.g_hidden": param}}))
    args = ["plugin=toy2d", f"out={tmp_path / 'studies'}", "sampler=oneshot", "space=arch"]
    study = prepare(parse_options([*args, f"search={space}"]))
    (hidden,) = [p for p in study.space.params if p.key == "model.g_hidden"]
    assert sorted(hidden.choices) == [64, 128, 256, 512]


def test_oneshot_takes_an_int_range_with_its_default_step_and_refuses_another(
    tmp_path: Path,
) -> None:
    """`step: 1` is the default step of an int range: 2..5 step 1 are the supernet's depths."""
    pytest.importorskip("optuna")
    from ganhub_tune.cli import parse_options
    from ganhub_tune.study import prepare

    from ganhub.errors import ConfigError

    args = ["plugin=toy2d", f"out={tmp_path / 'studies'}", "sampler=oneshot", "space=arch"]
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"params": {"model.g_layers": {
        "type": "int", "low": 2, "high": 5, "step": 1}}}))  # fmt: skip
    prepare(parse_options([*args, f"search={space}"]))
    space.write_text(yaml.safe_dump({"params": {"model.g_layers": {
        "type": "int", "low": 2, "high": 5, "step": 2}}}))  # fmt: skip
    with pytest.raises(ConfigError, match=r"searches 2\.\.5 step 2, and toy2d's supernet spans"):
        prepare(parse_options([*args, f"search={space}"]))


def test_the_tune_guides_arch_space_snippet_runs_as_written() -> None:
    """It lacked its imports (ClassVar, Any, Domain): NameError when run as written."""
    pytest.importorskip("optuna")
    from ganhub_tune.defaults import default_space

    (block,) = re.findall(r"```python\n(.*?)```", (DOCS / "tune.md").read_text(), re.S)
    scope: dict[str, Any] = {}
    exec(compile(block, "tune.md", "exec"), scope)
    space = default_space("mine", "arch", scope["MyDomain"].arch_space)
    assert [p.key for p in space.params] == ["model.depth", "model.norm"]


def test_arch_cost_logs_each_sides_expected_compute(tmp_path: Path) -> None:
    """arch/cost_G and arch/cost_D are each supernet's expected relative compute, before the
    trick's weight: at the first step (uniform choices) what the networks compute."""
    from ganhub_toy2d.config import ARCH_SPACE
    from ganhub_toy2d.networks import SuperMLP

    summary = ganhub.train(["plugin=toy2d", "model.supernet=true", "tricks=[arch_cost]",
                            "trick.arch_cost.weight=0.5", "trainer.steps=1",
                            "trainer.log_every=1", "trainer.eval_every=0", "loggers=[jsonl]",
                            "trainer.progress=false", "trainer.batch_size=32",
                            "data.n_samples=1000", "eval.n_samples=100", "eval.n_real=1000",
                            f"out_dir={tmp_path}"])  # fmt: skip
    lines = (Path(summary["run_dir"]) / "metrics.jsonl").read_text().splitlines()
    (row,) = [r for r in map(json.loads, lines) if "loss/D" in r]
    for side, n_in, n_out in (("G", 2, 2), ("D", 2, 1)):
        uniform = float(SuperMLP(n_in, n_out, side.lower(), ARCH_SPACE).expected_cost().detach())
        assert 0 < uniform < 1
        assert row[f"arch/cost_{side}"] == pytest.approx(uniform, rel=1e-6)


def _dcgan_arch(extra_blocks: int) -> dict[str, dict[Any, float]]:
    """A dcgan supernet's preference: `extra_blocks` first, residual skips second."""
    from ganhub_dcgan.config import ARCH_SPACE

    arch: dict[str, dict[Any, float]] = {}
    for key, spec in ARCH_SPACE.items():
        values = spec.get("choices") or list(range(spec["low"], spec["high"] + 1))
        arch[key] = {v: 1 / len(values) for v in values}
    arch["model.extra_blocks"] = {extra_blocks: 0.7, 1 - extra_blocks: 0.3}
    arch["model.residual"] = {True: 0.8, False: 0.2}
    return arch


@pytest.mark.parametrize("extra_blocks", [0, 1])
def test_the_preference_leaves_out_a_key_its_values_leave_unused(extra_blocks: int) -> None:
    """With model.extra_blocks=0 preferred, model.residual (searched when extra_blocks is 1)
    was printed and queued with trial 1 although no trial of that architecture sets it."""
    pytest.importorskip("optuna")
    from ganhub_dcgan.config import ARCH_SPACE
    from ganhub_tune import oneshot
    from ganhub_tune.defaults import default_space

    params = default_space("dcgan", "arch", ARCH_SPACE).params
    arch = _dcgan_arch(extra_blocks)
    queued = oneshot.preferred_params(arch, params)
    printed = oneshot.describe(arch, params)
    assert queued["model.extra_blocks"] == extra_blocks
    assert ("model.residual" in queued) == bool(extra_blocks)
    assert ("model.residual=True (0.80" in printed) == bool(extra_blocks)
    assert len(queued) == len(printed.splitlines()) - 1


def test_a_resumed_study_does_not_queue_the_preferred_architecture_twice() -> None:
    """A trial that ran the preferred architecture (extra_blocks=0) stored no model.residual
    (the default trial 0 leaves unused keys out, a trial a signal stopped is queued again with
    the params it stored), so the preference, which listed it, matched no trial and was queued
    once more: the same network trained twice."""
    optuna = pytest.importorskip("optuna")
    from ganhub_dcgan.config import ARCH_SPACE
    from ganhub_tune.defaults import default_space
    from ganhub_tune.runner import _queue_preferred
    from ganhub_tune.space import encode
    from ganhub_tune.trial import suggest

    params = default_space("dcgan", "arch", ARCH_SPACE).params
    arch = _dcgan_arch(0)
    ostudy = optuna.create_study()
    ran = {key: encode(max(probs, key=probs.__getitem__)) for key, probs in arch.items()}
    del ran["model.residual"]
    ostudy.enqueue_trial(ran, user_attrs={"default": True})  # as trial 0 is
    trial = ostudy.ask()  # runs it as the study's objective does: only the active keys
    chosen: dict[str, Any] = {}
    for p in params:
        if p.is_active(chosen):
            chosen[p.key] = suggest(trial, p)
    ostudy.tell(trial, 1.0)
    assert "model.residual" not in trial.params and chosen["model.extra_blocks"] == 0
    assert not _queue_preferred(ostudy, arch, params)  # the study resumed: not again
    assert len(ostudy.trials) == 1


def test_arch_lr_is_the_rate_of_the_choices_under_whichever_optimizer_is_set(workdir: Path) -> None:
    """Its help said "Adam learning rate"; the logits take the side's own optimizer."""
    from ganhub.config.resolve import resolve
    from ganhub.nas import ArchChoice
    from ganhub.wiring import make_run

    keys = ["model.supernet=true", "optim.G.name=sgd", "model.arch_lr=0.03"]
    config = resolve(["plugin=toy2d", *keys, "trainer.progress=false", "data.n_samples=1000"])
    help_text = type(config.model).model_fields["arch_lr"].description or ""
    assert "Adam" not in help_text and "optim.G" in help_text
    run = make_run(config)
    try:
        optimizer = run.optimizers["G"]
        logits = {id(m.logits) for m in run.system.G.modules() if isinstance(m, ArchChoice)}
        (group,) = [g for g in optimizer.param_groups if {id(p) for p in g["params"]} == logits]
        assert type(optimizer).__name__ == "SGD" and group["lr"] == 0.03
    finally:
        run.close()
