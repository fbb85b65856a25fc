"""Exact nearest-centroid assignment against a float64 brute force and faiss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tokkit.clustering import assign


def brute(x: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = ((x[:, None, :].astype(np.float64) - c[None].astype(np.float64)) ** 2).sum(-1)
    return d.argmin(1), d.min(1)  # argmin: first of equal minima = lowest index


@pytest.mark.parametrize("engine", ["torch", "faiss", "numpy"])
@pytest.mark.parametrize("chunks", [(None, None), (97, 13), (1000, 1)])
def test_equals_brute_force_with_ties(chunks, engine):
    rng = np.random.default_rng(0)
    c = np.round(rng.standard_normal((120, 8)) * 2) / 2  # coarse grid: many exact ties
    c[7] = c[3]
    c[50] = c[3]  # duplicate centroids: ties must go to index 3
    x = np.round(rng.standard_normal((2000, 8)) * 2) / 2
    x[:20] = c[3]
    x, c = x.astype(np.float32), c.astype(np.float32)
    want_i, want_d = brute(x, c)
    idx, sq = assign(x, c, chunk_points=chunks[0], chunk_centroids=chunks[1], engine=engine)
    assert isinstance(idx, np.ndarray) and idx.dtype == np.int64
    np.testing.assert_array_equal(idx, want_i)
    np.testing.assert_allclose(sq, want_d, rtol=1e-5, atol=1e-5)
    assert (idx[:20] == 3).all()


@pytest.mark.parametrize("engine", ["torch", "faiss", "numpy"])
def test_near_ties_decided_in_float64(engine):
    """Points almost equidistant from two centroids (differences below float32 GEMM error)."""
    rng = np.random.default_rng(1)
    c = rng.standard_normal((64, 256)).astype(np.float32) * 10
    mid = (c[:32] + c[32:]) / 2
    x = (mid + rng.standard_normal(mid.shape).astype(np.float32) * 1e-3).astype(np.float32)
    x = np.concatenate([x, rng.standard_normal((500, 256)).astype(np.float32) * 10])
    idx, _ = assign(torch.from_numpy(x), torch.from_numpy(c), chunk_centroids=16, chunk_points=300, engine=engine)
    assert torch.is_tensor(idx)
    np.testing.assert_array_equal(idx.numpy(), brute(x, c)[0])


@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_matches_faiss_at_large_k_in_bounded_blocks(engine):
    import faiss

    rng = np.random.default_rng(2)
    k, d = 16384, 1536  # DiGIT-large codebook size
    c = rng.standard_normal((k, d), dtype=np.float32)
    x = rng.standard_normal((48, d), dtype=np.float32)
    idx, sq = assign(x, c, block_bytes=8 * 2**20, engine=engine)
    index = faiss.IndexFlatL2(d)
    index.add(c)
    fd, fi = index.search(x, 1)
    np.testing.assert_array_equal(idx, fi[:, 0])
    np.testing.assert_allclose(sq, fd[:, 0], rtol=1e-4)


def test_dim_mismatch_is_an_error():
    with pytest.raises(ValueError, match="do not match"):
        assign(np.zeros((3, 4), np.float32), np.zeros((2, 5), np.float32))


def test_numpy_engine_marks_non_finite_points():
    """A NaN or inf point gets a non-finite distance (callers name the row); the others are unaffected."""
    from tokkit.clustering.assign import NumpyAssigner

    rng = np.random.default_rng(3)
    c = rng.standard_normal((40, 16)).astype(np.float32)
    x = rng.standard_normal((300, 16)).astype(np.float32)
    x[5, 3], x[9, 0] = np.nan, np.inf
    idx, sq = NumpyAssigner(c, chunk_centroids=7)(x, direct_sqdist=False, chunk_points=64)
    bad = ~np.isfinite(sq)
    assert bad[5] and bad[9] and bad.sum() == 2
    ok = np.isfinite(x).all(1)
    np.testing.assert_array_equal(idx[ok], brute(x[ok], c)[0])
