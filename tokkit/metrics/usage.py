"""Codebook usage over a whole evaluation set (not a training-window proxy).

utilization = distinct codes used / K; entropy in bits over code frequencies (max log2 K);
perplexity = exp(entropy in nats) = 2 ** entropy_bits; dead codes = K - distinct used.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


def code_counts(indices: Any, codebook_size: int) -> np.ndarray:
    """Histogram (K,) int64 of code indices. ``indices``: array/tensor of any shape, or an
    iterable of them (counting chunk by chunk keeps memory flat)."""
    counts = np.zeros(int(codebook_size), dtype=np.int64)
    # an array/tensor is one chunk; any other iterable (list, generator) yields chunks lazily
    chunks: Iterable[Any] = [indices] if hasattr(indices, "shape") or np.isscalar(indices) else indices
    for chunk in chunks:
        arr = chunk.detach().cpu().numpy() if hasattr(chunk, "detach") else np.asarray(chunk)
        arr = arr.reshape(-1).astype(np.int64, copy=False)
        if arr.size and (arr.min() < 0 or arr.max() >= codebook_size):
            raise ValueError(f"indices outside [0, {codebook_size}): min {arr.min()}, max {arr.max()}")
        counts += np.bincount(arr, minlength=codebook_size)
    return counts


def usage_from_counts(counts: np.ndarray) -> dict[str, Any]:
    counts = np.asarray(counts, dtype=np.int64)
    k = int(counts.size)
    total = int(counts.sum())
    used = int((counts > 0).sum())
    if total:
        p = counts[counts > 0] / total
        entropy_bits = float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0: one used code gives 0.0, not -0.0
    else:
        entropy_bits = 0.0
    return {
        "codebook_size": k,
        "utilization": used / k if k else 0.0,
        "perplexity": float(2.0**entropy_bits),
        "entropy_bits": entropy_bits,
        "dead_codes": k - used,
        "num_tokens": total,
    }


def codebook_usage(indices: Any, codebook_size: int) -> dict[str, Any]:
    """{"codebook_size", "utilization", "perplexity", "entropy_bits", "dead_codes", "num_tokens"}."""
    return usage_from_counts(code_counts(indices, codebook_size))
