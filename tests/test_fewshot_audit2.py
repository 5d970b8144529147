"""The second few-shot audit: what `ganhub adapt` does when the adapted run holds nothing out
(every image a shot, or data.n_shots=null on an adapted run), when evaluation is switched off
on an adapted run, and where the adapted run of `ganhub adapt .` lands."""

from __future__ import annotations

from pathlib import Path

import pytest

import ganhub
from ganhub.adapt import adapt_config

from .conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")

SHORT = ["trainer.steps=2", "eval.n_samples=20", "trainer.progress=false"]


def _trained(name: str) -> Path:
    """A tiny dcgan run of 2 steps on the digits 0-6; its directory."""
    summary = ganhub.train([*TINY_DCGAN, f"name={name}", "data.classes=[0,1,2,3,4,5,6]"])
    return Path(summary["run_dir"])


def _adapted(cli, source: Path, name: str, *extra: str) -> Path:  # type: ignore[no-untyped-def]
    code, _, err = cli("adapt", str(source), "data.classes=[8]", *SHORT, f"name={name}", *extra)
    assert code == 0, err
    return source.parent / name


@pytest.mark.parametrize("shots", ["500", "499"])  # the eights hold 500 images
def test_adapt_scores_on_the_shots_when_they_leave_too_few_held_out(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
    shots: str,
) -> None:
    """adapt set eval.real=validation, and the run refused it at its first evaluation with
    'holds no real samples out of training (few-shot data does: data.n_shots=N)'."""
    source = _trained("digits7")
    notes: list[str] = []
    config = adapt_config(source, ["data.classes=[8]", f"data.n_shots={shots}"], notes=notes)
    assert config.eval.real == "train"
    held = 500 - int(shots)
    assert [n for n in notes if f"holds {held} image(s) out of training" in n], notes
    _adapted(cli, source, "all8", f"data.n_shots={shots}")
    typed = adapt_config(source, ["data.classes=[8]", "data.n_shots=500", "eval.real=validation"])
    assert typed.eval.real == "validation"  # a key typed with adapt always wins


def test_adapting_an_adapted_run_on_all_its_images_or_unscored(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """An adapted run keeps eval.real=validation, trainer.keep_best and trainer.patience in
    its config.yaml: adapting it with data.n_shots=null (every eight) refused validation,
    and with eval.metrics=[] (which adapt's help says switches evaluation off) refused
    trainer.keep_best=fd_digits, 'this run evaluates no metric that applies to it'."""
    once = _adapted(cli, _trained("digits7"), "eights")
    assert ganhub.load(once).config.trainer.keep_best == "fd_digits"
    config = adapt_config(once, ["data.n_shots=null"])
    assert config.eval.real == "train"
    _adapted(cli, once, "all-eights", "data.n_shots=null")
    config = adapt_config(once, ["data.classes=[9]", "eval.metrics=[]"])
    assert config.trainer.keep_best is None and config.trainer.patience is None
    assert config.eval.real == "validation"  # the nines' held-out images, as before
    _adapted(cli, once, "nines-unscored", "data.classes=[9]", "eval.metrics=[]")
    kept = adapt_config(once, ["eval.metrics=[]", "trainer.keep_best=fd_digits"])
    assert kept.trainer.keep_best == "fd_digits"  # typed: theirs (the run refuses it)


def test_adapt_dot_puts_the_adapted_run_next_to_the_run(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`ganhub adapt .` inside runs/digits7 wrote runs/digits7/digits7-adapt-<time>: a run
    inside the run it adapted."""
    source = (workdir / _trained("digits7")).resolve()
    monkeypatch.chdir(source)
    config = adapt_config(Path("."), ["data.classes=[8]"])
    assert (source / config.out_dir).resolve() == source.parent
    assert Path(config.out_dir) == Path("..")  # relative, as typed
    code, _, err = cli("adapt", ".", "data.classes=[8]", *SHORT, "name=dot")
    assert code == 0, err
    assert (workdir / "runs" / "dot" / "config.yaml").is_file()
    assert not (source / "dot").exists()
    named = adapt_config(Path("../digits7"), ["data.classes=[8]"])
    assert Path(named.out_dir) == Path("..")  # a path that names the run: its parent


def test_validation_with_every_image_a_shot_names_n_shots_as_the_fix(workdir: Path) -> None:
    """`ganhub run ... data.n_shots=500 eval.real=validation` (every eight a shot) was refused
    as holding "no real samples out of training (few-shot data does: data.n_shots=N)", the
    key already given: it counts what is held out and says a smaller n_shots holds more."""
    from ganhub.errors import ConfigError

    keys = [*TINY_DCGAN, "data.classes=[8]", "data.n_shots=500", "eval.real=validation",
            "eval.metrics=[fid]", "eval.features=[digits]", "eval.n_samples=20"]  # fmt: skip
    with pytest.raises(
        ConfigError,
        match=r"holds 0 real samples out of training, too few "
        r"\(a smaller data.n_shots holds more out\); use eval.real=train",
    ):
        ganhub.train(keys)
