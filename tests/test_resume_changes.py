"""A resume that changes training keys: what changes, what continues. A new learning rate or
beta applies (a scheduled rate keeps its position), and a run extended with an LR schedule or
annealed instance noise continues from the rate or std it had reached instead of jumping back."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit
from ganhub.wiring import make_run

from .conftest import TINY_TOY

SCHEDULED = [*TINY_TOY, "tricks=[lr_schedule]", "trick.lr_schedule.start=0",
             "trick.lr_schedule.final=0.1", "optim.G.lr=1e-3", "trainer.steps=10",
             "trainer.checkpoint_every=2", "trainer.keep_checkpoints=10"]  # fmt: skip


def _lr(run, group: str = "G") -> float:  # type: ignore[no-untyped-def]
    return float(run.optimizers[group].param_groups[0]["lr"])


def _stopped_at(name: str, step: int, keys: list[str] = SCHEDULED) -> None:
    """A run planned for 10 steps whose newest checkpoint is `step` (as if stopped)."""
    fit(make_run(resolve([*keys, f"name={name}"])))
    for later in Path(f"runs/{name}/checkpoints").glob("step_*"):
        if int(later.name.removeprefix("step_")) > step:
            shutil.rmtree(later)


def test_a_changed_learning_rate_or_beta_applies_on_resume(workdir: Path) -> None:
    """The saved param groups were restored whole: config.yaml said lr 0.01, Adam ran 0.001."""
    fit(make_run(resolve([*TINY_TOY, "name=r", "optim.G.lr=1e-3", "optim.D.lr=1e-3"])))
    run = make_run(resolve(["resume=runs/r", "trainer.steps=6", "optim.G.lr=1e-2",
                            "optim.D.betas=[0.0,0.9]"]))  # fmt: skip
    assert (_lr(run, "G"), _lr(run, "D")) == (pytest.approx(1e-2), pytest.approx(1e-3))
    assert run.optimizers["D"].param_groups[0]["betas"] == (0.0, 0.9)
    fit(run)
    plain = make_run(resolve(["resume=runs/r", "trainer.steps=8"]))  # kept from then on
    assert (_lr(plain, "G"), _lr(plain, "D")) == (pytest.approx(1e-2), pytest.approx(1e-3))
    plain.close()


def test_a_scheduled_rate_keeps_its_position_when_its_base_changes(workdir: Path) -> None:
    _stopped_at("h", 4)  # factor after 4 of 10 steps: 0.1 + 0.9 * 0.6 = 0.64
    same = make_run(resolve(["resume=runs/h"]))
    assert _lr(same) == pytest.approx(0.64e-3)  # a plain resume is exact
    same.close()
    doubled = make_run(resolve(["resume=runs/h", "optim.G.lr=2e-3"]))
    assert _lr(doubled) == pytest.approx(1.28e-3) and doubled.tricks[0].factor(10) == 0.1
    doubled.close()


def test_an_extended_schedule_continues_from_the_rate_it_reached(workdir: Path) -> None:
    """Extending a run recomputed the plan from the new length: the rate jumped from its
    decayed value back up (10 % -> 100 % in the report that found it)."""
    fit(make_run(resolve([*SCHEDULED, "name=x"])))
    run = make_run(resolve(["resume=runs/x", "trainer.steps=20"]))
    assert _lr(run) == pytest.approx(1e-4)  # the final 10 % it finished at, kept
    assert [run.tricks[0].factor(s) for s in (10, 15, 20)] == pytest.approx([0.1] * 3)
    run.close()
    _stopped_at("m", 4)  # mid-decay at 0.64; extended to 20: from 0.64 to 0.1 over 4..20
    run = make_run(resolve(["resume=runs/m", "trainer.steps=20"]))
    schedule = run.tricks[0]
    assert _lr(run) == pytest.approx(0.64e-3)
    assert [schedule.factor(s) for s in (4, 12, 20)] == pytest.approx([0.64, 0.37, 0.1])
    fit(run)  # and the plan holds across the next resume
    again = make_run(resolve(["resume=runs/m", "trainer.steps=24"]))
    assert again.tricks[0].factor(20) == pytest.approx(0.1)
    again.close()


def test_extended_instance_noise_decays_on_instead_of_coming_back(workdir: Path) -> None:
    """Annealed over trainer.steps, a finished run's noise (std 0) came back at half its
    starting std when the run was extended to twice its length."""
    noisy = [*TINY_TOY, "tricks=[instance_noise]", "trick.instance_noise.std=0.1",
             "trainer.steps=10", "trainer.checkpoint_every=2", "trainer.keep_checkpoints=10"]  # fmt: skip
    fit(make_run(resolve([*noisy, "name=n"])))
    run = make_run(resolve(["resume=runs/n", "trainer.steps=20"]))
    assert [run.tricks[0].std_at(s) for s in (10, 15, 20)] == [0.0] * 3
    run.close()
    _stopped_at("s", 4, noisy)  # std 0.06 at step 4; extended to 20: 0.06 -> 0 over 4..20
    run = make_run(resolve(["resume=runs/s", "trainer.steps=20"]))
    assert [run.tricks[0].std_at(s) for s in (4, 12, 20)] == pytest.approx([0.06, 0.03, 0.0])
    fit(run)  # the plan holds across the next resume
    again = make_run(resolve(["resume=runs/s", "trainer.steps=20"]))
    assert again.tricks[0].std_at(12) == pytest.approx(0.03)
    again.close()
    fixed = make_run(resolve([*noisy, "trick.instance_noise.anneal_steps=8", "name=f"]))
    fit(fixed)  # a fixed anneal_steps does not depend on the run's length
    longer = make_run(resolve(["resume=runs/f", "trainer.steps=20"]))
    assert longer.tricks[0].std_at(4) == pytest.approx(0.05)
    longer.close()


def test_resuming_a_finished_run_does_not_log_its_evaluation_again(workdir: Path) -> None:
    """Each plain resume of a finished run appended another copy of its final evaluation."""
    import json

    import ganhub

    first = ganhub.train([*TINY_TOY, "name=f"])
    again = [ganhub.train(["resume=runs/f"]) for _ in range(2)]
    rows = [json.loads(line) for line in Path("runs/f/metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if any(k.startswith("eval/") for k in r)]
    assert [r["step"] for r in evals] == [4] and first["metrics"]
    assert all(summary["metrics"] == first["metrics"] for summary in again)


def test_a_relative_data_path_is_saved_absolute(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`data.path=imgs` was saved as typed: resumed from another folder the run could not
    find its data, or trained on that folder's own `imgs/` without a word."""
    import yaml
    from PIL import Image

    import ganhub

    from .conftest import TINY_DCGAN

    (workdir / "project" / "imgs").mkdir(parents=True)
    for i in range(8):
        Image.new("L", (32, 32), i * 30).save(workdir / "project" / "imgs" / f"{i}.png")
    monkeypatch.chdir(workdir / "project")
    ganhub.train([*TINY_DCGAN, "data=folder", "data.path=imgs", "trainer.batch_size=4", "name=r"])
    saved = yaml.safe_load(Path("runs/r/config.yaml").read_text())
    assert saved["data"]["path"] == str(workdir / "project" / "imgs")
    assert saved["out_dir"] == "runs"  # where new runs are made stays as typed
    (workdir / "elsewhere" / "imgs").mkdir(parents=True)  # another folder's imgs/: not read
    monkeypatch.chdir(workdir / "elsewhere")
    summary = ganhub.train([f"resume={workdir / 'project' / 'runs' / 'r'}", "trainer.steps=3"])
    assert summary["steps"] == 3  # trained on the project's images


def test_a_new_batch_size_starts_at_the_sample_the_run_reached(workdir: Path) -> None:
    """The position was a batch count: 4 batches of 32 resumed at batch 64 skipped to sample
    256 (samples 128-255 of the epoch never drawn)."""
    fit(make_run(resolve([*TINY_TOY, "name=b", "trainer.batch_size=32"])))
    run = make_run(resolve(["resume=runs/b", "trainer.steps=6", "trainer.batch_size=64"]))
    assert (run.data.position.epoch, run.data.position.index) == (0, 2)  # 128 samples in
    run.close()
    same = make_run(resolve(["resume=runs/b", "trainer.steps=6", "trainer.batch_size=32"]))
    assert same.data.position.index == 4
    same.close()


@pytest.mark.parametrize("value", ["x", [1], [-1, 0.5], [3, 2.0], {"step": 3}])
def test_a_damaged_anneal_anchor_is_a_value_error(value: object) -> None:
    """A checkpoint's anchor is untrusted JSON: the resume reports it as a damaged state."""
    from ganhub.anneal import saved_anchor

    assert saved_anchor([3, 0.5]) == (3, 0.5) and saved_anchor(None) is None
    with pytest.raises(ValueError, match="anneal anchor"):
        saved_anchor(value)


def test_a_resume_cannot_change_the_task(workdir: Path) -> None:
    """A medgan translator resumed with task=progress trained on as a follow-up predictor
    from the translator's weights, config.yaml then saying task: progress."""
    from ganhub.errors import ConfigError

    keys = ["plugin=medgan", "preset=tiny", "task=translate", "trainer.steps=1", "name=tr",
            "trainer.progress=false", "loggers=[jsonl]", "eval.metrics=[]"]  # fmt: skip
    fit(make_run(resolve(keys)))
    with pytest.raises(ConfigError, match=r"^task=progress: runs/tr trained with task=translate, "
                       r"and a resumed run's task cannot change; .*task=progress init_from=runs/tr "):  # fmt: skip
        resolve(["resume=runs/tr", "task=progress", "trainer.steps=2"])
    assert "task: translate" in Path("runs/tr/config.yaml").read_text()
    resolve(["resume=runs/tr", "task=translate", "trainer.steps=2"])  # the same task: taken


def test_a_validators_refusal_of_a_saved_key_names_the_file(workdir: Path) -> None:
    """A key the saved config.yaml gives, refused by a validator of the config (not a field's
    type), was said without the file it came from."""
    from ganhub.errors import ConfigError

    from .conftest import TINY_DCGAN

    fit(make_run(resolve([*TINY_DCGAN, "data.classes=[0,1]", "trainer.steps=1", "name=dc"])))
    with pytest.raises(ConfigError, match=r"^config file 'runs/dc/config.yaml': data.classes="):
        resolve(["resume=runs/dc", "data.proportions=[0.5,0.5]"])


@pytest.mark.parametrize(
    ("key", "value", "saved"),
    [
        ("condition.discriminator", "input_concat", "projection"),
        ("condition.embed_dim", 16, 64),
        ("seed", 3, 0),  # it draws the data order: the resume would not continue the run
    ],
)
def test_a_resume_keeps_the_seed_and_conditioning_its_weights_were_trained_with(
    workdir: Path, key: str, value: object, saved: object
) -> None:
    """The mechanisms and their width shape G and D: a resume that changed them failed in
    the weights' loading; another seed was taken silently. Refused naming the saved value."""
    from ganhub.errors import ConfigError

    fit(make_run(resolve(["plugin=dcgan", "preset=tiny", "model.conditional=true",
                          "trainer.steps=2", "eval.metrics=[]", "name=c"])))  # fmt: skip
    with pytest.raises(ConfigError, match=f"runs/c trained with {key}={saved}, and a resumed"):
        resolve(["resume=runs/c", f"{key}={value}"])
    resolve(["resume=runs/c", f"{key}={saved}", "trainer.steps=4"])  # the same value: a resume
