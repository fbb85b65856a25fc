"""Codebook statistics: norms, nearest-neighbour distances between codes, near duplicates, usage.

Everything over K codes is computed in row chunks so that a K=16384 codebook never builds the
K x K distance matrix: memory is ``chunk_size * K`` floats whatever K is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from tokkit.progress import task


def summary_stats(values: np.ndarray | torch.Tensor) -> dict[str, float]:
    """{"mean", "std", "min", "median", "max"} of a 1-D array (float64 arithmetic)."""
    v = values.detach().cpu().double().numpy() if isinstance(values, torch.Tensor) else np.asarray(values, np.float64)
    v = v.reshape(-1)
    if v.size == 0:
        return {
            "mean": float("nan"),
            "std": float("nan"),
            "min": float("nan"),
            "median": float("nan"),
            "max": float("nan"),
        }
    return {
        "mean": float(v.mean()),
        "std": float(v.std()),
        "min": float(v.min()),
        "median": float(np.median(v)),
        "max": float(v.max()),
    }


@dataclass
class NeighborResult:
    """``distance[i]``: L2 distance from code i to its nearest other code ``index[i]``.
    ``dup_pairs``: number of unordered pairs (i < j) closer than ``threshold``;
    ``dup_examples``: up to ``max_examples`` closest such pairs as (i, j, distance)."""

    distance: np.ndarray  # (K,) float64
    index: np.ndarray  # (K,) int64
    threshold: float
    dup_pairs: int
    dup_examples: list[tuple[int, int, float]]


def nearest_neighbors(
    codebook: torch.Tensor,
    threshold: float = 0.0,
    chunk_size: int = 1024,
    max_examples: int = 10,
    device: torch.device | str | None = None,
) -> NeighborResult:
    """Nearest other code for every code, plus the pairs within ``threshold`` (near duplicates).

    codebook: (K, D). Squared distances come from ||a||^2 + ||b||^2 - 2ab on a (chunk, K) block in
    float32; the distance to the chosen neighbour is then recomputed exactly from the difference
    vector (float64) so that exact duplicates read 0, not rounding noise.
    """
    codes = codebook.detach().float()
    if device is not None:
        codes = codes.to(device)
    k = codes.shape[0]
    if k < 2:
        raise ValueError("nearest neighbours need at least 2 codes")
    sq = (codes * codes).sum(1)  # (K,)
    nn_dist2 = torch.empty(k, device=codes.device)
    nn_idx = torch.empty(k, dtype=torch.long, device=codes.device)
    pairs = 0
    cand: list[tuple[float, int, int]] = []
    thr2 = float(threshold) ** 2
    cols = torch.arange(k, device=codes.device)
    with task("Nearest neighbours between codes", total=k) as t:
        for a in range(0, k, chunk_size):
            b = min(a + chunk_size, k)
            d2 = sq[a:b, None] + sq[None, :] - 2.0 * (codes[a:b] @ codes.T)  # (c, K)
            d2.clamp_(min=0)
            rows = torch.arange(a, b, device=codes.device)
            d2[rows - a, rows] = float("inf")  # a code is not its own neighbour
            m, j = d2.min(1)
            nn_dist2[a:b], nn_idx[a:b] = m, j
            if threshold > 0:
                # count each unordered pair once: j > i
                close = (d2 <= thr2) & (cols[None, :] > rows[:, None])
                n_close = int(close.sum())
                pairs += n_close
                if n_close:
                    vals = d2[close]
                    ii, jj = close.nonzero(as_tuple=True)
                    top = torch.topk(vals, min(max_examples, vals.numel()), largest=False).indices
                    cand.extend((float(vals[q]), int(ii[q]) + a, int(jj[q])) for q in top)
            t.advance(b - a)
    idx = nn_idx.cpu().numpy().astype(np.int64)
    cpu = codebook.detach().cpu().double()
    exact = (cpu - cpu[torch.from_numpy(idx)]).norm(dim=1).numpy()
    examples = []
    for _, i, j in sorted(cand)[:max_examples]:
        examples.append((i, j, float((cpu[i] - cpu[j]).norm())))
    examples.sort(key=lambda e: (e[2], e[0], e[1]))
    return NeighborResult(exact, idx, float(threshold), pairs, examples)


def codebook_stats(codebook: torch.Tensor, dup_tol: float = 1e-2, chunk_size: int = 1024) -> dict[str, Any]:
    """Norms, nearest-neighbour distances and near duplicates of a (K, D) codebook.

    Two codes are near duplicates when their L2 distance is at most ``dup_tol`` times the median
    code norm (so the test is scale free); exact duplicates always count.
    """
    codes = codebook.detach().float().cpu()
    k, d = codes.shape
    norms = codes.norm(dim=1)
    norm = summary_stats(norms)
    scale = norm["median"] if norm["median"] > 0 else 1.0
    threshold = dup_tol * scale
    if k >= 2:
        nn = nearest_neighbors(codes, threshold=threshold, chunk_size=chunk_size)
        nearest = summary_stats(nn.distance)
        nearest["relative_to_median_norm"] = nearest["median"] / scale
        near = {
            "threshold": threshold,
            "relative_tolerance": dup_tol,
            "pairs": nn.dup_pairs,
            "codes_with_duplicate": int((nn.distance <= threshold).sum()),
            "closest_pairs": [{"a": i, "b": j, "distance": dist} for i, j, dist in nn.dup_examples],
        }
        nn_dist = nn.distance
    else:
        nearest, near, nn_dist = None, None, np.zeros(0)
    return {
        "codebook_size": int(k),
        "dim": int(d),
        "norm": norm,
        "nearest_neighbor": nearest,
        "near_duplicates": near,
        "_norms": norms.numpy(),
        "_nn_distance": nn_dist,
    }


def usage_details(counts: np.ndarray, top: int = 10) -> dict[str, Any]:
    """``usage_from_counts`` plus the most and least used codes (least among the used ones)."""
    from tokkit.metrics.usage import usage_from_counts

    counts = np.asarray(counts, np.int64)
    out = usage_from_counts(counts)
    total = max(int(counts.sum()), 1)
    order = np.argsort(-counts, kind="stable")  # most used first, ties to the lowest index
    used = order[counts[order] > 0]

    def row(i: int) -> dict[str, Any]:
        return {"code": int(i), "count": int(counts[i]), "fraction": float(counts[i]) / total}

    out["most_used"] = [row(i) for i in used[:top]]
    rarest = np.lexsort((used, counts[used]))  # fewest uses first, ties to the lowest index
    out["least_used"] = [row(i) for i in used[rarest][:top]]
    return out


def pca_colors(vectors: torch.Tensor | np.ndarray) -> np.ndarray:
    """(K, D) -> (K, 3) float in [0, 1]: the top 3 principal components mapped to RGB, so that
    similar codes get similar colours in token maps."""
    x = torch.as_tensor(np.asarray(vectors) if not isinstance(vectors, torch.Tensor) else vectors).double().cpu()
    k = x.shape[0]
    x = x - x.mean(0, keepdim=True)
    if k < 2 or float(x.abs().max()) == 0:
        return np.full((k, 3), 0.5)
    q = min(3, x.shape[1], k)
    # principal directions from a bounded sample keeps this cheap for K=16384, D=1536
    g = torch.Generator().manual_seed(0)
    sample = x[torch.randperm(k, generator=g)[:4096]]
    _, _, v = torch.linalg.svd(sample, full_matrices=False)
    proj = x @ v[:q].T  # (K, q)
    # robust, per component: centre on the midhinge, scale by the interquartile range (floored at a
    # third of the largest one, so a near-constant component does not get its noise amplified) and
    # squash with tanh, so a few outlying codes do not wash out the contrast of all the others
    q1, q3 = torch.quantile(proj, 0.25, dim=0), torch.quantile(proj, 0.75, dim=0)
    iqr = (q3 - q1).clamp(min=1e-12)
    iqr = torch.maximum(iqr, iqr.max() / 3)
    proj = 0.5 + 0.45 * torch.tanh((proj - (q1 + q3) / 2) / iqr)
    rgb = np.full((k, 3), 0.5)
    rgb[:, :q] = proj.numpy()
    return rgb
