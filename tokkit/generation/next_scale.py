"""Next-scale prediction (VAR): all tokens of scale k are predicted at once from the coarser scales.

Sequence: block 0 (s_0 x s_0 positions) holds the class token; block k > 0 holds VAR's teacher-forced
input of scale k: the tokenizer's running reconstruction f_hat of scales < k, area-downsampled to
s_k x s_k (``Tokenizer.next_scale_inputs``, the tokenizer's own quantizer rule), through a Linear.
Each position adds a learned position and its scale's level embedding. Attention is block-causal:
a token sees its own scale and every coarser one. Loss: CE averaged over all tokens (weight 1/L).
Sampling: one forward per scale with an exact KV cache, every token of the scale drawn at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from tokkit.generation._base import Generator, TokenSet, register_generator
from tokkit.generation.backbone import block_causal_mask
from tokkit.generation.config import ProbeConfig

NextInput = Callable[[list[torch.Tensor]], torch.Tensor]  # index maps of scales 0..k -> (B, s_{k+1}^2, D)


@register_generator
class NextScaleGenerator(Generator):
    order = "next-scale"
    description = "VAR-style: block-causal over scales, each scale sampled at once from the coarser ones"

    def __init__(self, data: TokenSet, config: ProbeConfig, head: str):
        super().__init__(data, config, head)
        if data.scale_inputs is None:
            raise ValueError("next-scale needs the tokenizer's teacher-forced scale inputs")
        self.sizes = [h * w for h, w in self.shapes]
        self.scale_in = nn.Linear(int(data.scale_inputs.shape[-1]), config.d_model)
        self.level = nn.Embedding(len(self.sizes), config.d_model)
        self.register_buffer(
            "levels", torch.cat([torch.full((s,), i) for i, s in enumerate(self.sizes)]), persistent=False
        )

    def inputs(self, cls: torch.Tensor, scale_inputs: torch.Tensor) -> torch.Tensor:
        """(B,) classes, (B, L - s_0^2, D) -> (B, L, d)."""
        start = self.cls(cls)[:, None].expand(-1, self.sizes[0], -1)
        x = torch.cat([start, self.scale_in(scale_inputs)], 1)
        return x + self.pos[1:] + self.level(self.levels)

    def forward_all(self, cls: torch.Tensor, scale_inputs: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.inputs(cls, scale_inputs), block_causal_mask(self.sizes, scale_inputs.device))

    def loss(self, batch: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
        tokens = batch["tokens"]
        cls = self.class_ids(batch.get("labels"), len(tokens), tokens.device, self.config.label_dropout, g)
        return self.token_loss(self.forward_all(cls, batch["scale_inputs"]), tokens).mean()

    @torch.no_grad()
    def evaluate(self, data: TokenSet, batch_size: int, seed: int, device: torch.device) -> dict[str, Any]:
        per_scale = torch.zeros(len(self.sizes), dtype=torch.float64)
        correct, n = 0, 0
        for i in range(0, len(data.tokens), batch_size):
            idx = torch.arange(i, min(i + batch_size, len(data.tokens)))
            b = data.batch(idx, device)
            z = self.forward_all(self.class_ids(b.get("labels"), len(idx), device), b["scale_inputs"])
            nll = self.token_loss(z, b["tokens"]).double().sum(0).cpu()  # (L,)
            per_scale += torch.stack([c.sum() for c in nll.split(self.sizes)])
            correct += int((self.head.argmax(z) == b["tokens"]).sum())
            n += len(idx)
        mean = float(per_scale.sum()) / (n * self.seq_len)
        bits_scale = [float(per_scale[k]) / (n * s) / math.log(2) for k, s in enumerate(self.sizes)]
        return {
            "diffusion_loss": None,
            "val_nll": mean,
            "bits_per_token": mean / math.log(2),
            "bits_per_image": mean / math.log(2) * self.seq_len,
            "top1_accuracy": correct / (n * self.seq_len),
            "bits_per_scale": {f"{h}x{w}": v for (h, w), v in zip(self.shapes, bits_scale, strict=True)},
            "measure": "held-out NLL, scales coarse to fine, each scale given the coarser ones (an exact NLL); "
            "not comparable across kinds",
        }

    @torch.no_grad()
    def sample(self, n: int, seed: int, device: torch.device, batch_size: int, labels: torch.Tensor | None = None,
               cfg: float = 1.0, next_input: NextInput | None = None, **kw: Any) -> torch.Tensor:  # fmt: skip
        if next_input is None:
            raise ValueError("next-scale sampling needs the tokenizer's next_input function")
        out = []
        for i in range(0, n, batch_size):
            b = min(batch_size, n - i)
            draws = self.sample_draws(seed, range(i, i + b))
            lab = None if labels is None else labels[i : i + b].to(device)
            out.append(self._sample_batch(draws, lab, cfg, device, next_input).cpu())
        return torch.cat(out)

    def _sample_batch(self, draws: torch.Tensor, labels: torch.Tensor | None, cfg: float, device: torch.device,
                      next_input: NextInput) -> torch.Tensor:  # fmt: skip
        b = len(draws)
        guided = labels is not None and cfg != 1.0
        cls = self.class_ids(labels, b, device)
        if guided:
            cls = torch.cat([cls, self.class_ids(None, b, device)])
        cache = self.backbone.new_cache()
        maps: list[torch.Tensor] = []
        offsets = [0, *torch.tensor(self.sizes).cumsum(0).tolist()]
        x = self.cls(cls)[:, None].expand(-1, self.sizes[0], -1)
        for k, (h, w) in enumerate(self.shapes):
            o0, o1 = offsets[k], offsets[k + 1]
            x = x + self.pos[1 + o0 : 1 + o1] + self.level.weight[k]
            z = self.backbone(x, None, cache)  # the block attends to itself and the cached coarser scales
            zc, zu = (z[:b], z[b:]) if guided else (z, None)
            flat = self.draw_tokens(zc.reshape(-1, zc.shape[-1]), draws[:, o0:o1].reshape(-1),
                                    None if zu is None else zu.reshape(-1, zu.shape[-1]), cfg)  # fmt: skip
            maps.append(flat.view(b, h, w))
            if k + 1 < len(self.shapes):
                nxt = self.scale_in(next_input(maps).to(device, x.dtype))  # (B, s_{k+1}^2, d)
                x = torch.cat([nxt, nxt]) if guided else nxt
        return torch.cat([m.reshape(b, -1) for m in maps], 1)
