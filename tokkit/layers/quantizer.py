"""Vector quantizers: a single-scale VQ and VAR's multi-scale residual VQ, sharing one ``Codebook``.

Codebook options: L2-normalised (cosine) codes, EMA updates, k-means init from the first training
batch, dead-code restart, rolling-window usage. Nearest-code search and codebook statistics always
run in fp32 with autocast off (bf16 distances collapse usage). Under ``torch.distributed`` the code
counts/sums are all-reduced and random choices (k-means init, restarts) are made on rank 0 and
broadcast, so every rank keeps the same codebook.

Losses follow the VQ-VAE paper with ``beta`` on the commitment term (the encoder side):
``codebook = mse(z_q, sg(z))`` and ``commit = beta * mse(sg(z_q), z)``; taming's legacy quantizer
put beta on the codebook term instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


def _dist_on() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _all_reduce(t: torch.Tensor) -> torch.Tensor:
    if _dist_on():
        dist.all_reduce(t)
    return t


def _broadcast(t: torch.Tensor) -> torch.Tensor:
    if _dist_on():
        dist.broadcast(t, 0)
    return t


class _Fp32:
    """Context: autocast off, so that distances and codebook updates run in fp32."""

    def __init__(self, device: torch.device):
        self.ctx = torch.autocast(device_type=device.type, enabled=False)

    def __enter__(self):
        self.ctx.__enter__()

    def __exit__(self, *exc):
        return self.ctx.__exit__(*exc)


def kmeans(x: torch.Tensor, k: int, iters: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Lloyd k-means on (N, D) fp32, init from random points (with replacement when N < k); empty
    clusters are re-seeded at the farthest points."""
    n = x.shape[0]
    if n >= k:
        init = torch.randperm(n, generator=generator)[:k]
    else:
        init = torch.randint(0, n, (k,), generator=generator)
    c = x[init.to(x.device)].clone()
    for _ in range(iters):
        idx = nearest(x, c)
        sums = torch.zeros_like(c).index_add_(0, idx, x)
        counts = torch.bincount(idx, minlength=k).to(x.dtype)
        filled = counts > 0
        c[filled] = sums[filled] / counts[filled, None]
        empty = (~filled).nonzero().flatten()
        if len(empty) and n > len(empty):
            # an empty cluster moves to the points worst served by their centre (as scikit-learn does)
            far = (x - c[idx]).pow(2).sum(1).topk(len(empty)).indices
            c[empty] = x[far]
    return c


def nearest(z: torch.Tensor, codes: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """Index of the nearest code by squared L2 for each row of z (N, D). Chunked: on CPU a ~4 MB block
    of distances stays in cache (faster argmin); on GPU the chunks only bound memory."""
    if chunk is None:
        chunk = max(64, (1 << 20) // max(1, codes.shape[0])) if z.device.type == "cpu" else 16384
    # argmin ||z - c||^2 = argmax (z.c - ||c||^2 / 2): one matmul and one in-place pass per chunk
    ct = codes.t().contiguous()
    half = 0.5 * codes.pow(2).sum(1)
    out = []
    for s in range(0, z.shape[0], chunk):
        out.append(torch.mm(z[s : s + chunk], ct).sub_(half).argmax(1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=z.device)


CODE_MATCHES = ("l2", "dot")


def best_dot(z: torch.Tensor, codes: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """Index of the code with the largest plain dot product z.c for each row of z (N, D): IBQ's rule
    (argmax of the logits z.E^T, no normalisation), which favours long codes over near ones."""
    if chunk is None:
        chunk = max(64, (1 << 20) // max(1, codes.shape[0])) if z.device.type == "cpu" else 16384
    ct = codes.t().contiguous()
    out = [torch.mm(z[s : s + chunk], ct).argmax(1) for s in range(0, z.shape[0], chunk)]
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=z.device)


def match(z: torch.Tensor, codes: torch.Tensor, rule: str = "l2") -> torch.Tensor:
    """(N,) code indices of z (N, D) by ``rule``: "l2" nearest (default) or "dot" largest dot product."""
    return best_dot(z, codes) if rule == "dot" else nearest(z, codes)


class UsageWindow(nn.Module):
    """Ring buffer of the last ``size`` code assignments: the training-time usage proxy
    (LlamaGen logs unique codes over the last 65,536). Not saved with the model (training state)."""

    def __init__(self, codebook_size: int, size: int):
        super().__init__()
        self.k = codebook_size
        self.size = max(1, int(size))
        self.register_buffer("ring", torch.zeros(self.size, dtype=torch.long), persistent=False)
        self.register_buffer("pos", torch.zeros((), dtype=torch.long), persistent=False)
        self.register_buffer("filled", torch.zeros((), dtype=torch.long), persistent=False)
        # occurrences of each code in the window, kept up to date by ``add`` (usage without a pass over the window)
        self.register_buffer("counts", torch.zeros(self.k, dtype=torch.int32), persistent=False)

    @torch.no_grad()
    def add(self, idx: torch.Tensor) -> None:
        idx = idx.reshape(-1)[-self.size :]
        n = idx.numel()
        p, f = int(self.pos), int(self.filled)
        first = min(n, self.size - p)
        # the slots written are [p, p + first) and [0, n - first); those below ``filled`` lose their old code
        if f > p:
            self._count(self.ring[p : min(p + first, f)], -1)
        if n > first:
            self._count(self.ring[: n - first], -1)  # wrapped: these slots are always filled
        self._count(idx, 1)
        self.ring[p : p + first] = idx[:first]
        if n > first:
            self.ring[: n - first] = idx[first:]
        self.pos.fill_((p + n) % self.size)
        self.filled.fill_(min(self.size, f + n))

    def _count(self, codes: torch.Tensor, sign: int) -> None:
        if codes.numel():
            self.counts.index_add_(0, codes.to(self.ring.device), torch.full_like(codes, sign, dtype=torch.int32))

    def usage(self) -> float:
        """Distinct codes in the window / the most that could be distinct (min(K, window filled))."""
        f = int(self.filled)
        if f == 0:
            return 0.0
        return int(torch.count_nonzero(self.counts)) / min(self.k, f)


class Codebook(nn.Module):
    """K x D codes with the update options; ``weight`` is a Parameter (frozen to the optimizer under EMA)."""

    def __init__(
        self,
        codebook_size: int,
        code_dim: int,
        l2_norm: bool = False,
        ema_decay: float = 0.0,
        kmeans_init: bool = False,
        kmeans_iters: int = 10,
        dead_code_threshold: float = 0.0,
        usage_decay: float = 0.99,
    ):
        super().__init__()
        if codebook_size < 1 or code_dim < 1:
            raise ValueError("codebook_size and code_dim must be positive")
        self.k, self.d = int(codebook_size), int(code_dim)
        self.l2_norm = l2_norm
        self.ema_decay = float(ema_decay)
        self.kmeans_init = kmeans_init
        self.kmeans_iters = kmeans_iters
        self.dead_code_threshold = float(dead_code_threshold)
        self.usage_decay = usage_decay
        w = torch.empty(self.k, self.d).uniform_(-1.0 / self.k, 1.0 / self.k)
        self.weight = nn.Parameter(w, requires_grad=self.ema_decay == 0)
        # 1 once k-means init has run (saved: a loaded model is never re-initialised)
        self.register_buffer("initted", torch.tensor(0 if kmeans_init else 1, dtype=torch.long))
        if self.ema_decay > 0:
            self.register_buffer("cluster_size", torch.zeros(self.k))
            self.register_buffer("embed_avg", w.clone())
        # assignments per step, smoothed: drives dead-code restart (training state, not model state)
        self.register_buffer("usage_ema", torch.full((self.k,), self.dead_code_threshold), persistent=False)

    def codes(self) -> torch.Tensor:
        """(K, D) fp32 codes as the quantizer uses them (unit norm when ``l2_norm``)."""
        w = self.weight.float()
        return F.normalize(w, dim=1) if self.l2_norm else w

    def prepare(self, z: torch.Tensor) -> torch.Tensor:
        return F.normalize(z, dim=-1) if self.l2_norm else z

    @torch.no_grad()
    def maybe_init(self, z: torch.Tensor) -> None:
        """k-means init from the first training batch (rank 0 computes, everyone receives)."""
        if int(self.initted):
            return
        c = kmeans(z.detach().float(), self.k, self.kmeans_iters)
        c = _broadcast(self.prepare(c).contiguous())
        self.weight.data.copy_(c)
        if self.ema_decay > 0:
            self.embed_avg.copy_(c)
            self.cluster_size.fill_(1.0)
        self.initted.fill_(1)

    @torch.no_grad()
    def update(self, z: torch.Tensor, idx: torch.Tensor) -> dict[str, float]:
        """After an assignment in training: EMA step, usage tracking, dead-code restart.
        ``z`` (N, D) fp32 (prepared), ``idx`` (N,) long."""
        counts = torch.bincount(idx, minlength=self.k).float()
        need_sums = self.ema_decay > 0
        sums = torch.zeros(self.k, self.d, device=z.device).index_add_(0, idx, z.float()) if need_sums else None
        if _dist_on():
            _all_reduce(counts)
            if sums is not None:
                _all_reduce(sums)
        stats: dict[str, float] = {}
        if self.ema_decay > 0:
            dcy = self.ema_decay
            self.cluster_size.mul_(dcy).add_(counts, alpha=1 - dcy)
            self.embed_avg.mul_(dcy).add_(sums, alpha=1 - dcy)
            n = self.cluster_size.sum()
            smoothed = (self.cluster_size + 1e-5) / (n + self.k * 1e-5) * n  # Laplace smoothing
            new = self.embed_avg / smoothed[:, None]
            self.weight.data.copy_(self.prepare(new))
        self.usage_ema.mul_(self.usage_decay).add_(counts, alpha=1 - self.usage_decay)
        if self.dead_code_threshold > 0:
            dead = self.usage_ema < self.dead_code_threshold
            n_dead = int(dead.sum())
            stats["restarted"] = float(n_dead)
            if n_dead:
                # replace dead codes by random current encoder outputs (chosen on rank 0)
                pick = torch.randint(0, z.shape[0], (n_dead,), device=z.device)
                new = _broadcast(z[pick].float().contiguous())
                self.weight.data[dead] = self.prepare(new).to(self.weight.dtype)
                if self.ema_decay > 0:
                    self.embed_avg[dead] = new
                    self.cluster_size[dead] = 1.0
                # a grace period: a restarted code is not dead again before it had a chance
                self.usage_ema[dead] = self.dead_code_threshold * 2
        return stats


def entropy_penalty(z: torch.Tensor, codes: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean per-token entropy of soft assignments minus the entropy of their average (MAGVIT-style):
    low when each token is confident and the batch spreads over many codes."""
    logits = -(torch.cdist(z, codes).pow(2)) / temperature  # (N, K)
    p = logits.softmax(-1)
    logp = logits.log_softmax(-1)
    per_token = -(p * logp).sum(-1).mean()
    avg = p.mean(0)
    batch = -(avg * torch.log(avg.clamp_min(1e-12))).sum()
    return per_token - batch


@dataclass
class VQResult:
    """``out``: straight-through quantized features in the input space (B, in_dim, h, w);
    ``z``/``z_q``: pre-quant features and their codes in code space (B, D, h, w)."""

    out: torch.Tensor
    indices: torch.Tensor
    z: torch.Tensor
    z_q: torch.Tensor
    losses: dict[str, torch.Tensor] = field(default_factory=dict)
    stats: dict[str, float] = field(default_factory=dict)


class VectorQuantizer(nn.Module):
    """Single-scale VQ over (B, in_dim, h, w) with an optional 1x1 projection to a low-dim code space."""

    def __init__(
        self,
        codebook_size: int,
        code_dim: int,
        in_dim: int | None = None,
        l2_norm: bool = False,
        beta: float = 0.25,
        ema_decay: float = 0.0,
        kmeans_init: bool = False,
        kmeans_iters: int = 10,
        dead_code_threshold: float = 0.0,
        entropy_weight: float = 0.0,
        entropy_temperature: float = 0.01,
        usage_window: int = 65536,
        project: bool = False,
        code_match: str = "l2",
    ):
        """``project``: keep the 1x1 ``project_in``/``project_out`` convs even when ``in_dim == code_dim``
        (taming's ``quant_conv``/``post_quant_conv``, 256 -> 256); otherwise they exist only when the
        dims differ. ``code_match``: "l2" picks the nearest code, "dot" the largest dot product (IBQ)."""
        super().__init__()
        if code_match not in CODE_MATCHES:
            raise ValueError(f"code_match must be one of {', '.join(CODE_MATCHES)}, got '{code_match}'")
        self.code_match = code_match
        in_dim = code_dim if in_dim is None else in_dim
        self.beta = beta
        self.entropy_weight = entropy_weight
        self.entropy_temperature = entropy_temperature
        proj = project or in_dim != code_dim
        self.project_in = nn.Conv2d(in_dim, code_dim, 1) if proj else nn.Identity()
        self.project_out = nn.Conv2d(code_dim, in_dim, 1) if proj else nn.Identity()
        self.codebook = Codebook(
            codebook_size, code_dim, l2_norm, ema_decay, kmeans_init, kmeans_iters, dead_code_threshold
        )
        self.window = UsageWindow(codebook_size, usage_window)

    @property
    def codebook_size(self) -> int:
        return self.codebook.k

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_dim, h, w) -> code-space features (B, D, h, w), fp32, unit norm when cosine."""
        with _Fp32(x.device):
            z = self.project_in(x.float())
            return self.codebook.prepare(z.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, h, w) -> code vectors (B, D, h, w)."""
        return F.embedding(indices, self.codebook.codes()).permute(0, 3, 1, 2)

    def embed(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, h, w) -> what the decoder consumes (B, in_dim, h, w)."""
        with _Fp32(indices.device):
            return self.project_out(self.lookup(indices))

    @torch.no_grad()
    def snap(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Code-space vectors (B, D, h, w) -> (indices (B, h, w), their code vectors (B, D, h, w)): the
        nearest (or largest dot product) code of each, after the same normalisation as training."""
        with _Fp32(z.device):
            b, d, h, w = z.shape
            flat = self.codebook.prepare(z.float().permute(0, 2, 3, 1)).reshape(-1, d)
            idx = match(flat, self.codebook.codes(), self.code_match).view(b, h, w)
            return idx, self.lookup(idx)

    def forward(self, x: torch.Tensor) -> VQResult:
        with _Fp32(x.device):
            z = self.features(x)
            b, d, h, w = z.shape
            flat = z.permute(0, 2, 3, 1).reshape(-1, d)
            if self.training:
                self.codebook.maybe_init(flat)
            codes = self.codebook.codes()
            idx = match(flat.detach(), codes.detach(), self.code_match)
            z_q = F.embedding(idx, codes).view(b, h, w, d).permute(0, 3, 1, 2)
            losses = {"commit": self.beta * F.mse_loss(z, z_q.detach())}
            if self.codebook.ema_decay == 0:
                losses["codebook"] = F.mse_loss(z_q, z.detach())
            if self.entropy_weight > 0:
                losses["entropy"] = self.entropy_weight * entropy_penalty(flat, codes, self.entropy_temperature)
            stats: dict[str, float] = {}
            if self.training:
                stats.update(self.codebook.update(flat.detach(), idx))
                self.window.add(idx)
                stats["usage"] = self.window.usage()
            z_st = z + (z_q - z).detach()
            out = self.project_out(z_st)
        return VQResult(out, idx.view(b, h, w), z, z_q, losses, stats)


# --- VAR multi-scale residual quantizer ---------------------------------------------------------------


def phi_assignment(num_scales: int, num_phi: int) -> list[int]:
    """Which shared phi conv each scale uses: nearest of ``num_phi`` ticks evenly spaced over
    [1/(3K), 1 - 1/(3K)] to the scale's position si/(S-1); ties go to the later phi (VAR: 10 scales,
    4 convs -> [0,0,1,1,1,2,2,3,3,3])."""
    if num_phi <= 1:
        return [0] * num_scales
    ticks = np.linspace(1 / (3 * num_phi), 1 - 1 / (3 * num_phi), num_phi)
    out = []
    for si in range(num_scales):
        at = si / (num_scales - 1) if num_scales > 1 else 1.0
        dist_ = np.round(np.abs(ticks - at), 9)
        out.append(int(np.flatnonzero(dist_ == dist_.min())[-1]))
    return out


class Phi(nn.Conv2d):
    """phi(h) = (1 - r) * h + r * conv3x3(h), r = 0.5 in VAR."""

    def __init__(self, dim: int, ratio: float = 0.5):
        super().__init__(dim, dim, 3, padding=1)
        self.ratio = ratio

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h.mul(1 - self.ratio) + super().forward(h).mul(self.ratio)


def upsample_matrix(s: int, size: int) -> torch.Tensor:
    """(size*size, s*s) matrix equal to bicubic upsampling s x s -> size x size (align_corners=False)."""
    if s == size:
        return torch.eye(s * s)
    basis = torch.eye(s * s, dtype=torch.float64).view(s * s, 1, s, s)
    up = F.interpolate(basis, size=(size, size), mode="bicubic", align_corners=False)
    return up.view(s * s, size * size).t().float()


@dataclass
class MSVQResult:
    f_hat: torch.Tensor  # (B, C, H, W) straight-through
    indices: list[torch.Tensor]  # (B, s, s) per scale, coarse -> fine
    losses: dict[str, torch.Tensor] = field(default_factory=dict)
    stats: dict[str, float] = field(default_factory=dict)


class MultiScaleQuantizer(nn.Module):
    """VAR's multi-scale residual VQ over (B, C, H, W) with H = W = patch_nums[-1].

    Per scale s (coarse -> fine): area-downsample the residual to s x s, nearest code, bicubic-upsample
    the code map to H x W, apply phi, add to f_hat, subtract from the residual. Loss: mean over scales of
    ``beta * mse(sg(f_hat_k), f) + mse(f_hat_k, sg(f))``; straight-through output.

    Implementation: the index search runs once, sequentially, without autograd; the differentiable
    part is then computed for all scales at once (one upsampling matmul, one conv per shared phi, a
    cumulative sum for the per-scale f_hat). It gives the same values as the per-scale loop.
    """

    def __init__(
        self,
        codebook_size: int,
        code_dim: int,
        patch_nums: Sequence[int] = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16),
        num_phi: int = 4,
        phi_ratio: float = 0.5,
        beta: float = 0.25,
        l2_norm: bool = False,
        kmeans_init: bool = False,
        dead_code_threshold: float = 0.0,
        usage_window: int = 65536,
    ):
        super().__init__()
        self.patch_nums = [int(p) for p in patch_nums]
        if sorted(self.patch_nums) != self.patch_nums or len(set(self.patch_nums)) != len(self.patch_nums):
            raise ValueError(f"patch_nums must increase strictly, got {self.patch_nums}")
        self.beta = beta
        self.codebook = Codebook(codebook_size, code_dim, l2_norm, 0.0, kmeans_init, 10, dead_code_threshold)
        self.phis = nn.ModuleList(Phi(code_dim, phi_ratio) for _ in range(max(1, num_phi)))
        self.phi_of_scale = phi_assignment(len(self.patch_nums), len(self.phis))
        size = self.patch_nums[-1]
        self.register_buffer(
            "up", torch.cat([upsample_matrix(s, size) for s in self.patch_nums], 1), persistent=False
        )  # (H*W, sum s^2): every scale's bicubic upsampling as one matrix, block by block
        self.windows = nn.ModuleList(UsageWindow(codebook_size, usage_window) for _ in self.patch_nums)

    @property
    def codebook_size(self) -> int:
        return self.codebook.k

    def _upsample(self, codes: torch.Tensor, si: int) -> torch.Tensor:
        """(B, C, s, s) -> (B, C, H, W) bicubic (identity at the last scale)."""
        size = self.patch_nums[-1]
        if codes.shape[-1] == size:
            return codes
        return F.interpolate(codes, size=(size, size), mode="bicubic", align_corners=False)

    @torch.no_grad()
    def _search(self, f: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Sequential residual search: (B, s, s) indices per scale, and every scale's downsampled
        residual vectors (sum_s B*s*s, C) that were matched."""
        b, c, _, _ = f.shape
        rest = f.clone()
        codes = self.codebook.codes()
        out, vecs = [], []
        for si, s in enumerate(self.patch_nums):
            r = F.adaptive_avg_pool2d(rest, s) if s != rest.shape[-1] else rest  # area downsampling
            flat = self.codebook.prepare(r.permute(0, 2, 3, 1).reshape(-1, c))
            idx = nearest(flat, codes)
            h = F.embedding(idx, codes).view(b, s, s, c).permute(0, 3, 1, 2)
            rest -= self.phis[self.phi_of_scale[si]](self._upsample(h, si))
            out.append(idx.view(b, s, s))
            vecs.append(flat)
        return out, torch.cat(vecs)

    def contributions(self, indices: Sequence[torch.Tensor]) -> torch.Tensor:
        """(S, B, C, H, W): phi(up(codes)) of every scale, with autograd (their sum is f_hat)."""
        codes = self.codebook.codes()
        b = indices[0].shape[0]
        size = self.patch_nums[-1]
        c = codes.shape[1]
        tok = torch.cat([F.embedding(i.reshape(b, -1), codes) for i in indices], 1)  # (B, sum s^2, C)
        offsets = np.cumsum([0] + [s * s for s in self.patch_nums])
        ups = []
        for si in range(len(self.patch_nums)):
            blk = self.up[:, offsets[si] : offsets[si + 1]]
            ups.append(torch.matmul(blk, tok[:, offsets[si] : offsets[si + 1]]))  # (B, H*W, C)
        h = torch.stack(ups).transpose(-1, -2).reshape(len(ups), b, c, size, size)  # (S, B, C, H, W)
        out: list[torch.Tensor | None] = [None] * len(ups)
        for p, phi in enumerate(self.phis):  # one conv call per shared phi over all its scales
            sel = [si for si, q in enumerate(self.phi_of_scale) if q == p]
            if sel:
                y = phi(h[sel].reshape(len(sel) * b, c, size, size)).view(len(sel), b, c, size, size)
                for j, si in enumerate(sel):
                    out[si] = y[j]
        return torch.stack(out)  # type: ignore[arg-type]

    @torch.no_grad()
    def next_scale_inputs(self, indices: Sequence[torch.Tensor]) -> torch.Tensor:
        """VAR's teacher-forced inputs: given the maps of scales 0..m-1, for each scale k = 1..min(m, S-1)
        the running f_hat of scales < k (codes upsampled bicubic, through phi, summed, as in the search)
        area-downsampled to s_k x s_k. Returns (B, sum_k s_k^2, C), scales in order, row-major."""
        codes = self.codebook.codes()
        m = min(len(indices), len(self.patch_nums) - 1)
        with _Fp32(indices[0].device):
            f_hat, out = None, []
            for si in range(m):
                h = F.embedding(indices[si], codes).permute(0, 3, 1, 2)  # (B, C, s, s)
                h = self.phis[self.phi_of_scale[si]](self._upsample(h, si))
                f_hat = h if f_hat is None else f_hat + h
                nxt = F.adaptive_avg_pool2d(f_hat, self.patch_nums[si + 1])  # area downsampling
                out.append(nxt.flatten(2).transpose(1, 2))
        return torch.cat(out, 1)

    def decode_indices(self, indices: Sequence[torch.Tensor]) -> torch.Tensor:
        """Per-scale index maps -> f_hat (B, C, H, W)."""
        if len(indices) != len(self.patch_nums):
            raise ValueError(f"expected {len(self.patch_nums)} index maps, got {len(indices)}")
        with _Fp32(indices[0].device):
            return self.contributions(indices).sum(0)

    def forward(self, f: torch.Tensor) -> MSVQResult:
        if f.shape[-1] != self.patch_nums[-1] or f.shape[-2] != self.patch_nums[-1]:
            raise ValueError(f"feature map {tuple(f.shape[-2:])} does not match the last scale {self.patch_nums[-1]}")
        with _Fp32(f.device):
            f = f.float()
            if self.training:
                self.codebook.maybe_init(f.detach().permute(0, 2, 3, 1).reshape(-1, f.shape[1]))
            indices, matched = self._search(f.detach())
            contrib = self.contributions(indices)  # (S, B, C, H, W)
            f_hats = contrib.cumsum(0)  # f_hat after each scale
            fd = f.detach()
            n = len(self.patch_nums)
            losses = {
                "commit": self.beta * sum(F.mse_loss(f_hats[k].detach(), f) for k in range(n)) / n,
                "codebook": sum(F.mse_loss(f_hats[k], fd) for k in range(n)) / n,
            }
            f_hat = f_hats[-1]
            stats: dict[str, float] = {}
            if self.training:
                stats.update(self.codebook.update(matched, torch.cat([i.reshape(-1) for i in indices])))
                for win, idx in zip(self.windows, indices, strict=True):
                    win.add(idx)
                per_scale = [w.usage() for w in self.windows]
                stats.update({f"usage_s{s}": u for s, u in zip(self.patch_nums, per_scale, strict=True)})
                stats["usage"] = float(np.mean(per_scale))
            # value f_hat, gradient straight through to f only (as VAR): the codes and phi convs learn
            # from the codebook term alone
            out = f + (f_hat - f).detach()
        return MSVQResult(out, indices, losses, stats)
