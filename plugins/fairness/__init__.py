"""fairness: train fairer generators on biased data (Choi et al. 2020, "Fair generative
modeling via weak supervision").

Two tricks correct a training set that over-represents some value of a sensitive attribute,
given a small unbiased reference set (the data's own, `GANSystem.reference_samples()`, or
`trick.NAME.reference=PATH`): `reweight` weights D's real samples by the density ratio
p_ref / p_data a small classifier learns, `resample` re-draws real batches by it. The
`fairness` metric that measures the result is built in (`ganhub.metrics.fairness`, with
rejection sampling of a trained generator's outputs toward a target, `rejection_sample`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ganhub.hookspecs import Register, hookimpl

if TYPE_CHECKING:
    from ganhub.engine.run import Run


@hookimpl
def register_tricks(register: Register) -> None:
    """Add `reweight` and `resample` (classes: ganhub instantiates them per run)."""
    from ganhub_fairness.tricks import Resample, Reweight

    register("reweight", Reweight)
    register("resample", Resample)


@hookimpl
def before_train(run: Run) -> None:
    """Train the density-ratio classifiers of this run's fairness tricks before step one,
    inside the run's console session (their progress shows); a resumed run loaded them from
    its checkpoint and trains nothing."""
    from ganhub_fairness.tricks import DensityRatioTrick

    for trick in run.tricks:
        if isinstance(trick, DensityRatioTrick):
            trick.prepare()
