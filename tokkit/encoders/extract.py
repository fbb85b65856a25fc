"""``tokkit extract``: encoder features of every image into a feature store.

Store (kind "feature"): ``features`` (N, T, D) float16/float32 with T = h * w in row-major grid
order, ``image_index`` (N,) int64; attrs ``encoder``, ``layer``, ``image_size``, ``grid`` [h, w],
``l2_normalize``, ``source_spec``, ``weights`` (explicit file or null), ``dtype``; ``labels`` (N,)
and ``classes`` when the images have classes; ``num_skipped`` / ``skipped`` for images that did
not decode (their rows are left out: ``image_index`` says which image each row is). Batches are
written and committed one at a time, always at the same source boundaries, so a killed run resumed
with ``resume=True`` ends with the same bytes as an uninterrupted one; memory holds one batch.

Under ``torchrun`` every rank encodes a contiguous share of the batches and rank 0 writes them
(``tokkit.io.sharded``): the store equals the single-process one, and a killed job resumes with
any number of processes. Rows are placed by position there, so an image that fails to decode
stops a sharded run with one line (``--verify`` drops such files before the split).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tokkit.errors import UsageError

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
    num_skipped: int = 0
    skipped: list[str] | None = None

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


def _check_options(dtype: str, precision: str, resume: bool, overwrite: bool, batch_size: int) -> None:
    if dtype not in DTYPES:
        raise UsageError(f"unknown --dtype '{dtype}'; choose from {', '.join(DTYPES)}")
    if precision not in PRECISIONS:
        raise UsageError(f"unknown --precision '{precision}'; choose from {', '.join(PRECISIONS)}")
    if resume and overwrite:
        raise UsageError("--resume and --overwrite exclude each other")
    if batch_size < 1:
        raise UsageError("--batch-size must be >= 1")


@dataclass(frozen=True)
class _StoreSpec:
    """What the store is asked to hold: its identity attrs (compared on resume) and its per-row arrays."""

    identity: dict[str, Any]
    arrays: dict[str, tuple[tuple[int, ...], Any]]

    @property
    def tokens_per_image(self) -> int:
        gh, gw = self.identity["grid"]
        return int(gh * gw)


def _store_spec(
    enc: Any, size: int, data: str, dtype: str, batch_size: int, precision: str, l2_normalize: bool,
    weights: str | None, labels: Any,
) -> _StoreSpec:  # fmt: skip
    from tokkit.data.skips import label_identity

    gh, gw = enc.grid(size)
    identity = {
        **encoder_identity(enc, size, l2_normalize, weights),
        "grid": [int(gh), int(gw)],
        "source_spec": data,
        "dtype": dtype,
        "batch_size": int(batch_size),  # batch boundaries are part of the bytes (CPU kernels differ by batch)
        **({"precision": precision} if precision != "fp32" else {}),  # fp32 stores keep their old attrs
        **label_identity(labels),
    }
    arrays = {"features": ((gh * gw, enc.dim), DTYPES[dtype]), "image_index": ((), np.int64)}
    if labels is not None:
        arrays["labels"] = ((), np.int64)
    return _StoreSpec(identity, arrays)


def _batch_encoder(
    enc: Any, dev: torch.device, dtype: str, precision: str, labels: Any
) -> Callable[[torch.Tensor, torch.Tensor], dict[str, np.ndarray]]:
    """images, source indices -> the store rows of one batch."""
    amp = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def encode(images: torch.Tensor, idx: torch.Tensor) -> dict[str, np.ndarray]:
        with amp:
            f = enc(images.to(dev, non_blocking=True))  # (B, D, h, w)
        f = f.flatten(2).transpose(1, 2).float().cpu().numpy().astype(DTYPES[dtype])  # (B, T, D)
        index = idx.numpy().astype(np.int64)
        rows = {"features": f, "image_index": index}
        if labels is not None:
            rows["labels"] = labels[0][index]
        return rows

    return encode


def _summarise(
    out: str | Path, enc: Any, spec: _StoreSpec, size: int, n: int, start: int, secs: float
) -> ExtractResult:
    from tokkit.io.h5store import open_store, store_attrs

    with open_store(out, "feature") as f:
        stored = store_attrs(f)
    return ExtractResult(
        out=str(out),
        encoder=enc.spec,
        layer=spec.identity["layer"],
        num_images=int(stored.get("num_rows", n)),
        tokens_per_image=spec.tokens_per_image,
        dim=int(enc.dim),
        grid=[int(g) for g in spec.identity["grid"]],
        image_size=size,
        dtype=spec.identity["dtype"],
        resumed_from=start,
        seconds=secs,
        images_per_second=(n - start) / secs if secs > 0 else 0.0,
        num_skipped=int(stored.get("num_skipped", 0)),
        skipped=list(stored.get("skipped", []))[:20],
    )


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
    verify: bool = False,
    precision: str = "fp32",
    crop: str | None = None,
) -> ExtractResult:
    """``precision``: "fp32", or "bf16" (the encoder under ``torch.autocast`` with bfloat16: the
    GPU setting for ViT-B and larger; features are stored in ``dtype`` either way)."""
    import time

    from tokkit.data import open_source
    from tokkit.device import resolve_device
    from tokkit.encoders import create_encoder
    from tokkit.io.h5store import StoreWriter
    from tokkit.io.sharded import write_batches

    _check_options(dtype, precision, resume, overwrite, batch_size)
    dev = resolve_device(device)
    enc = create_encoder(encoder, layer=layer, weights=weights, random_init=random_init, l2_normalize=l2_normalize)
    enc = enc.to(dev)
    size = int(image_size or enc.input_size)
    source = open_source(data, verify=verify, crop=crop)
    n = len(source)
    labels = source.labels()
    spec = _store_spec(enc, size, data, dtype, batch_size, precision, l2_normalize, weights, labels)
    if source.crop != "center":  # absent = center, so stores written before --crop still resume
        spec.identity["crop"] = source.crop
    mode = "resume" if resume else ("overwrite" if overwrite else "new")

    def writer(growable: bool) -> StoreWriter:
        return StoreWriter(
            out, "feature", n, spec.arrays, spec.identity, mode=mode, chunk_rows=batch_size, growable=growable
        )

    encode = _batch_encoder(enc, dev, dtype, precision, labels)
    finish_attrs = {"dim": int(enc.dim), "tokens_per_image": spec.tokens_per_image}
    t0 = time.perf_counter()
    with torch.inference_mode():
        start = write_batches(
            writer, source, size, batch_size, num_workers, encode, finish_attrs, dev, f"Extracting {encoder} features"
        )
    return _summarise(out, enc, spec, size, n, start, time.perf_counter() - t0)
