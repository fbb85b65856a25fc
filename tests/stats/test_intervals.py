"""Intervals against scipy.stats; the paired bootstrap against the t interval and its pairing."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from tokkit.errors import DataError, UsageError
from tokkit.metrics.frechet import frechet_distance_samples
from tokkit.stats import PairedResult, mean_ci, paired_bootstrap, paired_diff_ci


@pytest.mark.parametrize("n, level", [(2, 0.95), (5, 0.95), (30, 0.9), (200, 0.99)])
def test_mean_ci_is_scipy_t_interval(n, level):
    v = np.random.default_rng(n).normal(3.0, 2.0, n)
    ref = scipy.stats.t.interval(level, n - 1, loc=v.mean(), scale=scipy.stats.sem(v))
    assert mean_ci(v, level) == pytest.approx(ref, rel=1e-12)


def test_mean_ci_edge_cases():
    assert mean_ci([4.2]) == (None, None)
    assert mean_ci([1.5, 1.5, 1.5]) == (1.5, 1.5)
    with pytest.raises(DataError):
        mean_ci([1.0, float("nan")])
    with pytest.raises(DataError):
        mean_ci([])
    with pytest.raises(UsageError):
        mean_ci([1.0, 2.0], level=95)


def test_paired_diff_ci_is_scipy_ttest_rel_interval():
    rng = np.random.default_rng(0)
    a = rng.normal(30, 1, 8)
    b = a - rng.normal(0.4, 0.3, 8)
    r = paired_diff_ci(a, b)
    ref = scipy.stats.ttest_rel(a, b).confidence_interval(0.95)
    assert (r.lo, r.hi) == pytest.approx((ref.low, ref.high), rel=1e-12)
    assert r.diff == pytest.approx(np.mean(a - b), rel=1e-14)
    assert r.sd_diff == pytest.approx(np.std(a - b, ddof=1), rel=1e-14)
    assert (r.n, r.level, r.method) == (8, 0.95, "t")


def test_paired_diff_ci_identical_and_single():
    a = np.array([0.1, 0.7, 0.3])
    assert paired_diff_ci(a, a) == PairedResult(0.0, 0.0, 0.0, 0.0, 3)
    r = paired_diff_ci([2.0], [1.5])
    assert (r.diff, r.lo, r.hi, r.sd_diff, r.n) == (0.5, None, None, None, 1)
    with pytest.raises(DataError):
        paired_diff_ci([1.0, 2.0], [1.0, 2.0, 3.0])


def test_bootstrap_of_a_mean_matches_the_t_interval():
    rng = np.random.default_rng(1)
    a = rng.normal(0.0, 1.0, 400)
    b = a - rng.normal(0.2, 1.0, 400)
    r = paired_bootstrap(lambda i: a[i].mean(), lambda i: b[i].mean(), 400, n_boot=2000, seed=3)
    t = paired_diff_ci(a, b)
    assert r.diff == pytest.approx(t.diff, rel=1e-12)
    assert r.sd_diff == pytest.approx(t.sd_diff, rel=0.1)  # per-unit equivalent of the bootstrap SE
    half = (t.hi - t.lo) / 2
    assert r.lo == pytest.approx(t.lo, abs=0.15 * half)
    assert r.hi == pytest.approx(t.hi, abs=0.15 * half)
    assert r.method == "bootstrap-percentile"
    assert paired_bootstrap(lambda i: a[i].mean(), lambda i: b[i].mean(), 400, n_boot=2000, seed=3) == r
    basic = paired_bootstrap(lambda i: a[i].mean(), lambda i: b[i].mean(), 400, n_boot=2000, seed=3, interval="basic")
    assert (basic.lo, basic.hi) == pytest.approx((2 * r.diff - r.hi, 2 * r.diff - r.lo), rel=1e-12)


def test_bootstrap_passes_the_same_indices_to_both_sides():
    seen_a, seen_b = [], []
    paired_bootstrap(lambda i: seen_a.append(i.copy()) or 0.0, lambda i: seen_b.append(i.copy()) or 0.0, 10, 5, seed=2)
    assert len(seen_a) == 6 and all(np.array_equal(p, q) for p, q in zip(seen_a, seen_b, strict=True))
    assert np.array_equal(seen_a[0], np.arange(10))  # the full-data difference first
    assert any(len(np.unique(i)) < 10 for i in seen_a[1:])  # with replacement


def test_paired_rfid_bootstrap_identical_is_exactly_zero():
    rng = np.random.default_rng(4)
    real = rng.standard_normal((64, 300))
    recon_a = real + 0.3 * rng.standard_normal(real.shape)
    recon_b = recon_a.copy()
    r = paired_bootstrap(
        lambda i: frechet_distance_samples(recon_a[i], real[i]),
        lambda i: frechet_distance_samples(recon_b[i], real[i]),
        len(real),
        n_boot=50,
    )
    assert (r.diff, r.lo, r.hi, r.sd_diff) == (0.0, 0.0, 0.0, 0.0)
    recon_c = real + 0.6 * rng.standard_normal(real.shape)  # clearly worse
    r = paired_bootstrap(
        lambda i: frechet_distance_samples(recon_a[i], real[i]),
        lambda i: frechet_distance_samples(recon_c[i], real[i]),
        len(real),
        n_boot=50,
    )
    assert r.hi < 0


def test_bootstrap_bad_arguments():
    with pytest.raises(UsageError):
        paired_bootstrap(lambda i: 0.0, lambda i: 0.0, 1)
    with pytest.raises(UsageError):
        paired_bootstrap(lambda i: 0.0, lambda i: 0.0, 5, interval="bca")
    with pytest.raises(DataError):
        paired_bootstrap(lambda i: float("nan"), lambda i: 0.0, 5)
