"""``tokkit extract``: encoder features of every image into a feature store.

Store (kind "feature"): ``features`` (N, T, D) float16/float32 with T = h * w in row-major grid
order, ``image_index`` (N,) int64; attrs ``encoder``, ``layer``, ``image_size``, ``grid`` [h, w],
``l2_normalize``, ``source_spec``, ``weights`` (explicit file or null), ``dtype``. Batches are
written and committed one at a time, always at the same boundaries, so a killed run resumed with
``resume=True`` ends with the same bytes as an uninterrupted one; memory holds one batch.

Under ``torchrun`` every rank encodes a contiguous share of the batches and rank 0 writes them
(``tokkit.io.sharded``): the store equals the single-process one, and a killed job resumes with
any number of processes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tokkit.errors import UsageError
from tokkit.progress import task

DTYPES = {"float16": np.float16, "float32": np.float32}
PRECISIONS = ("fp32", "bf16")


@dataclass
class ExtractResult:
    out: str
    encoder: str
    layer: str
    num_images: int
    tokens_per_image: int
    dim: int
    grid: list[int]
    image_size: int
    dtype: str
    resumed_from: int
    seconds: float
    images_per_second: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def encoder_identity(encoder: Any, image_size: int, l2_normalize: bool, weights: str | None) -> dict[str, Any]:
    return {
        "encoder": encoder.spec,
        "layer": str(getattr(encoder, "layer", "last")),
        "image_size": int(image_size),
        "l2_normalize": bool(l2_normalize),
        "weights": "random-init"
        if getattr(encoder, "random_init", False)
        else (str(Path(weights).resolve()) if weights else ""),
    }


def extract_features(
    encoder: str,
    data: str,
    out: str | Path,
    *,
    layer: str | int | None = None,
    image_size: int | None = None,
    batch_size: int = 32,
    dtype: str = "float16",
    l2_normalize: bool = False,
    weights: str | None = None,
    random_init: bool = False,
    resume: bool = False,
    overwrite: bool = False,
    device: str = "auto",
    num_workers: int | None = None,
    precision: str = "fp32",
) -> ExtractResult:
    """``precision``: "fp32", or "bf16" (the encoder under ``torch.autocast`` with bfloat16: the
    GPU setting for ViT-B and larger; features are stored in ``dtype`` either way)."""
    import time

    from tokkit.data import iter_batches, open_source
    from tokkit.device import resolve_device
    from tokkit.encoders import create_encoder
    from tokkit.io.h5store import StoreWriter
    from tokkit.io.sharded import finish as finish_store
    from tokkit.io.sharded import open_shard, sharded

    if dtype not in DTYPES:
        raise UsageError(f"unknown --dtype '{dtype}'; choose from {', '.join(DTYPES)}")
    if resume and overwrite:
        raise UsageError("--resume and --overwrite exclude each other")
    if batch_size < 1:
        raise UsageError("--batch-size must be >= 1")
    if precision not in PRECISIONS:
        raise UsageError(f"unknown --precision '{precision}'; choose from {', '.join(PRECISIONS)}")
    dev = resolve_device(device)
    enc = create_encoder(encoder, layer=layer, weights=weights, random_init=random_init, l2_normalize=l2_normalize)
    enc = enc.to(dev)
    size = int(image_size or enc.input_size)
    gh, gw = enc.grid(size)
    source = open_source(data)
    n = len(source)
    identity = {
        **encoder_identity(enc, size, l2_normalize, weights),
        "grid": [int(gh), int(gw)],
        "source_spec": data,
        "dtype": dtype,
        "batch_size": int(batch_size),  # batch boundaries are part of the bytes (CPU kernels differ by batch)
        **({"precision": precision} if precision != "fp32" else {}),  # fp32 stores keep their old attrs
    }
    t_count = gh * gw
    mode = "resume" if resume else ("overwrite" if overwrite else "new")
    datasets = {"features": ((t_count, enc.dim), DTYPES[dtype]), "image_index": ((), np.int64)}
    t0 = time.perf_counter()
    with sharded(dev) as (rank, world, group):
        shard = open_shard(
            lambda: StoreWriter(out, "feature", n, datasets, identity, mode=mode, chunk_rows=batch_size),
            n, batch_size, rank, world, group,
        )  # fmt: skip
        try:
            amp = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16")
            with task(f"Extracting {encoder} features", total=n) as t, torch.inference_mode(), amp:
                t.advance(shard.done_rows)
                for r0, r1 in shard.runs():
                    for row, images, idx in iter_batches(source, size, batch_size, r0, r1, num_workers=num_workers):
                        f = enc(images.to(dev, non_blocking=True))  # (B, D, h, w)
                        f = f.flatten(2).transpose(1, 2).float().cpu().numpy().astype(DTYPES[dtype])  # (B, T, D)
                        t.advance(shard.put(row, {"features": f, "image_index": idx.numpy().astype(np.int64)}))
                shard.drain()
            if shard.writer is not None and not shard.writer.done:
                finish_store(shard.writer, dim=int(enc.dim), tokens_per_image=int(t_count))
        finally:
            if shard.writer is not None:
                shard.writer.close()
    start = shard.done_rows
    secs = time.perf_counter() - t0
    return ExtractResult(
        out=str(out),
        encoder=enc.spec,
        layer=identity["layer"],
        num_images=n,
        tokens_per_image=int(t_count),
        dim=int(enc.dim),
        grid=[int(gh), int(gw)],
        image_size=size,
        dtype=dtype,
        resumed_from=start,
        seconds=secs,
        images_per_second=(n - start) / secs if secs > 0 else 0.0,
    )
