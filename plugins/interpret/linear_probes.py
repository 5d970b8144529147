"""The probes' linear models in torch, fitted for many targets at once: a factor's values and
shuffles of them share one fit, so a permutation baseline costs little more than the probe.

Both models are those of scikit-learn's `RidgeCV` and `LogisticRegression` (same objective,
same penalty grid), batched over a leading "problem" axis: the rows `x` are shared, each
problem has its own targets.

* `ridge_loo`: ridge regression with an unpenalised intercept, its penalty chosen per problem
  among `ALPHAS` by the exact leave-one-out error (one SVD of the training rows serves every
  penalty and problem: Golub, Heath & Wahba 1979).
* `logistic`: multinomial logistic regression, penalty 1/2 ||W||^2 against the summed
  cross-entropy (C = 1), unpenalised intercepts, full-batch L-BFGS on all problems together
  (their objectives add up, so the joint minimum is each one's minimum). A problem whose
  training rows lack a class never predicts it (as a model fitted on those rows would not).
"""

from __future__ import annotations

import torch
from torch import Tensor

ALPHAS = tuple(10.0**k for k in range(-3, 4))  # RidgeCV's grid: 1e-3 .. 1e3


def ridge_loo(x_train: Tensor, y_train: Tensor, x_test: Tensor) -> Tensor:
    """Held-out predictions (S, n_test, t) of ridge fits of `y_train` (S, n_train, t) on
    `x_train` (n_train, p), whose columns have mean 0 (standardised on these rows); each of
    the S problems takes the penalty of `ALPHAS` with the least leave-one-out squared error,
    summed over its t columns (the first such penalty, as RidgeCV)."""
    x_train, y_train, x_test = x_train.double(), y_train.double(), x_test.double()
    n = len(x_train)
    u, s, vh = _svd(x_train)
    alphas = torch.tensor(ALPHAS, dtype=torch.float64)
    shrink = s.square() / (s.square() + alphas[:, None])  # (A, r): the hat matrix's spectrum
    offset = y_train.mean(1, keepdim=True)  # (S, 1, t): the unpenalised intercept
    centred = y_train - offset
    uty = torch.einsum("nr,snt->srt", u, centred)  # (S, r, t)
    fitted = torch.einsum("nr,ar,srt->asnt", u, shrink, uty)  # (A, S, n, t)
    leverage = 1.0 / n + u.square() @ shrink.T  # (n, A): the hat matrix's diagonal
    residual = (centred - fitted) / (1 - leverage.T)[:, None, :, None].clamp_min(1e-12)
    best = residual.square().sum((2, 3)).argmin(0)  # (S,): first minimum, as RidgeCV
    gain = s / (s.square() + alphas[best][:, None])  # (S, r)
    coef = torch.einsum("rp,sr,srt->spt", vh, gain, uty)  # (S, p, t)
    return torch.einsum("np,spt->snt", x_test, coef) + offset


def _svd(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The thin SVD (u (n, r), s (r,), vh (r, p)) of `x`'s nonzero singular values, from the
    eigendecomposition of the smaller of x'x and xx' (a third of `torch.linalg.svd`'s time
    for 1,500 x 512): directions of singular value 0 add nothing to a ridge fit."""
    wide = x.shape[0] < x.shape[1]
    gram = x @ x.T if wide else x.T @ x
    values, vectors = torch.linalg.eigh(gram)
    keep = values > values.max().clamp_min(0) * 1e-12
    s = values[keep].sqrt()
    vectors = vectors[:, keep]
    if wide:  # vectors are u
        return vectors, s, (vectors.T @ x) / s[:, None]
    return (x @ vectors) / s, s, vectors.T


def logistic(
    x_train: Tensor, labels: Tensor, x_test: Tensor, classes: int, max_iter: int = 500
) -> Tensor:
    """Held-out predicted classes (S, n_test) of multinomial logistic regressions of `labels`
    (S, n_train; in 0..classes-1) on `x_train` (n_train, p); see the module docstring."""
    x_train, x_test = x_train.double(), x_test.double()
    problems, n = labels.shape
    p = x_train.shape[1]
    present = torch.zeros(problems, classes, dtype=torch.bool)
    present.scatter_(1, labels, True)
    # the problems' coefficients side by side: one (n, p) @ (p, S * K) product per evaluation
    weight = torch.zeros(p, problems * classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(problems, classes, dtype=torch.float64, requires_grad=True)
    target = labels.T.reshape(-1)  # (n * S,), row-major over (n, S)
    optimizer = torch.optim.LBFGS(
        [weight, bias], max_iter=max_iter, tolerance_grad=1e-5, tolerance_change=1e-12,
        history_size=20, line_search_fn="strong_wolfe",
    )  # fmt: skip

    def logits(x: Tensor) -> Tensor:
        z = (x @ weight).view(len(x), problems, classes) + bias
        return z.masked_fill(~present, float("-inf"))

    def objective() -> Tensor:
        optimizer.zero_grad()
        z = logits(x_train).reshape(-1, classes)
        # sklearn's objective divided by n: mean cross-entropy + ||W||^2 / (2 n), per problem
        loss = torch.nn.functional.cross_entropy(z, target, reduction="sum") / n
        loss = loss + weight.square().sum() / (2 * n)
        loss.backward()
        return loss

    optimizer.step(objective)
    with torch.no_grad():
        return logits(x_test).argmax(2).T  # (S, n_test)


__all__ = ["ALPHAS", "logistic", "ridge_loo"]
