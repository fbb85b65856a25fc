"""DC-AE's building blocks (MIT Han Lab's deep compression autoencoder), as diffusers 0.42.1 AutoencoderDC runs them.

- ``ChannelRMSNorm``: RMS over the channel axis of (B, C, H, W), with weight AND bias, eps 1e-5.
- ``ResBlock``: conv3x3 (bias) -> act -> conv3x3 (no bias) -> norm (RMS or BatchNorm with running stats) + x.
- ``LiteMLA``: multi-scale ReLU linear attention: fused q/k/v Linear over channels, per extra scale a depthwise
  kxk then a grouped 1x1 conv over the q/k/v maps; heads of 3 x head_dim consecutive channels (the q/k/v split
  is inside each group of 3d channels, exactly as diffusers reshapes); linear attention ``(v k^T) q / (1^T k^T q)`` when
  H*W > head_dim, else the quadratic form ``v (k^T q) / sum``; 1x1 out proj -> norm + x.
- ``GLUMBConv``: 1x1 to 2 x 4C (bias) -> SiLU -> depthwise 3x3 (bias) -> value * SiLU(gate) -> 1x1 to C -> RMS + x.
- ``DownBlock`` / ``UpBlock``: stride-2 conv or conv + pixel_unshuffle (down), nearest upsample + conv or
  conv + pixel_shuffle (up); the "residual autoencoding" shortcut is pixel_unshuffle then the mean of
  consecutive channel groups (down), or repeat_interleave of channels then pixel_shuffle (up).
Module names follow diffusers' where the layout is the same, so its state dict maps key for key (the three
q/k/v Linears become one Linear ``qkv``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {"silu": nn.SiLU, "swish": nn.SiLU, "relu": nn.ReLU, "gelu": nn.GELU, "mish": nn.Mish}
NORMS = ("rms_norm", "batch_norm")


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name.lower()]()


def _act_(act: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """``act(h)`` in place on a fresh tensor when no graph is recorded (one full-size buffer less)."""
    if torch.is_grad_enabled() or not isinstance(act, (nn.SiLU, nn.ReLU)):
        return act(h)
    return F.silu(h, inplace=True) if isinstance(act, nn.SiLU) else F.relu_(h)


def _residual(h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``h + x``, in place into the fresh ``h`` when no graph is recorded."""
    return h + x if torch.is_grad_enabled() else h.add_(x)


class ChannelRMSNorm(nn.Module):
    """RMSNorm over dim 1 of (B, C, H, W): x / sqrt(mean_c x^2 + eps) * weight + bias (statistics in fp32)."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # mean of squares from the 2-norm: no full-size x^2 temporary (fewer large allocations on CPU)
        norm = torch.linalg.vector_norm(x.float(), dim=1, keepdim=True)  # (B, 1, H, W)
        y = x * torch.rsqrt(norm.square_() / x.shape[1] + self.eps)
        return torch.addcmul(self.bias[:, None, None], y, self.weight[:, None, None])


def norm(kind: str, channels: int) -> nn.Module:
    if kind == "rms_norm":
        return ChannelRMSNorm(channels)
    if kind == "batch_norm":  # eval uses the running statistics (DC-AE-in decoders)
        return nn.BatchNorm2d(channels, eps=1e-5)
    raise ValueError(f"norm {kind!r} is not one of {NORMS}")


class ResBlock(nn.Module):
    def __init__(self, channels: int, norm_type: str, act: str):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.act = activation(act)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.norm = norm(norm_type, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _residual(self.norm(self.conv2(_act_(self.act, self.conv1(x)))), x)


class MultiscaleProjection(nn.Module):
    """Depthwise kxk over the 3*inner q/k/v maps, then a 1x1 grouped per (head, q/k/v)."""

    def __init__(self, inner: int, heads: int, kernel: int):
        super().__init__()
        c = 3 * inner
        self.proj_in = nn.Conv2d(c, c, kernel, padding=kernel // 2, groups=c, bias=False)
        self.proj_out = nn.Conv2d(c, c, 1, groups=3 * heads, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj_out(self.proj_in(x))


class LiteMLA(nn.Module):
    """Multi-scale ReLU linear attention with a residual (diffusers ``SanaMultiscaleLinearAttention``)."""

    def __init__(self, channels: int, head_dim: int, scales: tuple[int, ...], norm_type: str, eps: float = 1e-15):
        super().__init__()
        heads = channels // head_dim
        inner = heads * head_dim
        self.head_dim, self.eps = head_dim, eps
        # Linear over the channels of a (B, H, W, C) view: a GEMM, cheaper on CPU than a 1x1 conv on (B, C, H, W)
        self.qkv = nn.Linear(channels, 3 * inner, bias=False)  # diffusers to_q | to_k | to_v
        self.to_qkv_multiscale = nn.ModuleList(MultiscaleProjection(inner, heads, k) for k in scales)
        self.to_out = nn.Linear(inner * (1 + len(scales)), channels, bias=False)
        self.norm_out = norm(norm_type, channels)

    def attend(self, qkv: torch.Tensor) -> torch.Tensor:
        """(B, G*3d, H, W) -> (B, G*d, H, W): each group of 3d channels is one head's q, k, v."""
        b, _, h, w = qkv.shape
        d = self.head_dim
        qkv = qkv.reshape(b, -1, 3 * d, h * w)
        q, k, v = F.relu(qkv[:, :, :d]), F.relu(qkv[:, :, d : 2 * d]), qkv[:, :, 2 * d :]  # (B, G, d, N)
        if h * w > d:  # linear: (v k^T) q over a ones-padded v gives numerator and normaliser at once
            vk = torch.matmul(F.pad(v, (0, 0, 0, 1), value=1.0), k.transpose(-1, -2))  # (B, G, d+1, d)
            out = torch.matmul(vk, q)  # (B, G, d+1, N)
            out = out[:, :, :-1] / (out[:, :, -1:] + self.eps)
        else:  # quadratic: N x N scores, normalised over the keys
            scores = torch.matmul(k.transpose(-1, -2), q)  # (B, G, N_k, N_q)
            out = torch.matmul(v, scores / (scores.sum(dim=2, keepdim=True) + self.eps))
        return out.reshape(b, -1, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        qkv = self.qkv(x.movedim(1, -1)).movedim(-1, 1)  # (B, 3 inner, H, W), channels-last in memory
        qkv = torch.cat([qkv, *(m(qkv) for m in self.to_qkv_multiscale)], dim=1) if self.to_qkv_multiscale else qkv
        out = self.to_out(self.attend(qkv).movedim(1, -1)).movedim(-1, 1)
        return _residual(self.norm_out(out), x)


class GLUMBConv(nn.Module):
    def __init__(self, channels: int, expand: int = 4):
        super().__init__()
        hidden = expand * channels
        self.conv_inverted = nn.Conv2d(channels, 2 * hidden, 1)
        self.conv_depth = nn.Conv2d(2 * hidden, 2 * hidden, 3, 1, 1, groups=2 * hidden)
        self.conv_point = nn.Conv2d(hidden, channels, 1, bias=False)
        self.norm = ChannelRMSNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fresh = not torch.is_grad_enabled()  # no graph: activations in place on the fresh conv outputs
        h, gate = self.conv_depth(F.silu(self.conv_inverted(x), inplace=fresh)).chunk(2, dim=1)
        gated = h.mul_(F.silu(gate, inplace=True)) if fresh else h * F.silu(gate)
        return _residual(self.norm(self.conv_point(gated)), x)


class EfficientViTBlock(nn.Module):
    def __init__(self, channels: int, head_dim: int, scales: tuple[int, ...], norm_type: str):
        super().__init__()
        self.attn = LiteMLA(channels, head_dim, scales, norm_type)
        self.conv_out = GLUMBConv(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.attn(x))


class DownBlock(nn.Module):
    """Halve H and W: ``conv`` (stride 2) or ``pixel_unshuffle`` (conv to cout/4, then unshuffle); shortcut:
    unshuffle the input and average consecutive groups of cin*4/cout channels."""

    def __init__(self, cin: int, cout: int, kind: str, shortcut: bool):
        super().__init__()
        self.unshuffle = kind == "pixel_unshuffle"
        self.conv = nn.Conv2d(cin, cout // 4 if self.unshuffle else cout, 3, 1 if self.unshuffle else 2, 1)
        self.group = cin * 4 // cout if shortcut else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if self.unshuffle:
            y = F.pixel_unshuffle(y, 2)
        if self.group:
            y = _residual(y, F.pixel_unshuffle(x, 2).unflatten(1, (-1, self.group)).mean(dim=2))
        return y


class UpBlock(nn.Module):
    """Double H and W: ``interpolate`` (nearest, then conv) or ``pixel_shuffle`` (conv to 4 cout, then
    shuffle); shortcut: repeat each channel cout*4/cin times, then shuffle."""

    def __init__(self, cin: int, cout: int, kind: str, shortcut: bool):
        super().__init__()
        self.interpolate = kind == "interpolate"
        self.conv = nn.Conv2d(cin, cout if self.interpolate else 4 * cout, 3, 1, 1)
        self.repeats = cout * 4 // cin if shortcut else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.interpolate:
            y = self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))
        else:
            y = F.pixel_shuffle(self.conv(x), 2)
        if self.repeats:
            y = _residual(y, F.pixel_shuffle(x.repeat_interleave(self.repeats, dim=1), 2))
        return y


def block(kind: str, channels: int, head_dim: int, scales: tuple[int, ...], norm_type: str, act: str) -> nn.Module:
    if kind == "ResBlock":
        return ResBlock(channels, norm_type, act)
    if kind == "EfficientViTBlock":
        return EfficientViTBlock(channels, head_dim, scales, norm_type)
    raise ValueError(f"block type {kind!r} is not ResBlock or EfficientViTBlock")
