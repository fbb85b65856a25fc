"""The one training loop every generator uses: AdamW, warmup + cosine lr, grad clipping, seeded batches."""

from __future__ import annotations

import torch
from torch import nn

from tokkit.generation._base import Generator, TokenSet, lr_at
from tokkit.generation.config import ProbeConfig


def train_generator(model: Generator, data: TokenSet, config: ProbeConfig, seed: int,
                    device: torch.device) -> list[float]:  # fmt: skip
    """Fit ``model`` on ``data`` for ``config.steps``; returns the loss every 10 steps (and the last)."""
    from tokkit.progress import task

    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, betas=(0.9, 0.95))
    g = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    model.train()
    with task(f"Training the {model.order} probe", total=config.steps) as t:
        for step in range(config.steps):
            batch = data.batch(torch.randint(0, len(data.tokens), (config.batch_size,), generator=g), device)
            loss = model.loss(batch, g)
            for group in opt.param_groups:
                group["lr"] = lr_at(step, config)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            if step % 10 == 0 or step == config.steps - 1:
                losses.append(float(loss.detach()))
            t.advance(1)
    model.eval()
    return losses
