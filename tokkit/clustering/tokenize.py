"""``tokkit tokenize``: a k-means tokenizer over images or a feature file -> a token store.

Images can also be tokenized by any single-scale discrete tokenizer (a trained or imported VQGAN):
its own ``encode`` gives the tokens, at ``image_size`` (default: the tokenizer's native size).

Token store (kind "token"): ``tokens`` (N, h, w) (or (N, T) when the features have no grid),
int16 when K <= 32768 else int32, ``image_index`` (N,), ``labels`` (N,) when the source has class
labels; attrs ``codebook_size``, ``tokenizer`` (path), ``grid``, ``source_spec``, ``classes`` (and
``features`` when read from a feature file: any that ``open_features`` reads). Exact nearest
centroid, chunked over points and centroids; written and committed chunk by chunk, resumable.

From a feature store the chunks hold ``CHUNK_POINTS`` points (and at most ``CHUNK_BYTES`` of
float32), whatever T is: 65,536 rows of pooled (N, 1, D) vectors or 256 rows of (N, 256, D)
grids, one assignment each. That path (on CPU) imports no torch: the checkpoint's centroids are
read with safetensors' numpy API and assigned with ``NumpyAssigner``. Under ``torchrun`` the
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
    num_skipped: int = 0
    skipped: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def token_dtype(k: int) -> type:
    return np.int16 if k <= 32768 else np.int32


def chunk_rows_for(t: int, d: int) -> int:
    """Rows per chunk: ``CHUNK_POINTS`` points, at most ``CHUNK_BYTES`` of float32, at least one row."""
    points = max(1, min(CHUNK_POINTS, CHUNK_BYTES // (4 * max(d, 1))))
    return max(1, points // max(t, 1))


def _check_store_matches(cfg: Any, attrs: dict[str, Any], d: int, features: str) -> None:
    """A codebook tokenizes a file of its own kind of features: same dimension, and the identifying
    attributes both files record agree (a file that records none of them is taken on trust)."""
    from tokkit.clustering.config import store_identity

    if d != cfg.dim:
        raise DataError(
            f"'{features}' holds {d}-d features but the codebook is {cfg.dim}-d",
            hint="extract with the tokenizer's encoder",
        )
    given = store_identity(attrs)
    if cfg.fitted_on is not None:  # the codebook knows the file it was fit on: compare those attributes
        wanted = cfg.fitted_on
        what = "the codebook was fit on features with"
    else:  # an older checkpoint, or one fit on images: compare the encoder settings it has
        wanted = {"encoder": cfg.encoder, "layer": cfg.layer, "image_size": cfg.image_size}
        what = "the tokenizer uses"
    for key in ("encoder", "layer", "image_size", "normalisation"):
        want = wanted.get(key)
        if key in given and want is not None and str(given[key]) != str(want):
            raise DataError(
                f"'{features}' was extracted with {key}={given[key]!r}, {what} {key}={want!r}",
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
    image_size: int | None = None,
    grid: str | None = None,
    verify: bool = False,
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
        n, t, grid_out, k, start, counts = _tokenize_features(tokenizer, out, features, chunk_rows, mode, device, grid)
        skipped: dict[str, Any] = {"num_skipped": 0, "skipped": []}
    else:
        n, t, grid_out, k, start, counts, skipped = _tokenize_images(
            tokenizer, out, data, batch_size, mode, device, image_size, verify
        )
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
        **skipped,
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
        from tokkit.clustering.assign import NumpyAssigner

        cfg, c = _load_centroids(tokenizer)
        na = NumpyAssigner(c)
        return cfg, len(c), lambda x: na(x, direct_sqdist=False)
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
    tokenizer: str | Path, out: str | Path, features: str | Path, chunk_rows: int | None, mode: str, device: str,
    grid: str | None,
) -> tuple[int, int, list[int] | None, int, int, np.ndarray | None]:  # fmt: skip
    from tokkit.data.features import open_features
    from tokkit.io.h5store import StoreWriter
    from tokkit.io.sharded import open_shard, sharded

    cfg, k, assign_chunk = _assigner(tokenizer, device)
    counts = np.zeros(k, np.int64)
    with open_features(features, grid=grid) as src:
        n, t, d = src.shape
        attrs = src.attrs
        _check_store_matches(cfg, attrs, d, str(features))
        if src.external and t > 1:
            src.require_grid("a token store of (N, h, w) maps")
        shape = tuple(src.grid) if src.grid else (t,)
        normalize = cfg.l2_normalize and not attrs.get("l2_normalize", False)
        rows = int(chunk_rows) if chunk_rows else chunk_rows_for(t, d)
        identity = {
            "codebook_size": k,
            "tokenizer": str(tokenizer),
            "grid": list(shape) if src.grid else None,
            "source_spec": attrs.get("source_spec"),
            "features": str(features),
        }
        datasets = {"tokens": (shape, token_dtype(k)), "image_index": ((), np.int64)}
        labels = src.labels()
        if labels is not None:
            datasets["labels"] = ((), np.int64)
            identity["classes"] = labels[1]
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
                            x = np.ascontiguousarray(src.read(r0, r1), dtype=np.float32).reshape(-1, d)  # (P, D)
                            if normalize:
                                x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
                            idx, sq = assign_chunk(x)
                            if not np.isfinite(sq).all():  # NaN/inf in a row shows in its distance
                                bad = r0 + int(np.flatnonzero(~np.isfinite(x).all(1))[0]) // t
                                raise DataError(f"'{features}' has NaN or inf features (first in row {bad})")
                            counts += np.bincount(idx, minlength=k)
                            out_rows = {
                                "tokens": idx.reshape(r1 - r0, *shape).astype(token_dtype(k)),
                                "image_index": src.image_index(r0, r1),
                            }
                            if labels is not None:
                                out_rows["labels"] = labels[0][r0:r1]
                            bar.advance(shard.put(r0, out_rows))
                    shard.drain()
                if shard.writer is not None and not shard.writer.done:
                    shard.writer.finish()
            finally:
                if shard.writer is not None:
                    shard.writer.close()
        grid_out = list(shape) if src.grid else None
    return n, t, grid_out, k, shard.done_rows, counts if world == 1 else None


def _device_type(device: str) -> Any:
    """Something with a ``.type`` for ``sharded`` (which picks gloo or nccl), without torch on CPU."""
    from types import SimpleNamespace

    if _cpu_only(device):
        return SimpleNamespace(type="cpu")
    from tokkit.device import resolve_device

    return resolve_device(device)


def _tokenize_images(
    tokenizer: str | Path, out: str | Path, data: str, batch_size: int, mode: str, device: str,
    image_size: int | None, verify: bool,
) -> tuple[int, int, list[int] | None, int, int, np.ndarray | None, dict[str, Any]]:  # fmt: skip
    import os

    import torch

    from tokkit.data import open_source
    from tokkit.data.skips import label_identity
    from tokkit.device import resolve_device
    from tokkit.io.checkpoint import load_tokenizer
    from tokkit.io.h5store import StoreWriter, open_store, store_attrs
    from tokkit.io.sharded import write_batches

    dev = resolve_device(device)
    tok = load_tokenizer(tokenizer, device=dev)
    is_kmeans = tok.architecture == "kmeans"
    if not is_kmeans and tok.kind != "discrete":
        raise UsageError(f"'{tokenizer}' is a {tok.kind} {tok.architecture} tokenizer; tokens need one index map")
    if is_kmeans:
        tok.encoder  # noqa: B018  (a codebook without an image encoder says here why it cannot take images)
    k = tok.codebook_size
    counts = np.zeros(k, np.int64)
    source = open_source(data, verify=verify)
    n = len(source)
    if is_kmeans and image_size and image_size != int(tok.config.image_size):
        raise UsageError(f"this k-means tokenizer encodes at {tok.config.image_size} px, not {image_size}")
    size = image_size or (int(tok.config.image_size) if is_kmeans else tok.native_image_size)
    if not size:
        raise UsageError(f"'{tokenizer}' has no native image size", hint="give --image-size")
    shape = tuple(tok.token_shape(size))
    labels = source.labels()
    identity = {
        "codebook_size": k,
        "tokenizer": str(tokenizer),
        "grid": list(shape),
        "source_spec": data,
        **label_identity(labels),
    }
    arrays = {"tokens": (shape, token_dtype(k)), "image_index": ((), np.int64)}
    if labels is not None:
        arrays["labels"] = ((), np.int64)

    def encode(images: torch.Tensor, idx: torch.Tensor) -> dict[str, np.ndarray]:
        ids = tok.encode(images.to(dev)).indices.cpu().numpy()
        counts[:] += np.bincount(ids.reshape(-1), minlength=k)
        index = idx.numpy().astype(np.int64)
        rows = {"tokens": ids.astype(token_dtype(k)), "image_index": index}
        if labels is not None:
            rows["labels"] = labels[0][index]
        return rows

    def writer(growable: bool) -> StoreWriter:
        return StoreWriter(out, "token", n, arrays, identity, mode=mode, chunk_rows=batch_size, growable=growable)

    with torch.inference_mode():
        start = write_batches(writer, source, size, batch_size, None, encode, {}, dev, f"Tokenizing {data}")
    with open_store(out, "token") as f:
        stored = store_attrs(f)
    skipped = {"num_skipped": int(stored.get("num_skipped", 0)), "skipped": list(stored.get("skipped", []))[:20]}
    sharded_run = int(os.environ.get("WORLD_SIZE", "1")) > 1  # counts are per rank: recount from the store
    n_rows = int(stored.get("num_rows", n))
    return n_rows, int(np.prod(shape)), list(shape), k, start, None if sharded_run else counts, skipped
