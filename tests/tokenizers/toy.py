"""``PatchVQ``: a minimal real discrete tokenizer (nearest of K codes over raw p x p RGB patches)
shared by the contract, checkpoint and inspection tests. Subclasses set their own ``architecture``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from tokkit.tokenizers import TokenBatch, Tokenizer


@dataclass
class PatchVQConfig:
    codebook_size: int = 32
    patch: int = 4
    seed: int = 0
    duplicate: bool = False  # make code 1 an exact copy of code 0 (near-duplicate detection)


class PatchVQ(Tokenizer):
    architecture = "test-patchvq"
    kind = "discrete"

    def __init__(self, config: PatchVQConfig):
        super().__init__(config)
        g = torch.Generator().manual_seed(config.seed)
        codes = torch.rand(config.codebook_size, 3 * config.patch**2, generator=g) * 2 - 1
        if config.duplicate:
            codes[1] = codes[0]
        self.codes = nn.Parameter(codes)

    def encode(self, images):
        p = self.config.patch
        f = F.unfold(images, p, stride=p)  # (B, 3p^2, hw)
        d = torch.cdist(f.transpose(1, 2), self.codes[None])
        h, w = images.shape[-2] // p, images.shape[-1] // p
        return TokenBatch("discrete", indices=d.argmin(-1).view(-1, h, w))

    def decode(self, tokens):
        p = self.config.patch
        b, h, w = tokens.indices.shape
        f = self.codes[tokens.indices.view(b, -1)].transpose(1, 2)
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
