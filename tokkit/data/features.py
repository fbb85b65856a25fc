"""Feature files behind ``--features``: one reader for tokkit stores and features from elsewhere.

``open_features(path)`` accepts
- a feature store written by ``tokkit extract`` (attrs name the encoder, layer, grid, ...);
- any HDF5 file with a ``features`` dataset (N, T, D) or (N, D), e.g. written with h5py by hand:
  no tokkit attrs needed, treated as complete (optional ``image_index`` (N,), ``labels`` (N,));
- a ``.npy`` file of (N, D) or (N, T, D), memory-mapped (never loaded whole);
- a folder of ``.npy`` shards (DiGIT's layout), concatenated along N in name order, numbers in
  names compared as numbers (``feat_2.npy`` before ``feat_10.npy``).

Every one of them is a ``FeatureSource``: ``shape`` (N, T, D), ``grid`` (h, w) or None, ``dtype``,
``attrs`` (tokkit's, empty for files from elsewhere) and chunked reads ``read(start, stop)`` ->
(n, T, D) in the stored dtype. (N, D) files are (N, 1, D). The grid comes from the store's attrs,
else ``--grid HxW``, else T when it is a square (T = 1 is a 1x1 grid).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from tokkit.errors import DataError, StoreError, UsageError

NPY_LAYOUT = "(N, D) or (N, T, D)"


def parse_grid(text: str | tuple[int, int] | list[int] | None) -> tuple[int, int] | None:
    """``"16x16"`` -> (16, 16); None stays None."""
    if text is None:
        return None
    if isinstance(text, (tuple, list)):
        h, w = (int(v) for v in text)
    else:
        m = re.fullmatch(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*", str(text))
        if not m:
            raise UsageError(f"--grid takes HxW (e.g. 16x16), got {text!r}")
        h, w = int(m.group(1)), int(m.group(2))
    if h < 1 or w < 1:
        raise UsageError(f"--grid sides must be >= 1, got {h}x{w}")
    return h, w


def _natural_key(p: Path) -> list[Any]:
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", p.name)]


class FeatureSource:
    """Rows of feature vectors, (N, T, D), read in chunks. Use as a context manager (or ``close``)."""

    def __init__(
        self,
        path: Path,
        kind: str,
        parts: list[Any],
        tokens: int,
        dim: int,
        dtype: np.dtype,
        attrs: dict[str, Any],
        handle: Any = None,
        committed: int | None = None,
    ):
        self.path = path
        self.kind = kind  # "store" | "hdf5" | "npy" | "npy-shards"
        self._parts = parts  # arrays or h5py datasets, each (n_i, T, D) or (n_i, D)
        self._bounds = np.cumsum([0] + [int(p.shape[0]) for p in parts])
        self.num_rows = int(self._bounds[-1])
        self.tokens = int(tokens)
        self.dim = int(dim)
        self.dtype = np.dtype(dtype)
        self.attrs = attrs
        self._handle = handle  # the open h5py.File, when there is one
        self.committed = self.num_rows if committed is None else int(committed)
        self.grid: tuple[int, int] | None = None

    # --- what it is ------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.num_rows, self.tokens, self.dim)

    @property
    def external(self) -> bool:
        """Written by something other than tokkit extract: no encoder is known."""
        return self.kind != "store"

    @property
    def complete(self) -> bool:
        return bool(self.attrs.get("complete", True)) if not self.external else True

    def describe(self) -> dict[str, Any]:
        """Provenance of a codebook fit on these features."""
        return {
            "path": str(self.path),
            "kind": self.kind,
            "shape": list(self.shape),
            "dtype": str(self.dtype),
            "grid": list(self.grid) if self.grid else None,
        }

    def require_grid(self, what: str) -> tuple[int, int]:
        if self.grid is None:
            raise DataError(
                f"'{self.path}' has {self.tokens} vectors per row, not a square, and no grid: {what} needs one",
                hint="give --grid HxW",
            )
        return self.grid

    # --- reads -----------------------------------------------------------------------------------
    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as (n, T, D) in the stored dtype; reads only those rows."""
        stop = min(int(stop), self.num_rows)
        start = max(0, int(start))
        pieces = []
        first = int(np.searchsorted(self._bounds, start, side="right")) - 1
        for i in range(max(first, 0), len(self._parts)):
            lo, hi = int(self._bounds[i]), int(self._bounds[i + 1])
            if lo >= stop:
                break
            a, b = max(start, lo) - lo, min(stop, hi) - lo
            if a >= b:
                continue
            try:
                block = self._parts[i][a:b]
                if isinstance(block, np.memmap) or not block.flags.writeable:
                    block = np.array(block)  # the rows themselves, not a read-only view of the map
            except OSError as e:
                raise StoreError(f"cannot read rows {lo + a}.. of '{self.path}': the file is damaged ({e})") from e
            pieces.append(block.reshape(b - a, self.tokens, self.dim))
        if not pieces:
            return np.empty((0, self.tokens, self.dim), self.dtype)
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def read_rows(self, rows: np.ndarray) -> np.ndarray:
        """Rows at sorted unique indices ``rows``, (len(rows), T, D)."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.kind in ("store", "hdf5") and len(self._parts) == 1:
            return np.asarray(self._parts[0][rows]).reshape(len(rows), self.tokens, self.dim)
        if not len(rows):
            return np.empty((0, self.tokens, self.dim), self.dtype)
        return np.stack([self.read(int(r), int(r) + 1)[0] for r in rows])

    def image_index(self, start: int, stop: int) -> np.ndarray:
        """The source image of each row (int64); the row number when the file does not say."""
        f = self._handle
        if f is not None and "image_index" in f and f["image_index"].shape[0] == self.num_rows:
            return np.asarray(f["image_index"][start:stop], dtype=np.int64)
        return np.arange(start, min(stop, self.num_rows), dtype=np.int64)

    def labels(self) -> tuple[np.ndarray, list[str]] | None:
        """(labels (N,) int64, classes) when the file holds class labels, else None."""
        f = self._handle
        if f is None or "labels" not in f or f["labels"].shape != (self.num_rows,):
            return None
        from tokkit.io.h5store import read_attr

        labels = np.asarray(f["labels"][:], dtype=np.int64)
        classes = read_attr(f.attrs["classes"]) if "classes" in f.attrs else None
        if not isinstance(classes, list):
            classes = [str(c) for c in range(int(labels.max()) + 1 if len(labels) else 0)]
        return labels, [str(c) for c in classes]

    def close(self) -> None:
        if self._handle is not None and self._handle.id.valid:
            self._handle.close()

    def __enter__(self) -> FeatureSource:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _check_layout(shape: tuple[int, ...], dtype: np.dtype, where: str) -> tuple[int, int]:
    """(T, D) of an (N, D) or (N, T, D) float array."""
    if len(shape) not in (2, 3):
        raise DataError(f"{where} has shape {tuple(shape)}, expected {NPY_LAYOUT}")
    if not np.issubdtype(dtype, np.floating):
        raise DataError(f"{where} holds {dtype} values, expected floating-point features")
    t, d = (1, shape[1]) if len(shape) == 2 else (shape[1], shape[2])
    if t < 1 or d < 1:
        raise DataError(f"{where} has shape {tuple(shape)}: no feature vectors")
    return int(t), int(d)


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"'{path}' is not a readable .npy array ({e})") from e


def _open_npy(path: Path) -> FeatureSource:
    arr = _load_npy(path)
    t, d = _check_layout(arr.shape, arr.dtype, f"'{path}'")
    return FeatureSource(path, "npy", [arr], t, d, arr.dtype, {})


def _open_shards(path: Path) -> FeatureSource:
    files = sorted((p for p in path.iterdir() if p.suffix.lower() == ".npy" and p.is_file()), key=_natural_key)
    if not files:
        raise DataError(f"'{path}' is a folder without .npy shards", hint=f"each shard holds {NPY_LAYOUT} features")
    arrays = [_load_npy(p) for p in files]
    layouts = [(*_check_layout(a.shape, a.dtype, f"shard '{p}'"), a.ndim) for a, p in zip(arrays, files, strict=True)]
    for (t, d, nd), a, p in zip(layouts, arrays, files, strict=True):
        if (t, d, nd) != layouts[0]:
            raise DataError(
                f"shards differ: '{files[0].name}' is {tuple(arrays[0].shape)}, '{p.name}' is {tuple(a.shape)}",
                hint="every shard must have the same vectors per row and the same dimension",
            )
    dtypes = {a.dtype for a in arrays}
    if len(dtypes) > 1:
        raise DataError(f"shards under '{path}' mix dtypes {sorted(map(str, dtypes))}")
    t, d, _ = layouts[0]
    return FeatureSource(path, "npy-shards", arrays, t, d, arrays[0].dtype, {"shards": [p.name for p in files]})


def _open_h5(path: Path, allow_incomplete: bool) -> FeatureSource:
    import h5py

    from tokkit.io.h5store import open_store, read_attr, store_attrs

    try:
        with h5py.File(path, "r") as f:
            fmt = read_attr(f.attrs.get("format", ""))
    except OSError as e:
        raise StoreError(f"'{path}' is not a readable HDF5 file ({e.__class__.__name__})") from e
    if isinstance(fmt, str) and fmt.startswith("tokkit-"):
        f = open_store(path, "feature", allow_incomplete=allow_incomplete)  # wrong kind / incomplete: clear errors
        kind, attrs = "store", store_attrs(f)
    else:
        f = h5py.File(path, "r")
        kind, attrs = "hdf5", {k: read_attr(v) for k, v in f.attrs.items()}
    ds = f.get("features")
    if not isinstance(ds, h5py.Dataset):
        f.close()
        raise StoreError(f"'{path}' has no 'features' dataset", hint=f"the layout: 'features' {NPY_LAYOUT}")
    try:
        t, d = _check_layout(ds.shape, ds.dtype, f"'{path}' dataset 'features'")
    except DataError:
        f.close()
        raise
    committed = None
    if kind == "store":
        committed = int(attrs.get("committed", -1))
        if committed != ds.shape[0] and not allow_incomplete:
            f.close()
            raise StoreError(f"'{path}' is truncated: {committed} of {ds.shape[0]} rows committed")
    return FeatureSource(path, kind, [ds], t, d, ds.dtype, attrs, handle=f, committed=committed)


def open_features(
    path: str | Path, grid: str | tuple[int, int] | None = None, allow_incomplete: bool = False
) -> FeatureSource:
    """Open ``--features``: a tokkit feature store, any HDF5 with ``features``, a .npy, or a folder of
    .npy shards. ``grid`` (``"HxW"``) names the grid of files that do not record one."""
    path = Path(path).expanduser()
    if path.is_dir():
        src = _open_shards(path)
    elif not path.exists():
        raise StoreError(f"'{path}' does not exist")
    elif path.suffix.lower() == ".npy":
        src = _open_npy(path)
    else:
        src = _open_h5(path, allow_incomplete)
    try:
        src.grid = _resolve_grid(src, parse_grid(grid))
    except Exception:
        src.close()
        raise
    return src


def _resolve_grid(src: FeatureSource, given: tuple[int, int] | None) -> tuple[int, int] | None:
    stored = src.attrs.get("grid")
    if isinstance(stored, list) and len(stored) == 2 and int(stored[0]) * int(stored[1]) == src.tokens:
        stored_grid = (int(stored[0]), int(stored[1]))
        if given is not None and given != stored_grid:
            raise UsageError(f"--grid {given[0]}x{given[1]} contradicts the grid {list(stored_grid)} of '{src.path}'")
        return stored_grid
    if given is not None:
        if given[0] * given[1] != src.tokens:
            raise UsageError(
                f"--grid {given[0]}x{given[1]} has {given[0] * given[1]} positions, "
                f"'{src.path}' has {src.tokens} vectors per row"
            )
        return given
    side = int(round(src.tokens**0.5))
    return (side, side) if side * side == src.tokens else None
