"""Image sources (folder, HDF5 store, builtin sets), transforms and stores.

``open_source`` needs no torch; the torch datasets load on first use.
"""

from __future__ import annotations

from typing import Any

from tokkit.data.sources import DATASETS, FolderSource, GeneratedSource, H5ImageSource, ImageSource, open_source

_LAZY = {"ImageDataset": "tokkit.data.dataset", "iter_batches": "tokkit.data.dataset"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tokkit.data' has no attribute '{name}'")


__all__ = [
    "DATASETS",
    "FolderSource",
    "GeneratedSource",
    "H5ImageSource",
    "ImageDataset",
    "ImageSource",
    "iter_batches",
    "open_source",
]
