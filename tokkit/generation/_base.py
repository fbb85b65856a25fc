"""What every generator shares: the token set it models, its embeddings and heads, seeded draws.

A generator models ``TokenSet.tokens``: (N, L) int64 codes (``categorical`` head) or (N, L, C)
continuous vectors (``diffusion`` head). Slot 0 of every sequence is the class token (a learned
"null" class when unconditional); positions 1..L hold the tokens in the generator's order.
Subclasses define the input sequence and attention mask (``loss``), held-out scores and sampling.

Randomness at evaluation and sampling is drawn per sample from a generator seeded by (seed, sample
index), so results do not depend on the evaluation batch size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from tokkit.generation.backbone import Backbone
from tokkit.generation.categorical import CategoricalEmbedding, CategoricalHead
from tokkit.generation.config import ProbeConfig
from tokkit.generation.diffusion import DiffusionHead
from tokkit.registry import Registry


@dataclass
class TokenSet:
    """The sequences a probe models.

    - ``tokens``: (N, L) int64 in [0, vocab) or (N, L, C) float (normalised to unit std).
    - ``shapes``: the (h, w) grid of each scale, coarse to fine (one entry for single-scale).
    - ``labels``: (N,) int64 class indices, or None (unconditional).
    - ``scale_inputs``: (N, L - L_0, D) VAR's teacher-forced inputs of scales 1.. (next-scale only).
    """

    tokens: torch.Tensor
    shapes: list[tuple[int, int]]
    vocab: int | None = None
    labels: torch.Tensor | None = None
    num_classes: int = 0
    scale_inputs: torch.Tensor | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def continuous(self) -> bool:
        return self.tokens.dtype.is_floating_point

    @property
    def length(self) -> int:
        return int(self.tokens.shape[1])

    @property
    def channels(self) -> int | None:
        return int(self.tokens.shape[2]) if self.continuous else None

    def subset(self, idx: torch.Tensor) -> TokenSet:
        return TokenSet(
            self.tokens[idx],
            self.shapes,
            self.vocab,
            None if self.labels is None else self.labels[idx],
            self.num_classes,
            None if self.scale_inputs is None else self.scale_inputs[idx],
            self.extra,
        )

    def batch(self, idx: torch.Tensor, device: torch.device) -> dict[str, torch.Tensor]:
        out = {"tokens": self.tokens[idx].to(device)}
        if self.labels is not None:
            out["labels"] = self.labels[idx].to(device)
        if self.scale_inputs is not None:
            out["scale_inputs"] = self.scale_inputs[idx].to(device)
        return out


def sample_generators(seed: int, indices: range, salt: int) -> list[torch.Generator]:
    """One CPU generator per sample, seeded by (seed, salt, sample index)."""
    return [torch.Generator().manual_seed((seed * 1_000_003 + salt) * 1_000_033 + i) for i in indices]


def per_sample(seed: int, indices: range, salt: int, draw: Callable[[torch.Generator], torch.Tensor]) -> torch.Tensor:
    """Stack ``draw(g)`` over the samples of ``indices``, each from its own seeded generator."""
    return torch.stack([draw(g) for g in sample_generators(seed, indices, salt)])


class Generator(nn.Module):
    """Base: input embedding, class token, positions, backbone and head (categorical or diffusion)."""

    order: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init__(self, data: TokenSet, config: ProbeConfig, head: str):
        super().__init__()
        self.config, self.head_kind = config, head
        self.seq_len, self.shapes = data.length, list(data.shapes)
        self.vocab, self.channels = data.vocab, data.channels
        self.num_classes = data.num_classes
        d = config.d_model
        if data.continuous:
            self.embed: nn.Module = nn.Linear(int(data.channels or 0), d)
        else:
            self.embed = CategoricalEmbedding(int(data.vocab or 0), d, config.factorise_above)
        self.cls = nn.Embedding(self.num_classes + 1, d)  # index num_classes = null / unconditional
        self.pos = nn.Parameter(torch.zeros(1 + self.seq_len, d))
        nn.init.normal_(self.pos, std=0.02)
        self.backbone = Backbone(config)
        if head == "diffusion":
            self.head: nn.Module = DiffusionHead(
                int(data.channels or 0),
                d,
                config.head_width,
                config.head_depth,
                config.diffusion_steps,
                config.sampling_steps,
                config.diffusion_batch_mul,
            )
        else:
            self.head = CategoricalHead(d, int(data.vocab or 0), config.factorise_above)

    # --- shared pieces ------------------------------------------------------------------------------
    def class_ids(self, labels: torch.Tensor | None, b: int, device: torch.device, drop: float = 0.0,
                  g: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
        """(B,) class indices; the null class when unconditional or when dropped (prob ``drop``)."""
        null = torch.full((b,), self.num_classes, dtype=torch.long, device=device)
        if labels is None or self.num_classes == 0:
            return null
        if drop > 0:
            keep = torch.rand(b, generator=g).to(device) >= drop
            return torch.where(keep, labels, null)
        return labels

    def token_loss(self, z: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                   draws: dict[str, torch.Tensor] | None = None) -> torch.Tensor:  # fmt: skip
        """Per-token loss (B, T): CE (nats) or the diffusion eps-MSE; z (B, T, d), target (B, T[, C])."""
        b, t = z.shape[:2]
        if self.head_kind == "diffusion":
            kw = {}
            if draws is not None:
                kw = {"t": draws["t"].reshape(-1), "noise": draws["noise"].reshape(-1, self.channels)}
            return self.head.loss(target.reshape(b * t, -1), z.reshape(b * t, -1), **kw).view(b, t)
        return self.head.nll(z.reshape(b * t, -1), target.reshape(-1)).view(b, t)

    @torch.no_grad()
    def held_out_loss(self, data: TokenSet, batch_size: int, seed: int, device: torch.device,
                      outputs: Any) -> tuple[float, int, int]:  # fmt: skip
        """(summed per-token loss, correct top-1 predictions, tokens scored) over ``data``, in batches.

        ``outputs(batch, rows)`` gives the transformer outputs z (B, L, d) and the (B, L) mask of the
        tokens to score (None: all); the diffusion loss uses the fixed ``eval_draws`` of each row."""
        total, correct, n = 0.0, 0, 0
        for i in range(0, len(data.tokens), batch_size):
            rows = range(i, min(i + batch_size, len(data.tokens)))
            b = data.batch(torch.arange(rows.start, rows.stop), device)
            z, mask = outputs(b, rows)
            draws = {k: v.to(device) for k, v in self.eval_draws(seed, rows).items()}
            loss = self.token_loss(z, b["tokens"], draws=draws)
            hit = self.head.argmax(z) == b["tokens"] if self.head_kind == "categorical" else None
            if mask is not None:
                loss, hit = loss * mask, (hit & mask if hit is not None else None)
            total += float(loss.double().sum())
            correct += int(hit.sum()) if hit is not None else 0
            n += int(mask.sum()) if mask is not None else len(rows) * self.seq_len
        return total, correct, n

    def eval_draws(self, seed: int, indices: range) -> dict[str, torch.Tensor]:
        """Fixed per-sample timesteps and noise for a held-out diffusion loss (empty for categorical)."""
        if self.head_kind != "diffusion":
            return {}
        m, steps, c, length = self.config.diffusion_batch_mul, self.config.diffusion_steps, self.channels, self.seq_len
        return {
            "t": per_sample(seed, indices, 11, lambda g: torch.randint(0, steps, (length, m), generator=g)),
            "noise": per_sample(seed, indices, 12, lambda g: torch.randn(length, m, c, generator=g)),
        }

    def sample_draws(self, seed: int, indices: range) -> torch.Tensor:
        """Per-sample, per-position randomness: uniforms (n, L) or diffusion noise (n, L, draws, C)."""
        if self.head_kind == "diffusion":
            k, c = self.head.noise_draws, self.channels
            return per_sample(seed, indices, 21, lambda g: torch.randn(self.seq_len, k, c, generator=g))
        return per_sample(seed, indices, 21, lambda g: torch.rand(self.seq_len, generator=g))

    def draw_tokens(self, z: torch.Tensor, draws: torch.Tensor, z_uncond: torch.Tensor | None = None,
                    cfg: float = 1.0) -> torch.Tensor:  # fmt: skip
        """Tokens for transformer outputs z (M, d): categorical (M,) or continuous (M, C)."""
        if self.head_kind == "diffusion":
            return self.head.sample(z, draws.to(z.device), z_uncond, cfg)
        return self.head.draw(z, draws.to(z.device), z_uncond, cfg)

    def embed_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.embed(tokens)

    # --- what each order defines -------------------------------------------------------------------
    def loss(self, batch: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
        """Scalar training loss of one batch; ``g`` seeds the order's own random choices."""
        raise NotImplementedError

    @torch.no_grad()
    def evaluate(self, data: TokenSet, batch_size: int, seed: int, device: torch.device) -> dict[str, Any]:
        """Held-out scores (bits per token/image for categorical heads, eps-MSE for diffusion heads)."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, n: int, seed: int, device: torch.device, batch_size: int, labels: torch.Tensor | None = None,
               cfg: float = 1.0, **kw: Any) -> torch.Tensor:  # fmt: skip
        """(n, L) codes or (n, L, C) vectors, seeded per sample."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"order": self.order, "description": self.description}


def lr_at(step: int, c: ProbeConfig) -> float:
    """Linear warmup, cosine decay to 10%."""
    if step < c.warmup_steps:
        return c.lr * (step + 1) / c.warmup_steps
    t = (step - c.warmup_steps) / max(1, c.steps - c.warmup_steps)
    return c.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


GENERATORS: Registry[type[Generator]] = Registry("generation order")


def register_generator(cls: type[Generator]) -> type[Generator]:
    GENERATORS.register(cls.order, cls, help=cls.description)
    return cls
