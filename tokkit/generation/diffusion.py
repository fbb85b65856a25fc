"""MAR's per-token Diffusion Loss head (LTH14/mar ``diffloss.py``), re-implemented from the paper's facts.

A small MLP predicts the noise eps added to one continuous token x (C,), conditioned on the
transformer output z for that position: x_t -> Linear(width); the timestep (256 sinusoidal
frequencies -> MLP) and z (-> Linear) are added into one condition y that modulates every residual
block by AdaLN (shift, scale, gate; zero-initialised). Schedule: cosine (IDDPM) over
``diffusion_steps``, eps prediction, MSE loss, each z reused for ``batch_mul`` noise draws. Sampling:
ancestral DDPM over ``sampling_steps`` evenly respaced timesteps with the fixed posterior variance
(MAR learns the variance; this head does not: recorded in ``describe``). Temperature 1. The predicted
x0 is clipped to +-``clip`` (IDDPM's ``clip_denoised``, the range measured on the training tokens):
at the first respaced step alpha_bar is ~1e-9, so an eps error of 1e-2 would otherwise throw the
sample ~10^2 units off.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def cosine_alphas_cumprod(steps: int) -> np.ndarray:
    """IDDPM's cosine schedule: alpha_bar (steps,) float64, betas clipped at 0.999."""
    f = lambda t: math.cos((t / steps + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    betas = np.array([min(1 - f(i + 1) / f(i), 0.999) for i in range(steps)])
    return np.cumprod(1.0 - betas)


def timestep_embedding(t: torch.Tensor, dim: int = 256, max_period: float = 10000.0) -> torch.Tensor:
    """(N,) timesteps -> (N, dim) sinusoidal features (cos, sin)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], -1)


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class _ResBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 3 * width))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        shift, scale, gate = self.ada(y).chunk(3, -1)
        return x + gate * self.mlp(_modulate(self.norm(x), shift, scale))


class AdaLNMLP(nn.Module):
    """eps_theta(x_t, t, z): (N, C), (N,), (N, cond_dim) -> (N, C)."""

    def __init__(self, channels: int, cond_dim: int, width: int, depth: int):
        super().__init__()
        self.inp = nn.Linear(channels, width)
        self.time = nn.Sequential(nn.Linear(256, width), nn.SiLU(), nn.Linear(width, width))
        self.cond = nn.Linear(cond_dim, width)
        self.blocks = nn.ModuleList(_ResBlock(width) for _ in range(depth))
        self.norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.out = nn.Linear(width, channels)
        for m in (self.ada[1], self.out):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        y = self.time(timestep_embedding(t)) + self.cond(z)
        h = self.inp(x)
        for blk in self.blocks:
            h = blk(h, y)
        shift, scale = self.ada(y).chunk(2, -1)
        return self.out(_modulate(self.norm(h), shift, scale))


class DiffusionHead(nn.Module):
    """The per-token diffusion loss and sampler around ``AdaLNMLP``."""

    def __init__(
        self,
        channels: int,
        cond_dim: int,
        width: int = 256,
        depth: int = 3,
        train_steps: int = 1000,
        sample_steps: int = 100,
        batch_mul: int = 4,
    ):
        super().__init__()
        self.channels, self.train_steps, self.batch_mul = channels, train_steps, batch_mul
        self.net = AdaLNMLP(channels, cond_dim, width, depth)
        self.clip: float | None = None  # |x0| bound at sampling; set from the training data
        ab = cosine_alphas_cumprod(train_steps)
        self.register_buffer("alphas_cumprod", torch.tensor(ab, dtype=torch.float32), persistent=False)
        # respaced sampling: evenly spaced original timesteps, high -> low, with their own betas
        ts = np.unique(np.round(np.linspace(0, train_steps - 1, min(sample_steps, train_steps))).astype(np.int64))
        ab_s = ab[ts]
        ab_prev = np.concatenate([[1.0], ab_s[:-1]])
        beta = 1 - ab_s / ab_prev
        var = beta * (1 - ab_prev) / (1 - ab_s)  # posterior variance, fixed ("fixed small")
        sched = np.stack([ab_s, ab_prev, beta, var], 1)[::-1].copy()
        self.register_buffer("sample_t", torch.from_numpy(ts[::-1].copy()), persistent=False)
        self.register_buffer("sample_sched", torch.tensor(sched, dtype=torch.float32), persistent=False)

    @property
    def noise_draws(self) -> int:
        """Standard-normal vectors one sample of one token consumes: x_T plus one per step but the last."""
        return len(self.sample_t)

    def loss(
        self, x0: torch.Tensor, z: torch.Tensor, t: torch.Tensor | None = None, noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Per-row eps-MSE (N,) of targets x0 (N, C) given z (N, cond_dim), averaged over ``batch_mul`` draws.

        ``t`` (N * batch_mul,) and ``noise`` (N * batch_mul, C) fix the draws (evaluation); else random.
        """
        m = self.batch_mul
        x0, z = x0.repeat_interleave(m, 0), z.repeat_interleave(m, 0)
        if t is None:
            t = torch.randint(0, self.train_steps, (len(x0),), device=x0.device)
        if noise is None:
            noise = torch.randn_like(x0)
        ab = self.alphas_cumprod[t][:, None]
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        err = (self.net(xt, t, z) - noise).pow(2).mean(-1)
        return err.view(-1, m).mean(1)

    @torch.no_grad()
    def sample(
        self, z: torch.Tensor, noise: torch.Tensor, z_uncond: torch.Tensor | None = None, cfg: float = 1.0
    ) -> torch.Tensor:
        """x0 (N, C) from z (N, cond_dim); ``noise`` (N, noise_draws, C) standard normal, fixed by the caller.

        With ``z_uncond``, eps = eps_u + cfg (eps_c - eps_u) (classifier-free guidance).
        """
        x = noise[:, 0]
        n = len(z)
        for i, t in enumerate(self.sample_t):
            tt = t.expand(n)
            eps = self.net(x, tt, z)
            if z_uncond is not None:
                eps_u = self.net(x, tt, z_uncond)
                eps = eps_u + cfg * (eps - eps_u)
            ab, ab_prev, beta, var = self.sample_sched[i]
            x0 = (x - (1 - ab).sqrt() * eps) / ab.sqrt()
            if self.clip is not None:
                x0 = x0.clamp(-self.clip, self.clip)
            mean = (ab_prev.sqrt() * beta / (1 - ab)) * x0 + ((1 - beta).sqrt() * (1 - ab_prev) / (1 - ab)) * x
            x = mean + var.sqrt() * noise[:, i + 1] if i + 1 < len(self.sample_t) else mean
        return x

    def describe(self) -> dict:
        return {
            "structure": "MAR SimpleMLPAdaLN (time + z added, AdaLN shift/scale/gate, zero-init)",
            "width": self.net.inp.out_features,
            "depth": len(self.net.blocks),
            "schedule": f"cosine (IDDPM), {self.train_steps} training steps, eps prediction, MSE",
            "sampling": f"ancestral DDPM over {len(self.sample_t)} respaced steps, fixed posterior variance, "
            "temperature 1",
            "noise_draws_per_z": self.batch_mul,
            "x0_clip": self.clip,
            "parameters": sum(p.numel() for p in self.parameters()),
        }
