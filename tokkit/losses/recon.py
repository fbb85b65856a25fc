"""Pixel reconstruction and KL terms."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tokkit.errors import UsageError

RECON_LOSSES = ("l1", "l2")


def reconstruction_loss(recon: torch.Tensor, target: torch.Tensor, kind: str = "l2") -> torch.Tensor:
    """Per-element loss map (same shape as the images): |x - y| or (x - y)^2."""
    if kind == "l1":
        return (recon.float() - target.float()).abs()
    if kind == "l2":
        return F.mse_loss(recon.float(), target.float(), reduction="none")
    raise UsageError(f"unknown recon_loss '{kind}'; choose from {', '.join(RECON_LOSSES)}")


def kl_loss(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)) summed over latent dims, per sample: (B,)."""
    return 0.5 * (mean.float().pow(2) + logvar.float().exp() - 1.0 - logvar.float()).flatten(1).sum(1)
