"""A conditional dcgan run on some of the digits conditions on exactly those digits, and a
resume or `ganhub adapt` keeps the classes its weights learned.

`model.conditional=true data.classes=[3,5]` kept all ten digits as its classes: its sample grid
had eight rows of classes it never saw and class accuracy was at most 0.2, without a note."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from PIL import Image

import ganhub
from ganhub.config.resolve import resolve
from ganhub.data.images import digits
from ganhub.errors import ConfigError
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

from ..conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")
SUBSET = [*TINY_DCGAN, "model.conditional=true", "data.classes=[5,3]"]


def _trained(name: str, *extra: str) -> Path:
    """A tiny dcgan run of 1 step that evaluates nothing; its directory."""
    summary = ganhub.train([*TINY_DCGAN, f"name={name}", "trainer.steps=1", *extra])
    return Path(summary["run_dir"])


def test_a_conditional_run_on_some_digits_conditions_on_those_digits(workdir: Path) -> None:
    config = resolve(SUBSET)
    assert config.condition.classes == ["3", "5"]  # type: ignore[attr-defined]
    run = make_run(config)
    try:
        system = run.system
        caps = system.capabilities()
        assert caps.labels is not None and caps.labels.class_names() == ("3", "5")
        images, labels = system.real_labelled(400)
        assert set(labels.tolist()) == {0, 1}  # positions in condition.classes
        x, y = digits(32)
        for position, digit in enumerate((3, 5)):  # label 0 is a three, 1 a five
            some = images[labels == position][:4, None]
            assert bool((some == x[y == digit][None]).flatten(2).all(2).any(1).all())
        # not the digit classifier's classes: class_accuracy trains one on these digits
        assert caps.dataset is None
        assert system.default_metrics() == ["fid", "class_accuracy", "intra_fid"]
        (path,) = system.write_samples(workdir, "grid")
        assert Image.open(path).height < 3 * 34  # two rows of classes, not ten
    finally:
        run.close()
    saved = yaml.safe_load((run.run_dir / "config.yaml").read_text())
    assert saved["condition"]["classes"] == ["3", "5"]  # a reloaded run has them


def test_class_accuracy_scores_exactly_the_trained_digits(workdir: Path) -> None:
    run = make_run(resolve([*SUBSET, "eval.metrics=[class_accuracy]"]))
    try:
        values = get_hub().metrics.get("class_accuracy").compute(run.system, n_samples=20, seed=0)
    finally:
        run.close()
    per_class = sorted(k for k in values if k.startswith("class_acc_") and k != "class_acc_min")
    assert per_class == ["class_acc_3", "class_acc_5"], values


def test_few_shots_leave_class_accuracy_out_of_the_defaults(workdir: Path) -> None:
    """Its classifier would train on the shots alone (ten are refused when it is asked for)."""
    run = make_run(resolve([*SUBSET, "data.n_shots=10", "trainer.batch_size=5"]))
    try:
        assert run.system.default_metrics() == ["fid", "intra_fid"]
        held_out = run.system.validation_labels()
        assert held_out is not None and set(held_out.tolist()) == {0, 1}
    finally:
        run.close()


def test_one_digit_is_refused_naming_the_key(workdir: Path) -> None:
    with pytest.raises(ConfigError, match=r"^model.conditional=true with data.classes=\[8\]: a "
                       "conditional run needs two or more classes"):  # fmt: skip
        resolve([*TINY_DCGAN, "model.conditional=true", "data.classes=[8]"])


def test_a_resume_keeps_the_classes_and_refuses_a_digit_outside_them(workdir: Path) -> None:
    run_dir = _trained("sub", "model.conditional=true", "data.classes=[3,5]")
    kept = resolve([f"resume={run_dir}", "data.classes=[3]", "trainer.steps=2"])
    assert kept.condition.classes == ["3", "5"]  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match=r"^data.classes=\[3,8\] holds digit 8, which is not one "
                       r"of the classes this run conditions on \(condition.classes=\[3,5\]\)"):  # fmt: skip
        resolve([f"resume={run_dir}", "data.classes=[3,8]", "trainer.steps=2"])


def test_runs_on_all_digits_and_their_adaptations_keep_ten_classes(workdir: Path) -> None:
    """`ganhub adapt` of a conditional run to data.classes=[8] learns the class its labels
    already have; a run saved before condition.classes was derived keeps its ten as well."""
    from ganhub.adapt import adapt_config

    source = _trained("all", "model.conditional=true")
    adapted = adapt_config(source, ["data.classes=[8]"])
    assert adapted.condition.classes is None  # type: ignore[attr-defined]
    domain = get_hub().domains.get("dcgan")
    request = domain.conditioning(adapted)
    assert request is not None and request.labels.sizes == (10,)
    older = _trained("older", "model.conditional=true", "data.classes=[3,5]")
    saved = yaml.safe_load((older / "config.yaml").read_text())
    saved["condition"]["classes"] = None  # as written before this release
    (older / "config.yaml").write_text(yaml.safe_dump(saved))
    request = domain.conditioning(resolve([f"resume={older}", "trainer.steps=2"]))
    assert request is not None and request.labels.sizes == (10,)
