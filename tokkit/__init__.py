"""tokkit: image tokenizers and latent-space analysis.

Heavy modules (torch) load on first use so that ``tokkit --help`` stays fast.

Dependency direction (a module imports only modules below it, function-level imports included; kept by
tests/test_import_graph.py): at the bottom ``errors``, ``registry``, ``progress``, ``device``; then ``layers``;
the tokenizer interface and registry (``tokenizers/_base.py``, ``tokenizers/_registry.py``); ``io`` (checkpoint
loading finds the families through the tokenizer registry; ``io/sharded.py`` borrows the leaf helpers
``train/distributed.py`` and ``data/skips.py``); ``losses``; ``data``; ``encoders``; ``clustering``; the tokenizer
families (``tokenizers/kmeans.py`` builds its encoder through the encoder registry, ``msvq``/``vae``/``vqgan``
use ``losses``); ``metrics`` (usage, fid, recon, stability); ``generation`` (``metrics/compare.py`` and
``metrics/probe.py`` sit above it); ``train``; ``analysis``; ``importers``; ``demo``; and ``tokkit_cli`` on top.
A registry that must reach modules above it (tokenizer families, import families, builtin datasets) names
them as strings and imports them on its first lookup, so there is no import edge back up.
"""

from __future__ import annotations

from typing import Any

from tokkit.errors import DataError, TokkitError, UsageError, WeightsMissingError

__version__ = "0.3.0"

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
