"""The MaskGIT-VQGAN conv pixel decoder (TiTok's legacy decoder; MaskBiT's conv family is the same kind).

(B, z_channels, h, w) -> (B, 3, h*f, w*f), f = 2 ** (len(ch_mult) - 1). It differs from taming's decoder
(``tokkit.layers.conv``) in ways that change the numbers:
- the 3x3 convs inside residual blocks have no bias; there is no attention anywhere;
- a residual block whose width changes adds its 1x1 ``nin_shortcut`` of the block's *output*, not of its
  input (``h + nin_shortcut(h)``);
- upsampling is nearest x2 then a 3x3 conv, after the level's residual blocks.
TF-"same" padding at stride 1 with odd kernels is the symmetric ``k // 2`` padding of ``nn.Conv2d``.
Parameter names follow the published files (``up.{level}.block.{i}``, level 0 = full resolution).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tokkit.layers.conv import act, norm


class MaskGITResBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.norm1 = norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.norm2 = norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        # applied to the block output (cout -> cout), so its input width is cout
        self.nin_shortcut = nn.Conv2d(cout, cout, 1, bias=False) if cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(act(self.norm1(x)))
        h = self.conv2(act(self.norm2(h)))
        return h + (self.nin_shortcut(h) if self.nin_shortcut is not None else x)


class _UpLevel(nn.Module):
    def __init__(self, cin: int, cout: int, num_res_blocks: int, upsample: bool):
        super().__init__()
        self.block = nn.ModuleList(MaskGITResBlock(cin if i == 0 else cout, cout) for i in range(num_res_blocks))
        self.upsample_conv = nn.Conv2d(cout, cout, 3, padding=1) if upsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.block:
            x = b(x)
        if self.upsample_conv is not None:
            x = self.upsample_conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        return x


class MaskGITDecoder(nn.Module):
    def __init__(
        self, z_channels: int, ch: int = 128, ch_mult: Sequence[int] = (1, 1, 2, 2, 4), num_res_blocks: int = 2
    ):
        super().__init__()
        n = len(ch_mult)
        top = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, top, 3, padding=1)
        self.mid = nn.ModuleList(MaskGITResBlock(top, top) for _ in range(num_res_blocks))
        # level L reads the width of level L + 1 (the last level reads its own) and upsamples unless L == 0
        self.up = nn.ModuleList(
            _UpLevel(ch * ch_mult[min(lv + 1, n - 1)], ch * ch_mult[lv], num_res_blocks, upsample=lv != 0)
            for lv in range(n)
        )
        self.norm_out = norm(ch * ch_mult[0])
        self.conv_out = nn.Conv2d(ch * ch_mult[0], 3, 3, padding=1)

    @property
    def factor(self) -> int:
        return 2 ** (len(self.up) - 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(z)
        for b in self.mid:
            h = b(h)
        for level in reversed(self.up):  # coarse to fine
            h = level(h)
        return self.conv_out(act(self.norm_out(h)))
