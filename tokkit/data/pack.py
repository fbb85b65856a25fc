"""``tokkit data info`` and ``tokkit data pack``: describe a source, write an HDF5 image store."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tokkit.data.sources import open_source
from tokkit.data.transforms import eval_crop
from tokkit.io.h5store import StoreWriter
from tokkit.progress import task

MAX_UNREADABLE_LISTED = 20


@dataclass
class DataInfo:
    spec: str
    kind: str
    num_images: int
    num_unreadable: int
    unreadable: list[str]
    min_size: list[int]
    max_size: list[int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def data_info(spec: str) -> DataInfo:
    """Count the readable images of ``spec``, name the unreadable ones, give min/max [H, W]."""
    source = open_source(spec)
    sizes = np.asarray(source.sizes(), dtype=np.int64).reshape(-1, 2)
    # min/max by area, ties by height: one real image size each, not a per-axis mix.
    order = np.lexsort((sizes[:, 0], sizes[:, 0] * sizes[:, 1]))
    return DataInfo(
        spec=spec,
        kind=source.kind,
        num_images=len(source),
        num_unreadable=len(source.unreadable),
        unreadable=[u.path for u in source.unreadable[:MAX_UNREADABLE_LISTED]],
        min_size=[int(v) for v in sizes[order[0]]],
        max_size=[int(v) for v in sizes[order[-1]]],
    )


@dataclass
class PackResult:
    out: str
    spec: str
    num_images: int
    image_size: int
    resumed_from: int
    num_unreadable: int
    unreadable: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pack_images(
    spec: str,
    out: str | Path,
    image_size: int,
    resume: bool = False,
    overwrite: bool = False,
    chunk_rows: int = 64,
) -> PackResult:
    """Write ``images`` (N, S, S, 3) uint8 with the eval crop (resize shorter side + center crop).

    Chunk by chunk, committing after each flush: memory holds one chunk, and ``resume`` continues
    a killed pack to the same bytes an uninterrupted pack writes.
    """
    source = open_source(spec)
    n = len(source)
    mode = "resume" if resume else ("overwrite" if overwrite else "new")
    identity = {"source_spec": spec, "image_size": int(image_size), "transform": "resize-shorter+center-crop"}
    with StoreWriter(
        out, "image", n, {"images": ((image_size, image_size, 3), np.uint8)}, identity, mode, chunk_rows
    ) as w:
        start = w.committed
        with task(f"Packing {spec}", total=n) as t:
            t.advance(start)
            for c0 in range(start, n, chunk_rows):
                c1 = min(c0 + chunk_rows, n)
                chunk = np.stack([eval_crop(source.read(i), image_size) for i in range(c0, c1)])
                w.write(c0, {"images": chunk})
                t.advance(c1 - c0)
        if not w.done:
            w.finish(num_unreadable=len(source.unreadable))
    return PackResult(
        out=str(out),
        spec=spec,
        num_images=n,
        image_size=int(image_size),
        resumed_from=start,
        num_unreadable=len(source.unreadable),
        unreadable=[u.path for u in source.unreadable[:MAX_UNREADABLE_LISTED]],
    )
