"""Frozen feature encoders: images -> a grid of feature vectors at a chosen layer.

Every encoder takes images (B, 3, H, W) in [-1, 1] (it applies its own mean/std) and returns
``features`` (B, D, h, w) at its configured layer; ``pooled`` gives one global vector per image
(B, D_pool) for Frechet distances in its feature space.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import nn


class FeatureEncoder(nn.Module, ABC):
    #: the spec it was built from ("effnet-lite0", "dinov2-b-reg", "timm:NAME", "pixels", ...)
    spec: str = ""
    #: feature dimension D of ``forward``
    dim: int = 0
    #: dimension of ``pooled``
    pooled_dim: int = 0
    #: the input side it is meant to run at (images are resized to it by the caller's transform)
    input_size: int = 224

    @abstractmethod
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> (B, D, h, w)."""

    @abstractmethod
    def pooled(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> (B, D_pool), the image-level descriptor."""

    @abstractmethod
    def grid(self, image_size: int) -> tuple[int, int]:
        """(h, w) of ``forward`` at a square ``image_size``."""

    def train(self, mode: bool = True) -> FeatureEncoder:
        """Frozen encoders stay in eval mode (batch-norm statistics, dropout) whatever the parent does."""
        return super().train(False)

    def describe(self) -> dict[str, Any]:
        """What goes into store attrs and checkpoint args to rebuild this encoder."""
        return {"encoder": self.spec, "dim": self.dim}
