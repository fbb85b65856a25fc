"""tokkit: image tokenizers and latent-space analysis.

Heavy modules (torch) load on first use so that ``tokkit --help`` stays fast.
"""

from __future__ import annotations

from typing import Any

from tokkit.errors import DataError, TokkitError, UsageError, WeightsMissingError

__version__ = "0.2.1"

_LAZY = {
    "load_tokenizer": "tokkit.io.checkpoint",
    "save_checkpoint": "tokkit.io.checkpoint",
    "create_tokenizer": "tokkit.tokenizers",
    "list_tokenizers": "tokkit.tokenizers",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tokkit' has no attribute '{name}'")


__all__ = [
    "DataError",
    "TokkitError",
    "UsageError",
    "WeightsMissingError",
    "__version__",
    "create_tokenizer",
    "list_tokenizers",
    "load_tokenizer",
    "save_checkpoint",
]
