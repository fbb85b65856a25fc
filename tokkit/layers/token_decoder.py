"""A pixel decoder for discrete token maps that have no decoder of their own (k-means tokens).

indices (B, h, w) -> learned code embeddings (initialisable from the k-means centroids) ->
LayerNorm -> 1x1 projection -> conv decoder (ResNet blocks, nearest upsampling) -> (B, 3, h*u, w*u).
``u`` (``upsample``) may be any integer: the decoder upsamples by the next power of two and resizes
the last hidden map to the exact size (ViT/14 grids give u = 14). Output is not squashed; the
losses pull it into [-1, 1].
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tokkit.layers.conv import Decoder


class TokenDecoder(nn.Module):
    def __init__(
        self,
        codebook_size: int,
        code_dim: int,
        embed_dim: int | None = None,
        upsample: int = 16,
        channels: int = 16,
        max_mult: int = 8,
        num_res_blocks: int = 1,
        z_channels: int = 64,
        mid_attn: bool = False,
        image_size: int | None = None,
    ):
        """``embed_dim``: None = ``code_dim`` (so the embeddings can start at the centroids);
        ``channels``: width at full resolution, doubling per level up to ``max_mult`` x;
        ``image_size``: recorded for training (the size the decoder was trained at)."""
        super().__init__()
        if upsample < 1:
            raise ValueError("upsample must be >= 1")
        self.upsample = int(upsample)
        self.embed_dim = int(embed_dim or code_dim)
        self.code_dim = int(code_dim)
        self.embed = nn.Embedding(codebook_size, self.embed_dim)
        self.norm = nn.LayerNorm(self.embed_dim)  # encoder features come at arbitrary scales
        self.proj = nn.Conv2d(self.embed_dim, z_channels, 1)
        levels = math.ceil(math.log2(self.upsample)) if self.upsample > 1 else 0
        ch_mult = tuple(min(2**i, max_mult) for i in range(levels + 1))
        self.decoder = Decoder(channels, ch_mult, num_res_blocks, z_channels, attn_levels=(), mid_attn=mid_attn)

    @torch.no_grad()
    def init_from_codebook(self, codes: torch.Tensor) -> None:
        """Start the embeddings at the codebook vectors (K, code_dim) when the sizes agree."""
        if tuple(codes.shape) != tuple(self.embed.weight.shape):
            raise ValueError(f"codebook {tuple(codes.shape)} does not fit embeddings {tuple(self.embed.weight.shape)}")
        self.embed.weight.copy_(codes.float())

    @property
    def last_layer(self) -> torch.Tensor:
        return self.decoder.last_layer

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        if indices.ndim != 3:
            raise ValueError(f"expected indices (B, h, w), got shape {tuple(indices.shape)}")
        h, w = indices.shape[-2:]
        e = self.norm(self.embed(indices.long()))  # (B, h, w, E)
        z = self.proj(e.permute(0, 3, 1, 2))
        return self.decoder(z, out_size=(h * self.upsample, w * self.upsample))
