"""fit-kmeans benchmarks (issue 3), side by side in one run.

1. Speed: the whole command ``tokkit fit-kmeans --features F.h5 --k K --niter 20 --tol 0 --init random``
   (all points) against a bare ``faiss.Kmeans`` script reading the same HDF5 file at the same
   iteration count (``early_stop_threshold=-1``); both are timed as whole subprocesses
   (interpreter start, imports, HDF5 read, training), alternating, median of ``--reps``; peak RSS
   of each child from ``wait4``. Targets (issue 12): <= 1.15x wall, <= 1.5x peak memory.
   Then both with their defaults (``tokkit fit-kmeans --features F.h5 --k K`` vs a bare
   ``faiss.Kmeans(d, k).train(x)``): wall, iterations and the final objective of each, measured
   the same way. Target: tokkit reaches at least faiss's objective in less wall time.
2. Quality: tokkit with k-means++ init against faiss (random init) and scikit-learn
   ``KMeans(init="k-means++", n_init=1, max_iter=20)``, same data and iteration count; objective =
   mean squared distance to the nearest final centroid. Target: tokkit <= the better of the two.

Data: clustered synthetic vectors (K Gaussian blobs of very unequal sizes, noise sigma 0.5, so
the noise floor is D * 0.25), stored as a tokkit feature store of (N / 256, 256, D).
Usage: python benchmarks/kmeans_bench.py [--n 200000 --d 256 --k 1024 --reps 3] [--quality-n 50000 --quality-k 512]
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
if niter > 0:  # all points, every iteration
    n = x.shape[0]
    km = faiss.Kmeans(x.shape[1], k, niter=niter, seed=1234, max_points_per_centroid=n, early_stop_threshold=-1)
else:  # faiss's defaults (niter=25, early stop when the objective is unchanged, k*256 points)
    km = faiss.Kmeans(x.shape[1], k)
km.train(x)
np.save(sys.argv[4], km.centroids)
print(len(km.iteration_stats))
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


def _peak_run(cmd: list[str]) -> tuple[float, str, float]:
    """``run`` plus the child's peak RSS in MiB (the child reports its own getrusage)."""
    wrapped = [sys.executable, "-c", PEAK, *cmd[1:]]
    secs, out = run(wrapped)
    lines = out.strip().splitlines()
    return secs, "\n".join(lines[:-1]), int(lines[-1]) / 1024


# runs "python ARGS..." in this interpreter (same argv handling), then prints its peak RSS in KiB
PEAK = """
import resource, runpy, sys
sys.argv = sys.argv[1:]
try:
    if sys.argv[0] == "-m":
        sys.argv = sys.argv[1:]
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    elif sys.argv[0] == "-c":
        code = sys.argv[1]
        sys.argv = ["-c", *sys.argv[2:]]
        exec(compile(code, "<bare>", "exec"), {"__name__": "__main__"})
except SystemExit as e:
    if e.code not in (0, None):
        raise
sys.stdout.flush()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


OBJECTIVE = """
import sys, numpy as np
sys.path.insert(0, sys.argv[3])
from kmeans_bench import load
from tokkit.clustering.kmeans import objective
c = np.load(sys.argv[2]) if sys.argv[2].endswith(".npy") else None
if c is None:
    from safetensors.numpy import load_file
    c = load_file(sys.argv[2] + "/model.safetensors")["centroids"]
print(objective(load(sys.argv[1]), c))
"""


def speed(tmp: str, n: int, d: int, k: int, niter: int, reps: int) -> dict:
    """Reps outer, modes inner, one JSON line per finished pair (so a long run under load can be
    read as it goes); the summary (medians) at the end."""
    import shutil
    import statistics

    # the children's peak RSS includes this process's RSS at fork time (Linux keeps the pre-exec
    # high-water mark): this process holds no data and no torch; objectives are computed in children
    store = os.path.join(tmp, "speed.h5")
    make_store(store, n, d, k)
    here = os.path.dirname(os.path.abspath(__file__))
    runs: dict[str, list[dict]] = {"same_iterations": [], "defaults": []}
    for rep in range(reps):  # alternate, so that load from other jobs hits both alike
        for mode in runs:
            km_dir = os.path.join(tmp, f"km_{mode}")
            tokkit = [sys.executable, "-m", "tokkit_cli", "fit-kmeans", "--features", store, "--k", str(k), "--json"]
            if mode == "same_iterations":
                tokkit += ["--niter", str(niter), "--tol", "0", "--init", "random", "--sample", str(n)]
            bare_npy = os.path.join(tmp, f"faiss_{mode}.npy")
            bare = [sys.executable, "-c", BARE_FAISS, store, str(k), str(niter if mode == "same_iterations" else 0)]
            s_bare, out_bare, m_bare = _peak_run([*bare, bare_npy])
            shutil.rmtree(km_dir, ignore_errors=True)
            s_tok, out_tok, m_tok = _peak_run([*tokkit, "--out", km_dir])
            r = json.loads(out_tok)
            obj = {
                side: float(run([sys.executable, "-c", OBJECTIVE, store, path, here])[1])
                for side, path in (("tokkit", km_dir), ("bare", bare_npy))
            }
            row = {
                "mode": mode,
                "rep": rep,
                "tokkit_s": s_tok,
                "bare_faiss_s": s_bare,
                "wall_ratio": s_tok / s_bare,
                "tokkit_peak_mib": m_tok,
                "bare_faiss_peak_mib": m_bare,
                "peak_ratio": m_tok / m_bare,
                "tokkit_iterations": r["iterations"],
                "bare_faiss_iterations": int(out_bare.strip().splitlines()[-1]),
                "tokkit_init": r["init"],
                "tokkit_points": r["num_points"],
                "tokkit_objective_all_points": obj["tokkit"],
                "bare_faiss_objective_all_points": obj["bare"],
                "tokkit_s_to_bare_objective": _time_to(r, s_tok, obj["bare"]),
            }
            runs[mode].append(row)
            print(json.dumps({"run": row}), flush=True)
    out: dict = {"n": n, "d": d, "k": k, "niter": niter}
    for mode, rows in runs.items():
        t_tok, t_bare = [x["tokkit_s"] for x in rows], [x["bare_faiss_s"] for x in rows]
        out[mode] = {
            "reps": len(rows),
            "tokkit_s": statistics.median(t_tok),
            "bare_faiss_s": statistics.median(t_bare),
            "wall_ratio": statistics.median(t_tok) / statistics.median(t_bare),
            "peak_ratio": max(x["tokkit_peak_mib"] for x in rows) / max(x["bare_faiss_peak_mib"] for x in rows),
        }
        reached = [x["tokkit_s_to_bare_objective"] for x in rows]
        if mode == "defaults" and None not in reached:
            out[mode]["tokkit_s_to_bare_objective"] = statistics.median(reached)
            out[mode]["time_to_objective_ratio"] = statistics.median(reached) / statistics.median(t_bare)
    return out


def _time_to(r: dict, wall: float, target: float) -> float | None:
    """Seconds from tokkit's process start until its objective first fell to ``target`` (bare
    faiss's final objective): the process wall time minus what k-means ran after that point
    (``history_seconds``), so checkpoint writing and exit still count against tokkit. None when
    tokkit never got there. tokkit's history is over its fitted points (all of them here)."""
    hit = [i for i, v in enumerate(r["objective_history"]) if v <= target]
    if not hit:
        return None
    return wall - (r["seconds"] - r["history_seconds"][hit[0]])


def _centroids(ckpt: str) -> np.ndarray:
    from safetensors.numpy import load_file

    return load_file(os.path.join(ckpt, "model.safetensors"))["centroids"]


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
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--k", type=int, default=1024)
    ap.add_argument("--niter", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quality-n", type=int, default=50_000)
    ap.add_argument("--quality-k", type=int, default=512)
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    args = ap.parse_args()
    from machine import machine_info

    print(json.dumps({"machine": machine_info()}), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_quality:
            print(json.dumps({"quality": quality(tmp, args.quality_n, args.d, args.quality_k, args.niter)}), flush=True)
        if not args.skip_speed:
            print(json.dumps({"speed": speed(tmp, args.n, args.d, args.k, args.niter, args.reps)}), flush=True)


if __name__ == "__main__":
    main()
