"""eval.n_real refused in ganhub's words, and the counts shown beside scores kept from an
earlier eval.json are theirs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError

from .conftest import TINY_DCGAN, TINY_TOY

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("value", ["0", "1", "-3"])
def test_too_few_real_samples_are_refused_saying_what_is_valid(value: str) -> None:
    """eval.n_real=0 said pydantic's "Input should be greater than 1": what, not why."""
    with pytest.raises(ConfigError) as refused:
        resolve([*TINY_TOY, f"eval.n_real={value}"])
    assert str(refused.value) == (
        f"eval.n_real={value}: a covariance (fid, kid) needs 2 real samples or more: give 2 or more"
    )
    assert resolve([*TINY_TOY, "eval.n_real=2"]).eval.n_real == 2


def test_scores_kept_from_an_earlier_eval_rest_on_the_real_samples_shown(
    cli: Any, workdir: Path
) -> None:
    """fid on 40 real images, then precision_recall on 20: the kept fd_digits was shown with
    n_real 20 (the table has one n_real for all). A kept score now needs the same counts; one
    scored with others is replaced with a note naming them."""
    assert cli("run", *TINY_DCGAN, "name=d")[0] == 0
    run = ["eval", "runs/d", "--n", "20"]
    assert cli(*run, "eval.metrics=[fid]", "eval.n_real=40")[0] == 0
    code, out, err = cli(*run, "eval.metrics=[precision_recall]", "eval.n_real=20")
    assert code == 0, err
    assert "earlier scores of fid (step 2) were replaced (n_real 40 then, 20 now)" in out
    saved = json.loads((workdir / "runs/d/eval.json").read_text())
    assert "fd_digits" not in saved["results"] and saved["metrics"] == ["precision_recall"]
    assert saved["results"]["n_real"]["values"] == [20.0]
    # the same count: kept, as before
    code, out, err = cli(*run, "eval.metrics=[fid]", "eval.n_real=20")
    assert code == 0 and "note: kept from the earlier eval.json of step 2" in out, err
    saved = json.loads((workdir / "runs/d/eval.json").read_text())
    assert {"fd_digits", "precision_digits"} <= set(saved["results"])
    assert saved["results"]["n_real"]["values"] == [20.0]
