"""Frechet distance between two sets of feature vectors, computed in sample space when that is cheaper.

    d^2 = |mu1 - mu2|^2 + Tr S1 + Tr S2 - 2 Tr sqrt(S1 S2),   S = covariance (ddof 1)

With centred samples Xc (n1, d) and Yc (n2, d), S1 S2 = Xc^T Xc Yc^T Yc / ((n1-1)(n2-1)); its non-zero
eigenvalues are those of (Xc Yc^T)(Xc Yc^T)^T, i.e. the squared singular values of the n1 x n2 matrix
Xc Yc^T. So

    Tr sqrt(S1 S2) = ||Xc Yc^T||_* / sqrt((n1 - 1)(n2 - 1))      (nuclear norm: sum of singular values)

exactly, with no d x d matrix: O(n1 n2 d) instead of O(d^3). That route is taken when
min(n1, n2) < d (the usual case for a bootstrap over a few hundred images with 1280-2048-d features);
otherwise the covariances are formed and ``tokkit.metrics.fid.frechet_distance`` is called, so the
numbers equal the streaming rFID/gFID path. If only one side has n > d, that side's centred samples
are first replaced by the triangular factor R of their QR decomposition (R^T R = Yc^T Yc), which keeps
memory at O(n d) instead of an n1 x n2 matrix.

Singular values come from an SVD (accurate to rounding of the largest one), not from square roots of
eigenvalues, so near-zero directions contribute no sqrt(eps) noise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tokkit.errors import DataError


def feature_matrix(a: Any, metric: str, what: str) -> np.ndarray:
    """``a`` as a finite float64 (n, d) array with n >= 2, else one DataError naming ``metric``."""
    x = np.asarray(a, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"{metric} needs {what} features as an (n, d) array; got shape {x.shape}")
    if x.shape[0] < 2:
        raise DataError(f"{metric} needs at least 2 {what} feature vectors; got {x.shape[0]}")
    if not np.isfinite(x).all():
        raise DataError(f"{metric} got non-finite {what} features (NaN/inf)")
    return x


def _samples(a: Any, what: str) -> np.ndarray:
    return feature_matrix(a, "Frechet distance", what)


def _factor(zc: np.ndarray) -> np.ndarray:
    """F with F^T F = zc^T zc and at most min(n, d) rows."""
    n, d = zc.shape
    if n <= d:
        return zc
    return np.linalg.qr(zc, mode="r")


def frechet_distance_samples(x: Any, y: Any) -> float:
    """Squared Frechet distance between the Gaussians fitted to samples x (n1, d) and y (n2, d), float64."""
    x, y = _samples(x, "first"), _samples(y, "second")
    (n1, d), n2 = x.shape, y.shape[0]
    if y.shape[1] != d:
        raise DataError(f"Frechet distance needs samples of one dimension; got {d} and {y.shape[1]}")
    mu1, mu2 = x.mean(0), y.mean(0)
    if min(n1, n2) >= d:
        from tokkit.metrics.fid import frechet_distance

        return frechet_distance(mu1, np.cov(x, rowvar=False), mu2, np.cov(y, rowvar=False))
    xc, yc = x - mu1, y - mu2
    from tokkit.threads import one_blas_thread

    # one BLAS thread, as in fid.frechet_distance: bit-reproducible, and no spinning threads on a busy CPU
    with one_blas_thread():
        sv = np.linalg.svd(_factor(xc) @ _factor(yc).T, compute_uv=False)
    tr_covmean = float(sv.sum()) / math.sqrt((n1 - 1) * (n2 - 1))
    diff = mu1 - mu2
    fd = float(diff @ diff + (xc * xc).sum() / (n1 - 1) + (yc * yc).sum() / (n2 - 1) - 2.0 * tr_covmean)
    return max(fd, 0.0)  # >= 0 mathematically; a tiny negative is rounding


__all__ = ["frechet_distance_samples"]
