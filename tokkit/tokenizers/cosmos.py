"""Cosmos image tokenizers (NVIDIA Cosmos-Tokenizer): Haar-wavelet patches, a taming-style conv
encoder/decoder, FSQ codes (DI, discrete) or a plain continuous latent (CI, an autoencoder, no KL).

The network (Cosmos-Tokenizer 3584ae7 ``modules/layers2d.py``, ``modules/patching.py``,
``networks/discrete_image.py``, ``networks/continuous_image.py``):
- pixels (B, 3, H, W) -> ``log2(patch_size)`` Haar levels (``tokkit.layers.haar``) -> (B, 3 p^2, H/p, W/p);
- encoder: tokkit's conv ``Encoder`` (ResBlocks, middle res/attn/res, GroupNorm, SiLU), where only the
  first ``log2(spatial_compression / patch_size)`` levels downsample (8x8: the first of 3; 16x16: the
  first two) and attention sits only in the middle block in the published models;
- DI: 1x1 ``quant_conv`` z -> len(levels) and FSQ (``tokkit.layers.scalar_quant.FSQ``, whose
  ``project_in`` / ``project_out`` are Cosmos's ``quant_conv`` / ``post_quant_conv``); indices are
  Cosmos's mixed-radix numbers, channel 0 least significant, 0 .. prod(levels) - 1;
- CI: 1x1 ``quant_conv`` z -> latent_channels, the latent itself (Cosmos's ``IdentityDistribution``),
  1x1 ``post_quant_conv`` back to z;
- decoder: tokkit's conv ``Decoder`` (num_res_blocks + 1 ResBlocks per level), the first
  ``log2(spatial_compression / patch_size)`` levels run (lowest resolution first) end in a 2x
  pixel-repeat upsampling; its 3 p^2 output channels are merged back by the inverse Haar transform.
  No clamp (Cosmos returns the decoder's output as is).

Registered variants (the published 8x8 configs; ``spatial_compression=16`` gives the 16x16 ones):
- ``cosmos-di``: Cosmos DI8x8: FSQ levels (8, 8, 8, 5, 5, 5) = 64000 codes, ch 128 x (2, 4, 4), z 256, 79.0M parameters.
- ``cosmos-ci``: Cosmos CI8x8: 16 continuous latent channels, ch 128 x (2, 4, 4), z 16.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from tokkit.errors import UsageError
from tokkit.layers.conv import Decoder, Encoder
from tokkit.layers.haar import haar_patches, haar_unpatch
from tokkit.layers.scalar_quant import FSQ
from tokkit.tokenizers._base import TokenBatch, Tokenizer, TrainOutput
from tokkit.tokenizers._registry import register_variants
from tokkit.tokenizers.vqgan import VQGAN, ConvTokenizer, _tuples, check_images


def _log2(n: int, what: str) -> int:
    if n < 1 or n & (n - 1):
        raise UsageError(f"{what} must be a power of two, got {n}")
    return n.bit_length() - 1


@dataclass
class CosmosConfig:
    ch: int = 128
    ch_mult: tuple[int, ...] = (2, 4, 4)
    num_res_blocks: int = 2
    z_channels: int = 256
    patch_size: int = 4  # Haar levels: log2(patch_size)
    spatial_compression: int = 8
    attn_levels: tuple[int, ...] = ()  # encoder levels with attention after each ResBlock (none published)
    dec_attn_levels: tuple[int, ...] = ()  # decoder levels (indices into ch_mult) with attention
    dropout: float = 0.0

    def __post_init__(self) -> None:
        _tuples(self)
        down = self.resamples
        if not 0 <= down <= len(self.ch_mult):
            raise UsageError(
                f"spatial_compression {self.spatial_compression} with patch_size {self.patch_size} needs {down} "
                f"downsamplings, but there are {len(self.ch_mult)} levels"
            )

    @property
    def factor(self) -> int:
        return self.spatial_compression

    @property
    def resamples(self) -> int:
        """Number of stride-2 levels: log2(spatial_compression) - log2(patch_size)."""
        return _log2(self.spatial_compression, "spatial_compression") - _log2(self.patch_size, "patch_size")

    def coder_kwargs(self, decoder: bool = False) -> dict[str, Any]:
        """Keyword arguments of tokkit's conv ``Encoder`` (or ``Decoder``) for the patched pixels."""
        channels = 3 * self.patch_size**2
        kw = dict(ch=self.ch, ch_mult=self.ch_mult, num_res_blocks=self.num_res_blocks, z_channels=self.z_channels,
                  mid_attn=True, dropout=self.dropout)  # fmt: skip
        if decoder:
            return {**kw, "attn_levels": self.dec_attn_levels, "out_channels": channels, "upsamples": self.resamples}
        return {**kw, "attn_levels": self.attn_levels, "in_channels": channels, "downsamples": self.resamples}


@dataclass
class CosmosDIConfig(CosmosConfig):
    fsq_levels: tuple[int, ...] = (8, 8, 8, 5, 5, 5)
    usage_window: int = 65536


@dataclass
class CosmosCIConfig(CosmosConfig):
    z_channels: int = 16
    latent_channels: int = 16


class PatchEncoder(Encoder):
    """tokkit's conv ``Encoder`` on Haar patches: (B, 3, H, W) -> (B, z, H/f, W/f)."""

    def __init__(self, config: CosmosConfig):
        super().__init__(**config.coder_kwargs())
        self.haar_levels = _log2(config.patch_size, "patch_size")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(haar_patches(x, self.haar_levels))


class PatchDecoder(Decoder):
    """tokkit's conv ``Decoder`` to Haar patches, merged back: (B, z, h, w) -> (B, 3, h f, w f)."""

    def __init__(self, config: CosmosConfig):
        super().__init__(**config.coder_kwargs(decoder=True))
        self.haar_levels = _log2(config.patch_size, "patch_size")

    def forward(self, z: torch.Tensor, out_size: tuple[int, int] | None = None) -> torch.Tensor:
        return haar_unpatch(super().forward(z, out_size), self.haar_levels)


class CosmosDI(VQGAN):
    """Cosmos DI: patched conv encoder -> FSQ (``quantizer.project_in`` = Cosmos's quant_conv) -> decoder.
    encode / decode / quantize / forward are VQGAN's, on these modules."""

    architecture = "cosmos-di"
    kind = "discrete"

    def __init__(self, config: CosmosDIConfig):
        Tokenizer.__init__(self, config)  # VQGAN's own __init__ builds its unpatched modules
        self.encoder = PatchEncoder(config)
        self.quantizer = FSQ(config.fsq_levels, in_dim=config.z_channels, usage_window=config.usage_window)
        self.decoder = PatchDecoder(config)


class CosmosCI(ConvTokenizer):
    """Cosmos CI: patched conv encoder -> 1x1 quant_conv -> continuous latents -> 1x1 post_quant_conv -> decoder."""

    architecture = "cosmos-ci"
    kind = "continuous"

    def __init__(self, config: CosmosCIConfig):
        super().__init__(config)
        c = config
        self.encoder = PatchEncoder(c)
        self.quant_conv = nn.Conv2d(c.z_channels, c.latent_channels, 1)
        self.post_quant_conv = nn.Conv2d(c.latent_channels, c.z_channels, 1)
        self.decoder = PatchDecoder(c)

    def encode(self, images: torch.Tensor) -> TokenBatch:
        check_images(images, self.downsample_factor)
        z = self.quant_conv(self.encoder(images))  # (B, latent_channels, H/f, W/f)
        return TokenBatch("continuous", latents=z, features=z)

    def decode(self, tokens: TokenBatch) -> torch.Tensor:
        z = tokens.latents if tokens.latents is not None else tokens.quantized
        if z is None:
            raise UsageError("cosmos-ci decode needs latents in the TokenBatch")
        if z.ndim != 4 or z.shape[1] != self.config.latent_channels:
            c = self.config.latent_channels
            raise UsageError(f"latents of shape {tuple(z.shape)}: cosmos-ci expects (B, {c}, h, w)")
        return self.decoder(self.post_quant_conv(z))

    def forward(self, images: torch.Tensor) -> TrainOutput:
        tokens = self.encode(images)
        return TrainOutput(self.decode(tokens), {}, {}, tokens)


DI_VARIANTS: dict[str, dict[str, Any]] = {"cosmos-di": {}}
CI_VARIANTS: dict[str, dict[str, Any]] = {"cosmos-ci": {}}

register_variants(CosmosDI, CosmosDIConfig, DI_VARIANTS, __doc__)
register_variants(CosmosCI, CosmosCIConfig, CI_VARIANTS, __doc__)
