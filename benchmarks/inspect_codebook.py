"""Scale check for ``tokkit inspect codebook``: a K=16384 codebook on CPU.

Measures, in one process: the chunked nearest-neighbour pass of tokkit.analysis against faiss
IndexFlatL2 (k=2) on the same codes (time ratio and agreement), the peak size of one distance
block vs the full K x K matrix it avoids, and the UMAP of the fixed-seed 2000-code sample.

Run: python benchmarks/inspect_codebook.py [--k 16384] [--dim 1280]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=16384)
    ap.add_argument("--dim", type=int, default=1280)
    ap.add_argument("--chunk", type=int, default=1024)
    ap.add_argument("--umap-sample", type=int, default=2000)
    args = ap.parse_args()
    from machine import machine_info, machine_line

    machine = machine_info()

    import faiss

    from tokkit.analysis.codebook import codebook_stats
    from tokkit.analysis.embed import sample_rows, umap_embed

    rng = np.random.default_rng(0)
    # clustered codes, like a k-means codebook: 256 centres + spread
    centres = rng.normal(size=(256, args.dim)).astype(np.float32) * 3
    codes = centres[rng.integers(0, 256, args.k)] + rng.normal(size=(args.k, args.dim)).astype(np.float32)
    x = torch.from_numpy(codes)

    t = time.perf_counter()
    stats = codebook_stats(x, chunk_size=args.chunk)
    t_tokkit = time.perf_counter() - t

    t = time.perf_counter()
    index = faiss.IndexFlatL2(args.dim)
    index.add(codes)
    d2, idx = index.search(codes, 2)
    t_faiss = time.perf_counter() - t
    ref = np.sqrt(np.maximum(d2[:, 1], 0))
    rel = np.abs(stats["_nn_distance"] - ref) / np.maximum(ref, 1e-6)

    t = time.perf_counter()
    pick = sample_rows(args.k, args.umap_sample, 0)
    umap_embed(codes[pick], seed=0)
    t_umap = time.perf_counter() - t

    block_mb = args.chunk * args.k * 4 / 2**20
    full_mb = args.k * args.k * 4 / 2**20
    print(machine_line(info=machine) + "\n")
    print(
        "| K | D | tokkit stats (s) | faiss k=2 (s) | ratio | max rel. diff | block MiB | full KxK MiB "
        f"| UMAP {len(pick)} (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.k} | {args.dim} | {t_tokkit:.2f} | {t_faiss:.2f} | {t_tokkit / t_faiss:.2f} | {rel.max():.1e} "
        f"| {block_mb:.0f} | {full_mb:.0f} | {t_umap:.1f} |"
    )


if __name__ == "__main__":
    main()
