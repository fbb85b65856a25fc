"""The transformer every generator shares: pre-LN blocks with an explicit attention mask and a KV cache.

One block type for all orders: the order is only the attention mask (causal, block-causal or none)
and what the positions hold, so every probe has the same parameters in its backbone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tokkit.errors import UsageError
from tokkit.generation.config import ProbeConfig


class KVCache:
    """Keys and values of the positions seen so far, per layer: (B, H, T, C/H) each."""

    def __init__(self, n_layer: int):
        self.k: list[torch.Tensor | None] = [None] * n_layer
        self.v: list[torch.Tensor | None] = [None] * n_layer

    @property
    def length(self) -> int:
        return 0 if self.k[0] is None else int(self.k[0].shape[2])

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.k[layer] is not None:
            k = torch.cat([self.k[layer], k], 2)  # type: ignore[list-item]
            v = torch.cat([self.v[layer], v], 2)  # type: ignore[list-item]
        self.k[layer], self.v[layer] = k, v
        return k, v


class Block(nn.Module):
    def __init__(self, c: ProbeConfig):
        super().__init__()
        self.n_head = c.n_head
        self.ln1 = nn.LayerNorm(c.d_model)
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model)
        self.proj = nn.Linear(c.d_model, c.d_model)
        self.ln2 = nn.LayerNorm(c.d_model)
        hidden = c.mlp_ratio * c.d_model
        self.mlp = nn.Sequential(nn.Linear(c.d_model, hidden), nn.GELU(), nn.Linear(hidden, c.d_model))
        self.drop = nn.Dropout(c.dropout)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, cache: KVCache | None = None, layer: int = 0
    ) -> torch.Tensor:
        """x (B, T, C); mask (T, T_total) bool, True = may attend (None = full attention)."""
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.n_head, c // self.n_head).permute(2, 0, 3, 1, 4)
        if cache is not None:
            k, v = cache.extend(layer, k, v)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, T, C/H)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(b, t, c)))
        return x + self.drop(self.mlp(self.ln2(x)))


class Backbone(nn.Module):
    """``n_layer`` blocks + final LayerNorm: (B, T, d_model) -> (B, T, d_model)."""

    def __init__(self, c: ProbeConfig):
        super().__init__()
        if c.d_model % c.n_head:
            raise UsageError(f"probe d_model {c.d_model} is not divisible by n_head {c.n_head}")
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layer))
        self.ln = nn.LayerNorm(c.d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, cache: KVCache | None = None) -> torch.Tensor:
        for i, blk in enumerate(self.blocks):
            x = blk(x, mask, cache, i)
        return self.ln(x)

    def new_cache(self) -> KVCache:
        return KVCache(len(self.blocks))


def causal_mask(t: int, device: torch.device | None = None) -> torch.Tensor:
    """(T, T) bool: position i attends to positions <= i."""
    return torch.ones(t, t, dtype=torch.bool, device=device).tril()


def block_causal_mask(sizes: list[int], device: torch.device | None = None) -> torch.Tensor:
    """(L, L) bool for blocks of ``sizes``: a token attends to its own block and every earlier one."""
    level = torch.cat([torch.full((s,), i) for i, s in enumerate(sizes)]).to(device)
    return level[:, None] >= level[None, :]
