"""Sample-space Frechet distance against the covariance form, an exact eigenvalue reference and scipy's sqrtm."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from tokkit.errors import DataError
from tokkit.metrics.fid import frechet_distance
from tokkit.metrics.frechet import frechet_distance_samples


def _data(rng, n1, n2, d):
    x = rng.standard_normal((n1, d)) @ rng.standard_normal((d, d)) / np.sqrt(d)
    y = 1.2 * rng.standard_normal((n2, d)) + 0.1
    return x, y


def _cov_fd(x, y):
    return frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))


def _exact_fd(x, y):
    """The symmetric eigh form keeping only the rank-many non-zero eigenvalues of S1^1/2 S2 S1^1/2.

    The others are 0 in exact arithmetic; ``frechet_distance`` takes square roots of their
    rounding-level values, which adds ~(d - n) sqrt(eps) to Tr sqrt (2e-8 relative here).
    """
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    w, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    ev = np.sort(np.linalg.eigvalsh(r1 @ s2 @ r1))[::-1][: min(len(x), len(y), x.shape[1]) - 1]
    mu = x.mean(0) - y.mean(0)
    return float(mu @ mu + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(ev, 0, None)).sum())


@pytest.mark.parametrize("n1, n2, d", [(50, 50, 200), (30, 70, 200), (40, 300, 200), (128, 128, 1280)])
def test_fewer_samples_than_dimensions(n1, n2, d):
    x, y = _data(np.random.default_rng(n1 + n2), n1, n2, d)
    fd = frechet_distance_samples(x, y)
    assert fd == pytest.approx(_exact_fd(x, y), rel=1e-12)
    assert fd == pytest.approx(_cov_fd(x, y), rel=1e-7)  # the covariance form's sqrt(eps) floor, see _exact_fd
    assert frechet_distance_samples(y, x) == pytest.approx(fd, rel=1e-12)


@pytest.mark.parametrize("n1, n2, d", [(300, 400, 50), (64, 64, 64)])
def test_more_samples_than_dimensions_is_the_covariance_route(n1, n2, d):
    x, y = _data(np.random.default_rng(d), n1, n2, d)
    assert frechet_distance_samples(x, y) == _cov_fd(x, y)


def test_scipy_sqrtm_reference():
    rng = np.random.default_rng(0)
    for n1, n2, d in [(40, 60, 6), (6, 8, 10)]:
        x, y = rng.standard_normal((n1, d)), rng.standard_normal((n2, d)) * 1.3 + 0.5
        s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
        covmean = np.real(scipy.linalg.sqrtm(s1 @ s2))
        mu = x.mean(0) - y.mean(0)
        ref = float(mu @ mu + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
        # sqrtm of the singular S1 S2 (n < d) is itself only good to ~1e-8
        assert frechet_distance_samples(x, y) == pytest.approx(ref, rel=1e-10 if min(n1, n2) > d else 1e-6)


def test_identical_sets_and_bad_inputs():
    x = np.random.default_rng(1).standard_normal((20, 50))
    assert frechet_distance_samples(x, x) == pytest.approx(0.0, abs=1e-9)
    for a, b in [(x, x[:, :10]), (x[:1], x), (x[0], x), (np.where(x > 2, np.nan, x), x)]:
        with pytest.raises(DataError) as e:
            frechet_distance_samples(a, b)
        assert "\n" not in str(e.value)
