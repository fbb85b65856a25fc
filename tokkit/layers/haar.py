"""Haar wavelet patching: (B, C, H, W) <-> (B, 4^n C, H / 2^n, W / 2^n), n levels, no parameters.

One level splits each 2x2 block into four bands, low/high pass along the width, then along the height:
LL, LH, HL, HH (band-major: channel ``band * C + c``), with the filters (1, 1) / sqrt(2) and
(1, -1) / sqrt(2) and the result halved, so LL is the 2x2 mean. Before filtering the input is padded
by reflection on the right and bottom (as Cosmos does; with the stride-2 filters that padding is never
read for even sizes). The inverse is exact (up to rounding): transposed filters, doubled.
As NVIDIA's Cosmos tokenizers (Cosmos-Tokenizer ``modules/patching.py``, ``patch_method="haar"``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_A = 1 / math.sqrt(2)  # the Haar filter tap, rounded to the input's dtype where used


def _filters(x: torch.Tensor, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(low, high) pass filters (groups, 1, 1, 2) along the width, in ``x``'s dtype and device."""
    taps = torch.tensor([[_A, _A], [_A, -_A]], dtype=torch.float32, device=x.device).to(x.dtype)
    lo, hi = (t.view(1, 1, 1, 2).expand(groups, 1, 1, 2) for t in taps)
    return lo, hi


def haar_split(x: torch.Tensor) -> torch.Tensor:
    """One level: (B, C, H, W) -> (B, 4C, H/2, W/2), bands LL, LH, HL, HH."""
    c = x.shape[1]
    lo, hi = _filters(x, c)
    x = F.pad(x, (0, 1, 0, 1), mode="reflect")
    rows = [F.conv2d(x, f, stride=(1, 2), groups=c) for f in (lo, hi)]  # width pass: L, H
    lo_h, hi_h = lo.transpose(2, 3), hi.transpose(2, 3)  # (C, 1, 2, 1): along the height
    bands = [F.conv2d(r, f, stride=(2, 1), groups=c) for r in rows for f in (lo_h, hi_h)]
    return torch.cat(bands, dim=1) / 2


def haar_merge(x: torch.Tensor) -> torch.Tensor:
    """Inverse of ``haar_split``: (B, 4C, h, w) -> (B, C, 2h, 2w)."""
    ll, lh, hl, hh = x.chunk(4, dim=1)
    c = ll.shape[1]
    lo, hi = _filters(x, c)
    lo_h, hi_h = lo.transpose(2, 3), hi.transpose(2, 3)
    low = F.conv_transpose2d(ll, lo_h, stride=(2, 1), groups=c) + F.conv_transpose2d(lh, hi_h, stride=(2, 1), groups=c)
    high = F.conv_transpose2d(hl, lo_h, stride=(2, 1), groups=c) + F.conv_transpose2d(hh, hi_h, stride=(2, 1), groups=c)
    y = F.conv_transpose2d(low, lo, stride=(1, 2), groups=c) + F.conv_transpose2d(high, hi, stride=(1, 2), groups=c)
    return y * 2


def haar_patches(x: torch.Tensor, levels: int) -> torch.Tensor:
    """``levels`` Haar levels: (B, C, H, W) -> (B, 4^levels C, H / 2^levels, W / 2^levels)."""
    for _ in range(levels):
        x = haar_split(x)
    return x


def haar_unpatch(x: torch.Tensor, levels: int) -> torch.Tensor:
    """Inverse of ``haar_patches``."""
    for _ in range(levels):
        x = haar_merge(x)
    return x
