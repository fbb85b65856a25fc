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
