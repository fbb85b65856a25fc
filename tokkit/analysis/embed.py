"""2-D UMAP embeddings of a fixed-seed sample (reproducible, and bounded cost for K=16384)."""

from __future__ import annotations

import logging
import warnings

import numpy as np

from tokkit.progress import task

log = logging.getLogger("tokkit.analysis")


def sample_rows(n: int, max_rows: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``max_rows`` of ``n`` rows, the same for the same seed."""
    if n <= max_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


def umap_embed(x: np.ndarray, seed: int = 0, n_neighbors: int = 15) -> np.ndarray | None:
    """(n, D) -> (n, 2) with umap-learn; None when there are too few points (fewer than 4).

    A fixed ``random_state`` makes umap single-threaded and deterministic, which is what a
    report needs. Few points get a random init: the spectral init needs a connected graph.
    """
    x = np.asarray(x, np.float32)
    n = len(x)
    if n < 4:
        return None
    x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    with task(f"UMAP of {n} points", total=1) as t:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import umap

            reducer = umap.UMAP(
                n_neighbors=max(2, min(n_neighbors, n - 1)),
                n_components=2,
                min_dist=0.1,
                random_state=seed,
                init="spectral" if n > 50 else "random",
            )
            emb = reducer.fit_transform(x)
        t.advance(1)
    return np.asarray(emb, np.float64)
