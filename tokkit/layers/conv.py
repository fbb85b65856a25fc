"""Convolutional encoder/decoder in the VQGAN/LDM family (ResNet blocks, GroupNorm, SiLU, optional attention).

Encoder: (B, 3, H, W) -> (B, z_channels, H/f, W/f) with f = 2 ** (len(ch_mult) - 1).
Decoder: (B, z_channels, h, w) -> (B, 3, h*f, w*f). The layout (ch, ch_mult, num_res_blocks, attention
at chosen resolutions plus a middle block) follows the published taming/LDM/LlamaGen/VAR configs so
that their sizes can be matched by settings alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def norm(ch: int) -> nn.GroupNorm:
    # 32 groups like the published models; fewer when a tiny model has fewer channels.
    groups = 32
    while ch % groups:
        groups //= 2
    return nn.GroupNorm(groups, ch, eps=1e-6, affine=True)


def act(h: torch.Tensor) -> torch.Tensor:
    """SiLU of a fresh GroupNorm output, in place when no graph is recorded: one full-size buffer
    less to allocate and fault in per call (VAR's blocks do the same); out of place when training,
    where SiLU's backward needs its input."""
    return F.silu(h, inplace=not torch.is_grad_enabled())


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = norm(cout)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(act(self.norm1(x)))
        h = self.conv2(self.dropout(act(self.norm2(h))))
        # in place into conv2's fresh output (its backward does not need it): one full-size
        # activation less to allocate, fault in and write per block
        return h.add_(self.skip(x))


class AttnBlock(nn.Module):
    """Single-head self-attention over the h*w positions."""

    def __init__(self, ch: int):
        super().__init__()
        self.norm = norm(ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).transpose(-1, -2).unbind(1)  # (B, hw, C) each
        out = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]  # (B, hw, C)
        # contiguous: the transposed view is channels_last-strided, and that layout would then spread
        # through the residual to every later conv (on CPU, 5-15% slower convs: benchmarks/import_kl.md)
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, h, w).contiguous())


class Downsample(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))  # asymmetric pad: exact halving for even sizes


class Upsample(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Encoder(nn.Module):
    def __init__(
        self,
        ch: int = 128,
        ch_mult: Sequence[int] = (1, 1, 2, 2, 4),
        num_res_blocks: int = 2,
        z_channels: int = 256,
        attn_levels: Sequence[int] = (),
        mid_attn: bool = True,
        in_channels: int = 3,
        dropout: float = 0.0,
        downsamples: int | None = None,
    ):
        """``attn_levels``: indices into ``ch_mult`` whose blocks get attention (0 = full resolution).
        ``downsamples``: how many levels, from the first, end in a stride-2 downsampling (default: all
        but the last; Cosmos: log2(compression / patch size))."""
        super().__init__()
        downsamples = len(ch_mult) - 1 if downsamples is None else downsamples
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        self.down = nn.ModuleList()
        cin = ch
        for level, mult in enumerate(ch_mult):
            stage = nn.Module()
            stage.blocks = nn.ModuleList()
            stage.attn = nn.ModuleList()
            cout = ch * mult
            for _ in range(num_res_blocks):
                stage.blocks.append(ResBlock(cin, cout, dropout))
                stage.attn.append(AttnBlock(cout) if level in attn_levels else nn.Identity())
                cin = cout
            stage.downsample = Downsample(cin) if level < downsamples else nn.Identity()
            self.down.append(stage)
        self.mid = nn.Sequential(
            ResBlock(cin, cin, dropout), AttnBlock(cin) if mid_attn else nn.Identity(), ResBlock(cin, cin, dropout)
        )
        self.norm_out = norm(cin)
        self.conv_out = nn.Conv2d(cin, z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for stage in self.down:
            for block, attn in zip(stage.blocks, stage.attn, strict=True):
                h = attn(block(h))
            h = stage.downsample(h)
        h = self.mid(h)
        return self.conv_out(act(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(
        self,
        ch: int = 128,
        ch_mult: Sequence[int] = (1, 1, 2, 2, 4),
        num_res_blocks: int = 2,
        z_channels: int = 256,
        attn_levels: Sequence[int] = (),
        mid_attn: bool = True,
        out_channels: int = 3,
        dropout: float = 0.0,
        upsamples: int | None = None,
    ):
        """Mirror of ``Encoder`` with one more ResBlock per level (as in taming/LDM). ``upsamples``: how
        many levels, from the lowest resolution (run first), end in a 2x upsampling (default: all but
        the last run)."""
        super().__init__()
        upsamples = len(ch_mult) - 1 if upsamples is None else upsamples
        cin = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, cin, 3, padding=1)
        self.mid = nn.Sequential(
            ResBlock(cin, cin, dropout), AttnBlock(cin) if mid_attn else nn.Identity(), ResBlock(cin, cin, dropout)
        )
        self.up = nn.ModuleList()
        for level in reversed(range(len(ch_mult))):
            stage = nn.Module()
            stage.blocks = nn.ModuleList()
            stage.attn = nn.ModuleList()
            cout = ch * ch_mult[level]
            for _ in range(num_res_blocks + 1):
                stage.blocks.append(ResBlock(cin, cout, dropout))
                stage.attn.append(AttnBlock(cout) if level in attn_levels else nn.Identity())
                cin = cout
            stage.upsample = Upsample(cin) if level >= len(ch_mult) - upsamples else nn.Identity()
            self.up.append(stage)
        self.norm_out = norm(cin)
        self.conv_out = nn.Conv2d(cin, out_channels, 3, padding=1)

    @property
    def last_layer(self) -> torch.Tensor:
        """Weight of the output conv: the adaptive GAN weight balances gradients at this tensor."""
        return self.conv_out.weight

    def forward(self, z: torch.Tensor, out_size: tuple[int, int] | None = None) -> torch.Tensor:
        """``out_size``: resize the last hidden map to it before the output conv (for upsampling
        factors that are not a power of two, e.g. 14 for ViT/14 token grids)."""
        h = self.mid(self.conv_in(z))
        for stage in self.up:
            for block, attn in zip(stage.blocks, stage.attn, strict=True):
                h = attn(block(h))
            h = stage.upsample(h)
        if out_size is not None and tuple(h.shape[-2:]) != tuple(out_size):
            h = F.interpolate(h, size=tuple(out_size), mode="bilinear", align_corners=False, antialias=True)
        return self.conv_out(act(self.norm_out(h)))
