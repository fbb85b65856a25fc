"""``tokkit tokenize``: a k-means tokenizer over images or a feature store -> a token store.

Images can also be tokenized by any single-scale discrete tokenizer (a trained or imported VQGAN):
its own ``encode`` gives the tokens, at ``image_size`` (default: the tokenizer's native size).

Token store (kind "token"): ``tokens`` (N, h, w) (or (N, T) when the features have no grid),
int16 when K <= 32768 else int32, ``image_index`` (N,), ``labels`` (N,) when the source has class
labels; attrs ``codebook_size``, ``tokenizer`` (path), ``grid``, ``source_spec``, ``classes`` (and
``features`` when read from a feature file: any that ``open_features`` reads). Exact nearest centroid,
chunked over points and centroids; written and committed chunk by chunk, resumable.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tokkit.errors import DataError, UsageError
from tokkit.progress import task


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


def _check_store_matches(tok: Any, attrs: dict[str, Any], d: int, features: str) -> None:
    cfg = tok.config
    if d != cfg.dim:
        raise DataError(
            f"'{features}' holds {d}-d features but the codebook is {cfg.dim}-d",
            hint="extract with the tokenizer's encoder",
        )
    if cfg.encoder is None:  # fit on features from elsewhere: the dimension is all there is to check
        return
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
    chunk_rows: int = 256,
    resume: bool = False,
    overwrite: bool = False,
    device: str = "auto",
    image_size: int | None = None,
    grid: str | None = None,
    verify: bool = False,
) -> TokenizeResult:
    from tokkit.clustering.assign import assign
    from tokkit.device import resolve_device
    from tokkit.io.checkpoint import load_tokenizer
    from tokkit.io.h5store import StoreWriter
    from tokkit.metrics.usage import code_counts, usage_from_counts

    if (data is None) == (features is None):
        raise UsageError("give exactly one of --data D or --features F")
    if grid is not None and features is None:
        raise UsageError("--grid describes a --features file; the tokenizer gives the grid of --data")
    if resume and overwrite:
        raise UsageError("--resume and --overwrite exclude each other")
    dev = resolve_device(device)
    tok = load_tokenizer(tokenizer, device=dev)
    is_kmeans = tok.architecture == "kmeans"
    if not is_kmeans and (features is not None or tok.kind != "discrete"):
        what = "--features needs a k-means tokenizer" if features is not None else "tokens need one index map"
        raise UsageError(f"'{tokenizer}' is a {tok.kind} {tok.architecture} tokenizer; {what}")
    k = tok.codebook_size
    mode = "resume" if resume else ("overwrite" if overwrite else "new")
    counts = np.zeros(k, np.int64)
    skipped: dict[str, Any] = {"num_skipped": 0, "skipped": []}
    t0 = time.perf_counter()
    if features is not None:
        from tokkit.data.features import open_features

        with open_features(features, grid=grid) as src:
            n, t, d = src.shape
            attrs = src.attrs
            _check_store_matches(tok, attrs, d, str(features))
            centroids = tok.centroids.float()
            if src.external and t > 1:
                src.require_grid("a token store of (N, h, w) maps")
            shape = src.grid if src.grid else (t,)
            normalize = tok.config.l2_normalize and not attrs.get("l2_normalize", False)
            identity = {
                "codebook_size": k,
                "tokenizer": str(tokenizer),
                "grid": list(shape) if src.grid else None,
                "source_spec": attrs.get("source_spec"),
                "features": str(features),
            }
            arrays = {"tokens": (tuple(shape), token_dtype(k)), "image_index": ((), np.int64)}
            labels = src.labels()
            if labels is not None:
                arrays["labels"] = ((), np.int64)
                identity["classes"] = labels[1]
            with StoreWriter(out, "token", n, arrays, identity, mode=mode, chunk_rows=chunk_rows) as w:
                start = w.committed
                with task("Tokenizing features", total=n) as bar:
                    bar.advance(start)
                    for r0 in range(start, n, chunk_rows):
                        r1 = min(r0 + chunk_rows, n)
                        block = np.asarray(src.read(r0, r1), dtype=np.float32).reshape(-1, d)
                        finite = np.isfinite(block).all(1)
                        if not finite.all():
                            bad = r0 + int(np.flatnonzero(~finite)[0]) // t
                            raise DataError(f"'{features}' has NaN or inf features (first in row {bad})")
                        x = torch.from_numpy(block)
                        if normalize:
                            x = torch.nn.functional.normalize(x, dim=1)
                        idx, _ = assign(x, centroids, direct_sqdist=False)
                        idx = idx.numpy()
                        counts += np.bincount(idx, minlength=k)
                        rows = {"tokens": idx.reshape(r1 - r0, *shape).astype(token_dtype(k))}
                        rows["image_index"] = src.image_index(r0, r1)
                        if labels is not None:
                            rows["labels"] = labels[0][r0:r1]
                        w.write(r0, rows)
                        bar.advance(r1 - r0)
                if not w.done:
                    w.finish()
        grid_out = list(shape) if src.grid else None
    else:
        from tokkit.data import iter_batches, open_source
        from tokkit.data.skips import SkipLog, label_identity
        from tokkit.io.h5store import store_attrs

        if is_kmeans:
            tok.encoder  # noqa: B018  (a codebook without an image encoder says here why it cannot take images)
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
        with StoreWriter(out, "token", n, arrays, identity, mode=mode, chunk_rows=batch_size, growable=True) as w:
            skips = SkipLog(source, store_attrs(w.file))
            start = int(store_attrs(w.file).get("source_next", w.committed))
            with task(f"Tokenizing {data}", total=n) as bar, torch.inference_mode():
                bar.advance(start)
                for row, images, idx_img in iter_batches(source, size, batch_size, start=start):
                    idx = tok.encode(images.to(dev)).indices.cpu().numpy()
                    counts += np.bincount(idx.reshape(-1), minlength=k)
                    index = idx_img.numpy().astype(np.int64)
                    rows = {"tokens": idx.astype(token_dtype(k)), "image_index": index}
                    if labels is not None:
                        rows["labels"] = labels[0][index]
                    end_row = min(row + batch_size, n)
                    w.write(w.committed, rows, attrs=skips.commit_attrs(end_row))
                    bar.advance(end_row - row)
            if not w.done:
                w.finish(**skips.finish_attrs())
            stored = store_attrs(w.file)
            n = int(stored["num_rows"])
            skipped = {"num_skipped": int(stored.get("num_skipped", 0)), "skipped": stored.get("skipped", [])[:20]}
        t = int(np.prod(shape))
        grid_out = list(shape)
    if start > 0:  # usage over the whole store, not just the resumed part
        from tokkit.io.h5store import open_store

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
