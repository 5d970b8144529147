"""`ganhub interpret probes` on a one-class run printed "digit accuracy 1.000 (chance 1.000)"
as if it were a finding: a probe of one class is right by construction. Such a factor is now
marked "-" in the table, with the reason, and saved as skipped (null scores) in probes.json."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from ganhub_interpret.probes import probe_scores

from ganhub.data.shapes import FactorInfo

from ..conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")

INFO = {
    "kind": FactorInfo("kind", "categorical", ("a", "b", "c")),
    "size": FactorInfo("size", "continuous"),
}


def test_a_factor_of_one_class_among_the_fitted_codes_is_not_probed() -> None:
    gen = torch.Generator().manual_seed(0)
    n = 200
    size = torch.rand(n, generator=gen)
    x = torch.cat([size[:, None], torch.randn(n, 3, generator=gen)], 1)
    values = {"kind": torch.full((n,), 1), "size": size}  # every sample read as class "b"
    table = probe_scores({"layer": x}, values, INFO)
    assert math.isnan(table.scores["layer"]["kind"]) and table.scores["layer"]["size"] > 0.9
    assert "kind" not in table.chance
    assert table.skipped == {
        "kind": "the 150 codes it would be fitted on are all read as one class (b): a probe "
        "of one class measures nothing"
    }
    lines = table.text().splitlines()
    assert lines[1].split() == ["layer", "4", "-", f"{table.scores['layer']['size']:.3f}"]
    assert "chance" not in table.text() and "size R^2" in lines[2]
    assert lines[-1].startswith("not probed (-): kind: the 150 codes")
    saved = table.as_dict()
    assert saved["layers"][0]["scores"]["kind"] is None and saved["skipped"] == table.skipped


def test_a_factor_named_to_skip_is_not_probed_even_where_it_varies() -> None:
    gen = torch.Generator().manual_seed(1)
    kind = torch.randint(0, 3, (120,), generator=gen)
    x = torch.nn.functional.one_hot(kind, 3).float()
    table = probe_scores({"layer": x}, {"kind": kind}, INFO, skip={"kind": "barely varying"})
    assert table.skipped == {"kind": "barely varying"} and math.isnan(table.scores["layer"]["kind"])


def test_probes_of_a_one_digit_run_mark_the_digit_not_probed(cli: Any, workdir: Path) -> None:
    code, _, err = cli("run", *TINY_DCGAN, "data=digits", "data.classes=[8]", "name=one")
    assert code == 0, err
    run = workdir / "runs" / "one"
    code, out, err = cli("interpret", "probes", str(run), "--samples", "80")
    assert code == 0, err
    assert "chance" not in out and "1.000" not in out
    rows = out.splitlines()
    assert rows[0].split() == ["layer", "features", "digit"]
    assert all(row.split()[-1] == "-" for row in rows[1:-3])  # each layer's digit cell
    assert rows[-2].startswith("not probed (-): digit: barely varying among the real samples")
    assert "under the 0.090 that counts as varying" in rows[-2]
    saved = json.loads((run / "interpret" / "probes.json").read_text())
    assert set(saved["skipped"]) == {"digit"} and saved["chance"] == {}
    assert all(row["scores"]["digit"] is None for row in saved["layers"])
