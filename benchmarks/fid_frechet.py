"""Benchmark: tokkit.metrics.frechet_distance vs the scipy.linalg.sqrtm formula at 2048-d.

Both run in this one process on the same statistics (features of 1000 and 3000 samples, so one
covariance is rank-deficient, as with small evaluation sets). Prints the time of each, the ratio
and the relative disagreement, plus the largest imaginary part sqrtm produced.

    python benchmarks/fid_frechet.py [--dim 2048] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import scipy
import scipy.linalg

from tokkit.metrics import frechet_distance


def scipy_fd(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    imag = float(np.abs(np.imag(covmean)).max()) if np.iscomplexobj(covmean) else 0.0
    fd = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(np.real(covmean)))
    return fd, imag


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from machine import machine_info

    machine = machine_info()
    rng = np.random.default_rng(0)
    d = args.dim
    mix = rng.standard_normal((d, d)) / np.sqrt(d)  # correlated features, like a network's
    x = np.maximum(rng.standard_normal((1000, d)) @ mix, 0)  # ReLU-like, 1000 < d: singular covariance
    y = np.maximum(rng.standard_normal((3000, d)) @ mix + 0.05, 0)
    mu1, s1 = x.mean(0), np.cov(x, rowvar=False)
    mu2, s2 = y.mean(0), np.cov(y, rowvar=False)

    ours = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        fd = frechet_distance(mu1, s1, mu2, s2)
        ours.append(time.perf_counter() - t)
    t = time.perf_counter()
    ref, imag = scipy_fd(mu1, s1, mu2, s2)
    t_scipy = time.perf_counter() - t
    # the same, with one BLAS thread like frechet_distance (fair on a busy, shared CPU)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        t = time.perf_counter()
        scipy_fd(mu1, s1, mu2, s2)
        t_scipy_1 = time.perf_counter() - t
    t_ours = min(ours)
    print(
        json.dumps(
            {
                "dim": d,
                "n1": len(x),
                "n2": len(y),
                "tokkit_s": round(t_ours, 3),
                "scipy_sqrtm_s": round(t_scipy, 3),
                "scipy_sqrtm_1thread_s": round(t_scipy_1, 3),
                "speedup": round(t_scipy / t_ours, 1),
                "speedup_vs_1thread": round(t_scipy_1 / t_ours, 1),
                "tokkit_fd": fd,
                "scipy_fd": ref,
                "rel_diff": abs(fd - ref) / abs(ref),
                "scipy_max_imag": imag,
                "scipy": scipy.__version__,
                "numpy": np.__version__,
                "machine": machine,
            }
        )
    )


if __name__ == "__main__":
    main()
