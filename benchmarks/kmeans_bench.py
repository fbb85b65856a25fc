"""fit-kmeans benchmarks (issue 3), side by side in one run.

1. Speed: the whole command ``tokkit fit-kmeans --features F.h5 --k K --niter 20 --init random``
   (all points) against a bare ``faiss.Kmeans`` script reading the same HDF5 file; both are timed
   as whole subprocesses (interpreter start, imports, HDF5 read, training). Target: <= 1.15x.
2. Quality: tokkit with k-means++ init against faiss (random init) and scikit-learn
   ``KMeans(init="k-means++", n_init=1, max_iter=20)``, same data and iteration count; objective =
   mean squared distance to the nearest final centroid. Target: tokkit <= the better of the two.

Data: clustered synthetic vectors (K Gaussian blobs of very unequal sizes, noise sigma 0.5, so
the noise floor is D * 0.25), stored as a tokkit feature store of (N / 256, 256, D).
Usage: python benchmarks/kmeans_bench.py [--n 200000 --d 384 --k 2048] [--quality-n 50000 --quality-k 512]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

T = 256  # tokens per "image" row


def make_store(path: str, n: int, d: int, k: int, seed: int = 0) -> float:
    """Write the clustered points as a feature store; returns the noise floor (mean sq. noise)."""
    from tokkit.io.h5store import StoreWriter

    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, d)).astype(np.float32)
    sizes = rng.lognormal(0.0, 1.0, k)
    rows = n // T
    with StoreWriter(
        path,
        "feature",
        rows,
        {"features": ((T, d), np.float32), "image_index": ((), np.int64)},
        {"encoder": "synthetic", "layer": "none", "image_size": 0, "grid": [16, 16], "l2_normalize": False},
        mode="overwrite",
        chunk_rows=64,
    ) as w:
        for r0 in range(0, rows, 64):
            r1 = min(r0 + 64, rows)
            lab = rng.choice(k, (r1 - r0) * T, p=sizes / sizes.sum())
            x = centers[lab] + 0.5 * rng.standard_normal(((r1 - r0) * T, d), dtype=np.float32)
            w.write(r0, {"features": x.reshape(r1 - r0, T, d), "image_index": np.arange(r0, r1)})
        w.finish()
    return d * 0.25


BARE_FAISS = """
import sys, time, h5py, numpy as np, faiss
path, k, niter = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with h5py.File(path, "r") as f:
    x = np.ascontiguousarray(f["features"][:].reshape(-1, f["features"].shape[-1]), dtype=np.float32)
km = faiss.Kmeans(x.shape[1], k, niter=niter, seed=1234, max_points_per_centroid=x.shape[0])  # all points
km.train(x)
np.save(sys.argv[4], km.centroids)
print(len(km.obj))
"""


def run(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TOKKIT_NO_PROGRESS": "1"})
    if res.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed: {res.stderr[-2000:]}")
    return time.perf_counter() - t0, res.stdout


def objective(x: np.ndarray, c: np.ndarray) -> float:
    from tokkit.clustering import assign

    return float(assign(x, c)[1].astype(np.float64).mean())


def load(path: str) -> np.ndarray:
    import h5py

    with h5py.File(path, "r") as f:
        return np.ascontiguousarray(f["features"][:].reshape(-1, f["features"].shape[-1]), dtype=np.float32)


def speed(tmp: str, n: int, d: int, k: int, niter: int, reps: int) -> dict:
    store = os.path.join(tmp, "speed.h5")
    make_store(store, n, d, k)
    tokkit = [sys.executable, "-m", "tokkit_cli", "fit-kmeans", "--features", store, "--k", str(k)]
    tokkit += ["--niter", str(niter), "--init", "random", "--json", "--out", os.path.join(tmp, "km")]
    bare = [sys.executable, "-c", BARE_FAISS, store, str(k), str(niter), os.path.join(tmp, "faiss.npy")]
    t_tok, t_bare = [], []
    for _ in range(reps):  # alternate, so that load from other jobs hits both alike
        s, out_bare = run(bare)
        t_bare.append(s)
        s, out = run(tokkit)
        t_tok.append(s)
    r = json.loads(out)
    x = load(store)
    return {
        "n": n,
        "d": d,
        "k": k,
        "niter": niter,
        "tokkit_s": min(t_tok),
        "bare_faiss_s": min(t_bare),
        "ratio": min(t_tok) / min(t_bare),
        "bare_faiss_iters": int(out_bare.strip().splitlines()[-1]),
        "tokkit_points": r["num_points"],
        "tokkit_objective": r["objective"],
        "bare_faiss_objective": objective(x, np.load(os.path.join(tmp, "faiss.npy"))),
        "all_times": {"tokkit": t_tok, "bare": t_bare},
    }


def quality(tmp: str, n: int, d: int, k: int, niter: int) -> dict:
    import faiss
    from sklearn.cluster import KMeans

    from tokkit.clustering import kmeans

    store = os.path.join(tmp, "quality.h5")
    floor = make_store(store, n, d, k, seed=1)
    x = load(store)
    out = {"n": n, "d": d, "k": k, "niter": niter, "noise_floor": floor}
    t0 = time.perf_counter()
    r = kmeans(x, k, niter=niter, init="kmeans++", seed=1234)
    out["tokkit_kmeans++"] = (r.objective, time.perf_counter() - t0)
    t0 = time.perf_counter()
    km = faiss.Kmeans(d, k, niter=niter, seed=1234, max_points_per_centroid=n)
    km.train(x)
    out["faiss_random"] = (objective(x, km.centroids), time.perf_counter() - t0)
    t0 = time.perf_counter()
    sk = KMeans(k, init="k-means++", n_init=1, max_iter=niter, tol=0.0, random_state=0, algorithm="lloyd").fit(x)
    out["sklearn_kmeans++"] = (objective(x, sk.cluster_centers_.astype(np.float32)), time.perf_counter() - t0)
    best_ref = min(out["faiss_random"][0], out["sklearn_kmeans++"][0])
    out["tokkit_vs_best_reference"] = out["tokkit_kmeans++"][0] / best_ref
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--k", type=int, default=2048)
    ap.add_argument("--niter", type=int, default=20)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--quality-n", type=int, default=50_000)
    ap.add_argument("--quality-k", type=int, default=512)
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_quality:
            print(json.dumps({"quality": quality(tmp, args.quality_n, args.d, args.quality_k, args.niter)}), flush=True)
        if not args.skip_speed:
            print(json.dumps({"speed": speed(tmp, args.n, args.d, args.k, args.niter, args.reps)}), flush=True)


if __name__ == "__main__":
    main()
