"""User mistakes with the feature metrics: refused in one line before anything is scored."""

from __future__ import annotations

import pytest

from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError
from ganhub.metrics import check_metrics
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN


def test_no_feature_network_is_refused_not_scored_as_nothing() -> None:
    """eval.features=[] with fid: `ganhub eval` wrote an eval.json holding n_samples only, with
    exit code 0 and no word on why fid was missing."""
    run = make_run(resolve([*TINY_DCGAN, "eval.features=[]"]))
    hub = get_hub().metrics
    with pytest.raises(ConfigError, match=r"^eval.features=\[\] names no feature network") as err:
        check_metrics(run.system, [hub.get("digit_modes"), hub.get("fid"), hub.get("kid")])
    said = str(err.value)
    assert "fid, kid need one" in said and "eval.features=[digits]" in said and "\n" not in said
    check_metrics(run.system, [hub.get("digit_modes")])  # a metric without features is scored


@pytest.mark.parametrize(
    ("item", "said"),
    [("eval.features=[digits,digits]", "feature listed twice: digits"),
     ("eval.metrics=[fid,kid,fid]", "metric listed twice: fid")],
)  # fmt: skip
def test_a_metric_or_feature_network_listed_twice_is_refused(item: str, said: str) -> None:
    """Each was scored twice, and the table's header named the network twice."""
    with pytest.raises(ConfigError) as err:
        resolve(["plugin=toy2d", item])
    assert str(err.value) == f"{item}: {said}"
