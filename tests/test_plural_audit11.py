"""Counts agree with their nouns ("1 image", not "1 images" or "image(s)") in the messages that
still wrote "(s)", the options of `ganhub interpret` and the shared `--device` read like every
other option's help, and a run ended by a second Ctrl-C says how to resume it."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest
import torch
from PIL import Image

from ganhub.conditioning import LabelSpec
from ganhub.engine import checkpoint
from ganhub.engine.checkpoint_fit import mismatch
from ganhub.engine.environment import select_device, set_threads
from ganhub.errors import ConfigError, UsageError
from ganhub.metrics.report import environment
from ganhub.metrics.rundata import read_metrics
from ganhub.plural import counted

from .browser import dump_dom
from .conftest import TINY_TOY
from .test_small_lines_audit11 import _ctrl_c_at  # a Ctrl-C after a step and during its save

CLI = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)

pytestmark = pytest.mark.usefixtures("one_thread")


# -- 1. counts of one ------------------------------------------------------------------------


def test_a_patience_over_one_evaluation_says_one_time(cli: CLI) -> None:
    """11 steps evaluated every 10 evaluate once before the last step: "1 time(s)"."""
    code, _, err = cli("config", "plugin=toy2d", "trainer.steps=11", "trainer.eval_every=10",
                       "trainer.patience=2", "trainer.keep_best=reverse_kl")  # fmt: skip
    assert code == 0 and "it evaluates 1 time before its last step (" in err, err


def test_a_checkpoint_lacking_one_tensor_names_one_tensor() -> None:
    said = mismatch({}, {"w": torch.zeros(1)})
    assert said == "the model has 1 tensor the checkpoint lacks (w)", said


def test_a_label_for_one_factor_says_one_factor() -> None:
    with pytest.raises(UsageError, match=r"this run has 1 label factor; write N$"):
        LabelSpec((10,)).parse("1,2")


def test_threads_beyond_one_core_say_one_core() -> None:
    """On a machine (or a taskset) that gives the run one core: "1 CPU core(s)"."""
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no CPU affinity on this platform")
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        with pytest.raises(ConfigError, match=r"gives the run 1 CPU core; use 1 to 1, or auto"):
            set_threads(2)
    finally:
        os.sched_setaffinity(0, before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_device_past_the_visible_ones_counts_them() -> None:
    """On a one-GPU machine `device=cuda:1` said "only 1 CUDA device(s) are visible"."""
    n = torch.cuda.device_count()
    said = counted(n, "CUDA devices")
    with pytest.raises(ConfigError, match=rf"^device=cuda:{n}: only {said} visible$"):
        select_device(f"cuda:{n}")


def test_one_skipped_metrics_line_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 0.5}\n[1, 2]\n')
    notes: list[str] = []
    assert len(read_metrics(tmp_path, notes)) == 1
    assert notes == ["metrics.jsonl: skipped 1 line not a JSON object (line 2)"], notes


def test_one_reference_image_is_one_image(tmp_path: Path) -> None:
    from ganhub_fairness.ratio import MIN_REFERENCE, load_reference

    Image.new("RGB", (16, 16), (200, 40, 40)).save(tmp_path / "000.png")
    key = "trick.reweight.reference"
    said = re.escape(f"{key}={tmp_path}: 1 reference image; ")
    with pytest.raises(UsageError, match=said) as caught:
        load_reference(tmp_path, (3, 16, 16), key)
    assert f"needs at least {MIN_REFERENCE}" in str(caught.value)


def test_the_page_says_one_image_failed_to_load(tmp_path: Path) -> None:
    """The load script every page carries wrote "1 image(s) failed to load."."""
    page = environment().from_string(
        "<body><p id='broken' hidden></p>{% for _ in range(n) %}"
        "<img src='data:image/png;base64,AAAA'>{% endfor %}"
        "{% include 'image_check.html' %}</body>"
    )
    for n, said in [(1, "1 image failed to load."), (2, "2 images failed to load.")]:
        (tmp_path / f"{n}.html").write_text(page.render(n=n))
        dom = dump_dom(tmp_path / f"{n}.html", tmp_path / f"profile{n}")
        assert f'data-images-broken="{n}"' in dom and f">{said}</p>" in dom, dom[-600:]


# -- 2. option help ---------------------------------------------------------------------------


def _options(command: click.Command, path: str) -> Iterator[tuple[str, str, str]]:
    """(command path, option, help) of every option under `command`."""
    ctx = click.Context(command, info_name=path)
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None:
                yield from _options(sub, f"{path} {name}")
    for param in command.params:
        if isinstance(param, click.Option) and param.help:
            yield path, param.opts[0], param.help


@pytest.mark.parametrize("where", ["ganhub interpret", "ganhub sample", "ganhub eval"])
def test_option_help_is_capitalised_and_ends_like_the_others(where: str) -> None:
    """`--device` said "cpu, cuda, cuda:N, mps or auto." and `ganhub interpret`'s options
    "seed of the sampled codes", "the checkpoint kept by trainer.keep_best", "(default: ...)"
    where every other option reads "Sampling seed." and "[default: ...]"."""
    from ganhub.cli import build_cli

    root = build_cli()
    command = root.get_command(click.Context(root), where.split()[1])
    assert command is not None
    helps = list(_options(command, where))
    assert any(option == "--device" for _, option, _ in helps), helps
    odd = [
        (path, option, text)
        for path, option, text in helps
        if not text[0].isupper() or not text.endswith((".", "]")) or "(default:" in text
    ]
    assert not odd, odd


# -- 3. a second Ctrl-C -----------------------------------------------------------------------


def test_a_second_ctrl_c_says_how_to_resume_the_checkpoint_kept(cli: CLI, workdir: Path) -> None:
    """The run kept the checkpoint the first Ctrl-C asked for, and said only "ganhub: aborted"."""
    with _ctrl_c_at(3, during_write=1):
        code, _, err = cli("run", *TINY_TOY, "trainer.steps=20", "name=cut")
    assert code == 130, err
    run = workdir / "runs" / "cut"
    found = checkpoint.load_newest(run / "checkpoints")
    assert found is not None and found[1] == 3
    last = err.strip().splitlines()[-1]
    # the run directory as the run was given it (out_dir=runs, relative to where it started)
    kept = "the run keeps checkpoints/step_0000003: ganhub run resume=runs/cut"
    assert last == f"ganhub: aborted; {kept}", err
    assert json.loads((run / "failed.json").read_text())["error"] == "aborted by a second Ctrl-C"
    # the line's command continues the run
    code, _, err = cli(*last.split(": ")[-1].split()[1:], "trainer.steps=4")
    assert code == 0, err


def test_a_second_ctrl_c_without_a_checkpoint_says_aborted_alone(cli: CLI, workdir: Path) -> None:
    """Two Ctrl-Cs during the write: the run kept nothing (its folder is removed), so no
    resume command is offered."""
    with _ctrl_c_at(3, during_write=2):
        code, _, err = cli("run", *TINY_TOY, "trainer.steps=20", "name=gone")
    assert code == 130 and err.strip().splitlines()[-1] == "ganhub: aborted", err
    assert not (workdir / "runs" / "gone").exists()
    assert not re.search("resume=", err), err
