"""The third few-shot audit: FreezeD in a meta run that starts from a trained run, a typed
trainer.grad_accum with the batch ganhub adapt sizes for the shots, and data.n_shots given to
ganhub meta (each task's shots, as in the few-shot literature)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from ganhub.adapt import adapt_config
from ganhub.errors import ConfigError

from .test_adapt_audit import _trained, _weights

pytestmark = pytest.mark.usefixtures("one_thread")

META = ["plugin=dcgan", "preset=tiny", "meta.classes=[0,1,2]", "meta.outer_steps=2",
        "meta.inner_steps=1", "trainer.progress=false"]  # fmt: skip


# -- 1. freeze_d with init_from in ganhub meta -------------------------------------------------


def test_meta_from_a_trained_run_freezes_d_first_layers(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """The tasks' configs cleared init_from, so freeze_d refused the meta run with 'give
    init_from=RUN' although it was given."""
    source = _trained("src")
    code, _, err = cli("meta", *META, f"init_from={source}", "tricks=[freeze_d]", "name=m")
    assert code == 0, err
    before, after = _weights(source), _weights(workdir / "runs" / "m")
    for key in ("D.0.weight", "D.2.weight", "D.3.running_mean"):  # frozen: RUN's, unmoved
        assert torch.equal(before[key], after[key]), key
    assert not torch.equal(before["D.5.weight"], after["D.5.weight"])  # the rest meta-trains
    assert not torch.equal(before["G.0.weight"], after["G.0.weight"])


def test_meta_refuses_ewc_whose_anchor_a_task_would_take_from_meta_weights(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    source = _trained("src")
    code, _, err = cli("meta", *META, f"init_from={source}", "tricks=[ewc]", "name=m")
    assert code == 2 and "trick 'ewc'" in err and "ganhub adapt RUN tricks=[ewc]" in err, err
    assert "give init_from" not in err and not (workdir / "runs" / "m").exists()


# -- 2. a typed grad_accum with adapt's batch ---------------------------------------------------


def test_adapt_sizes_the_batch_before_a_typed_grad_accum_divides_it(workdir: Path) -> None:
    """A source run of batch 16 and trainer.grad_accum=3 was refused before adapt sized the
    batch for the 10 shots ('trainer.grad_accum=3 must divide trainer.batch_size=16')."""
    source = _trained("b16", "trainer.batch_size=16")
    config = adapt_config(source, ["data.classes=[8]", "trainer.grad_accum=3"])
    assert config.trainer.grad_accum == 3 and config.trainer.batch_size == 9  # of 10 shots
    assert (
        adapt_config(source, ["data.classes=[8]", "trainer.grad_accum=5"]).trainer.batch_size == 10
    )
    with pytest.raises(ConfigError, match=r"trainer\.grad_accum=16 .*trainer\.batch_size.* 10"):
        adapt_config(source, ["data.classes=[8]", "trainer.grad_accum=16"])  # 10 shots < 16
    typed = adapt_config(source, ["data.classes=[8]", "trainer.grad_accum=2",
                                  "trainer.batch_size=4"])  # fmt: skip
    assert typed.trainer.batch_size == 4  # the user's, which nothing replaces


# -- 3. data.n_shots in ganhub meta: each task's shots ------------------------------------------


def test_meta_n_shots_are_each_tasks_shots(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """data.n_shots=5 picked 5 images of all the meta classes together for the meta run, and
    refused the default batch with 'the dataset has only 5 samples'."""
    from ganhub_meta.cli import parse_options
    from ganhub_meta.reptile import meta_config, task_config

    from ganhub.plugins import get_hub
    from ganhub.wiring import make_run

    options, items = parse_options([*META, "data.n_shots=5", "trainer.batch_size=5"])
    assert options.n_shots == 5 and not any("n_shots" in i for i in items)
    config = meta_config(items, options, get_hub())
    assert config.data.n_shots is None  # type: ignore[attr-defined]  # the meta run: all images
    task = task_config(config, (1,), workdir, get_hub(), options)
    run = make_run(task)
    try:
        assert len(run.system.data()) == 5  # one task: 5 images of its class
        labels = run.system.data().gather_labels(torch.arange(5))
        assert labels is None or set(labels.tolist()) == {1}
    finally:
        run.close()
    code, _, err = cli("meta", *META, "data.n_shots=5", "trainer.batch_size=5", "name=m")
    assert code == 0, err
    record = json.loads((workdir / "runs" / "m" / "meta.json").read_text())
    assert record["options"]["n_shots"] == 5


def test_meta_refuses_a_batch_one_tasks_shots_cannot_fill(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("meta", *META, "data.n_shots=5", "name=m")  # tiny's batch: 16
    assert code == 2 and "trainer.batch_size=16" in err and "data.n_shots=5" in err, err
    assert not (workdir / "runs" / "m").exists()
    code, _, err = cli("meta", *META, "data.n_shots=5", "meta.n_shots=4", "name=m")
    assert code == 2 and "data.n_shots and meta.n_shots" in err, err
    code, _, err = cli("meta", *META, "data.n_shots=0", "name=m")
    assert code == 2 and "data.n_shots=0" in err, err  # the key as typed


# -- 4. shots a class cannot give, refused before the banner ------------------------------------


def test_meta_refuses_shots_above_a_class_count_before_the_banner(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """meta.n_shots=550 on digits of 500 images each was refused when the first task was
    built, after the banner and the run directory."""
    code, out, err = cli("meta", *META, "meta.n_shots=550", "name=m")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert re.search(r"meta\.n_shots=550: .*\(digit [012]: 500\); give meta\.n_shots=500 or", err)
    assert "meta-training" not in out + err and not (workdir / "runs" / "m").exists()
    code, _, err = cli("meta", *META, "meta.classes_per_task=2", "meta.n_shots=1001", "name=m")
    assert code == 2 and "only 1000 images" in err and not (workdir / "runs").exists(), err


def test_a_run_refuses_shots_above_its_digits_naming_each_count(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("run", "plugin=dcgan", "preset=tiny", "data.classes=[8,3]",
                       "data.n_shots=1200", "name=r")  # fmt: skip
    assert code == 2 and "digit 8: 500, digit 3: 500" in err, err
    assert "data.n_shots=1000 or fewer" in err and not (workdir / "runs").exists()


# -- 5. ganhub adapt of a meta run: the tasks' shots by default ---------------------------------


def test_adapt_of_a_meta_run_defaults_to_its_tasks_shots(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """An adapted meta run trained on 10 images whatever shots its meta tasks had."""
    code, _, err = cli("meta", *META, "meta.n_shots=6", "trainer.batch_size=4", "name=m")
    assert code == 0, err
    notes: list[str] = []
    config = adapt_config(workdir / "runs" / "m", ["data.classes=[8]"], notes=notes)
    assert config.data.n_shots == 6  # type: ignore[attr-defined]
    assert any(n.startswith("data.n_shots=6: ") and "meta.n_shots" in n for n in notes), notes
    notes.clear()
    typed = adapt_config(
        workdir / "runs" / "m", ["data.classes=[8]", "data.n_shots=3"], notes=notes
    )
    assert typed.data.n_shots == 3 and not any("meta.n_shots" in n for n in notes)  # type: ignore[attr-defined]
    plain = adapt_config(_trained("src"), ["data.classes=[8]"])  # no meta run: 10
    assert plain.data.n_shots == 10  # type: ignore[attr-defined]
