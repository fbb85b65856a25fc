"""``tokkit tokenize``: a k-means tokenizer over images or a feature store -> a token store.

Token store (kind "token"): ``tokens`` (N, h, w) (or (N, T) when the features have no grid),
int16 when K <= 32768 else int32, ``image_index`` (N,); attrs ``codebook_size``, ``tokenizer``
(path), ``grid``, ``source_spec`` (and ``features`` when read from a store). Exact nearest centroid,
chunked over points and centroids; written and committed chunk by chunk, resumable.

From a feature store the chunks hold ``CHUNK_POINTS`` points (and at most ``CHUNK_BYTES`` of
float32), whatever T is: 65,536 rows of pooled (N, 1, D) vectors or 256 rows of (N, 256, D)
grids, one faiss search each. That path (on CPU) imports no torch: the checkpoint's centroids are
read with safetensors' numpy API and assigned with ``FaissAssigner``. Under ``torchrun`` the
chunks (or image batches) are shared among the ranks and rank 0 writes (``tokkit.io.sharded``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tokkit.errors import DataError, UsageError
from tokkit.progress import task

CHUNK_POINTS = 1 << 16
CHUNK_BYTES = 64 << 20


@dataclass
class TokenizeResult:
    out: str
    tokenizer: str
    num_images: int
    tokens_per_image: int
    grid: list[int] | None
    codebook_size: int
    resumed_from: int
    seconds: float
    utilization: float
    perplexity: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def token_dtype(k: int) -> type:
    return np.int16 if k <= 32768 else np.int32


def chunk_rows_for(t: int, d: int) -> int:
    """Rows per chunk: ``CHUNK_POINTS`` points, at most ``CHUNK_BYTES`` of float32, at least one row."""
    points = max(1, min(CHUNK_POINTS, CHUNK_BYTES // (4 * max(d, 1))))
    return max(1, points // max(t, 1))


def _check_store_matches(cfg: Any, attrs: dict[str, Any], d: int, features: str) -> None:
    if d != cfg.dim:
        raise DataError(
            f"'{features}' holds {d}-d features but the codebook is {cfg.dim}-d",
            hint="extract with the tokenizer's encoder",
        )
    for key, want in (("encoder", cfg.encoder), ("layer", str(cfg.layer)), ("image_size", cfg.image_size)):
        if key in attrs and want is not None and str(attrs[key]) != str(want):
            raise DataError(
                f"'{features}' was extracted with {key}={attrs[key]!r}, the tokenizer uses {want!r}",
                hint="extract again with the tokenizer's encoder settings",
            )
    if bool(attrs.get("l2_normalize", False)) and not cfg.l2_normalize:
        raise DataError(f"'{features}' holds L2-normalised features; the tokenizer expects raw ones")


def tokenize(
    tokenizer: str | Path,
    out: str | Path,
    *,
    data: str | None = None,
    features: str | Path | None = None,
    batch_size: int = 32,
    chunk_rows: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    device: str = "auto",
) -> TokenizeResult:
    """``chunk_rows``: feature-store rows per chunk (default: ``chunk_rows_for(T, D)``). Tokens do
    not depend on the chunking (exact assignment), so a resume may chunk differently."""
    from tokkit.metrics.usage import usage_from_counts

    if (data is None) == (features is None):
        raise UsageError("give exactly one of --data D or --features F.h5")
    if resume and overwrite:
        raise UsageError("--resume and --overwrite exclude each other")
    mode = "resume" if resume else ("overwrite" if overwrite else "new")
    t0 = time.perf_counter()
    if features is not None:
        n, t, grid_out, k, start, counts = _tokenize_features(tokenizer, out, features, chunk_rows, mode, device)
    else:
        n, t, grid_out, k, start, counts = _tokenize_images(tokenizer, out, data, batch_size, mode, device)
    if start > 0 or counts is None:  # usage over the whole store, not just this run's (or rank's) rows
        from tokkit.io.h5store import open_store
        from tokkit.metrics.usage import code_counts

        with open_store(out, "token") as g:  # chunk by chunk: memory stays flat in N
            tokens = g["tokens"]
            step = max(1, (1 << 22) // max(1, int(np.prod(tokens.shape[1:]))))
            counts = code_counts((tokens[r : r + step] for r in range(0, tokens.shape[0], step)), k)
    usage = usage_from_counts(counts)
    secs = time.perf_counter() - t0
    return TokenizeResult(
        out=str(out),
        tokenizer=str(tokenizer),
        num_images=n,
        tokens_per_image=int(t),
        grid=grid_out,
        codebook_size=k,
        resumed_from=start,
        seconds=secs,
        utilization=float(usage["utilization"]),
        perplexity=float(usage["perplexity"]),
    )


def _cpu_only(device: str) -> bool:
    """The torch-free path: asked for CPU, or "auto" on a machine without an NVIDIA GPU (checked
    without importing torch; a GPU machine resolves the device through torch as before)."""
    import os
    import sys

    if device == "cpu":
        return True
    if device != "auto" or "torch" in sys.modules:
        return False
    gpus = "/proc/driver/nvidia/gpus"
    return not (os.path.isdir(gpus) and os.listdir(gpus))


def _load_centroids(tokenizer: str | Path) -> tuple[Any, np.ndarray]:
    """(KMeansConfig, centroids (K, D) float32) of a k-means checkpoint, without torch."""
    from safetensors.numpy import load_file

    from tokkit.clustering.config import KMeansConfig
    from tokkit.io.checkpoint import WEIGHTS_NAME, read_checkpoint_config

    config = read_checkpoint_config(tokenizer)
    if config["architecture"] != "kmeans":
        raise UsageError(f"'{tokenizer}' is a {config['architecture']} tokenizer; tokkit tokenize takes a k-means one")
    cfg = KMeansConfig(**config["args"])
    weights = Path(tokenizer) / WEIGHTS_NAME
    try:
        c = load_file(str(weights))["centroids"]
    except Exception as e:  # a missing file, a damaged one, no centroids tensor
        raise DataError(f"cannot read the centroids in '{weights}': {e}") from e
    if c.shape != (cfg.codebook_size, cfg.dim):
        raise DataError(
            f"'{weights}' holds centroids of shape {c.shape}, the config says ({cfg.codebook_size}, {cfg.dim})"
        )
    return cfg, np.ascontiguousarray(c, dtype=np.float32)


def _assigner(tokenizer: str | Path, device: str) -> tuple[Any, int, Any]:
    """(config, K, assign(x (P, D) float32 numpy) -> (indices, sqdist))."""
    if _cpu_only(device):
        from tokkit.clustering.assign import FaissAssigner, _has_faiss

        if _has_faiss():
            cfg, c = _load_centroids(tokenizer)
            fa = FaissAssigner(c)
            return cfg, len(c), lambda x: fa(x, direct_sqdist=False)
    import torch

    from tokkit.clustering.assign import assign
    from tokkit.device import resolve_device
    from tokkit.io.checkpoint import load_tokenizer

    tok = load_tokenizer(tokenizer, device=resolve_device(device))
    if tok.architecture != "kmeans":
        raise UsageError(f"'{tokenizer}' is a {tok.architecture} tokenizer; tokkit tokenize takes a k-means one")
    centroids = tok.centroids.float()

    def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx, sq = assign(torch.from_numpy(x), centroids, direct_sqdist=False)
        return idx.numpy(), sq.numpy()

    return tok.config, tok.codebook_size, run


def _tokenize_features(
    tokenizer: str | Path, out: str | Path, features: str | Path, chunk_rows: int | None, mode: str, device: str
) -> tuple[int, int, list[int] | None, int, int, np.ndarray | None]:
    from tokkit.clustering.fit import open_feature_store
    from tokkit.io.h5store import StoreWriter, store_attrs
    from tokkit.io.sharded import finish, open_shard, sharded

    cfg, k, assign_chunk = _assigner(tokenizer, device)
    counts = np.zeros(k, np.int64)
    f = open_feature_store(features)
    try:
        ds = f["features"]
        n, t, d = ds.shape
        attrs = store_attrs(f)
        _check_store_matches(cfg, attrs, d, str(features))
        grid = attrs.get("grid")
        if grid is not None and int(grid[0]) * int(grid[1]) != t:
            grid = None
        shape = (int(grid[0]), int(grid[1])) if grid else (t,)
        normalize = cfg.l2_normalize and not attrs.get("l2_normalize", False)
        rows = int(chunk_rows) if chunk_rows else chunk_rows_for(t, d)
        identity = {
            "codebook_size": k,
            "tokenizer": str(tokenizer),
            "grid": list(shape) if grid else None,
            "source_spec": attrs.get("source_spec"),
            "features": str(features),
        }
        datasets = {"tokens": (shape, token_dtype(k)), "image_index": ((), np.int64)}
        has_index = "image_index" in f
        with sharded(_device_type(device)) as (rank, world, group):
            shard = open_shard(
                lambda: StoreWriter(out, "token", n, datasets, identity, mode=mode, chunk_rows=rows),
                n, rows, rank, world, group,
            )  # fmt: skip
            try:
                with task("Tokenizing features", total=n) as bar:
                    bar.advance(shard.done_rows)
                    for a, b in shard.runs():
                        for r0 in range(a, b, rows):
                            r1 = min(r0 + rows, b)
                            x = np.ascontiguousarray(ds[r0:r1], dtype=np.float32).reshape(-1, d)  # (P, D)
                            if normalize:
                                x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
                            try:
                                idx, sq = assign_chunk(x)
                            except DataError:  # faiss found no finite distance at all
                                idx, sq = None, None
                            if sq is None or not np.isfinite(sq).all():  # NaN/inf in a row shows in its distance
                                raise DataError(f"'{features}' has NaN or inf features in rows {r0}..{r1 - 1}")
                            counts += np.bincount(idx, minlength=k)
                            index = f["image_index"][r0:r1] if has_index else np.arange(r0, r1)
                            tokens = idx.reshape(r1 - r0, *shape).astype(token_dtype(k))
                            bar.advance(shard.put(r0, {"tokens": tokens, "image_index": index}))
                    shard.drain()
                if shard.writer is not None and not shard.writer.done:
                    finish(shard.writer)
            finally:
                if shard.writer is not None:
                    shard.writer.close()
    finally:
        f.close()
    start = shard.done_rows
    return n, t, list(shape) if grid else None, k, start, counts if world == 1 else None


def _device_type(device: str) -> Any:
    """Something with a ``.type`` for ``sharded`` (which picks gloo or nccl), without torch on CPU."""
    from types import SimpleNamespace

    if _cpu_only(device):
        return SimpleNamespace(type="cpu")
    from tokkit.device import resolve_device

    return resolve_device(device)


def _tokenize_images(
    tokenizer: str | Path, out: str | Path, data: str, batch_size: int, mode: str, device: str
) -> tuple[int, int, list[int] | None, int, int, np.ndarray | None]:
    import torch

    from tokkit.data import iter_batches, open_source
    from tokkit.device import resolve_device
    from tokkit.io.checkpoint import load_tokenizer
    from tokkit.io.h5store import StoreWriter
    from tokkit.io.sharded import finish, open_shard, sharded

    dev = resolve_device(device)
    with sharded(dev) as (rank, world, group):
        tok = load_tokenizer(tokenizer, device=dev)
        if tok.architecture != "kmeans":
            raise UsageError(f"'{tokenizer}' is a {tok.architecture} tokenizer; tokkit tokenize takes a k-means one")
        k = tok.codebook_size
        counts = np.zeros(k, np.int64)
        source = open_source(data)
        n = len(source)
        size = int(tok.config.image_size)
        shape = tuple(tok.token_shape(size))
        identity = {"codebook_size": k, "tokenizer": str(tokenizer), "grid": list(shape), "source_spec": data}
        datasets = {"tokens": (shape, token_dtype(k)), "image_index": ((), np.int64)}
        shard = open_shard(
            lambda: StoreWriter(out, "token", n, datasets, identity, mode=mode, chunk_rows=batch_size),
            n, batch_size, rank, world, group,
        )  # fmt: skip
        try:
            with task(f"Tokenizing {data}", total=n) as bar, torch.inference_mode():
                bar.advance(shard.done_rows)
                for a, b in shard.runs():
                    for row, images, idx_img in iter_batches(source, size, batch_size, a, b):
                        idx = tok.encode(images.to(dev)).indices.cpu().numpy()
                        counts += np.bincount(idx.reshape(-1), minlength=k)
                        arrays = {"tokens": idx.astype(token_dtype(k)), "image_index": idx_img.numpy().astype(np.int64)}
                        bar.advance(shard.put(row, arrays))
                shard.drain()
            if shard.writer is not None and not shard.writer.done:
                finish(shard.writer)
        finally:
            if shard.writer is not None:
                shard.writer.close()
    return n, int(np.prod(shape)), list(shape), k, shard.done_rows, counts if world == 1 else None
