"""k-means: both backends agree, k-means++ beats random init, empty clusters are split, the
objective is what it claims, and the torch backend under 2 gloo processes equals 1 process."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tokkit.clustering import assign, kmeans
from tokkit.clustering.kmeans import _lloyd_torch, split_empty
from tokkit.errors import DataError, UsageError


def blobs(n=4000, k=40, d=16, seed=0, spread=4.0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, d)) * spread
    sizes = rng.integers(1, 20, k).astype(float)  # unbalanced: random init then misses small blobs
    lab = rng.choice(k, n, p=sizes / sizes.sum())
    return (centers[lab] + rng.standard_normal((n, d))).astype(np.float32)


def test_backends_agree_and_objective_is_mean_sq_distance():
    x = blobs()
    res = {b: kmeans(x, 40, niter=15, tol=0, backend=b, seed=3) for b in ("faiss", "torch")}
    for r in res.values():
        assert r.centroids.shape == (40, 16) and r.num_points == 4000 and r.k == 40 and r.dim == 16
        assert len(r.objective_history) == 16 and r.objective == r.objective_history[-1]
        # objective = mean squared L2 distance to the nearest returned centroid (independent check)
        d = ((x[:, None].astype(np.float64) - r.centroids[None].astype(np.float64)) ** 2).sum(-1).min(1).mean()
        assert abs(r.objective - d) / d < 1e-5
        assert all(b <= a * (1 + 1e-6) for a, b in zip(r.objective_history, r.objective_history[1:], strict=False))
        # a clock per objective: non-decreasing, within the call's own wall time
        t = r.history_seconds
        assert len(t) == 16 and all(0 <= u <= v for u, v in zip(t, t[1:], strict=False)) and t[-1] <= r.seconds
    a, b = res["faiss"].objective, res["torch"].objective
    assert abs(a - b) / min(a, b) < 0.02
    assert res["faiss"].objective_history[0] == pytest.approx(res["torch"].objective_history[0], rel=1e-5)


def test_tol_zero_runs_every_iteration_and_iterations_are_reported():
    x = blobs(n=2000, k=10, d=8, spread=6.0)  # converges in a few iterations
    for b in ("faiss", "torch"):
        full = kmeans(x, 10, niter=30, tol=0, backend=b, seed=1)
        assert full.iterations == full.niter == 30 and len(full.objective_history) == 31 and full.tol == 0
        early = kmeans(x, 10, niter=30, backend=b, seed=1)  # default: faiss's "objective unchanged" rule
        assert early.iterations < 30 and len(early.objective_history) == early.iterations + 1
        assert early.summary()["iterations"] == early.iterations


@pytest.mark.parametrize("tol", [0.05, 1e-3])
def test_tol_stops_where_faiss_early_stop_threshold_stops(tol):
    """Both backends stop at the first update whose relative objective change is <= tol, exactly
    where faiss's own ``early_stop_threshold`` stops from the same initial centroids."""
    import faiss

    from tokkit.clustering.kmeans import random_init_rows

    x = blobs(n=3000, k=30, d=8, seed=2)
    idx, order = random_init_rows(len(x), 30, 5)
    ref = faiss.Kmeans(8, 30, niter=50, seed=5, early_stop_threshold=tol, max_points_per_centroid=3000)
    ref.train(x, init_centroids=x[idx][order])
    want = len(ref.iteration_stats)
    assert 1 < want < 50
    for b in ("faiss", "torch"):
        r = kmeans(x, 30, niter=50, tol=tol, init="random", backend=b, seed=5)
        h = r.objective_history[:-1]  # before every update
        changes = [abs(a - c) / a for a, c in zip(h, h[1:], strict=False)]
        assert r.iterations == want, b
        assert all(c > tol for c in changes[:-1]) and changes[-1] <= tol
    with pytest.raises(UsageError, match="--tol"):
        kmeans(x, 4, tol=-1.0)


def test_kmeans_pp_beats_random_on_clustered_data():
    x = blobs(seed=1)
    pp = kmeans(x, 40, niter=10, init="kmeans++", seed=0).objective
    rnd = np.mean([kmeans(x, 40, niter=10, init="random", seed=s).objective for s in range(3)])
    assert pp < rnd


def test_empty_clusters_are_split_from_large_ones():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(
        np.concatenate([rng.standard_normal((300, 4)), rng.standard_normal((30, 4)) + 20]).astype(np.float32)
    )
    init = torch.stack([x[0], x[0], x[0], x[300]])  # duplicates: clusters 1 and 2 get no points
    c, hist, fixed, _ = _lloyd_torch(x, init.clone(), niter=5, spherical=False, n_total=len(x))
    assert fixed >= 2
    idx, _ = assign(x, c)
    assert len(torch.unique(idx)) == 4  # every centroid in use after the splits
    assert hist[-1] < hist[0]
    cents = torch.zeros(3, 2)
    assert split_empty(cents, torch.tensor([0.0, 10.0, 4.0])) == 1 and not torch.equal(cents[0], cents[1])


def test_spherical_gives_unit_centroids():
    x = blobs(n=1000, k=8, d=8)
    for b in ("faiss", "torch"):
        r = kmeans(x, 8, niter=5, spherical=True, backend=b)
        np.testing.assert_allclose(np.linalg.norm(r.centroids, axis=1), 1.0, rtol=1e-5)


def test_bad_inputs():
    x = blobs(n=50, k=3, d=4)
    with pytest.raises(DataError, match="larger than the number of points"):
        kmeans(x, 51)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(DataError, match="NaN or inf"):
        kmeans(bad, 4)
    bad[3, 1] = np.inf
    with pytest.raises(DataError, match="NaN or inf"):
        kmeans(bad, 4, backend="torch")
    with pytest.raises(UsageError, match="--init"):
        kmeans(x, 4, init="kmeans+")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="no GPU"):
            kmeans(x, 4, gpu=True)


def _worker(rank: int, world: int, path: str, out: str):
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{path}", rank=rank, world_size=world)
    x = blobs(n=3000, k=20, d=8, seed=5)
    bounds = np.linspace(0, len(x), world + 1).astype(int)
    r = kmeans(
        x[bounds[rank] : bounds[rank + 1]], 20, niter=8, backend="torch", seed=7, n_total=len(x), offset=bounds[rank]
    )
    if rank == 0:
        np.save(out, np.concatenate([r.centroids.ravel(), [r.objective, r.empty_clusters_fixed]]))
    dist.destroy_process_group()


def test_torch_backend_two_gloo_processes_equal_one(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_worker, args=(2, str(tmp_path / "rdv"), str(tmp_path / "two.npy")), nprocs=2, join=True)
    two = np.load(tmp_path / "two.npy")
    one = kmeans(blobs(n=3000, k=20, d=8, seed=5), 20, niter=8, backend="torch", seed=7)
    np.testing.assert_allclose(two[:-2].reshape(20, 8), one.centroids, rtol=1e-6, atol=1e-6)
    assert two[-2] == pytest.approx(one.objective, rel=1e-9)
