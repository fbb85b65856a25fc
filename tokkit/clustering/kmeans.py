"""k-means: k-means++ (greedy, on a subsample) or random init, then Lloyd iterations with faiss or torch.

Objective: mean squared L2 distance of the points to their nearest centroid.
``objective_history[0]`` is that of the initial centroids, ``objective_history[i]`` that after
``i`` updates; ``objective`` is the last entry (the returned centroids). ``history_seconds[i]`` is
when ``objective_history[i]`` was known, in seconds since ``kmeans`` was called (init included),
so a reader can tell how long it took to reach any objective.

The torch backend runs on CPU or CUDA and under ``torch.distributed`` (``torchrun``): each rank
holds a shard of the points; per-centroid sums (float64), counts and the objective are combined
with ``all_reduce``, and every rank then makes the same update (same init, same empty-cluster
splits), so N processes give the centroids of one.

Early stopping (``tol``) follows faiss 1.15's ``early_stop_threshold`` rule on both backends: after
update ``i`` (i >= 1) the loop stops when ``|obj[i-1] - obj[i]| / |obj[i-1]| <= tol``. faiss's
default threshold is 0.0, "stop only when the (float32) objective is unchanged"; tokkit's default
``DEFAULT_TOL`` expresses that same rule as a relative change below float32 resolution, because
``tol=0`` means "off": every requested iteration runs. ``iterations`` reports how many ran.

The faiss backend with random init runs on numpy alone: torch (700+ MiB resident with its CUDA
libraries) is imported only by the torch backend, k-means++ and the CUDA fallback.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tokkit.errors import DataError, UsageError
from tokkit.progress import task

if TYPE_CHECKING:
    import torch

log = logging.getLogger("tokkit.clustering")

INITS = ("kmeans++", "random")
DEFAULT_TRIALS = 32
BACKENDS = ("faiss", "torch")
DEFAULT_TOL = 1e-7  # faiss 1.15's default (stop when the float32 objective no longer changes)


@dataclass
class KMeansResult:
    centroids: np.ndarray  # (K, D) float32
    k: int
    dim: int
    num_points: int
    niter: int
    objective: float
    objective_history: list[float]
    seconds: float
    backend: str
    init: str
    empty_clusters_fixed: int
    device: str = "cpu"
    init_sample: int = 0
    iterations: int = 0  # Lloyd updates run (< niter when tol stopped early)
    tol: float = 0.0
    history_seconds: list[float] = field(default_factory=list)  # when each objective was known
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The ``--json`` keys of ``tokkit fit-kmeans`` (``SUMMARY_KEYS``)."""
        d = asdict(self)
        return {k: d[k] for k in SUMMARY_KEYS}


# what ``KMeansResult.summary`` reports, in order (fit-kmeans --json adds the skipped images)
SUMMARY_KEYS = ("k", "dim", "num_points", "niter", "iterations", "tol", "objective", "objective_history",
                "history_seconds", "seconds", "backend", "init", "empty_clusters_fixed")  # fmt: skip


# --- distributed helpers --------------------------------------------------------------------------
def _dist() -> tuple[bool, int, int]:
    if "torch" not in sys.modules:  # no process group can exist without torch: do not import it
        return False, 0, 1
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return True, dist.get_rank(), dist.get_world_size()
    return False, 0, 1


def _all_reduce(t: torch.Tensor) -> torch.Tensor:
    on, _, _ = _dist()
    if on:
        import torch.distributed as dist

        dist.all_reduce(t)
    return t


def _gather_rows(x: torch.Tensor, offset: int, global_idx: torch.Tensor) -> torch.Tensor:
    """Rows ``global_idx`` (sorted, global numbering) of the sharded point set, on every rank."""
    import torch

    on, _, world = _dist()
    local = global_idx[(global_idx >= offset) & (global_idx < offset + x.shape[0])] - offset
    rows = x[local.to(x.device)].float()
    if not on:
        return rows
    import torch.distributed as dist

    counts = [torch.zeros(1, dtype=torch.long, device=x.device) for _ in range(world)]
    dist.all_gather(counts, torch.tensor([rows.shape[0]], device=x.device))
    m = int(max(c.item() for c in counts))
    pad = torch.zeros(m, x.shape[1], device=x.device)
    pad[: rows.shape[0]] = rows
    bufs = [torch.zeros_like(pad) for _ in range(world)]
    dist.all_gather(bufs, pad)
    # shards are contiguous and in rank order, so concatenation keeps the global order
    return torch.cat([b[: int(c.item())] for b, c in zip(bufs, counts, strict=True)])


# --- initialisation -------------------------------------------------------------------------------
def kmeans_plus_plus(x: torch.Tensor, k: int, gen: torch.Generator, trials: int | None = None) -> torch.Tensor:
    """Greedy k-means++ on ``x`` (M, D): each step samples ``trials`` candidates with probability
    proportional to the squared distance to the chosen centres and keeps the one that lowers the
    potential most (Arthur & Vassilvitskii's greedy variant). scikit-learn tries 2 + ln K; tokkit
    tries 32 by default: on clustered data that lowered the final objective by ~5% (noise floor
    96: 102.0 -> 96.9, 3 seeds, K=256) and costs little, since each step is dominated by reading
    the M points once, not by the number of candidates."""
    import torch

    m, d = x.shape
    trials = trials or DEFAULT_TRIALS
    xn = (x * x).sum(1)
    centers = torch.empty(k, d, dtype=x.dtype, device=x.device)
    first = int(torch.randint(m, (1,), generator=gen))
    centers[0] = x[first]
    closest = (xn - 2 * x @ x[first] + xn[first]).clamp_min_(0)
    with task("k-means++ init", total=k) as t:
        t.advance(1)
        for j in range(1, k):
            total = float(closest.sum())
            if total <= 0:  # fewer distinct points than centres: take any
                cand = torch.randint(m, (trials,), generator=gen)
            else:
                u = torch.rand(trials, generator=gen, dtype=torch.float64) * total
                cand = torch.searchsorted(torch.cumsum(closest.double(), 0), u.to(x.device)).clamp_(max=m - 1)
            dist = (xn.unsqueeze(0) - 2 * x[cand] @ x.t() + xn[cand].unsqueeze(1)).clamp_min_(0)  # (L, M)
            pot = torch.minimum(dist, closest.unsqueeze(0)).sum(1)
            best = int(torch.argmin(pot))
            centers[j] = x[cand[best]]
            closest = torch.minimum(dist[best], closest)
            t.advance(1)
    return centers


def default_init_sample(k: int) -> int:
    """Points for k-means++: 128 per centroid (64 still lost ~1% to scikit-learn's full-data
    k-means++ on unbalanced clusters in benchmarks/kmeans_bench.py), at most 2^17 (each of the K
    greedy steps reads them all)."""
    return min(128 * k, 2**17)


def random_init_rows(n_total: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random init: ``k`` distinct point positions (sorted, global numbering) and the order in which
    they become centroids (not data order). numpy, so that the faiss path never needs torch."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n_total, size=k, replace=False)).astype(np.int64)
    return idx, rng.permutation(k)


def initial_centroids(
    x: torch.Tensor, k: int, init: str, seed: int, n_total: int, offset: int = 0, init_sample: int | None = None
) -> tuple[torch.Tensor, int]:
    """(K, D) initial centroids, identical on every rank; also the number of points the init used."""
    import torch

    if init == "random":
        idx, order = random_init_rows(n_total, k, seed)
        pts = _gather_rows(x, offset, torch.from_numpy(idx))
        return pts[torch.from_numpy(order)].contiguous(), k
    gen = torch.Generator().manual_seed(seed)
    m = min(n_total, init_sample or default_init_sample(k))
    idx = torch.randperm(n_total, generator=gen)[:m].sort().values
    sub = _gather_rows(x, offset, idx)
    return kmeans_plus_plus(sub, k, gen), m


def split_empty(c: torch.Tensor, counts: torch.Tensor) -> int:
    """Re-seed every empty cluster by splitting the currently largest one in two (faiss's remedy):
    both halves get the centroid, nudged apart symmetrically. Deterministic, so ranks agree."""
    import torch

    empty = (counts == 0).nonzero().squeeze(1).tolist()
    if not empty:
        return 0
    counts = counts.clone()
    d = c.shape[1]
    sign = torch.ones(d, device=c.device)
    sign[1::2] = -1
    fixed = 0
    for j in empty:
        big = int(torch.argmax(counts))
        if counts[big] < 2:
            break  # nothing left to split: the rest stay empty and are not counted as fixed
        eps = 1e-3 * (float(c[big].norm()) / math.sqrt(d) + 1e-6)
        c[j] = c[big] + eps * sign
        c[big] = c[big] - eps * sign
        counts[j] = counts[big] // 2
        counts[big] -= counts[j]
        fixed += 1
    return fixed


# --- Lloyd ---------------------------------------------------------------------------------------
def _stats(x: torch.Tensor, c: torch.Tensor, p_chunk: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-centroid float64 sums (K, D), counts (K,), and the summed squared distance, over local points."""
    import torch

    from tokkit.clustering.assign import assign

    k, d = c.shape
    sums = torch.zeros(k, d, dtype=torch.float64, device=c.device)
    counts = torch.zeros(k, dtype=torch.float64, device=c.device)
    obj = torch.zeros(1, dtype=torch.float64, device=c.device)
    for p0 in range(0, x.shape[0], p_chunk):
        xb = x[p0 : p0 + p_chunk].to(c.device, torch.float32)
        idx, sq = assign(xb, c, exact=False)
        idx = idx.to(c.device)
        sums.index_add_(0, idx, xb.double())
        counts += torch.bincount(idx, minlength=k).double()
        obj += sq.to(c.device).double().sum()
    return sums, counts, obj


def stop_early(history: list[float], tol: float) -> bool:
    """faiss's rule: the relative change between the last two objectives is at most ``tol``."""
    if tol <= 0 or len(history) < 2:
        return False
    prev, cur = history[-2], history[-1]
    return prev != 0 and abs(prev - cur) / abs(prev) <= tol


def _lloyd_torch(
    x: torch.Tensor, c: torch.Tensor, niter: int, spherical: bool, n_total: int, tol: float = 0.0
) -> tuple[torch.Tensor, list[float], int, list[float]]:
    """Returns (centroids, history, empty clusters fixed, seconds since the start per history entry)."""
    import torch

    from tokkit.clustering.assign import chunk_sizes

    t0 = time.perf_counter()
    p_chunk = max(chunk_sizes(x.shape[0], c.shape[0], c.shape[1])[0], 4096)
    history: list[float] = []
    seconds: list[float] = []
    fixed = 0
    with task("k-means (torch)", total=niter) as t:
        for _ in range(niter):
            sums, counts, obj = _stats(x, c, p_chunk)
            for tensor in (sums, counts, obj):
                _all_reduce(tensor)
            history.append(float(obj) / n_total)  # all_reduced: every rank decides the same stop
            seconds.append(time.perf_counter() - t0)
            nonempty = counts > 0
            c = torch.where(nonempty.unsqueeze(1), (sums / counts.clamp_min(1).unsqueeze(1)).float(), c)
            fixed += split_empty(c, counts)
            if spherical:
                c = torch.nn.functional.normalize(c, dim=1)
            t.advance(1)
            if stop_early(history, tol):  # like faiss: the update of this iteration is kept
                break
    _, _, obj = _stats(x, c, p_chunk)
    history.append(float(_all_reduce(obj)) / n_total)
    seconds.append(time.perf_counter() - t0)
    return c, history, fixed, seconds


def _lloyd_faiss(
    x: np.ndarray, init: np.ndarray, niter: int, spherical: bool, seed: int, gpu: bool, tol: float = 0.0
) -> tuple[np.ndarray, list[float], int, list[float]]:
    """faiss Lloyd from ``init``; history = the objective before every update, then that of the
    returned centroids (one more search, so the reported objective is that of what is saved);
    seconds = when each was known, from faiss's own per-iteration clock."""
    from tokkit.clustering.faiss_import import import_faiss

    faiss = import_faiss()
    t0 = time.perf_counter()

    n, d = x.shape
    k = init.shape[0]
    opts: dict[str, Any] = dict(
        niter=niter,
        seed=seed,
        spherical=spherical,
        gpu=gpu,
        max_points_per_centroid=n // k + 1,  # no silent subsampling: the sample is tokkit's decision
        min_points_per_centroid=1,
        verbose=False,
    )
    if hasattr(faiss.ClusteringParameters(), "early_stop_threshold"):
        opts["early_stop_threshold"] = float(tol) if tol > 0 else -1.0  # -1: every iteration
    km = faiss.Kmeans(d, k, **opts)
    t_train = time.perf_counter() - t0
    with task("k-means (faiss)", total=niter) as t:
        if niter > 0:
            km.train(x, init_centroids=init)
            cents = np.asarray(km.centroids, dtype=np.float32)
            stats = km.iteration_stats
        else:
            cents, stats = init.copy(), []
        t.advance(niter)
    if spherical:  # faiss then assigns by inner product and reports sums of them
        msq = _mean_sq_norm(x)
        history = [msq + 1.0 - 2.0 * s["obj"] / n for s in stats]
    else:
        history = [s["obj"] / n for s in stats]
    seconds = [t_train + float(s.get("time", 0.0)) for s in stats]  # faiss: seconds since train() began
    history.append(objective(x, cents))
    seconds.append(time.perf_counter() - t0)
    fixed = int(sum(s["nsplit"] for s in stats))
    return cents, history, fixed, seconds


def _mean_sq_norm(x: np.ndarray, step: int = 1 << 16) -> float:
    return float(
        sum(np.einsum("ij,ij->", x[i : i + step], x[i : i + step], dtype=np.float64) for i in range(0, len(x), step))
        / len(x)
    )


def objective(x: np.ndarray, c: np.ndarray, step: int = 1 << 18) -> float:
    """Mean squared L2 distance to the nearest of ``c`` (float32 GEMM form, as faiss reports it,
    summed in float64), by ``NumpyAssigner`` (torch-free, faster than a faiss-cpu search), in
    chunks so that memory stays one distance block (64 MiB) whatever N is."""
    from tokkit.clustering.assign import NumpyAssigner

    a = NumpyAssigner(c)
    total = 0.0
    for i in range(0, len(x), step):
        _, dist = a(x[i : i + step], exact=False, direct_sqdist=False)
        total += float(dist.sum(dtype=np.float64))
    return total / len(x)


def faiss_gpus() -> int:
    try:
        from tokkit.clustering.faiss_import import import_faiss

        faiss = import_faiss()
    except ImportError:
        return 0
    get = getattr(faiss, "get_num_gpus", None)
    try:
        return int(get()) if get is not None else 0
    except Exception:
        return 0


def _all_finite(x: np.ndarray, step: int = 1 << 16) -> bool:
    return all(bool(np.isfinite(x[i : i + step]).all()) for i in range(0, len(x), step))


@dataclass(frozen=True)
class _Plan:
    """One k-means run's settings after validation: what both backends need."""

    k: int
    niter: int
    tol: float
    init: str
    seed: int
    spherical: bool
    n_total: int
    offset: int
    init_sample: int | None
    check_finite: bool


@dataclass
class _Fitted:
    """A backend's output; ``seconds`` counts from the start of Lloyd, which began ``t_lloyd`` after the call."""

    centroids: np.ndarray
    history: list[float]
    fixed: int
    seconds: list[float]
    init_sample: int
    t_lloyd: float
    device: str


def _check_options(init: str, backend: str, niter: int, tol: float) -> None:
    if init not in INITS:
        raise UsageError(f"unknown --init '{init}'; choose from {', '.join(INITS)}")
    if backend not in BACKENDS:
        raise UsageError(f"unknown --backend '{backend}'; choose from {', '.join(BACKENDS)}")
    if niter < 0:
        raise UsageError(f"--niter must be >= 0, got {niter}")
    if not tol >= 0:
        raise UsageError(f"--tol must be >= 0, got {tol}")
    on, _, _ = _dist()
    if on and backend != "torch":
        raise UsageError("several processes (torchrun) need --backend torch")


def _resolve_gpu(gpu: bool, backend: str, device: Any) -> tuple[str, Any, bool]:
    """(backend, device, use faiss-gpu): faiss-gpu when it sees a GPU, else the torch backend on CUDA."""
    dev: Any = device
    use_faiss_gpu = False
    if gpu:
        if backend == "faiss" and faiss_gpus() > 0:
            use_faiss_gpu = True
        else:
            import torch

            if not torch.cuda.is_available():
                raise UsageError("--gpu was asked for but no GPU is visible", hint="drop --gpu")
            if backend == "faiss":
                log.info("faiss sees no GPU (faiss-gpu not installed?): using the torch backend on CUDA")
                backend = "torch"
            dev = torch.device("cuda", torch.cuda.current_device())
    return backend, dev, use_faiss_gpu


def _points(x: np.ndarray | torch.Tensor, backend: str) -> tuple[np.ndarray | None, int, int]:
    """(numpy points or None, N, D): numpy for faiss (no copy for float32 input), None for a torch
    tensor going to the torch backend."""
    if isinstance(x, np.ndarray):
        xn = np.ascontiguousarray(x, dtype=np.float32)
    else:
        xn = x.detach().float().cpu().contiguous().numpy() if backend == "faiss" else None
    shape = tuple(xn.shape if xn is not None else x.shape)
    if len(shape) != 2:
        raise DataError(f"k-means needs points of shape (N, D), got {shape}")
    return xn, int(shape[0]), int(shape[1])


def _total_points(k: int, n_local: int, n_total: int | None) -> int:
    """All points over the ranks, checked against ``k``."""
    on, _, world = _dist()
    n_total = int(n_total if n_total is not None else n_local)
    if on and n_total == n_local and world > 1:
        log.warning("distributed k-means with n_total == local rows: every rank holds all points")
    if k < 1:
        raise UsageError(f"--k must be >= 1, got {k}")
    if k > n_total:
        raise DataError(f"--k {k} is larger than the number of points ({n_total})", hint="lower --k or add data")
    return n_total


def _fit_faiss(xn: np.ndarray, plan: _Plan, use_faiss_gpu: bool, t0: float) -> _Fitted:
    if plan.check_finite and not _all_finite(xn):
        raise DataError("the features contain NaN or inf values", hint="check the encoder and the input images")
    if plan.init == "random":  # numpy only: no torch import on this path
        idx, order = random_init_rows(plan.n_total, plan.k, plan.seed)
        c0, used = np.ascontiguousarray(xn[idx - plan.offset][order]), plan.k
    else:
        import torch

        c0t, used = initial_centroids(
            torch.from_numpy(xn), plan.k, plan.init, plan.seed, plan.n_total, plan.offset, plan.init_sample
        )
        c0 = c0t.numpy()
    if plan.spherical:
        c0 = c0 / np.maximum(np.linalg.norm(c0, axis=1, keepdims=True), 1e-12)
    t_lloyd = time.perf_counter() - t0
    cents, history, fixed, secs = _lloyd_faiss(xn, c0, plan.niter, plan.spherical, plan.seed, use_faiss_gpu, plan.tol)
    return _Fitted(cents, history, fixed, secs, used, t_lloyd, "cuda (faiss-gpu)" if use_faiss_gpu else "cpu")


def _fit_torch(x: np.ndarray | torch.Tensor, plan: _Plan, device: Any, t0: float) -> _Fitted:
    import torch

    xt = torch.from_numpy(x) if isinstance(x, np.ndarray) else x.float()
    if plan.check_finite and not bool(torch.isfinite(xt).all()):
        raise DataError("the features contain NaN or inf values", hint="check the encoder and the input images")
    dev = torch.device(device)
    c0t, used = initial_centroids(xt, plan.k, plan.init, plan.seed, plan.n_total, plan.offset, plan.init_sample)
    if plan.spherical:
        c0t = torch.nn.functional.normalize(c0t, dim=1)
    xd = xt.to(dev) if dev.type == "cuda" and xt.numel() * 4 < _free_cuda_bytes(dev) // 2 else xt
    t_lloyd = time.perf_counter() - t0
    c, history, fixed, secs = _lloyd_torch(xd, c0t.to(dev), plan.niter, plan.spherical, plan.n_total, plan.tol)
    return _Fitted(c.cpu().numpy(), history, fixed, secs, used, t_lloyd, str(dev))


def _result(fit: _Fitted, plan: _Plan, dim: int, backend: str, t0: float) -> KMeansResult:
    return KMeansResult(
        centroids=np.ascontiguousarray(fit.centroids, dtype=np.float32),
        k=plan.k,
        dim=dim,
        num_points=plan.n_total,
        niter=plan.niter,
        objective=fit.history[-1],
        objective_history=fit.history,
        seconds=time.perf_counter() - t0,
        backend=backend,
        init=plan.init,
        empty_clusters_fixed=fit.fixed,
        device=fit.device,
        init_sample=fit.init_sample,
        iterations=len(fit.history) - 1,
        tol=float(plan.tol),
        history_seconds=[round(fit.t_lloyd + s, 4) for s in fit.seconds],
    )


def kmeans(
    x: np.ndarray | torch.Tensor,
    k: int,
    *,
    niter: int = 20,
    tol: float = DEFAULT_TOL,
    init: str = "kmeans++",
    seed: int = 1234,
    spherical: bool = False,
    backend: str = "faiss",
    gpu: bool = False,
    device: str | torch.device = "cpu",
    init_sample: int | None = None,
    n_total: int | None = None,
    offset: int = 0,
    check_finite: bool = True,
) -> KMeansResult:
    """Cluster the points ``x`` (N, D) into ``k`` centroids.

    Under ``torch.distributed`` (torch backend only) ``x`` is this rank's shard: rows
    ``[offset, offset + len(x))`` of ``n_total`` points in all. ``gpu``: faiss-gpu when it sees a
    GPU, else the torch backend on CUDA, else an error; never an unguarded GPU call. ``tol``: stop
    early when the relative change of the objective is at most ``tol`` (0: run all ``niter``).
    """
    t0 = time.perf_counter()
    _check_options(init, backend, niter, tol)
    backend, dev, use_faiss_gpu = _resolve_gpu(gpu, backend, device)
    xn, n_local, d = _points(x, backend)
    total = _total_points(k, n_local, n_total)
    plan = _Plan(k, niter, tol, init, seed, spherical, total, offset, init_sample, check_finite)
    if backend == "faiss":
        fit = _fit_faiss(xn, plan, use_faiss_gpu, t0)
    else:
        fit = _fit_torch(x if xn is None else xn, plan, dev, t0)
    return _result(fit, plan, d, backend, t0)


def _free_cuda_bytes(dev: torch.device) -> int:
    import torch

    try:
        return int(torch.cuda.mem_get_info(dev)[0])
    except Exception:
        return 0
