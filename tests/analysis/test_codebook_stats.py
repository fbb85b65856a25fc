"""Codebook statistics against independent references (scipy brute force, faiss)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from tokkit.analysis.codebook import codebook_stats, nearest_neighbors, pca_colors, summary_stats, usage_details
from tokkit.metrics.usage import codebook_usage


def test_nearest_neighbors_match_brute_force_across_chunk_sizes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    d = cdist(x.astype(np.float64), x.astype(np.float64))
    np.fill_diagonal(d, np.inf)
    for chunk in (7, 64, 1024):
        nn = nearest_neighbors(torch.from_numpy(x), chunk_size=chunk)
        np.testing.assert_array_equal(nn.index, d.argmin(1))
        np.testing.assert_allclose(nn.distance, d.min(1), rtol=1e-6)


def test_near_duplicate_pairs_match_brute_force():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 16))
    x[10] = x[3]  # exact duplicate
    x[50] = x[40] + 1e-3  # near duplicate
    x[51] = x[40] - 1e-3  # a third member of the same tight group
    thr = 0.05
    nn = nearest_neighbors(torch.from_numpy(x).float(), threshold=thr, chunk_size=13)
    d = cdist(x, x)
    iu = np.triu_indices(len(x), 1)
    expected = int((d[iu] <= thr).sum())
    assert expected == 4  # (3,10), (40,50), (40,51), (50,51)
    assert nn.dup_pairs == expected
    assert [(a, b) for a, b, _ in nn.dup_examples][0] == (3, 10)
    assert nn.dup_examples[0][2] == 0.0  # exact duplicates read exactly 0, not rounding noise
    assert {(a, b) for a, b, _ in nn.dup_examples} == {(3, 10), (40, 50), (40, 51), (50, 51)}


def test_large_codebook_chunked_matches_faiss():
    faiss = pytest.importorskip("faiss")
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4096, 8)).astype(np.float32)
    nn = nearest_neighbors(torch.from_numpy(x), chunk_size=500)  # 9 chunks, the last one partial
    index = faiss.IndexFlatL2(8)
    index.add(x)
    dist2, idx = index.search(x, 2)  # column 0 is the point itself
    agree = nn.index == idx[:, 1]
    assert agree.mean() > 0.999  # ties in float32 may order differently
    np.testing.assert_allclose(nn.distance, np.sqrt(np.maximum(dist2[:, 1], 0)), rtol=1e-3, atol=1e-4)


def test_codebook_stats_keys_and_values():
    codes = torch.tensor([[3.0, 4.0], [0.0, 1.0], [0.0, 1.0], [6.0, 8.0]])
    s = codebook_stats(codes, dup_tol=0.01)
    assert (s["codebook_size"], s["dim"]) == (4, 2)
    assert s["norm"]["max"] == 10.0 and s["norm"]["min"] == 1.0 and s["norm"]["median"] == 3.0
    assert s["near_duplicates"]["pairs"] == 1
    assert s["near_duplicates"]["codes_with_duplicate"] == 2
    np.testing.assert_allclose(s["_nn_distance"], [np.hypot(3, 3), 0, 0, 5])


def test_usage_details_on_hand_built_counts():
    idx = np.array([0, 0, 0, 1, 1, 5])
    u = usage_details(np.bincount(idx, minlength=8), top=3)
    ref = codebook_usage(idx, 8)
    for key in ref:
        assert u[key] == pytest.approx(ref[key])
    assert [r["code"] for r in u["most_used"]] == [0, 1, 5]
    assert [r["code"] for r in u["least_used"]] == [5, 1, 0]
    assert u["dead_codes"] == 5 and u["most_used"][0]["fraction"] == pytest.approx(0.5)


def test_summary_stats_and_colors():
    s = summary_stats(np.array([1.0, 2.0, 3.0, 10.0]))
    assert s == pytest.approx({"mean": 4.0, "std": np.std([1, 2, 3, 10]), "min": 1.0, "median": 2.5, "max": 10.0})
    rgb = pca_colors(torch.randn(100, 5))
    assert rgb.shape == (100, 3) and rgb.min() >= 0 and rgb.max() <= 1
    # similar codes get similar colours
    c = torch.randn(2, 5) * 10
    rgb = pca_colors(torch.cat([c[0] + 0.01 * torch.randn(20, 5), c[1] + 0.01 * torch.randn(20, 5)]))
    within = np.abs(rgb[:20] - rgb[:20].mean(0)).max()
    between = np.abs(rgb[:20].mean(0) - rgb[20:].mean(0)).max()
    assert between > 5 * within
