"""Raster order: a causal transformer predicts token i from the class token and tokens < i.

Sequence: slot 0 = class token, slot i = token i - 1; the output at slot i predicts token i
(row-major, scales coarse to fine for multi-scale maps). Sampling runs one position per forward
with a KV cache (``use_cache=False``: full recompute, the reference the cache is tested against).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from tokkit.generation._base import Generator, TokenSet, register_generator
from tokkit.generation.backbone import causal_mask


@register_generator
class RasterGenerator(Generator):
    order = "raster"
    description = "causal transformer, row-major order (scales coarse to fine), KV-cache sampling"

    def inputs(self, tokens: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
        """(B, L) or (B, L, C) tokens, (B,) classes -> (B, L, d): class token, then tokens 0..L-2."""
        x = torch.cat([self.cls(cls)[:, None], self.embed_tokens(tokens[:, :-1])], 1)
        return x + self.pos[: self.seq_len]

    def forward_all(self, tokens: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
        """Transformer outputs z (B, L, d); z[:, i] sees the class and tokens < i only."""
        return self.backbone(self.inputs(tokens, cls), causal_mask(self.seq_len, tokens.device))

    def loss(self, batch: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
        tokens = batch["tokens"]
        cls = self.class_ids(batch.get("labels"), len(tokens), tokens.device, self.config.label_dropout, g)
        return self.token_loss(self.forward_all(tokens, cls), tokens).mean()

    def evaluate(self, data: TokenSet, batch_size: int, seed: int, device: torch.device) -> dict[str, Any]:
        def outputs(b: dict[str, torch.Tensor], rows: range) -> tuple[torch.Tensor, None]:
            return self.forward_all(b["tokens"], self.class_ids(b.get("labels"), len(rows), device)), None

        total, correct, n = self.held_out_loss(data, batch_size, seed, device, outputs)
        return _scores(self.head_kind, total / n, correct / n, self.seq_len, "next-token NLL (an exact NLL)")

    @torch.no_grad()
    def sample(self, n: int, seed: int, device: torch.device, batch_size: int, labels: torch.Tensor | None = None,
               cfg: float = 1.0, use_cache: bool = True, **kw: Any) -> torch.Tensor:  # fmt: skip
        out = []
        for i in range(0, n, batch_size):
            b = min(batch_size, n - i)
            draws = self.sample_draws(seed, range(i, i + b))
            lab = None if labels is None else labels[i : i + b].to(device)
            out.append(self._sample_batch(b, draws, lab, cfg, device, use_cache).cpu())
        return torch.cat(out)

    def _sample_batch(self, b: int, draws: torch.Tensor, labels: torch.Tensor | None, cfg: float,
                      device: torch.device, use_cache: bool) -> torch.Tensor:  # fmt: skip
        guided = labels is not None and cfg != 1.0
        cls = self.class_ids(labels, b, device)
        if guided:  # rows [cond; uncond] share every sampled token
            cls = torch.cat([cls, self.class_ids(None, b, device)])
        cache = self.backbone.new_cache() if use_cache else None
        tokens: list[torch.Tensor] = []
        x = self.cls(cls)[:, None] + self.pos[0]
        for t in range(self.seq_len):
            if use_cache:
                z = self.backbone(x, None, cache)[:, -1]  # a single new query attends to all cached keys
            else:
                seq = torch.stack(tokens, 1) if tokens else None
                full = self.cls(cls)[:, None]
                if seq is not None:
                    full = torch.cat([full, self.embed_tokens(seq)], 1)
                full = full + self.pos[: t + 1]
                z = self.backbone(full, causal_mask(t + 1, device))[:, -1]
            zc, zu = (z[:b], z[b:]) if guided else (z, None)
            nxt = self.draw_tokens(zc, draws[:, t], zu, cfg)
            nxt = torch.cat([nxt, nxt]) if guided else nxt
            nxt = nxt.to(device)
            tokens.append(nxt)
            x = self.embed_tokens(nxt)[:, None] + self.pos[t + 1] if t + 1 < self.seq_len else x
        return torch.stack(tokens, 1)[:b]


def _scores(head: str, mean_loss: float, accuracy: float, seq_len: int, measure: str) -> dict[str, Any]:
    """The per-kind diagnostics: bits for categorical heads, eps-MSE for diffusion heads."""
    if head == "diffusion":
        return {"diffusion_loss": mean_loss, "bits_per_token": None, "bits_per_image": None, "val_nll": None,
                "top1_accuracy": None, "measure": "held-out eps-MSE of the diffusion head (fixed t and noise per "
                "token); not comparable across kinds"}  # fmt: skip
    return {
        "diffusion_loss": None,
        "val_nll": mean_loss,
        "bits_per_token": mean_loss / math.log(2),
        "bits_per_image": mean_loss / math.log(2) * seq_len,
        "top1_accuracy": accuracy,
        "measure": f"held-out {measure}; not comparable across kinds",
    }
