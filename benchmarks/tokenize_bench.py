"""tokenize benchmarks (issue 3), side by side in one run.

1. Throughput: ``tokkit.clustering.tokenize.tokenize(features=F.h5)`` (HDF5 read -> exact
   assignment -> token store written and committed) against a bare faiss ``IndexFlatL2`` search
   over the same points (read from the same file) and the same centroids. Target: >= 0.8x.
2. Memory: peak RSS of tokenize at two N (each in its own process): must not grow with N.
3. Whole command (issue 12): ``tokkit tokenize --features F.h5`` as a subprocess against a bare
   script (read the same file, one ``IndexFlatL2.search``), on a float16 store of 200k pooled
   vectors (N, 1, 256) and on (N/256, 256, 256), K=1024; median of 3, alternating; indices must
   be identical. Target: tokkit >= 0.8x the bare throughput (bare wall / tokkit wall).

Usage: python benchmarks/tokenize_bench.py [--n 200000 --d 384 --k 2048] [--mem-n 50000,200000]
       python benchmarks/tokenize_bench.py --cli-only [--cli-n 200000 --cli-d 256 --cli-k 1024]
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kmeans_bench import make_store  # noqa: E402


def write_tokenizer(path: str, centroids: np.ndarray) -> None:
    """A k-means checkpoint from the centroids, without torch: this process's own peak RSS would
    otherwise show in its children's (the memory measurement below)."""
    from dataclasses import asdict

    from tokkit.clustering.config import KMeansConfig
    from tokkit.io.checkpoint import save_array_checkpoint

    k, d = centroids.shape
    cfg = KMeansConfig(encoder="synthetic", layer="none", image_size=0, codebook_size=k, dim=d)
    save_array_checkpoint(path, "kmeans", "discrete", asdict(cfg), {"centroids": centroids.astype(np.float32)})


def bare_faiss(store: str, centroids: np.ndarray) -> tuple[float, np.ndarray]:
    import faiss
    import h5py

    t0 = time.perf_counter()
    with h5py.File(store, "r") as f:
        x = np.ascontiguousarray(f["features"][:].reshape(-1, f["features"].shape[-1]), dtype=np.float32)
    index = faiss.IndexFlatL2(centroids.shape[1])
    index.add(centroids)
    _, idx = index.search(x, 1)
    return time.perf_counter() - t0, idx[:, 0]


def ours(tok: str, store: str, out: str) -> tuple[float, np.ndarray]:
    import h5py

    from tokkit.clustering.tokenize import tokenize

    t0 = time.perf_counter()
    tokenize(tok, out, features=store, overwrite=True)
    secs = time.perf_counter() - t0
    with h5py.File(out, "r") as f:
        return secs, f["tokens"][:].reshape(-1).astype(np.int64)


CHILD = """
import resource, sys
from tokkit.clustering.tokenize import tokenize
tokenize(sys.argv[1], sys.argv[3], features=sys.argv[2], overwrite=True)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_mib(tok: str, store: str, out: str) -> float:
    env = {**os.environ, "TOKKIT_NO_PROGRESS": "1"}
    res = subprocess.run([sys.executable, "-c", CHILD, tok, store, out], capture_output=True, text=True, env=env)
    if res.returncode:
        raise RuntimeError(res.stderr[-2000:])
    return int(res.stdout.strip().splitlines()[-1]) / 1024


BARE = """
import sys, h5py, numpy as np, faiss
from safetensors.numpy import load_file
store, ckpt, out = sys.argv[1:4]
with h5py.File(store, "r") as f:
    x = np.ascontiguousarray(f["features"][:].reshape(-1, f["features"].shape[-1]), dtype=np.float32)
c = load_file(ckpt + "/model.safetensors")["centroids"]
index = faiss.IndexFlatL2(c.shape[1])
index.add(c)
_, idx = index.search(x, 1)
np.save(out, idx[:, 0])
"""


def feature_store(path: str, rows: int, t: int, d: int, seed: int = 0) -> None:
    """float16 (tokkit extract's default) Gaussian-blob features of shape (rows, t, d)."""
    from tokkit.io.h5store import StoreWriter

    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((4096, d)).astype(np.float32)
    step = max(1, 65536 // t)
    ident = {"encoder": "synthetic", "layer": "none", "image_size": 0, "l2_normalize": False}
    ident["grid"] = [1, 1] if t == 1 else [int(np.sqrt(t))] * 2
    ds = {"features": ((t, d), np.float16), "image_index": ((), np.int64)}
    with StoreWriter(path, "feature", rows, ds, ident, mode="overwrite", chunk_rows=min(rows, 32)) as w:
        for r0 in range(0, rows, step):
            r1 = min(r0 + step, rows)
            x = centers[rng.integers(0, len(centers), (r1 - r0) * t)] + 0.5 * rng.standard_normal(((r1 - r0) * t, d))
            w.write(r0, {"features": x.reshape(r1 - r0, t, d).astype(np.float16), "image_index": np.arange(r0, r1)})
        w.finish()


def cli_vs_bare(tmp: str, n: int, d: int, k: int, reps: int) -> list[dict]:
    import statistics

    import h5py

    rng = np.random.default_rng(1)
    tok = os.path.join(tmp, "cli_km")
    write_tokenizer(tok, rng.standard_normal((k, d)).astype(np.float32))
    env = {**os.environ, "TOKKIT_NO_PROGRESS": "1"}
    results = []
    for t in (1, 256):
        store = os.path.join(tmp, f"cli_{t}.h5")
        feature_store(store, n // t, t, d)
        out, bare_out = os.path.join(tmp, f"cli_{t}_tokens.h5"), os.path.join(tmp, f"cli_{t}_bare.npy")
        ours = [sys.executable, "-m", "tokkit_cli", "tokenize", "--tokenizer", tok, "--features", store]
        ours += ["--out", out, "--json"]
        bare = [sys.executable, "-c", BARE, store, tok, bare_out]
        t_ours, t_bare = [], []
        for _ in range(reps):  # alternate so that load from other jobs hits both alike
            for cmd, times in ((bare, t_bare), (ours, t_ours)):
                if os.path.exists(out):
                    os.remove(out)
                t0 = time.perf_counter()
                res = subprocess.run(cmd, capture_output=True, text=True, env=env)
                times.append(time.perf_counter() - t0)
                if res.returncode:
                    raise RuntimeError(res.stderr[-2000:])
        with h5py.File(out, "r") as f:
            mine = f["tokens"][:].reshape(-1).astype(np.int64)
        ref = np.load(bare_out)
        m_ours, m_bare = statistics.median(t_ours), statistics.median(t_bare)
        results.append(
            {
                "shape": [n // t, t, d],
                "k": k,
                "tokkit_s": m_ours,
                "bare_faiss_s": m_bare,
                "throughput_ratio": m_bare / m_ours,
                "identical_indices": bool(np.array_equal(mine, ref)),
                "times": {"tokkit": t_ours, "bare": t_bare},
            }
        )
        print(json.dumps({"cli": results[-1]}), flush=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--k", type=int, default=2048)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--mem-n", default="50000,200000")
    ap.add_argument("--cli-only", action="store_true")
    ap.add_argument("--cli-n", type=int, default=200_000)
    ap.add_argument("--cli-d", type=int, default=256)
    ap.add_argument("--cli-k", type=int, default=1024)
    ap.add_argument("--cli-reps", type=int, default=3)
    args = ap.parse_args()
    from machine import machine_info

    print(json.dumps({"machine": machine_info()}), flush=True)
    if args.cli_only:
        with tempfile.TemporaryDirectory() as tmp:
            cli_vs_bare(tmp, args.cli_n, args.cli_d, args.cli_k, args.cli_reps)
        return
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        store = os.path.join(tmp, "f.h5")
        make_store(store, args.n, args.d, args.k)
        centroids = rng.standard_normal((args.k, args.d)).astype(np.float32)
        tok = os.path.join(tmp, "km")
        write_tokenizer(tok, centroids)
        # memory first: a child's peak RSS includes this process's high-water mark at fork time,
        # which the speed runs below raise (they hold all points in memory)
        mem = []
        for n in [int(v) for v in args.mem_n.split(",")]:
            s = os.path.join(tmp, f"m{n}.h5")
            make_store(s, n, args.d, args.k)
            mem.append({"n_points": n, "peak_rss_mib": peak_mib(tok, s, os.path.join(tmp, f"mt{n}.h5"))})
        print(json.dumps({"memory": mem}), flush=True)
        t_ours, t_faiss = [], []
        for _ in range(args.reps):  # alternate so that load from other jobs hits both alike
            s, fi = bare_faiss(store, centroids)
            t_faiss.append(s)
            s, oi = ours(tok, store, os.path.join(tmp, "t.h5"))
            t_ours.append(s)
        n_points = len(oi)
        speed = {
            "n_points": n_points,
            "d": args.d,
            "k": args.k,
            "tokkit_points_per_s": n_points / min(t_ours),
            "faiss_points_per_s": n_points / min(t_faiss),
            "throughput_ratio": min(t_faiss) / min(t_ours),
            "same_indices_as_faiss": float((oi == fi).mean()),
            "times": {"tokkit": t_ours, "faiss": t_faiss},
        }
        print(json.dumps({"speed": speed}), flush=True)


if __name__ == "__main__":
    main()
