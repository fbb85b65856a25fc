"""``tokkit data info`` and ``tokkit data pack``: describe a source, write an HDF5 image store."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tokkit.data.decode import UnreadableImage
from tokkit.data.skips import MAX_LISTED, SkipLog, label_identity
from tokkit.data.sources import open_source
from tokkit.data.transforms import eval_crop
from tokkit.io.h5store import StoreWriter, store_attrs
from tokkit.progress import task

MAX_UNREADABLE_LISTED = MAX_LISTED


@dataclass
class DataInfo:
    spec: str
    kind: str
    num_images: int
    num_unreadable: int
    unreadable: list[str]
    min_size: list[int]
    max_size: list[int]
    verified: bool
    num_skipped: int
    skipped: list[str]
    num_classes: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def data_info(spec: str, verify: bool = False) -> DataInfo:
    """Count the images of ``spec``, name the unreadable ones, give min/max [H, W] and the class
    count. Without ``verify`` a folder is read by headers only: ``num_images`` counts the files
    whose header reads (``verified`` false: a file with damaged pixels is found when it is read);
    ``verify`` decodes every file."""
    source = open_source(spec, verify=verify)
    sizes = np.asarray(source.sizes(), dtype=np.int64).reshape(-1, 2)
    # min/max by area, ties by height: one real image size each, not a per-axis mix.
    order = np.lexsort((sizes[:, 0], sizes[:, 0] * sizes[:, 1]))
    skipped = [u.path for u in source.unreadable[:MAX_UNREADABLE_LISTED]]
    labels = source.labels()
    return DataInfo(
        spec=spec,
        kind=source.kind,
        num_images=len(source),
        num_unreadable=len(source.unreadable),
        unreadable=skipped,
        min_size=[int(v) for v in sizes[order[0]]],
        max_size=[int(v) for v in sizes[order[-1]]],
        verified=bool(source.verified),
        num_skipped=len(source.unreadable),
        skipped=skipped,
        num_classes=None if labels is None else len(labels[1]),
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
    num_skipped: int
    skipped: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pack_images(
    spec: str,
    out: str | Path,
    image_size: int,
    resume: bool = False,
    overwrite: bool = False,
    chunk_rows: int = 64,
    verify: bool = False,
    crop: str = "center",
) -> PackResult:
    """Write ``images`` (N, S, S, 3) uint8 with the eval crop (resize shorter side + center crop).

    Chunk by chunk, committing after each flush: memory holds one chunk, and ``resume`` continues
    a killed pack to the same bytes an uninterrupted pack writes.
    """
    source = open_source(spec, verify=verify, crop=crop)
    n = len(source)
    mode = "resume" if resume else ("overwrite" if overwrite else "new")
    labels = source.labels()
    identity = {
        "source_spec": spec,
        "image_size": int(image_size),
        "transform": "resize-shorter+center-crop" if crop == "center" else "adm-center_crop_arr",
        **({"crop": crop} if crop != "center" else {}),  # absent = center: older stores stay valid
        **label_identity(labels),
    }
    arrays = {"images": ((image_size, image_size, 3), np.uint8), "image_index": ((), np.int64)}
    if labels is not None:
        arrays["labels"] = ((), np.int64)
    with StoreWriter(out, "image", n, arrays, identity, mode, chunk_rows, growable=True) as w:
        stored = store_attrs(w.file)
        skips = SkipLog(source, stored)
        start = int(stored.get("source_next", w.committed))
        with task(f"Packing {spec}", total=n) as t:
            t.advance(start)
            for c0 in range(start, n, chunk_rows):
                c1 = min(c0 + chunk_rows, n)
                crops, index = [], []
                for i in range(c0, c1):
                    try:
                        crops.append(eval_crop(source.read(i), image_size, source.crop))
                        index.append(i)
                    except UnreadableImage as e:  # skipped at read time, by what the file is
                        source.note_skipped(i, str(e) or "unreadable")
                if index:
                    rows = {"images": np.stack(crops), "image_index": np.asarray(index, np.int64)}
                    if labels is not None:
                        rows["labels"] = labels[0][index]
                    w.write(w.committed, rows, attrs=skips.commit_attrs(c1))
                t.advance(c1 - c0)
        if not w.done:
            w.finish(num_unreadable=skips.num_skipped(), **skips.finish_attrs())
        stored = store_attrs(w.file)
    named = list(stored.get("skipped", []))[:MAX_UNREADABLE_LISTED]
    return PackResult(
        out=str(out),
        spec=spec,
        num_images=int(stored["num_rows"]),
        image_size=int(image_size),
        resumed_from=start,
        num_unreadable=int(stored.get("num_skipped", 0)),
        unreadable=named,
        num_skipped=int(stored.get("num_skipped", 0)),
        skipped=named,
    )
