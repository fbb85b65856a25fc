"""Chunked, resumable HDF5 stores (images, features, tokens).

Every store has root attrs ``format`` ("tokkit-<kind>-store"), ``format_version``,
``tokkit_version``, ``num_rows``, ``committed`` (rows known good) and ``complete``. Rows are written
in order; ``committed`` is raised only after the chunk's data is flushed to disk, so a killed
writer resumes from ``committed`` and ends with the same content as an uninterrupted run.
``identity`` attrs (source spec, image size, encoder, ...) must match on resume.

A ``growable`` store is created with ``num_rows`` as an upper bound (``max_rows`` attr) for
sources that may skip images at read time; ``finish`` shrinks its datasets to the rows written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from tokkit.errors import StoreError, UsageError

FORMAT_VERSION = 1


def _attr_value(v: Any) -> Any:
    """HDF5 attrs hold scalars, strings and arrays; everything else is stored as JSON text."""
    if isinstance(v, (str, int, float, bool, np.integer, np.floating, np.bool_)):
        return v
    if isinstance(v, (list, tuple)) and v and all(isinstance(x, (int, float)) for x in v):
        return np.asarray(v)
    return "json:" + json.dumps(v)


def read_attr(v: Any) -> Any:
    if isinstance(v, bytes):
        v = v.decode()
    if isinstance(v, str) and v.startswith("json:"):
        return json.loads(v[5:])
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def store_attrs(f: h5py.File) -> dict[str, Any]:
    return {k: read_attr(v) for k, v in f.attrs.items()}


# Bookkeeping that only an unfinished store needs to resume: dropped by ``finish``.
RESUME_ATTRS = ("written", "source_next", "num_skipped_at_read", "skipped_at_read", "max_rows")


class StoreWriter:
    """Create or resume a store with fixed-size row datasets.

    ``datasets``: name -> (row_shape, dtype); each gets shape (num_rows, *row_shape), chunked by
    ``chunk_rows`` along the first axis. ``identity``: attrs that must equal those of a store being
    resumed. ``mode``: "new" (error when the file exists), "resume", or "overwrite".
    """

    def __init__(
        self,
        path: str | Path,
        kind: str,
        num_rows: int,
        datasets: dict[str, tuple[tuple[int, ...], Any]],
        identity: dict[str, Any],
        mode: str = "new",
        chunk_rows: int = 64,
        compression: str | None = None,
        growable: bool = False,
    ):
        from tokkit import __version__

        self.path = Path(path)
        self.kind = kind
        self.num_rows = int(num_rows)
        self.growable = bool(growable)
        fmt = f"tokkit-{kind}-store"
        exists = self.path.exists()
        if exists and mode == "new":
            raise UsageError(
                f"'{self.path}' already exists", hint="pass --resume to continue it or --overwrite to replace it"
            )
        if exists and mode == "resume":
            self.file = self._open_resume(fmt, datasets, identity)
        else:
            if mode == "resume":
                pass  # nothing to resume: start fresh
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if exists:
                self.path.unlink()
            self.file = h5py.File(self.path, "w")
            f = self.file
            f.attrs["format"] = fmt
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["tokkit_version"] = __version__
            f.attrs["num_rows"] = self.num_rows
            if self.growable:
                f.attrs["max_rows"] = self.num_rows
            f.attrs["complete"] = False
            for k, v in identity.items():
                f.attrs[k] = _attr_value(v)
            for name, (row_shape, dtype) in datasets.items():
                # h5py refuses a chunk larger than a 0-row dataset: an empty store is contiguous.
                chunk = (min(chunk_rows, self.num_rows), *row_shape) if self.num_rows else None
                maxshape = (None, *row_shape) if self.growable else None
                f.create_dataset(
                    name,
                    shape=(self.num_rows, *row_shape),
                    dtype=dtype,
                    chunks=chunk if chunk or not self.growable else (1, *row_shape),
                    compression=compression,
                    maxshape=maxshape,
                )
            f.attrs["committed"] = 0
            f.flush()
        self.committed = int(self.file.attrs["committed"])

    def _open_resume(self, fmt: str, datasets: dict, identity: dict) -> h5py.File:
        try:
            f = h5py.File(self.path, "r+")
        except OSError as e:
            raise StoreError(
                f"cannot resume '{self.path}': the file is damaged ({e})", hint="use --overwrite to start over"
            ) from e
        attrs = store_attrs(f)
        problems = []
        if attrs.get("format") != fmt:
            problems.append(f"format is {attrs.get('format')!r}, expected {fmt!r}")
        rows = attrs.get("max_rows", attrs.get("num_rows"))  # a finished growable store has shrunk
        if rows != self.num_rows:
            problems.append(f"it has {rows} rows, this run makes {self.num_rows}")
        for k, v in identity.items():
            if read_attr(_attr_value(v)) != attrs.get(k):
                problems.append(f"{k} was {attrs.get(k)!r}, now {v!r}")
        for name, (row_shape, dtype) in datasets.items():
            if name not in f or f[name].shape[1:] != tuple(row_shape) or f[name].dtype != np.dtype(dtype):
                problems.append(f"dataset '{name}' differs")
        if problems:
            f.close()
            raise UsageError(
                f"cannot resume '{self.path}': {'; '.join(problems)}", hint="use --overwrite to start over"
            )
        return f

    @property
    def done(self) -> bool:
        return bool(self.file.attrs["complete"])

    def write(self, start: int, arrays: dict[str, np.ndarray], attrs: dict[str, Any] | None = None) -> None:
        """Write rows [start, start + n) of every dataset, flush, then commit them; ``attrs`` are set
        in the same commit (e.g. how far into the source the rows reach)."""
        if start != self.committed:
            raise RuntimeError(f"rows must be written in order: committed={self.committed}, got start={start}")
        n = None
        for name, arr in arrays.items():
            n = len(arr) if n is None else n
            if len(arr) != n:
                raise ValueError("all arrays of one write must have the same number of rows")
            self.file[name][start : start + n] = arr
        self.file.flush()
        self.committed = start + (n or 0)
        self.set_attrs(**(attrs or {}))
        self.file.attrs["committed"] = self.committed
        self.file.flush()

    def set_attrs(self, **attrs: Any) -> None:
        for k, v in attrs.items():
            self.file.attrs[k] = _attr_value(v)

    def finish(self, **attrs: Any) -> None:
        if self.growable and self.committed != self.num_rows:  # rows skipped at read time
            for ds in self.file.values():
                if isinstance(ds, h5py.Dataset) and ds.shape and ds.shape[0] == self.num_rows:
                    ds.resize(self.committed, axis=0)
            self.num_rows = self.committed
            self.file.attrs["num_rows"] = self.committed
        if self.committed != self.num_rows:
            raise RuntimeError(f"finish() with {self.committed}/{self.num_rows} rows committed")
        for key in RESUME_ATTRS:  # a finished store has the same attrs however it was written
            if key in self.file.attrs:
                del self.file.attrs[key]
        self.set_attrs(**attrs)
        self.file.attrs["complete"] = True
        self.file.flush()

    def close(self) -> None:
        if self.file.id.valid:
            self.file.close()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_store(path: str | Path, kind: str, allow_incomplete: bool = False) -> h5py.File:
    """Open a finished store read-only; clear errors for anything that is not one."""
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"'{path}' does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise StoreError(f"'{path}' is not a readable HDF5 file ({e.__class__.__name__})") from e
    fmt = read_attr(f.attrs.get("format", ""))
    expected = f"tokkit-{kind}-store"
    if fmt != expected:
        f.close()
        what = f"a {fmt}" if isinstance(fmt, str) and fmt.startswith("tokkit-") else "not a tokkit store"
        raise StoreError(f"'{path}' is {what}; expected a {expected}")
    if not allow_incomplete and not bool(f.attrs.get("complete", False)):
        committed, n = int(f.attrs.get("committed", 0)), int(f.attrs.get("num_rows", 0))
        f.close()
        raise StoreError(
            f"'{path}' is incomplete ({committed}/{n} rows written)",
            hint="rerun the command that wrote it with --resume",
        )
    return f
