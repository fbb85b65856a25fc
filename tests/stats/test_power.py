"""seeds_needed against the exact power of the paired t-test (noncentral t) and a simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from tokkit.errors import UsageError
from tokkit.stats import seeds_needed


def _exact_power(n, ratio, level=0.95):
    """Power of the two-sided paired t-test with n pairs when |delta| / sd_diff = 1 / ratio."""
    c = scipy.stats.t.ppf((1 + level) / 2, n - 1)
    nc = math.sqrt(n) / ratio
    return scipy.stats.nct.sf(c, n - 1, nc) + scipy.stats.nct.cdf(-c, n - 1, nc)


@pytest.mark.parametrize("ratio", [0.5, 1.0, 1.5, 2.0, 3.0, 10.0])
def test_least_n_with_the_power(ratio):
    n = seeds_needed(ratio, 1.0)
    assert _exact_power(n, ratio) >= 0.8
    assert _exact_power(n - 1, ratio) < 0.8 + 0.01  # t-quantile approximation: at most one too many
    z = (scipy.stats.norm.ppf(0.975) + scipy.stats.norm.ppf(0.8)) ** 2 * ratio**2
    assert n >= math.ceil(z)
    assert seeds_needed(ratio, -1.0) == n  # the sign of the difference does not matter


def test_simulated_paired_t_test_rejects_80_percent():
    sd, delta = 2.0, 1.0
    n = seeds_needed(sd, delta)
    rng = np.random.default_rng(0)
    d = rng.normal(delta, sd, (2000, n))
    t = d.mean(1) / (d.std(1, ddof=1) / math.sqrt(n))
    rejected = np.abs(t) > scipy.stats.t.ppf(0.975, n - 1)
    assert rejected.mean() == pytest.approx(0.8, abs=0.05)


def test_edge_cases():
    assert seeds_needed(1.0, 0.0) is None
    assert seeds_needed(1.0, float("inf")) is None
    assert seeds_needed(1.0, None) is None
    assert seeds_needed(None, 1.0) is None
    assert seeds_needed(float("nan"), 1.0) is None
    assert seeds_needed(1.0, 1e-300) is None  # overflows: no finite n
    assert seeds_needed(0.0, 0.5) == 2
    assert seeds_needed(1e-6, 1.0) == 2
    assert seeds_needed(1.0, 1.0, level=0.99) > seeds_needed(1.0, 1.0)
    assert seeds_needed(1.0, 1.0, power=0.9) > seeds_needed(1.0, 1.0)
    with pytest.raises(UsageError):
        seeds_needed(1.0, 1.0, power=0.3)
    with pytest.raises(UsageError):
        seeds_needed(1.0, 1.0, level=1.0)
