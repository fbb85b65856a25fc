"""The k-means tokenizer's config, importable without torch (fit-kmeans on the faiss path writes
its checkpoint without ever importing torch; ``tokkit.tokenizers.kmeans`` re-exports it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class KMeansConfig:
    encoder: str | None = "effnet-lite0"  # None: fit on features from elsewhere, no image encoder
    layer: str | int | None = None
    image_size: int | None = 224
    l2_normalize: bool = False
    spherical: bool = False
    codebook_size: int = 256
    dim: int = 1280
    encoder_weights: str | None = None
    random_init: bool = False
    decoder: dict[str, Any] | None = None
    # the identifying attributes of the feature file the codebook was fit on (those it had of
    # STORE_IDENTITY_KEYS); tokenize --features compares them with the file it is given
    fitted_on: dict[str, Any] | None = None


# what says which features a file holds: compared between the file a codebook was fit on and the
# file it tokenizes (the grid is not: the same encoder may see another image size elsewhere)
STORE_IDENTITY_KEYS = ("encoder", "layer", "image_size", "normalisation", "l2_normalize")


def store_identity(attrs: dict[str, Any]) -> dict[str, Any]:
    """The STORE_IDENTITY_KEYS a feature file records (none, some or all), as JSON values."""
    out: dict[str, Any] = {}
    for key in STORE_IDENTITY_KEYS:
        if key in attrs:
            v = attrs[key]
            out[key] = v.tolist() if hasattr(v, "tolist") else v
    return out
