"""Importers for published tokenizers (VAR, LlamaGen, taming, MAR KL-16, diffusers VAEs, DiGIT, and the 2025 zoo:
IBQ, Open-MAGVIT2, TiTok, VA-VAE, Cosmos, DC-AE).

Each family module registers itself on import; ``tokkit import FAMILY SRC --out DIR`` and
``tokkit.importers.import_checkpoint`` use the registry in ``_base``.
"""

from tokkit.importers._base import FAMILIES, Family, Imported, ImportRequest, Upstream, get_family, list_families
from tokkit.importers.pipeline import import_checkpoint

# Family modules register themselves on import (after the names they import from this package).
from tokkit.importers import cosmos, dcae, diffusers_vae, digit, ibq, llamagen, mar  # noqa: E402,F401  isort: skip
from tokkit.importers import open_magvit2, taming, titok, var, vavae  # noqa: E402,F401  isort: skip

__all__ = [
    "FAMILIES",
    "Family",
    "Imported",
    "ImportRequest",
    "Upstream",
    "get_family",
    "import_checkpoint",
    "list_families",
]
