"""The categorical head and token embedding of the probes, factorised for very large vocabularies.

Up to ``ProbeConfig.factorise_above`` codes (default 65,536) the head is one linear layer and one
softmax over the codebook. Above it (LFQ with 2^18 codes, IBQ-262144) a full softmax would cost a
(tokens x V) logit matrix per batch (16,384 x 262,144 floats = 17 GB at batch 64 x 256 tokens) and a
V x d head, so each id is split into two sub-tokens, ``hi = id // base`` and ``lo = id % base``
(base = ceil(sqrt(V)); for 2^18 codes these are the high and low 9 bits, Open-MAGVIT2's 9 + 9
factorisation), and the head models them by the chain rule:

    p(id | z) = p(hi | z) p(lo | z, hi),   p(lo | z, hi) = softmax(W_lo (z + E_hi[hi]))

The NLL is the exact NLL of the id under this model (nats add), so bits per token keep their meaning.
The input embedding is the sum of the two sub-token embeddings. Sampling draws the joint id by
inverse CDF with one uniform u: hi from p(hi), then lo with u rescaled inside hi's CDF interval,
which is again uniform; so a sample still depends on one uniform per position. ``argmax`` is greedy
(hi first, then lo given hi), the top-1 that the accuracy figure counts.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def categorical_draw(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Sample from softmax(logits) (..., V) by inverse CDF with uniforms u (...,): temperature 1, full softmax."""
    return _draw_with_rest(logits, u)[0]


def _draw_with_rest(logits: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, u') with u' = the position of u inside the drawn id's CDF interval, rescaled to [0, 1)."""
    cdf = F.softmax(logits.double(), -1).cumsum(-1)
    target = (u.double() * cdf[..., -1]).unsqueeze(-1).contiguous()
    idx = torch.searchsorted(cdf, target).squeeze(-1).clamp_max(logits.shape[-1] - 1)
    upper = cdf.gather(-1, idx.unsqueeze(-1)).squeeze(-1)
    lower = torch.where(idx > 0, cdf.gather(-1, (idx - 1).clamp_min(0).unsqueeze(-1)).squeeze(-1), 0.0)
    rest = ((target.squeeze(-1) - lower) / (upper - lower).clamp_min(1e-300)).clamp(0.0, 1.0 - 1e-12)
    return idx, rest


def split_sizes(vocab: int, factorise_above: int) -> tuple[int, int] | None:
    """(hi count, base) when ``vocab`` is factorised, else None."""
    if vocab <= factorise_above:
        return None
    base = math.isqrt(vocab - 1) + 1  # ceil(sqrt(V))
    return -(-vocab // base), base


class CategoricalEmbedding(nn.Module):
    """Token ids (...,) -> (..., d): one table, or the sum of the hi and lo sub-token tables."""

    def __init__(self, vocab: int, d: int, factorise_above: int):
        super().__init__()
        self.split = split_sizes(vocab, factorise_above)
        if self.split is None:
            self.table = nn.Embedding(vocab, d)
        else:
            self.hi, self.lo = nn.Embedding(self.split[0], d), nn.Embedding(self.split[1], d)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.split is None:
            return self.table(ids)
        base = self.split[1]
        return self.hi(ids // base) + self.lo(ids % base)


class CategoricalHead(nn.Module):
    """z (M, d) -> a distribution over ``vocab`` ids: NLL of targets, greedy top-1, seeded draws."""

    def __init__(self, d: int, vocab: int, factorise_above: int):
        super().__init__()
        self.vocab = vocab
        self.split = split_sizes(vocab, factorise_above)
        if self.split is None:
            self.linear = nn.Linear(d, vocab)
        else:
            hi, base = self.split
            self.hi_head, self.lo_head = nn.Linear(d, hi), nn.Linear(d, base)
            self.hi_embed = nn.Embedding(hi, d)  # conditions p(lo | z, hi)
            # hi buckets past V: the last one holds V - (hi - 1) base real ids; the rest of its lo ids are masked
            self.register_buffer("lo_valid", torch.arange(base) < vocab - (hi - 1) * base, persistent=False)

    def _lo_logits(self, z: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
        logits = self.lo_head(z + self.hi_embed(hi)).float()
        last = hi == self.split[0] - 1  # only the last hi bucket can hold ids >= V
        # a large finite floor, not -inf: guidance (lu + w (l - lu)) of two -inf logits would be NaN
        return torch.where(last[..., None] & ~self.lo_valid, -1e30, logits)

    def nll(self, z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-token NLL in nats, z (M, d), target (M,) -> (M,)."""
        if self.split is None:
            return F.cross_entropy(self.linear(z).float(), target, reduction="none")
        hi, lo = target // self.split[1], target % self.split[1]
        nll_hi = F.cross_entropy(self.hi_head(z).float(), hi, reduction="none")
        return nll_hi + F.cross_entropy(self._lo_logits(z, hi), lo, reduction="none")

    def argmax(self, z: torch.Tensor) -> torch.Tensor:
        """Top-1 ids (...,) for z (..., d): exact for one softmax, greedy (hi, then lo | hi) when factorised."""
        if self.split is None:
            return self.linear(z).argmax(-1)
        hi = self.hi_head(z).argmax(-1)
        return hi * self.split[1] + self._lo_logits(z, hi).argmax(-1)

    def draw(self, z: torch.Tensor, u: torch.Tensor, z_uncond: torch.Tensor | None = None,
             cfg: float = 1.0) -> torch.Tensor:  # fmt: skip
        """Ids (M,) drawn with uniforms u (M,); classifier-free guidance on the logits of each factor."""

        def guided(logits_of: Any) -> torch.Tensor:
            logits = logits_of(z)
            if z_uncond is None:
                return logits
            lu = logits_of(z_uncond)
            return lu + cfg * (logits - lu)

        if self.split is None:
            return categorical_draw(guided(lambda x: self.linear(x).float()), u)
        hi, rest = _draw_with_rest(guided(lambda x: self.hi_head(x).float()), u)
        lo = categorical_draw(guided(lambda x: self._lo_logits(x, hi)), rest)
        return hi * self.split[1] + lo

    def describe(self) -> str:
        if self.split is None:
            return "linear -> softmax over the codebook"
        hi, base = self.split
        return (f"factorised: p(hi | z) p(lo | z, hi), id = hi * {base} + lo ({hi} x {base} sub-tokens for "
                f"{self.vocab} codes; exact chain-rule NLL)")  # fmt: skip


__all__ = ["CategoricalEmbedding", "CategoricalHead", "categorical_draw", "split_sizes"]
