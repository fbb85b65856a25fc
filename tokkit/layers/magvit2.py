"""Open-MAGVIT2's conv encoder/decoder (its "improved" VQGAN): not taming's network.

What differs from ``tokkit.layers.conv`` (the taming/LDM stack):
- residual-block convs have no bias (nor the 1x1 shortcut, nor the encoder's input conv);
- downsampling is a stride-2 3x3 conv padded 1 on every side (taming pads right/bottom only);
- the encoder ends in a 1x1 conv to the LFQ bits; the middle is ``num_res_blocks`` plain blocks,
  and there is no attention anywhere;
- the decoder has as many blocks per level as the encoder, and each level starts with an adaptive
  GroupNorm conditioned on the decoder's input map q (B, bits, h, w): scale = gamma(std_hw(q)),
  shift = beta(mean_hw(q)), with std from the unbiased variance (torch's default ``var``) plus eps;
- upsampling is a 3x3 conv to 4C then a depth-to-space in DCR order: channel (i * 2 + j) * C + c
  goes to pixel (2y + i, 2x + j) of channel c (``F.pixel_shuffle`` is CRD order: c * 4 + i * 2 + j).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tokkit.layers.conv import act, norm


class ResBlock(nn.Module):
    """norm -> SiLU -> conv -> norm -> SiLU -> conv, plus the input (1x1 bias-free conv when widths differ)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.norm1 = norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.norm2 = norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(act(self.norm1(x)))
        h = self.conv2(act(self.norm2(h)))
        return h.add_(self.skip(x))  # conv2's fresh output: in place (its backward does not need it)


class AdaptiveGroupNorm(nn.Module):
    """GroupNorm without affine, then per-channel scale gamma(std) and shift beta(mean) of the code map."""

    def __init__(self, z_channels: int, ch: int):
        super().__init__()
        self.norm = nn.GroupNorm(norm(ch).num_groups, ch, eps=1e-6, affine=False)  # no tensors to load
        self.gamma = nn.Linear(z_channels, ch)
        self.beta = nn.Linear(z_channels, ch)

    def forward(self, x: torch.Tensor, std: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """``x`` (B, C, H, W); ``std`` / ``mean`` (B, z_channels): statistics of the code map over h*w."""
        b, c = x.shape[:2]
        return torch.addcmul(self.beta(mean).view(b, c, 1, 1), self.norm(x), self.gamma(std).view(b, c, 1, 1))


class Upsample(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, 4 * ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)  # (B, 4C, H, W), channel (i * 2 + j) * C + c
        b, c4, h, w = y.shape
        c = c4 // 4
        return y.view(b, 2, 2, c, h, w).permute(0, 3, 4, 1, 5, 2).reshape(b, c, 2 * h, 2 * w)


class Encoder(nn.Module):
    """(B, 3, H, W) -> (B, z_channels, H/f, W/f), f = 2 ** (len(ch_mult) - 1)."""

    def __init__(self, ch: int = 128, ch_mult: Sequence[int] = (1, 1, 2, 2, 4), num_res_blocks: int = 4,
                 z_channels: int = 18):  # fmt: skip
        super().__init__()
        self.conv_in = nn.Conv2d(3, ch, 3, padding=1, bias=False)
        self.down = nn.ModuleList()
        cin = ch
        for level, mult in enumerate(ch_mult):
            stage = nn.Module()
            stage.blocks = nn.ModuleList()
            for _ in range(num_res_blocks):
                stage.blocks.append(ResBlock(cin, ch * mult))
                cin = ch * mult
            last = level == len(ch_mult) - 1
            stage.downsample = nn.Identity() if last else nn.Conv2d(cin, cin, 3, stride=2, padding=1)
            self.down.append(stage)
        self.mid = nn.Sequential(*(ResBlock(cin, cin) for _ in range(num_res_blocks)))
        self.norm_out = norm(cin)
        self.conv_out = nn.Conv2d(cin, z_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for stage in self.down:
            for block in stage.blocks:
                h = block(h)
            h = stage.downsample(h)
        h = self.mid(h)
        return self.conv_out(act(self.norm_out(h)))


class Decoder(nn.Module):
    """(B, z_channels, h, w) code map -> (B, 3, h*f, w*f); ``up`` in run order (coarsest level first)."""

    def __init__(self, ch: int = 128, ch_mult: Sequence[int] = (1, 1, 2, 2, 4), num_res_blocks: int = 4,
                 z_channels: int = 18, eps: float = 1e-6):  # fmt: skip
        super().__init__()
        self.eps = eps
        cin = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, cin, 3, padding=1)
        self.mid = nn.Sequential(*(ResBlock(cin, cin) for _ in range(num_res_blocks)))
        self.up = nn.ModuleList()
        for level in reversed(range(len(ch_mult))):
            stage = nn.Module()
            stage.adanorm = AdaptiveGroupNorm(z_channels, cin)
            stage.blocks = nn.ModuleList()
            for _ in range(num_res_blocks):
                stage.blocks.append(ResBlock(cin, ch * ch_mult[level]))
                cin = ch * ch_mult[level]
            stage.upsample = Upsample(cin) if level > 0 else nn.Identity()
            self.up.append(stage)
        self.norm_out = norm(cin)
        self.conv_out = nn.Conv2d(cin, 3, 3, padding=1)

    @property
    def last_layer(self) -> torch.Tensor:
        return self.conv_out.weight

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        flat = z.flatten(2)  # (B, z_channels, h*w): the adaptive norms' condition, the same at every level
        std, mean = (flat.var(-1) + self.eps).sqrt(), flat.mean(-1)  # unbiased variance, as the reference
        h = self.mid(self.conv_in(z))
        for stage in self.up:
            h = stage.adanorm(h, std, mean)
            for block in stage.blocks:
                h = block(h)
            h = stage.upsample(h)
        return self.conv_out(act(self.norm_out(h)))
