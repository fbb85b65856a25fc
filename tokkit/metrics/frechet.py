"""Frechet distances: from means and covariances, and from two sets of vectors in sample space.

    d^2 = |mu1 - mu2|^2 + Tr S1 + Tr S2 - 2 Tr sqrt(S1 S2),   S = covariance (ddof 1)

``frechet_distance`` (moments) computes the root as Tr sqrt(S1^1/2 S2 S1^1/2) with two symmetric
eigendecompositions in float64: the matrix under the root is symmetric positive semi-definite by
construction, so its eigenvalues are real (tiny negative rounding is clipped to 0) and no imaginary
parts appear, even for singular covariances (fewer images than dimensions). It equals the usual
Tr sqrtm(S1 S2) because S1 S2 and S1^1/2 S2 S1^1/2 are similar matrices.

``frechet_distance_samples`` (vectors): with centred samples Xc (n1, d) and Yc (n2, d),
S1 S2 = Xc^T Xc Yc^T Yc / ((n1-1)(n2-1)); its non-zero eigenvalues are those of (Xc Yc^T)(Xc Yc^T)^T,
the squared singular values of the n1 x n2 matrix Xc Yc^T. So

    Tr sqrt(S1 S2) = ||Xc Yc^T||_* / sqrt((n1 - 1)(n2 - 1))      (nuclear norm: sum of singular values)

exactly, with no d x d matrix: O(n1 n2 d) instead of O(d^3). That route is taken when min(n1, n2) < d
(a bootstrap over a few hundred images with 1280-2048-d features; a probe's few samples); otherwise
the covariances are formed and ``frechet_distance`` is called, so the numbers equal the streaming
rFID/gFID path. If only one side has n > d, that side's centred samples are first replaced by the
triangular factor R of their QR decomposition (R^T R = Yc^T Yc), which keeps memory at O(n d).
Singular values come from an SVD (accurate to rounding of the largest one), not from square roots of
eigenvalues, so near-zero directions contribute no sqrt(eps) noise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tokkit.errors import DataError


def _sym_sqrt_psd(a: np.ndarray) -> np.ndarray:
    """Square root of a symmetric PSD matrix via eigh; negative rounding eigenvalues clipped to 0."""
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """Squared Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), float64.

    mu: (D,), sigma: (D, D) covariance. Stable for singular covariances; ~1 s at D=2048 on a CPU.
    """
    mu1, s1, mu2, s2 = checked_moments(mu1, sigma1, mu2, sigma2)
    return frechet_distance_rooted(mu1, s1, None, mu2, s2)[0]


def checked_moments(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> tuple[np.ndarray, ...]:
    """float64 means and symmetrised covariances of one D, finite; else a DataError."""
    mu1, mu2 = np.asarray(mu1, np.float64).reshape(-1), np.asarray(mu2, np.float64).reshape(-1)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    d = mu1.shape[0]
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise DataError(
            f"Frechet distance needs means (D,) and covariances (D, D) of one D; got {mu1.shape}, {s1.shape}, "
            f"{mu2.shape}, {s2.shape}"
        )
    if not (np.isfinite(mu1).all() and np.isfinite(mu2).all() and np.isfinite(s1).all() and np.isfinite(s2).all()):
        raise DataError("Frechet distance got non-finite statistics (NaN/inf features)")
    # symmetrise: accumulated covariances carry rounding asymmetry
    return mu1, (s1 + s1.T) / 2, mu2, (s2 + s2.T) / 2


def frechet_distance_rooted(mu1: np.ndarray, s1: np.ndarray, r1: np.ndarray | None, mu2: np.ndarray,
                       s2: np.ndarray) -> tuple[float, np.ndarray]:  # fmt: skip
    """The distance from symmetric covariances and S1^1/2 (computed when ``r1`` is None); returns
    (distance, S1^1/2) so that a caller comparing many sets with one reference roots it once."""
    # One BLAS thread: LAPACK's symmetric eigensolver gains little from threads, and OpenBLAS
    # threads that spin on a busy CPU made it 10-40x slower in our benchmark (benchmarks/eval.md).
    # A fixed thread count also makes the result bit-reproducible.
    from tokkit.threads import one_blas_thread

    with one_blas_thread():
        if r1 is None:
            r1 = _sym_sqrt_psd(s1)
        m = r1 @ s2 @ r1
        ev = np.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = float(np.sqrt(np.clip(ev, 0.0, None)).sum())
    diff = mu1 - mu2
    fd = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)
    return max(fd, 0.0), r1  # >= 0 mathematically; a tiny negative is rounding


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
        return frechet_distance(mu1, np.cov(x, rowvar=False), mu2, np.cov(y, rowvar=False))
    xc, yc = x - mu1, y - mu2
    from tokkit.threads import one_blas_thread

    # one BLAS thread, as in frechet_distance: bit-reproducible, and no spinning threads on a busy CPU
    with one_blas_thread():
        sv = np.linalg.svd(_factor(xc) @ _factor(yc).T, compute_uv=False)
    tr_covmean = float(sv.sum()) / math.sqrt((n1 - 1) * (n2 - 1))
    diff = mu1 - mu2
    fd = float(diff @ diff + (xc * xc).sum() / (n1 - 1) + (yc * yc).sum() / (n2 - 1) - 2.0 * tr_covmean)
    return max(fd, 0.0)  # >= 0 mathematically; a tiny negative is rounding


__all__ = ["feature_matrix", "frechet_distance", "frechet_distance_samples"]
