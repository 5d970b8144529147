"""digit_modes and intra_fid on runs of some of the digits (a class subset, a few-shot or
adapted run).

digit_modes compared every run's samples with all ten digits equally: an adapted run whose
samples were all eights (`data.classes=[8]`) scored `digit_kl` 2.303 (ln 10), the worst there
is, and a run on 0-6 could not score below ln(10/7), so trainer.keep_best read it backwards.
intra_fid of a conditional run adapted to the eights split `eval.n_samples` over all ten
classes while only the eights have held-out images: nine tenths were drawn and thrown away.

The samples here are real digits (the system's `sample` replaced), so the classifier's verdict,
and so the right score, is known.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

import ganhub
from ganhub.adapt import adapt_config
from ganhub.config.resolve import resolve
from ganhub.data.images import digits
from ganhub.engine.system import GANSystem
from ganhub.metrics import evaluate
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")
SEVEN = "data.classes=[0,1,2,3,4,5,6]"


def _system(*keys: str) -> Iterator[GANSystem]:
    run = make_run(resolve([*TINY_DCGAN, *keys]))
    try:
        yield run.system
    finally:
        run.close()


def _draw(system: GANSystem, monkeypatch: pytest.MonkeyPatch, wanted: list[int]) -> list[Tensor]:
    """Make `system.sample` return real images of the `wanted` digits, in turn (each n rows
    hold them equally often); the labels it is asked for are recorded in the list returned."""
    x, y = digits(system.config.model.image_size)
    per = min(int((y == d).sum()) for d in wanted)
    pool = torch.stack([x[y == d][:per] for d in wanted], 1).flatten(0, 1)
    asked: list[Tensor] = []

    def sample(n: int, seed: int = 0, labels: Tensor | None = None, **_: Any) -> Tensor:
        if labels is not None:
            asked.append(labels.cpu())
        return pool[torch.arange(n) % len(pool)]

    monkeypatch.setattr(system, "sample", sample)
    return asked


def _digit_modes(system: GANSystem, n: int = 280) -> dict[str, float]:
    return get_hub().metrics.get("digit_modes").compute(system, n_samples=n, seed=0)


def test_a_run_on_some_digits_declares_them(workdir: Path) -> None:
    for system in _system(SEVEN):
        assert system.capabilities().can("trained_digits")
        shares = system.trained_digits()  # type: ignore[attr-defined]
        assert shares == pytest.approx({d: 1 / 7 for d in range(7)})
    for system in _system("data.proportions=[0.8,0.2]"):  # digit groups 01234 and 56789
        shares = system.trained_digits()  # type: ignore[attr-defined]
        assert shares == pytest.approx({**dict.fromkeys(range(5), 0.16),
                                        **dict.fromkeys(range(5, 10), 0.04)})  # fmt: skip


def test_samples_of_exactly_the_trained_digits_score_best(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for system in _system(SEVEN):
        _draw(system, monkeypatch, list(range(7)))
        values = _digit_modes(system)
    # against all ten digits: ln(10/7) = 0.357 at best, and 7 classes covered
    assert values["digit_classes"] == 7 and values["digit_kl"] < 0.1
    assert values["digit_other"] < 0.05  # the classifier's own errors
    for system in _system("data.classes=[8]", "data.n_shots=10"):  # few-shot
        _draw(system, monkeypatch, [8])
        eights = _digit_modes(system, n=100)
    assert eights["digit_classes"] == 1 and eights["digit_kl"] < 0.1  # was ln 10


def test_samples_of_other_digits_count_against_the_score(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Collapsed onto one trained digit: ln 7; onto a digit it never saw: worse still."""
    scores = {}
    for digit in (0, 8):
        for system in _system(SEVEN):
            _draw(system, monkeypatch, [digit])
            scores[digit] = _digit_modes(system, n=100)
    assert scores[0]["digit_classes"] == 1 and scores[8]["digit_classes"] == 0
    assert scores[0]["digit_kl"] == pytest.approx(math.log(7), abs=0.15)
    assert scores[8]["digit_kl"] > scores[0]["digit_kl"] + 1
    assert scores[8]["digit_other"] > 0.9 and scores[0]["digit_other"] < 0.1
    for system in _system():  # all ten digits: the KL to uniform, as before
        _draw(system, monkeypatch, [0])
        assert _digit_modes(system, n=100)["digit_kl"] == pytest.approx(math.log(10), abs=0.15)
        assert "digit_other" not in _digit_modes(system, n=20)


def test_a_conditional_run_on_some_digits_can_ask_for_digit_modes(workdir: Path) -> None:
    for system in _system("model.conditional=true", "data.classes=[3,5]"):
        caps = system.capabilities()
        assert caps.dataset is None  # its labels are positions, not the classifier's digits
        assert get_hub().metrics.get("digit_modes").supports(caps)


@pytest.fixture(scope="module")
def conditional_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny conditional run on all ten digits, to adapt to the eights."""
    out = tmp_path_factory.mktemp("source")
    summary = ganhub.train([*TINY_DCGAN, "model.conditional=true", "eval.metrics=[]",
                            "name=cond10", f"out_dir={out}"])  # fmt: skip
    return Path(summary["run_dir"])


def _adapted(source: Path) -> Iterator[GANSystem]:
    run = make_run(adapt_config(source, ["data.classes=[8]", "eval.features=[digits]"]))
    try:
        yield run.system
    finally:
        run.close()


def test_a_conditional_run_adapted_to_one_digit_is_scored_on_it(
    workdir: Path, conditional_source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for system in _adapted(conditional_source):
        assert system.trained_digits() == {8: 1.0}  # type: ignore[attr-defined]
        _draw(system, monkeypatch, [8])
        values = _digit_modes(system, n=100)
    assert values["digit_classes"] == 1 and values["digit_kl"] < 0.1  # was ln 10


def test_intra_fid_spreads_its_samples_over_the_classes_it_scores(
    workdir: Path, conditional_source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The held-out images are eights only: every sample is drawn for class 8, and the
    singular-covariance advice counts that one class."""
    for system in _adapted(conditional_source):
        asked = _draw(system, monkeypatch, [8])
        result = evaluate(system, [get_hub().metrics.get("intra_fid")], n_samples=40, seed=0)
    drawn = torch.cat(asked)
    assert len(drawn) == 40 and set(drawn.tolist()) == {8}  # was 4 of each of ten classes
    assert result.values["intra_classes"] == 1 and result.values["n_samples"] == 40
    (warning,) = [line for line in result.warnings if "intra_fd_digits rests on" in line]
    assert "40 generated samples per class" in warning and "(n_samples 129 for 1 class)" in warning


def test_class_accuracy_judges_the_classes_the_run_trains_on(
    workdir: Path, conditional_source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """class_accuracy of a run adapted to the eights drew all ten classes (0.1 for a G making
    eights whatever it was asked): its samples are drawn for class 8 alone."""
    for system in _adapted(conditional_source):
        asked = _draw(system, monkeypatch, [8])
        result = evaluate(system, [get_hub().metrics.get("class_accuracy")], n_samples=30, seed=0)
    drawn = torch.cat(asked)
    assert len(drawn) == 30 and set(drawn.tolist()) == {8}
    assert result.values["class_classes"] == 1 and result.values["class_acc"] > 0.9
    assert [k for k in result.values if k.startswith("class_acc_") and k[-1].isdigit()] == [
        "class_acc_8"
    ]


def test_digits_in_three_channels_are_scored_as_digits_not_triples(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`data=digits data.channels=3` repeats a grey digit in each channel: digit_modes scored
    it as Stacked MNIST (10 of 1,000 modes at best) and class_accuracy compared a triple
    100d + 10d + d with the asked d (0 for a perfect G). Real images score as real digits."""
    from ganhub.metrics.conditional import classify

    for system in _system("data.channels=3", "model.conditional=true"):
        images, labels = digits(system.config.model.image_size)
        pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:200]
        images, labels = images[pick], labels[pick]  # the embedded digits are in class order
        real = images.repeat(1, 3, 1, 1)
        monkeypatch.setattr(system, "sample", lambda n, **_: real[:n])  # noqa: B023
        values = _digit_modes(system, n=200)
        spec = system.capabilities().labels
        assert spec is not None
        predicted, _ = classify(system, real, spec)
    assert "stacked_modes" not in values and values["digit_classes"] == 10, values
    assert (predicted == labels).double().mean() > 0.9
