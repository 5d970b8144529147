"""What the benchmark scripts share for their tables: mean ± s.d. over seeds."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def mean_sd(values: Sequence[float], digits: int = 2) -> str:
    """'mean ± s.d.' of the values (the one value alone; '-' for none)."""
    if not values:
        return "-"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"
