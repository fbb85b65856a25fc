"""Small real tokenizers and a feature network for the metric tests (registered by conftest.py).

- ``test-metrics-vq``: nearest code over raw p x p patches; exposes pre-quantization features
  (the patch vectors) and the quantized vectors (their codes).
- ``test-metrics-msvq``: residual multi-scale VQ over the patch grid (scales 1, 2, ..., s), one
  shared codebook, like VAR's quantizer without the learned parts.
- ``test-metrics-ae``: a continuous tokenizer (average-pooled patches as latents).
- ``test-pixfeat``: a deterministic feature network (pooled colours and their squares, 96-d).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tokkit.tokenizers import TokenBatch, Tokenizer


@dataclass
class VQConfig:
    codebook_size: int = 32
    patch: int = 4
    seed: int = 0
    image_size: int = 16


def _init_codes(k: int, d: int, seed: int) -> nn.Parameter:
    g = torch.Generator().manual_seed(seed)
    return nn.Parameter(torch.rand(k, d, generator=g) * 2 - 1)


class MetricVQ(Tokenizer):
    architecture = "test-metrics-vq"
    kind = "discrete"

    def __init__(self, config: VQConfig):
        super().__init__(config)
        self.codes = _init_codes(config.codebook_size, 3 * config.patch**2, config.seed)

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        p = self.config.patch
        f = F.unfold(images, p, stride=p)  # (B, 3p^2, hw)
        return f.view(images.shape[0], -1, images.shape[-2] // p, images.shape[-1] // p)

    def encode(self, images):
        f = self._features(images)
        b, d, h, w = f.shape
        flat = f.flatten(2).transpose(1, 2)  # (B, hw, D)
        idx = torch.cdist(flat, self.codes[None].expand(b, -1, -1)).argmin(-1).view(b, h, w)
        q = self.codes[idx].permute(0, 3, 1, 2)
        return TokenBatch("discrete", indices=idx, features=f, quantized=q)

    def decode(self, tokens):
        p = self.config.patch
        idx = tokens.indices
        b, h, w = idx.shape
        f = self.codes[idx.reshape(b, -1)].transpose(1, 2)
        return F.fold(f, (h * p, w * p), p, stride=p)

    @property
    def codebook_size(self):
        return self.config.codebook_size

    @property
    def codebook(self):
        return self.codes.detach()

    @property
    def downsample_factor(self):
        return self.config.patch


class MetricMSVQ(MetricVQ):
    architecture = "test-metrics-msvq"
    kind = "multiscale"

    def scales(self, s: int) -> list[int]:
        out, k = [], 1
        while k < s:
            out.append(k)
            k *= 2
        return [*out, s]

    def encode(self, images):
        f = self._features(images)
        b, d, s, _ = f.shape
        resid, f_hat, maps = f.clone(), torch.zeros_like(f), []
        for k in self.scales(s):
            r = F.adaptive_avg_pool2d(resid, k).flatten(2).transpose(1, 2)  # (B, k*k, D)
            idx = torch.cdist(r, self.codes[None].expand(b, -1, -1)).argmin(-1).view(b, k, k)
            up = F.interpolate(self.codes[idx].permute(0, 3, 1, 2), size=(s, s), mode="nearest")
            f_hat, resid = f_hat + up, resid - up
            maps.append(idx)
        return TokenBatch("multiscale", indices=maps, features=f, quantized=f_hat)

    def next_scale_inputs(self, maps):
        """VAR's teacher-forced inputs under this quantizer's rule: the running sum of the coarser scales'
        nearest-upsampled codes, area-downsampled to the next scale: (B, sum s_k^2, D)."""
        scales = self.scales(self.config.image_size // self.config.patch)
        s, f_hat, out = scales[-1], 0, []
        for k, idx in enumerate(maps[: len(scales) - 1]):
            f_hat = f_hat + F.interpolate(self.codes[idx].permute(0, 3, 1, 2), size=(s, s), mode="nearest")
            out.append(F.adaptive_avg_pool2d(f_hat, scales[k + 1]).flatten(2).transpose(1, 2))
        return torch.cat(out, 1)

    def decode(self, tokens):
        p = self.config.patch
        maps = tokens.index_maps()
        s = maps[-1].shape[-1]
        f_hat = 0
        for idx in maps:
            f_hat = f_hat + F.interpolate(self.codes[idx].permute(0, 3, 1, 2), size=(s, s), mode="nearest")
        return F.fold(f_hat.flatten(2), (s * p, s * p), p, stride=p)

    def token_shape(self, image_size):
        s = super().token_shape(image_size)[0]
        return [(k, k) for k in self.scales(s)]


@dataclass
class AEConfig:
    patch: int = 4
    channels: int = 6
    seed: int = 0
    image_size: int = 16


class MetricAE(Tokenizer):
    architecture = "test-metrics-ae"
    kind = "continuous"

    def __init__(self, config: AEConfig):
        super().__init__(config)
        g = torch.Generator().manual_seed(config.seed)
        self.enc = nn.Parameter(torch.randn(config.channels, 3, generator=g))
        self.dec = nn.Parameter(torch.linalg.pinv(self.enc.detach()))

    def encode(self, images):
        pooled = F.avg_pool2d(images, self.config.patch)
        z = torch.einsum("cd,bdhw->bchw", self.enc, pooled)
        return TokenBatch("continuous", latents=z, features=pooled)

    def decode(self, tokens):
        x = torch.einsum("dc,bchw->bdhw", self.dec, tokens.latents)
        return F.interpolate(x, scale_factor=self.config.patch, mode="nearest").clamp(-1, 1)

    @property
    def downsample_factor(self):
        return self.config.patch


class PixFeatures:
    """Deterministic 96-d image features: 4x4 pooled colours and their squares."""

    spec = "test-pixfeat"
    dim = 96

    def __init__(self, weights=None, device="cpu"):
        self.calls = 0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        p = F.adaptive_avg_pool2d(images.double(), 4).flatten(1)
        return torch.cat([p, p**2], 1)

    def describe(self):
        return {"network": "test-pixfeat", "spec": self.spec, "dim": self.dim, "implementation": "tests", "resize": ""}


class CoarsePixFeatures(PixFeatures):
    """24-d: 2x2 pooled colours and their squares (few enough dimensions for a full-rank FD from ~50 images)."""

    spec = "test-pixfeat-coarse"
    dim = 24

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        p = F.adaptive_avg_pool2d(images.double(), 2).flatten(1)
        return torch.cat([p, p**2], 1)

    def describe(self):
        return {**super().describe(), "network": self.spec, "spec": self.spec, "dim": self.dim}


NAMES = {
    "test-metrics-vq": lambda **kw: MetricVQ(VQConfig(**kw)),
    "test-metrics-msvq": lambda **kw: MetricMSVQ(VQConfig(**kw)),
    "test-metrics-ae": lambda **kw: MetricAE(AEConfig(**kw)),
}


@contextlib.contextmanager
def registered(names: dict) -> Iterator[None]:
    """Register the tokenizer factories ``names`` and the ``test-pixfeat(-coarse)`` FID networks, then remove them."""
    from tokkit.metrics.fid import FID_FEATURES
    from tokkit.tokenizers import TOKENIZERS, register_tokenizer

    for name, factory in names.items():
        register_tokenizer(name, factory)
    FID_FEATURES.register("test-pixfeat", PixFeatures)
    FID_FEATURES.register("test-pixfeat-coarse", CoarsePixFeatures)
    try:
        yield
    finally:
        for name in names:
            TOKENIZERS.unregister(name)
        FID_FEATURES.unregister("test-pixfeat")
        FID_FEATURES.unregister("test-pixfeat-coarse")


def save_all(names: dict, root) -> dict:
    """Saved checkpoints of the registered test tokenizers ``names``: {name: path}."""
    from tokkit.io.checkpoint import save_checkpoint
    from tokkit.tokenizers import create_tokenizer

    return {name: save_checkpoint(create_tokenizer(name), root / name) for name in names}
