"""Frechet distance against closed forms and scipy's sqrtm; streaming statistics; Inception loading."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from tokkit.errors import DataError, WeightsMissingError
from tokkit.metrics import frechet_distance
from tokkit.metrics.fid import (
    INCEPTION_FILE,
    StatsAccumulator,
    create_fid_features,
    feature_stats,
    frechet_distance_stats,
    merge_accumulators,
)


def _random_cov(rng, d, rank=None):
    a = rng.standard_normal((d, rank or d))
    return a @ a.T / (rank or d)


def _scipy_fd(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_closed_form_diagonal_gaussians():
    rng = np.random.default_rng(0)
    d = 7
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    a, b = rng.uniform(0.1, 3, d), rng.uniform(0.1, 3, d)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_closed_form_scaled_covariance():
    # S2 = c^2 S1  ->  FD = |dmu|^2 + (1 - c)^2 Tr S1
    rng = np.random.default_rng(1)
    s1 = _random_cov(rng, 20)
    mu = rng.standard_normal(20)
    fd = frechet_distance(mu, s1, mu + 1.0, 9.0 * s1)
    assert fd == pytest.approx(20 + 4 * np.trace(s1), rel=1e-10)
    assert frechet_distance(mu, s1, mu, s1) == pytest.approx(0.0, abs=1e-9)


def test_agrees_with_scipy_sqrtm_full_rank():
    rng = np.random.default_rng(2)
    d = 64
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    s1, s2 = _random_cov(rng, d), _random_cov(rng, d)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_scipy_fd(mu1, s1, mu2, s2), rel=1e-9)


def test_rank_deficient_covariances_are_stable_and_real():
    rng = np.random.default_rng(3)
    d = 128
    x, y = rng.standard_normal((40, d)), rng.standard_normal((50, d)) + 0.3  # n < d: singular covariances
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    fd = frechet_distance(x.mean(0), s1, y.mean(0), s2)
    assert isinstance(fd, float) and np.isfinite(fd) and fd > 0
    assert fd == pytest.approx(_scipy_fd(x.mean(0), s1, y.mean(0), s2), rel=1e-6)
    # symmetric in its arguments
    # to 1e-8: square roots of rounding-level eigenvalues of a singular product carry ~1e-9 relative noise
    assert frechet_distance(y.mean(0), s2, x.mean(0), s1) == pytest.approx(fd, rel=1e-8)


def test_bad_shapes_are_a_clear_error():
    with pytest.raises(DataError, match="one D"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(DataError, match="non-finite"):
        frechet_distance(np.array([np.nan, 0]), np.eye(2), np.zeros(2), np.eye(2))


def test_streaming_stats_match_numpy_and_ignore_batch_size():
    rng = np.random.default_rng(4)
    f = rng.standard_normal((101, 12)) * 3 + 50  # a large mean: the shifted sums must not lose precision
    ref_mu, ref_cov = f.mean(0), np.cov(f, rowvar=False)
    for bs in (1, 7, 101):
        st = feature_stats(torch.from_numpy(f[i : i + bs]) for i in range(0, len(f), bs))
        np.testing.assert_allclose(st.mu, ref_mu, rtol=1e-12)
        np.testing.assert_allclose(st.sigma, ref_cov, rtol=1e-9, atol=1e-12)
        assert st.n == 101
    assert feature_stats([f]).rank_warning() is None
    assert "rank-deficient" in feature_stats([f[:5]]).rank_warning()
    acc = StatsAccumulator()
    acc.add(f[:1])
    with pytest.raises(DataError, match="at least 2"):
        acc.stats()


def _stats(f, bs=4):
    acc = StatsAccumulator()
    for i in range(0, len(f), bs):
        acc.add(f[i : i + bs])
    return acc


def test_small_sets_use_their_vectors_and_equal_the_covariance_form():
    """n <= D/2 per set: the exact low-rank distance from the vectors; it equals scipy's sqrtm form on
    the same moments, and the moment form where the sets are too large to keep their vectors."""
    rng = np.random.default_rng(7)
    d = 40
    x = rng.standard_normal((20, d)) * 2 + 1.0  # 20 = D/2: kept
    y = rng.standard_normal((13, d)) * 1.5
    a, b = _stats(x).stats(), _stats(y).stats()
    assert a.vectors is not None and b.vectors is not None and a.vectors.shape == (20, d)
    fd = frechet_distance_stats(a, b)
    assert fd == pytest.approx(_scipy_fd(a.mu, a.sigma, b.mu, b.sigma), rel=1e-7)
    assert fd == pytest.approx(frechet_distance(a.mu, a.sigma, b.mu, b.sigma), rel=1e-7)
    assert frechet_distance_stats(b, a) == pytest.approx(fd, rel=1e-12)
    big = _stats(rng.standard_normal((21, d))).stats()  # 21 > D/2: moments only
    assert big.vectors is None
    ref = frechet_distance(big.mu, big.sigma, b.mu, b.sigma)
    assert frechet_distance_stats(big, b) == ref == frechet_distance_stats(b, big)  # the larger set is rooted


def test_the_reference_root_is_computed_once_and_changes_nothing():
    rng = np.random.default_rng(8)
    ref = _stats(rng.standard_normal((60, 8))).stats()  # 60 > 4: moments
    fakes = [_stats(rng.standard_normal((30, 8)) + k).stats() for k in range(3)]
    first = [frechet_distance_stats(f, ref) for f in fakes]
    root = ref._root
    assert root is not None
    assert [frechet_distance_stats(f, ref) for f in fakes] == first and ref._root is root
    assert first == [frechet_distance(ref.mu, ref.sigma, f.mu, f.sigma) for f in fakes]  # rooted on ref


def test_kept_vectors_survive_merging_and_saving_and_stop_at_half_the_dimension():
    rng = np.random.default_rng(9)
    f = rng.standard_normal((10, 24))
    parts = [_stats(f[:4]), _stats(f[4:10])]
    merged = merge_accumulators(parts).stats()
    np.testing.assert_array_equal(merged.vectors, f)
    restored = StatsAccumulator.restore(parts[1].state_arrays("x"), "x", None)
    np.testing.assert_array_equal(restored.stats().vectors, f[4:10])
    over = _stats(np.concatenate([f, f[:3]]))  # 13 > 12 = D/2
    assert over.few is None and over.stats().vectors is None
    assert merge_accumulators([_stats(f), _stats(f[:3])]).few is None
    assert StatsAccumulator.restore(over.state_arrays("x"), "x", None).few is None


def _random_inception_state(path):
    """A randomly initialised torch-fidelity InceptionV3 state dict, saved like the real file."""
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    class Unloaded(fe.FeatureExtractorInceptionV3):
        def load_state_dict(self, *a, **k):  # skip the download during construction only
            return None

    original = fe.load_state_dict_from_url
    fe.load_state_dict_from_url = lambda *a, **k: {}
    try:
        torch.manual_seed(0)
        net = Unloaded("x", ["2048"])
    finally:
        fe.load_state_dict_from_url = original
    torch.save(net.state_dict(), path)


def test_inception_loads_a_weight_file_and_extracts_2048d(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    path = tmp_path / INCEPTION_FILE
    _random_inception_state(path)
    feats = create_fid_features("inception", weights=path)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    out = feats(x)
    assert out.shape == (2, 2048) and out.dtype == torch.float64 and torch.isfinite(out).all()
    assert torch.equal(out, feats(x))  # deterministic
    desc = feats.describe()
    assert "torch-fidelity" in desc["implementation"] and desc["weights"] == INCEPTION_FILE
    # a folder holding the file works too
    from tokkit.io.weights import resolve_weight_file

    assert resolve_weight_file(INCEPTION_FILE, None, tmp_path) == path


def test_inception_missing_offline_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("TOKKIT_WEIGHTS_DIR", raising=False)
    with pytest.raises(WeightsMissingError, match=INCEPTION_FILE) as e:
        create_fid_features("inception")
    assert "torch" in e.value.hint
    torch.save({"fc.weight": torch.zeros(1)}, tmp_path / "wrong.pth")
    with pytest.raises(WeightsMissingError, match="not the torch-fidelity Inception"):
        create_fid_features("inception", weights=tmp_path / "wrong.pth")


def test_effnet_lite0_feature_space_with_real_weights():
    """The offline default: real ImageNet EfficientNet-Lite0 pooled features, 1280-d."""
    from tokkit.data import iter_batches, open_source
    from tokkit.metrics.fid import frechet_distance_stats

    feats = create_fid_features("effnet-lite0")
    _, x, _ = next(iter_batches(open_source("builtin:photos:n=4,size=64"), 64, 4))
    f = feats(x)
    assert f.shape == (4, 1280) and f.dtype == torch.float64 and torch.isfinite(f).all()
    assert torch.allclose(f[:2], feats(x[:2]), rtol=1e-4, atol=1e-5)  # per-image, batch independent
    assert feats.describe()["network"] == "effnet-lite0" and "224" in feats.describe()["resize"]
    real = feature_stats([f])
    noisy = feature_stats([feats((x + 0.5 * torch.randn_like(x)).clamp(-1, 1))])
    assert frechet_distance_stats(real, real) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance_stats(real, noisy) > 1.0
