"""Codebook and latent-space analysis: statistics, figures (matplotlib, Agg) and HTML reports.

``inspect_codebook(checkpoint, data=..., out=...)``, ``inspect_features(path)``,
``inspect_tokens(path)`` return an ``InspectResult`` (``summary`` dict + written ``files``).
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "InspectResult": "tokkit.analysis.codebook_report",
    "inspect_codebook": "tokkit.analysis.codebook_report",
    "inspect_features": "tokkit.analysis.store_report",
    "inspect_tokens": "tokkit.analysis.store_report",
    "codebook_stats": "tokkit.analysis.codebook",
    "nearest_neighbors": "tokkit.analysis.codebook",
    "usage_details": "tokkit.analysis.codebook",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tokkit.analysis' has no attribute '{name}'")


__all__ = sorted(_LAZY)
