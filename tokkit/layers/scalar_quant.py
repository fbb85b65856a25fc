"""Codebook-free quantizers: FSQ (finite scalar), LFQ (lookup-free, sign bits) and BSQ (binary spherical).

Each has the interface of ``VectorQuantizer`` (``forward`` -> ``VQResult``, ``features``, ``lookup``,
``embed``, ``snap``, ``project_in``/``project_out``, ``codebook_size``, ``window``, ``codebook.codes()``)
so the conv tokenizers, the metrics and ``inspect codebook`` take them unchanged. Their codebook is
implicit: prod(levels) (FSQ) or 2^bits (LFQ/BSQ) code vectors, enumerated only when asked for.

Index rule: little-endian mixed radix, channel 0 the least significant digit (FSQ as in the paper,
LFQ/BSQ as Open-MAGVIT2: index = sum_i bit_i 2^i).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from tokkit.layers.quantizer import UsageWindow, VQResult, _dist_on, _Fp32

# beyond this many implicit codes ``codebook.codes()`` refuses to enumerate them (2^18 x 18 floats is
# 19 MB, and every (K, K) analysis on it would be 2^36 entries): callers use the used codes instead.
MAX_ENUMERATED = 65536


class ImplicitCodebook:
    """The (K, D) code vectors of an implicit codebook, computed from the indices 0..K-1 on demand."""

    def __init__(self, quantizer: _ScalarQuantizer):
        self._q = quantizer

    @property
    def k(self) -> int:
        return self._q.codebook_size

    def codes(self) -> torch.Tensor:
        if self.k > MAX_ENUMERATED:
            raise ValueError(f"implicit codebook of {self.k} codes is too large to enumerate")
        idx = torch.arange(self.k, device=self._q.device_hint.device)
        return self._q.index_to_codes(idx)


class _ScalarQuantizer(nn.Module):
    """Shared: optional 1x1 projections in_dim <-> code_dim, the usage window, the straight-through."""

    def __init__(self, code_dim: int, in_dim: int | None, usage_window: int, codebook_size: int):
        super().__init__()
        in_dim = code_dim if in_dim is None else in_dim
        self.code_dim = code_dim
        self._k = int(codebook_size)
        proj = in_dim != code_dim
        self.project_in = nn.Conv2d(in_dim, code_dim, 1) if proj else nn.Identity()
        self.project_out = nn.Conv2d(code_dim, in_dim, 1) if proj else nn.Identity()
        self.window = UsageWindow(self._k, usage_window)
        # a zero-size buffer that follows .to(device): where ``codes()`` builds its vectors
        self.register_buffer("device_hint", torch.zeros(0), persistent=False)
        self.codebook = ImplicitCodebook(self)

    @property
    def codebook_size(self) -> int:
        return self._k

    # subclasses: (N, D) -> (N, D) codes (straight-through not applied), (N, D) codes <-> (N,) indices
    def quantize_flat(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def codes_to_index(self, codes: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def index_to_codes(self, idx: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def prepare(self, z: torch.Tensor) -> torch.Tensor:
        """(N, D) features -> what is quantized (FSQ: as is, BSQ: unit norm)."""
        return z

    def extra_losses(self, z: torch.Tensor, codes: torch.Tensor) -> dict[str, torch.Tensor]:
        """(N, D) features and codes -> auxiliary losses (none by default)."""
        return {}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_dim, h, w) -> code-space features (B, D, h, w), fp32."""
        with _Fp32(x.device):
            z = self.project_in(x.float())
            return self.prepare(z.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, h, w) -> code vectors (B, D, h, w), contiguous: a channels_last-strided map would make
        project_out's output, and with it every conv of the decoder, run channels_last (CPU: each conv
        then copies its weight, 5-15% slower; benchmarks/import_cosmos.md)."""
        return self.index_to_codes(indices).permute(0, 3, 1, 2).contiguous()

    def embed(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, h, w) -> what the decoder consumes (B, in_dim, h, w)."""
        with _Fp32(indices.device):
            return self.project_out(self.lookup(indices))

    @torch.no_grad()
    def snap(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Code-space vectors (B, D, h, w) -> (indices (B, h, w), codes (B, D, h, w))."""
        with _Fp32(z.device):
            b, d, h, w = z.shape
            flat = self.prepare(z.float().permute(0, 2, 3, 1)).reshape(-1, d)
            idx = self.codes_to_index(self.quantize_flat(flat)).view(b, h, w)
            return idx, self.lookup(idx)

    def forward(self, x: torch.Tensor) -> VQResult:
        with _Fp32(x.device):
            p = self.project_in(x.float())  # (B, D, h, w)
            b, d, h, w = p.shape
            flat = self.prepare(p.permute(0, 2, 3, 1).reshape(-1, d))  # (N, D), as ``features``
            z = flat.view(b, h, w, d).permute(0, 3, 1, 2)
            bound, codes = self.bound_and_codes(flat)
            idx = self.codes_to_index(codes)
            # straight-through: the forward value is the code, the gradient that of the identity
            # (FSQ: through its tanh bound)
            flat_st = bound + (codes - bound).detach()
            z_q = codes.view(b, h, w, d).permute(0, 3, 1, 2).contiguous()  # decoded from (project_out): as lookup
            losses = self.extra_losses(flat, codes)
            stats: dict[str, float] = {}
            if self.training:
                self.window.add(idx)
                stats["usage"] = self.window.usage()
            out = self.project_out(flat_st.view(b, h, w, d).permute(0, 3, 1, 2).contiguous())  # as lookup
        return VQResult(out, idx.view(b, h, w), z, z_q, losses, stats)

    def bounded(self, z: torch.Tensor) -> torch.Tensor:
        """The differentiable pre-rounding value whose gradient the straight-through passes."""
        return z

    def bound_and_codes(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, D) -> (``bounded(z)`` with its gradient, the codes of ``z``, no gradient)."""
        return self.bounded(z), self.quantize_flat(z.detach())


class FSQ(_ScalarQuantizer):
    """Finite scalar quantization (Mentzer et al. 2023): channel i is bounded by tanh to L_i levels
    (even L offset by half a step so the grid is symmetric about the tanh), rounded, and scaled to
    [-1, 1] by L_i // 2; the index is the mixed-radix number of the level digits."""

    def __init__(self, levels: Sequence[int], in_dim: int | None = None, usage_window: int = 65536):
        levels = [int(v) for v in levels]
        if any(v < 3 for v in levels):
            raise ValueError(f"FSQ levels must be >= 3 each, got {levels}")
        super().__init__(len(levels), in_dim, usage_window, math.prod(levels))
        self.levels = tuple(levels)
        lv = torch.tensor(levels, dtype=torch.float32)
        basis = torch.cumprod(torch.tensor([1] + levels[:-1], dtype=torch.long), 0)  # (D,) digit weights
        self.register_buffer("_levels", lv, persistent=False)
        self.register_buffer("_basis", basis, persistent=False)
        # the bound's constants (eps 1e-3): half width, even-level offset and its atanh shift, L // 2
        half_l = (lv - 1) * (1 + 1e-3) / 2
        offset = torch.where(lv % 2 == 0, 0.5, 0.0)
        self.register_buffer("_half_l", half_l, persistent=False)
        self.register_buffer("_offset", offset, persistent=False)
        self.register_buffer("_shift", torch.atanh(offset / half_l), persistent=False)
        self.register_buffer("_half", torch.div(lv, 2, rounding_mode="floor"), persistent=False)

    def _bound(self, z: torch.Tensor) -> torch.Tensor:
        """(N, D) -> values in (-L/2, L/2) before rounding, in level units."""
        return torch.tanh(z + self._shift) * self._half_l - self._offset

    def bounded(self, z: torch.Tensor) -> torch.Tensor:
        """(N, D) -> the bounded value on the codes' [-1, 1] scale (what the gradient flows through)."""
        return self._bound(z) / self._half

    def quantize_flat(self, z: torch.Tensor) -> torch.Tensor:
        return torch.round(self._bound(z)) / self._half

    def bound_and_codes(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = self._bound(z)  # one tanh for both: the codes round its detached value
        return b / self._half, torch.round(b.detach()) / self._half

    def codes_to_index(self, codes: torch.Tensor) -> torch.Tensor:
        digits = torch.round(codes * self._half + self._half)  # (N, D) in [0, L_i), whole numbers
        if self._k <= 2**24:  # every partial sum is a whole number below 2^24: exact in fp32, one matvec
            return (digits @ self._basis.to(digits.dtype)).long()
        return (digits.long() * self._basis).sum(-1)

    def index_to_codes(self, idx: torch.Tensor) -> torch.Tensor:
        digits = (idx.long()[..., None] // self._basis) % self._levels.long()  # (..., D)
        return (digits.float() - self._half) / self._half


class LFQ(_ScalarQuantizer):
    """Lookup-free quantization (MAGVIT-v2): code_i = sign(z_i) in {-1, +1}, index = sum bit_i 2^i.

    The entropy loss is the mean per-token entropy of the soft assignment over all 2^D codes minus the
    entropy of its batch mean, with logits 2 z.c / T (= -||z - c||^2 / T up to a per-token constant)."""

    def __init__(
        self,
        dim: int,
        in_dim: int | None = None,
        entropy_weight: float = 0.1,
        entropy_temperature: float = 0.01,
        beta: float = 0.25,
        diversity_gamma: float = 1.0,
        usage_window: int = 65536,
    ):
        if dim > 20:
            raise ValueError(f"LFQ/BSQ with {dim} bits: the entropy loss enumerates 2^{dim} codes; use <= 20")
        super().__init__(dim, in_dim, usage_window, 2**dim)
        self.entropy_weight = entropy_weight
        self.entropy_temperature = entropy_temperature
        self.beta = beta
        self.diversity_gamma = diversity_gamma
        self.register_buffer("_bits", 2 ** torch.arange(dim, dtype=torch.long), persistent=False)
        self.scale = 1.0  # code magnitude per channel (BSQ: 1 / sqrt(D))

    def quantize_flat(self, z: torch.Tensor) -> torch.Tensor:
        return torch.where(z > 0, self.scale, -self.scale)

    def codes_to_index(self, codes: torch.Tensor) -> torch.Tensor:
        return ((codes > 0).long() * self._bits).sum(-1)

    def index_to_codes(self, idx: torch.Tensor) -> torch.Tensor:
        bits = (idx.long()[..., None] & self._bits) != 0  # (..., D)
        return torch.where(bits, self.scale, -self.scale)

    def entropy_terms(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, D) -> (mean per-token entropy, entropy of the mean assignment) of the softmax over all 2^D codes
        with logits 2 z.c / T, without forming the (N, 2^D) assignments.

        The logit is a sum over channels, so each token's assignment is a product of independent bits:
        p(c | z) = prod_k p_k(c_k), p_k(+) = sigmoid(4 s z_k / T) (codes +-s per channel).
        - Per token the entropy is then exactly the sum of the D binary entropies. (The reference sums
          -p log max(p, 1e-5) over the 2^D codes; that clamp lowers its value by sum_{p < 1e-5} p log(1e-5 / p),
          2e-7 / 2e-6 on the 8-bit LFQ / BSQ fixture, 7e-5 on 18-bit BSQ at T = 0.01.)
        - The batch mean of products does not factorise over bits. Split the bits into a low and a high half:
          p(c | z) = P_lo(c_lo | z) P_hi(c_hi | z), each a softmax over its half's codes, so the mean assignment
          is exactly P_lo^T P_hi / N, a (2^h, N) x (N, 2^(D-h)) product; its entropy takes the reference's clamp.
        Under torch.distributed the mean is over every process's tokens (an autograd-aware all-reduce of the
        summed product): the codebook entropy of the global batch, so that DDP's gradient averaging gives one
        process's full-batch gradient. The per-token term stays local (DDP's averaging makes it global).
        """
        logit = (4 * self.scale / self.entropy_temperature) * z  # (N, D): log-odds of each bit being +
        per_token = (F.softplus(logit) - torch.sigmoid(logit) * logit).sum(-1).mean()  # binary entropies
        h = z.shape[1] // 2
        p_lo, p_hi = self._half_assignment(z[:, :h]), self._half_assignment(z[:, h:])  # (N, 2^h), (N, 2^(D-h))
        mean = _global_mean(p_lo.t() @ p_hi, z.shape[0])  # (2^h, 2^(D-h)): the mean assignment over all 2^D codes
        return per_token, _entropy(mean.reshape(-1))

    def _half_assignment(self, z: torch.Tensor) -> torch.Tensor:
        """(N, d) -> (N, 2^d): softmax over the codes of these d channels, logits 2 z.c / T."""
        d = z.shape[1]
        bits = (torch.arange(2**d, device=z.device)[:, None] >> torch.arange(d, device=z.device)) & 1  # (2^d, d)
        codes = torch.where(bits == 1, self.scale, -self.scale).to(z.dtype)
        return (2 * z @ codes.t() / self.entropy_temperature).softmax(-1)

    def extra_losses(self, z: torch.Tensor, codes: torch.Tensor) -> dict[str, torch.Tensor]:
        losses = {"commit": self.beta * F.mse_loss(z, codes)}
        if self.entropy_weight > 0 and self.training:
            per_token, batch = self.entropy_terms(z)
            losses["entropy"] = self.entropy_weight * (per_token - self.diversity_gamma * batch)
        return losses


class _SumOverProcesses(torch.autograd.Function):
    """all_reduce(SUM) with autograd: the backward all-reduces the gradient too, so every rank's loss
    reaches every rank's inputs (what torch.distributed.nn.functional.all_reduce did; it is deprecated)."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        t = t.clone()
        torch.distributed.all_reduce(t)
        return t

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.clone()
        torch.distributed.all_reduce(grad)
        return grad


def _global_mean(total: torch.Tensor, count: int) -> torch.Tensor:
    """``total / count`` over every process (this one's alone without torch.distributed): the summed
    probabilities all-reduced with autograd, divided by the all-reduced token count."""
    if not _dist_on():
        return total / count
    n = torch.tensor([float(count)], device=total.device)
    torch.distributed.all_reduce(n)
    return _SumOverProcesses.apply(total) / n


def _entropy(p: torch.Tensor) -> torch.Tensor:
    """(..., K) probabilities -> (...) entropies in nats; log clamped at 1e-5 as the reference does."""
    return -(p * p.clamp_min(1e-5).log()).sum(-1)


class BSQ(LFQ):
    """Binary spherical quantization (Zhao et al. 2024): z is l2-normalised, code_i = sign(z_i) / sqrt(D);
    codes lie on the unit sphere, index as LFQ. The entropy loss is LFQ's on the sphere."""

    def __init__(self, dim: int, **kwargs: float | int | None):
        super().__init__(dim, **kwargs)  # type: ignore[arg-type]
        # 1 / sqrt(D) rounded in fp32, as l2-normalising a +-1 vector gives it
        self.scale = float(1.0 / torch.tensor(float(dim)).sqrt())

    def prepare(self, z: torch.Tensor) -> torch.Tensor:
        return F.normalize(z, dim=-1)
