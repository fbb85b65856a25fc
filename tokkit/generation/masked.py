"""Random order (MAR): a bidirectional transformer fills masked tokens, in a random order per sample.

Training: per sample, a random order and a mask ratio from a Gaussian centred at 1.0 (std 0.25,
truncated to [0.7, 1.0]); the first ceil(ratio * L) positions of the order are replaced by a learned
mask embedding; the loss is on masked positions only. Same blocks as the raster probe with causal
masking off, plus the mask embedding (MAR's separate encoder/decoder is not used: equal backbones).

Sampling: start fully masked; iteration k of ``ceil(L / 4)`` keeps floor(L * cos(pi/2 (k+1)/K))
positions masked (at least 1 until the last) and samples the others of this step at once,
temperature 1. A masked model's cross-entropy is not a likelihood: reported as such.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy.stats import truncnorm
from torch import nn

from tokkit.generation._base import Generator, TokenSet, per_sample, register_generator
from tokkit.generation.config import ProbeConfig
from tokkit.generation.raster import _scores


@register_generator
class RandomOrderGenerator(Generator):
    order = "random"
    description = "MAR-style masked generator: bidirectional, random order per sample, cosine schedule"

    def __init__(self, data: TokenSet, config: ProbeConfig, head: str):
        super().__init__(data, config, head)
        self.mask_token = nn.Parameter(torch.zeros(config.d_model))
        nn.init.normal_(self.mask_token, std=0.02)

    @property
    def num_iter(self) -> int:
        return math.ceil(self.seq_len / 4)

    def mask_ratios(self, n: int, rng: np.random.Generator) -> np.ndarray:
        lo = (self.config.mask_ratio_min - 1.0) / self.config.mask_ratio_std
        return truncnorm.rvs(lo, 0.0, loc=1.0, scale=self.config.mask_ratio_std, size=n, random_state=rng)

    def masks(self, orders: torch.Tensor, ratios: np.ndarray) -> torch.Tensor:
        """(B, L) bool: True where masked, the first ceil(ratio * L) positions of each order."""
        count = torch.from_numpy(np.ceil(ratios * self.seq_len)).long().clamp(1, self.seq_len)
        rank = torch.empty_like(orders).scatter_(1, orders, torch.arange(self.seq_len).expand_as(orders).contiguous())
        return rank < count[:, None]

    def forward_masked(self, tokens: torch.Tensor, mask: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
        """z (B, L, d) for every token position; masked tokens enter only as the mask embedding."""
        x = self.embed_tokens(tokens)
        x = torch.where(mask[..., None], self.mask_token.to(x.dtype), x)
        x = torch.cat([self.cls(cls)[:, None], x], 1) + self.pos
        return self.backbone(x)[:, 1:]  # no attention mask: bidirectional

    def loss(self, batch: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
        tokens = batch["tokens"]
        b, dev = len(tokens), tokens.device
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
        orders = torch.argsort(torch.rand(b, self.seq_len, generator=g), 1)
        mask = self.masks(orders, self.mask_ratios(b, rng)).to(dev)
        cls = self.class_ids(batch.get("labels"), b, dev, self.config.label_dropout, g)
        per_token = self.token_loss(self.forward_masked(tokens, mask, cls), tokens)
        return (per_token * mask).sum() / mask.sum()

    def eval_masks(self, seed: int, indices: range) -> torch.Tensor:
        """Fixed per-sample orders and ratios (same distribution as training) for held-out scores."""

        def one(g: torch.Generator) -> torch.Tensor:
            order = torch.randperm(self.seq_len, generator=g)
            ratio = self.mask_ratios(1, np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=g))))
            return self.masks(order[None], ratio)[0]

        return per_sample(seed, indices, 31, one)

    def evaluate(self, data: TokenSet, batch_size: int, seed: int, device: torch.device) -> dict[str, Any]:
        def outputs(b: dict[str, torch.Tensor], rows: range) -> tuple[torch.Tensor, torch.Tensor]:
            mask = self.eval_masks(seed, rows).to(device)  # the held-out tokens of each row, fixed by seed
            return self.forward_masked(b["tokens"], mask, self.class_ids(b.get("labels"), len(rows), device)), mask

        total, correct, n = self.held_out_loss(data, batch_size, seed, device, outputs)
        s = _scores(self.head_kind, total / n, correct / n, self.seq_len,
                    "masked-token cross-entropy at the training mask ratios (not an NLL)")  # fmt: skip
        if self.head_kind == "categorical":
            s["bits_per_image"] = None  # a masked CE is not a likelihood: it does not add up to bits per image
        return s

    @torch.no_grad()
    def sample(self, n: int, seed: int, device: torch.device, batch_size: int, labels: torch.Tensor | None = None,
               cfg: float = 1.0, **kw: Any) -> torch.Tensor:  # fmt: skip
        out = []
        for i in range(0, n, batch_size):
            b = min(batch_size, n - i)
            orders = per_sample(seed, range(i, i + b), 32, lambda g: torch.randperm(self.seq_len, generator=g))
            draws = self.sample_draws(seed, range(i, i + b))
            lab = None if labels is None else labels[i : i + b].to(device)
            out.append(self._sample_batch(orders, draws, lab, cfg, device).cpu())
        return torch.cat(out)

    def _sample_batch(self, orders: torch.Tensor, draws: torch.Tensor, labels: torch.Tensor | None, cfg: float,
                      device: torch.device) -> torch.Tensor:  # fmt: skip
        b, length = orders.shape
        guided = labels is not None and cfg != 1.0
        cls = self.class_ids(labels, b, device)
        if guided:
            cls = torch.cat([cls, self.class_ids(None, b, device)])
        if self.head_kind == "diffusion":
            tokens = torch.zeros(b, length, int(self.channels or 0), device=device)
        else:
            tokens = torch.zeros(b, length, dtype=torch.long, device=device)
        masked = length  # positions orders[:, :masked] are still masked
        rows = torch.arange(b)[:, None]
        for k in range(self.num_iter):
            keep = math.floor(length * math.cos(math.pi / 2 * (k + 1) / self.num_iter))
            keep = 0 if k == self.num_iter - 1 else max(1, min(masked - 1, keep))
            mask = torch.zeros(b, length, dtype=torch.bool)
            mask[rows, orders[:, :masked]] = True
            mask = mask.to(device)
            inp, m = (torch.cat([tokens, tokens]), torch.cat([mask, mask])) if guided else (tokens, mask)
            z = self.forward_masked(inp, m, cls)
            pos = orders[:, keep:masked]  # (B, P): filled this iteration
            zc = z[:b][rows, pos]
            zu = z[b:][rows, pos] if guided else None
            d = draws[rows, pos]
            flat = self.draw_tokens(zc.reshape(-1, zc.shape[-1]), d.reshape(-1, *d.shape[2:]),
                                    None if zu is None else zu.reshape(-1, zu.shape[-1]), cfg)  # fmt: skip
            tokens[rows.to(device), pos.to(device)] = flat.view(*pos.shape, *flat.shape[1:]).to(tokens.dtype)
            masked = keep
            if masked == 0:
                break
        return tokens
