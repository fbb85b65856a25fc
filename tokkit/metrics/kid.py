"""Kernel Inception Distance (Binkowski et al. 2018) over feature arrays, with its uncertainty.

KID is the unbiased estimate of the squared MMD between the real and generated feature
distributions under the cubic polynomial kernel  k(x, y) = (x.y / d + 1)^3:

    MMD^2_u = 1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i, y_j) - 2/(mn) sum_{i,j} k(x_i, y_j)

(with m == n this is torch-fidelity's ``kid_features_to_metric`` estimate). It is computed on
``subsets`` random subsets of ``subset_size`` images per side (drawn without replacement, per subset,
from ``numpy.random.default_rng(seed)``); ``mean`` is the average and ``std`` the spread of the
subset estimates (``np.std``, ddof 0, as torch-fidelity reports it): the standard deviation of ONE
subset's estimate, not the standard error of the mean.

When every subset is the whole of both sets (``subset_size == n_real == n_fake``) the subsets are
identical and their spread is 0, which says nothing. The estimate is then computed once and ``std``
is the analytic standard deviation of the MMD^2_u estimator (``std_kind="analytic"``): its exact
finite-sample variance (Sutherland et al. 2017, appendix A) written as a two-sample U-statistic,

    Var = Var(U_X) + Var(U_Y) + 4 Var(U_XY) - 8 c_X / m - 8 c_Y / n,
    Var(U_X) = 2/(m(m-1)) (2(m-2) zeta1_X + zeta2_X),     zeta1_X = Var E[k(x1,x2)|x1], zeta2_X = Var k(x1,x2),
    Var(U_XY) = (Var k(x,y) + (n-1) Var E[k(x,y)|x] + (m-1) Var E[k(x,y)|y]) / (mn),
    c_X = Cov(E[k(x1,x2)|x1], E[k(x1,y)|x1]),              c_Y likewise,

with every population moment replaced by its unbiased estimate over distinct indices (so the
variance estimate is unbiased; a negative value, possible in tiny samples, is clipped to 0).
It needs at least 4 images per side; below that ``std`` is None. With ``subsets == 1`` the
analytic value is reported as well (one subset has no spread).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tokkit.errors import DataError, UsageError


@dataclass(frozen=True)
class KIDResult:
    """KID mean and the standard deviation of one subset's estimate; JSON-able via ``to_dict``.

    std_kind: ``"subsets"`` (spread over random subsets) or ``"analytic"`` (estimated standard
    deviation of the unbiased MMD^2 estimator, used when all subsets would be the same). ``std`` is
    None where it is undefined (analytic with fewer than 4 images per side).
    """

    mean: float
    std: float | None
    std_kind: str
    subset_size: int
    subsets: int
    n_real: int
    n_fake: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _features(a: Any, what: str) -> np.ndarray:
    from tokkit.metrics.frechet import feature_matrix

    return feature_matrix(a, "KID", what)


def _poly_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _mmd2_unbiased(kxx: np.ndarray, kxy: np.ndarray, kyy: np.ndarray) -> float:
    m, n = kxx.shape[0], kyy.shape[0]
    sx = kxx.sum() - np.trace(kxx)
    sy = kyy.sum() - np.trace(kyy)
    return float(sx / (m * (m - 1)) + sy / (n * (n - 1)) - 2.0 * kxy.sum() / (m * n))


def _mmd2_variance(kxx: np.ndarray, kxy: np.ndarray, kyy: np.ndarray) -> float | None:
    """Unbiased estimate of Var[MMD^2_u] (see the module docstring); None below 4 per side."""
    m, n = kxx.shape[0], kyy.shape[0]
    if m < 4 or n < 4:
        return None
    # MMD^2_u and its variance are unchanged by k -> k - c; centring on the cross-kernel mean keeps
    # the differences of large sums below (A3 - A4 etc.) from cancelling.
    c = kxy.mean()
    kxx, kxy, kyy = kxx - c, kxy - c, kyy - c

    def one_sample(k: np.ndarray, p: int) -> tuple[float, np.ndarray, float]:
        dg = np.diagonal(k)
        r = k.sum(1) - dg  # off-diagonal row sums
        s = r.sum()
        q = (k * k).sum() - (dg * dg).sum()  # sum_{i!=j} k_ij^2
        r2 = r @ r
        a2 = q / (p * (p - 1))  # E k(x1,x2)^2
        a3 = (r2 - q) / (p * (p - 1) * (p - 2))  # E k(x1,x2) k(x1,x3)
        a4 = (s * s - 4.0 * r2 + 2.0 * q) / (p * (p - 1) * (p - 2) * (p - 3))  # (E k(x1,x2))^2
        zeta1, zeta2 = a3 - a4, a2 - a4
        var_u = 2.0 / (p * (p - 1)) * (2.0 * (p - 2) * zeta1 + zeta2)
        return var_u, r, s

    var_x, rx, sx = one_sample(kxx, m)
    var_y, ry, sy = one_sample(kyy, n)

    row, col = kxy.sum(1), kxy.sum(0)  # over y for each x, over x for each y
    sxy = row.sum()
    qxy = (kxy * kxy).sum()
    row2, col2 = row @ row, col @ col
    sq_mean = (sxy * sxy - row2 - col2 + qxy) / (m * (m - 1) * n * (n - 1))  # (E k(x,y))^2
    var_k = qxy / (m * n) - sq_mean  # Var k(x,y)
    var_ex = (row2 - qxy) / (m * n * (n - 1)) - sq_mean  # Var_x E[k(x,y)|x]
    var_ey = (col2 - qxy) / (n * m * (m - 1)) - sq_mean  # Var_y E[k(x,y)|y]
    var_xy = (var_k + (n - 1) * var_ex + (m - 1) * var_ey) / (m * n)

    rxr = rx @ row
    c_x = rxr / (m * (m - 1) * n) - (sx * sxy - 2.0 * rxr) / (m * (m - 1) * (m - 2) * n)
    ryc = ry @ col
    c_y = ryc / (n * (n - 1) * m) - (sy * sxy - 2.0 * ryc) / (n * (n - 1) * (n - 2) * m)

    var = var_x + var_y + 4.0 * var_xy - 8.0 * c_x / m - 8.0 * c_y / n
    return max(float(var), 0.0)


def mmd2_and_std(x: Any, y: Any) -> tuple[float, float | None]:
    """Unbiased MMD^2 (cubic polynomial kernel) of two whole feature sets and its analytic std."""
    x, y = _features(x, "real"), _features(y, "fake")
    if x.shape[1] != y.shape[1]:
        raise DataError(f"KID needs real and fake features of one dimension; got {x.shape[1]} and {y.shape[1]}")
    kxx, kxy, kyy = _poly_kernel(x, x), _poly_kernel(x, y), _poly_kernel(y, y)
    var = _mmd2_variance(kxx, kxy, kyy)
    return _mmd2_unbiased(kxx, kxy, kyy), (None if var is None else math.sqrt(var))


def kid_result(real: Any, fake: Any, subset_size: int = 1000, subsets: int = 100, seed: int = 0) -> KIDResult:
    """KID of ``fake`` against ``real`` features ((n, d) arrays), with ``std`` and what it means.

    ``subset_size`` is clipped to min(n_real, n_fake). See the module docstring for the estimate,
    the subset draws and the two kinds of ``std``.
    """
    x, y = _features(real, "real"), _features(fake, "fake")
    if x.shape[1] != y.shape[1]:
        raise DataError(f"KID needs real and fake features of one dimension; got {x.shape[1]} and {y.shape[1]}")
    if isinstance(subsets, bool) or int(subsets) != subsets or subsets < 1:
        raise UsageError(f"KID subsets must be a positive integer; got {subsets!r}")
    if isinstance(subset_size, bool) or int(subset_size) != subset_size or subset_size < 2:
        raise UsageError(f"KID subset_size must be an integer >= 2; got {subset_size!r}")
    n_real, n_fake = x.shape[0], y.shape[0]
    m = min(int(subset_size), n_real, n_fake)
    subsets = int(subsets)
    full_x, full_y = m == n_real, m == n_fake

    if full_x and full_y:  # every subset is the whole of both sets: one estimate, analytic std
        mean, std = mmd2_and_std(x, y)
        return KIDResult(mean, std, "analytic", m, subsets, n_real, n_fake)

    rng = np.random.default_rng(seed)
    kxx_full = _poly_kernel(x, x) if full_x else None
    kyy_full = _poly_kernel(y, y) if full_y else None
    values = np.empty(subsets)
    var1: float | None = None
    for s in range(subsets):
        xs = x if full_x else x[rng.choice(n_real, m, replace=False)]
        ys = y if full_y else y[rng.choice(n_fake, m, replace=False)]
        kxx = kxx_full if kxx_full is not None else _poly_kernel(xs, xs)
        kyy = kyy_full if kyy_full is not None else _poly_kernel(ys, ys)
        kxy = _poly_kernel(xs, ys)
        values[s] = _mmd2_unbiased(kxx, kxy, kyy)
        if subsets == 1:
            var1 = _mmd2_variance(kxx, kxy, kyy)
    if subsets == 1:
        return KIDResult(float(values[0]), None if var1 is None else math.sqrt(var1), "analytic", m, 1, n_real, n_fake)
    return KIDResult(float(values.mean()), float(values.std()), "subsets", m, subsets, n_real, n_fake)


def kid(real: Any, fake: Any, subset_size: int = 1000, subsets: int = 100, seed: int = 0) -> tuple[float, float | None]:
    """(mean, std) of KID; see ``kid_result`` for the full record."""
    r = kid_result(real, fake, subset_size=subset_size, subsets=subsets, seed=seed)
    return r.mean, r.std


__all__ = ["KIDResult", "kid", "kid_result", "mmd2_and_std"]
