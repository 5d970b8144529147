"""Multi-task runs as a user meets them: a head trick on a domain that builds no heads, and a
rotation task weighted so that nothing trains its head."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit
from ganhub.errors import ConfigError
from ganhub.tricks.heads import RotationHead
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN

QUIET = ["trainer.steps=1", "eval.metrics=[]", "trainer.sample_every=0", "loggers=[]"]


def test_a_domain_without_heads_is_named_in_one_line(tmp_path: Path) -> None:
    # cyclegan's images pass the trick's modality check; its discriminators carry no heads
    config = resolve(["plugin=cyclegan", "preset=tiny", "tricks=[rotation_head]", *QUIET,
                      f"out_dir={tmp_path}"])  # fmt: skip
    with pytest.raises(ConfigError) as e:
        make_run(config)
    text = str(e.value)
    assert "this 'cyclegan' run built 0" in text and "dcgan and stylegan" in text
    assert "\n" not in text


def test_weight_d_zero_warns_that_nothing_trains_the_head(tmp_path: Path) -> None:
    args = [*TINY_DCGAN, "tricks=[rotation_head]", *QUIET, f"out_dir={tmp_path}"]
    untrained = resolve([*args, "trick.rotation_head.weight_d=0"])
    (line,) = RotationHead(untrained.trick.rotation_head, untrained).warnings()
    assert "trick.rotation_head.weight_d=0" in line and "weight_g=0.2" in line
    # what the line says holds: a run with weight_d=0 leaves the head's weights as drawn
    run = make_run(untrained)
    head = run.system.D.heads["rotation"]
    drawn = [p.detach().clone() for p in head.parameters()]
    fit(run)
    assert all(p.equal(q) for p, q in zip(head.parameters(), drawn))
    # a D-only rotation task (weight_g=0, SSGAN's "SS on D") is no mistake
    d_only = resolve([*args, "trick.rotation_head.weight_g=0"])
    assert RotationHead(d_only.trick.rotation_head, d_only).warnings() == []
