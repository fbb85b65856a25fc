"""Small real tokenizers of each kind for the inspection tests (nearest code over raw pixels).

- ``PatchVQ`` (discrete): the shared toy tokenizer of tests/tokenizers/toy.py, 4x4 patches.
- ``ColorPyramid`` (multiscale): the image area-pooled to each scale, nearest of K colours (3-d,
  one codebook shared by all scales, like VAR).
- ``PoolAE`` (continuous): 4x4 average pooling then a fixed 1x1 projection to C channels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from tests.tokenizers.toy import PatchVQ as ToyPatchVQ
from tests.tokenizers.toy import PatchVQConfig
from tokkit.tokenizers import TokenBatch, Tokenizer


class PatchVQ(ToyPatchVQ):
    architecture = "test-inspect-patchvq"


@dataclass
class ColorPyramidConfig:
    codebook_size: int = 16
    scales: list[int] = field(default_factory=lambda: [1, 2, 4])
    seed: int = 0


class ColorPyramid(Tokenizer):
    architecture = "test-inspect-pyramid"
    kind = "multiscale"

    def __init__(self, config: ColorPyramidConfig):
        super().__init__(config)
        g = torch.Generator().manual_seed(config.seed)
        self.codes = nn.Parameter(torch.rand(config.codebook_size, 3, generator=g) * 2 - 1)

    def encode(self, images):
        maps = []
        for s in self.config.scales:
            x = F.adaptive_avg_pool2d(images, s)  # (B, 3, s, s)
            d = torch.cdist(x.flatten(2).transpose(1, 2), self.codes[None])
            maps.append(d.argmin(-1).view(-1, s, s))
        return TokenBatch("multiscale", indices=maps)

    def decode(self, tokens):
        finest = tokens.index_maps()[-1]
        x = self.codes[finest].permute(0, 3, 1, 2)
        return F.interpolate(x, scale_factor=self.downsample_factor, mode="nearest")

    @property
    def codebook_size(self):
        return self.config.codebook_size

    @property
    def codebook(self):
        return self.codes.detach()

    @property
    def downsample_factor(self):
        return 16 // self.config.scales[-1]

    def token_shape(self, image_size):
        if image_size != 16:
            from tokkit.errors import UsageError

            raise UsageError("this test tokenizer works at 16 px")
        return [(s, s) for s in self.config.scales]


@dataclass
class PoolAEConfig:
    channels: int = 4
    seed: int = 0


class PoolAE(Tokenizer):
    architecture = "test-inspect-poolae"
    kind = "continuous"

    def __init__(self, config: PoolAEConfig):
        super().__init__(config)
        g = torch.Generator().manual_seed(config.seed)
        self.proj = nn.Parameter(torch.randn(config.channels, 3, generator=g))

    def encode(self, images):
        x = F.avg_pool2d(images, 4)
        return TokenBatch("continuous", latents=torch.einsum("cd,bdhw->bchw", self.proj, x))

    def decode(self, tokens):
        x = torch.einsum("dc,bchw->bdhw", torch.linalg.pinv(self.proj), tokens.latents)
        return F.interpolate(x, scale_factor=4, mode="nearest").clamp(-1, 1)

    @property
    def downsample_factor(self):
        return 4


FACTORIES = {
    "test-inspect-patchvq": lambda **kw: PatchVQ(PatchVQConfig(**kw)),
    "test-inspect-pyramid": lambda **kw: ColorPyramid(ColorPyramidConfig(**kw)),
    "test-inspect-poolae": lambda **kw: PoolAE(PoolAEConfig(**kw)),
}
