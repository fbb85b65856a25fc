"""KID against torch-fidelity (the mean), and its analytic std against the Monte-Carlo spread."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity.metric_kid import kid_features_to_metric

from tokkit.errors import DataError, UsageError
from tokkit.metrics.kid import kid, kid_result, mmd2_and_std


def _tf_kid(x, y, subset_size, subsets=2, seed=0):
    kw = {"kid_subsets": subsets, "kid_subset_size": subset_size, "rng_seed": seed, "verbose": False}
    out = kid_features_to_metric(torch.from_numpy(x), torch.from_numpy(y), **kw)  # float64: computed in float64
    return out["kernel_inception_distance_mean"], out["kernel_inception_distance_std"]


@pytest.mark.parametrize("n, d", [(40, 12), (64, 2048)])
def test_whole_set_mean_equals_torch_fidelity(n, d):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, d))
    y = 1.1 * rng.standard_normal((n, d)) + 0.2
    r = kid_result(x, y, subset_size=1000, subsets=100)  # clipped to n: every subset is the whole set
    tf_mean, tf_std = _tf_kid(x, y, subset_size=n)
    assert r.mean == pytest.approx(tf_mean, rel=1e-6)
    assert tf_std < 1e-12 * abs(tf_mean)  # torch-fidelity's spread over identical subsets says nothing
    assert (r.std_kind, r.subset_size, r.n_real, r.n_fake) == ("analytic", n, n, n)
    assert r.std > 0
    assert kid(x, y) == (r.mean, r.std)
    assert set(r.to_dict()) == {"mean", "std", "std_kind", "subset_size", "subsets", "n_real", "n_fake"}


def _mc(rng, m, n, d, scale, shift, draws):
    vals, var = [], []
    for _ in range(draws):
        x = rng.standard_normal((m, d))
        y = scale * rng.standard_normal((n, d)) + shift
        v, s = mmd2_and_std(x, y)
        vals.append(v)
        var.append(s**2)
    return np.array(vals), np.array(var)


@pytest.mark.parametrize("m, n", [(64, 64), (40, 72)])
def test_analytic_std_matches_monte_carlo_spread(m, n):
    vals, var = _mc(np.random.default_rng(1), m, n, 16, 1.3, 0.3, 300)
    empirical = vals.std(ddof=1)
    assert np.sqrt(var.mean()) == pytest.approx(empirical, rel=0.2)
    assert np.median(np.sqrt(var)) == pytest.approx(empirical, rel=0.25)


def test_same_distribution_is_unbiased_and_its_std_matches():
    vals, var = _mc(np.random.default_rng(2), 64, 64, 16, 1.0, 0.0, 300)
    se = vals.std(ddof=1) / np.sqrt(len(vals))
    assert abs(vals.mean()) < 4 * se
    assert 0.25 < (vals < 0).mean() < 0.75  # unbiased: negative about as often as positive
    assert np.sqrt(var.mean()) == pytest.approx(vals.std(ddof=1), rel=0.2)


def test_subsets_when_the_larger_set_varies():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((150, 8)), 1.2 * rng.standard_normal((60, 8)) + 0.1
    r = kid_result(x, y, subset_size=1000, subsets=60, seed=7)
    assert (r.std_kind, r.subset_size, r.subsets) == ("subsets", 60, 60)
    assert r == kid_result(x, y, subset_size=1000, subsets=60, seed=7)  # seeded, deterministic
    assert r.mean != kid_result(x, y, subset_size=1000, subsets=60, seed=8).mean
    tf_mean, tf_std = _tf_kid(x, y, subset_size=60, subsets=60, seed=7)  # its own subsets: same distribution
    assert r.std == pytest.approx(tf_std, rel=0.5)
    assert abs(r.mean - tf_mean) < 4 * tf_std / np.sqrt(60) * np.sqrt(2)


def test_one_subset_reports_the_analytic_std_and_tiny_sets_none():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((30, 5)), rng.standard_normal((30, 5))
    assert kid_result(x, y, subset_size=20, subsets=1).std_kind == "analytic"
    r = kid_result(x[:3], y[:3])
    assert r.std is None and r.std_kind == "analytic"


@pytest.mark.parametrize(
    "real, fake, kwargs, err",
    [
        (np.zeros((5, 3)), np.zeros((5, 4)), {}, DataError),
        (np.zeros((1, 3)), np.zeros((5, 3)), {}, DataError),
        (np.zeros(5), np.zeros((5, 3)), {}, DataError),
        (np.full((5, 3), np.nan), np.zeros((5, 3)), {}, DataError),
        (np.zeros((5, 3)), np.zeros((5, 3)), {"subset_size": 1}, UsageError),
        (np.zeros((5, 3)), np.zeros((5, 3)), {"subsets": 0}, UsageError),
    ],
)
def test_bad_inputs_raise_one_line(real, fake, kwargs, err):
    with pytest.raises(err) as e:
        kid_result(real, fake, **kwargs)
    assert "\n" not in str(e.value)
