"""VAR's multi-scale residual VQ-VAE (FoundationVision/VAR ``vqvae.py`` + ``quant.py``), trainable.

Encoder -> 3x3 quant conv -> multi-scale residual quantizer (one shared codebook, phi convs) ->
3x3 post-quant conv -> decoder. ``encode`` returns one index map per scale, coarse to fine; the last
scale equals the latent grid (image_size / 16 for the VAR config), so ``patch_nums[-1]`` fixes the
image size.

Registered variants:
- ``msvq``: VAR's configuration (same as ``msvq-var``).
- ``msvq-var``: ``vae_ch160v4096z32``: 4096 codes x 32 dims, base width 160, f16, scales 1..16 (680 tokens at 256 px).
- ``msvq-tiny``: f8, 512 codes x 16 dims, scales 1,2,3,4,6,8 for CPU training at 64 px.

At another image size the default scales follow the latent grid: ``scales_for_grid(side)`` is VAR's
spacing rescaled to end at the grid side (``patch_nums_for_image_size`` applies it to a preset).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from tokkit.errors import UsageError
from tokkit.layers.conv import Decoder, Encoder
from tokkit.layers.quantizer import MultiScaleQuantizer
from tokkit.tokenizers._base import QuantizeOutput, TokenBatch, TrainOutput
from tokkit.tokenizers._registry import register_variants
from tokkit.tokenizers.vqgan import ConvConfig, ConvTokenizer, check_images


@dataclass
class MSVQConfig(ConvConfig):
    codebook_size: int = 4096
    code_dim: int = 32
    patch_nums: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)
    num_phi: int = 4
    phi_ratio: float = 0.5
    beta: float = 0.25
    l2_norm: bool = False
    kmeans_init: bool = False
    dead_code_threshold: float = 0.0
    usage_window: int = 65536
    clamp_output: bool = False  # decode clamps to [-1, 1], as VAR's idxBl_to_img / fhat_to_img do


class MSVQ(ConvTokenizer):
    architecture = "msvq"
    kind = "multiscale"

    def __init__(self, config: MSVQConfig):
        super().__init__(config)
        c = config
        kw = c.conv_kwargs()
        self.encoder = Encoder(**kw)
        self.quant_conv = nn.Conv2d(c.z_channels, c.code_dim, 3, padding=1)
        self.quantizer = MultiScaleQuantizer(
            c.codebook_size,
            c.code_dim,
            c.patch_nums,
            num_phi=c.num_phi,
            phi_ratio=c.phi_ratio,
            beta=c.beta,
            l2_norm=c.l2_norm,
            kmeans_init=c.kmeans_init,
            dead_code_threshold=c.dead_code_threshold,
            usage_window=c.usage_window,
        )
        self.post_quant_conv = nn.Conv2d(c.code_dim, c.z_channels, 3, padding=1)
        self.decoder = Decoder(**c.conv_kwargs(decoder=True))

    def image_size(self) -> int:
        return self.config.patch_nums[-1] * self.downsample_factor

    @property
    def native_image_size(self) -> int:
        return self.image_size()  # the finest scale fixes the size

    def token_shape(self, image_size: int) -> list[tuple[int, int]]:
        self._check_size(image_size)
        return [(s, s) for s in self.config.patch_nums]

    def _check_size(self, size: int) -> None:
        if size % self.downsample_factor:
            raise UsageError(f"image size {size} is not divisible by the downsample factor {self.downsample_factor}")
        if size != self.image_size():
            g = size // self.downsample_factor
            raise UsageError(
                f"image size {size} gives a {g}x{g} latent grid but the last scale of patch_nums "
                f"{list(self.config.patch_nums)} is {self.config.patch_nums[-1]}",
                hint=f"use --image-size {self.image_size()} or --set model.patch_nums=[...,{g}]",
            )

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images, self.downsample_factor)
        if images.shape[-1] != images.shape[-2]:
            raise UsageError(f"msvq needs square images, got {tuple(images.shape[-2:])}")
        self._check_size(images.shape[-1])
        return self.quant_conv(self.encoder(images))

    def quantize(self, features: torch.Tensor) -> QuantizeOutput:
        """``features``: (B, code_dim, s, s) after the quant conv, s = patch_nums[-1]."""
        r = self.quantizer(features)
        return QuantizeOutput(r.f_hat, r.indices, r.losses, r.stats)

    def encode(self, images: torch.Tensor) -> TokenBatch:
        f = self._features(images)
        r = self.quantizer(f)
        return TokenBatch("multiscale", indices=r.indices, features=f.float(), quantized=r.f_hat)

    def next_scale_inputs(self, indices: list[torch.Tensor]) -> torch.Tensor:
        """VAR's teacher-forced inputs of scales 1.. from the maps of the coarser scales: (B, sum s_k^2, code_dim)."""
        return self.quantizer.next_scale_inputs(indices)

    def decode(self, tokens: TokenBatch) -> torch.Tensor:
        if tokens.indices is not None:
            f_hat = self.quantizer.decode_indices(tokens.index_maps())
        elif tokens.quantized is not None:
            f_hat = tokens.quantized.float()
        else:
            raise UsageError("msvq decode needs the per-scale index maps in the TokenBatch")
        out = self.decoder(self.post_quant_conv(f_hat))
        return out.clamp(-1, 1) if self.config.clamp_output else out

    def forward(self, images: torch.Tensor) -> TrainOutput:
        r = self.quantizer(self._features(images))
        recon = self.decoder(self.post_quant_conv(r.f_hat))
        return TrainOutput(recon, r.losses, r.stats, TokenBatch("multiscale", indices=r.indices))


VAR_PATCH_NUMS = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)


def scales_for_grid(side: int) -> tuple[int, ...]:
    """VAR's scales 1..16 rescaled to end at ``side``: round(p * side / 16) (half up), duplicates
    dropped, always starting at 1. ``scales_for_grid(16)`` is VAR's own list."""
    if side < 1:
        raise UsageError(f"the latent grid side must be >= 1, got {side}")
    last = VAR_PATCH_NUMS[-1]
    scaled = [max(1, (2 * p * side + last) // (2 * last)) for p in VAR_PATCH_NUMS]
    return tuple(sorted({1, *scaled}))


def patch_nums_for_image_size(variant: str, overrides: dict[str, Any], image_size: int) -> tuple[int, ...] | None:
    """The scales a preset should use at ``image_size`` when the user did not set ``patch_nums``:
    the preset's own when its last scale is the latent grid side, else ``scales_for_grid``. None
    when nothing needs changing (or the size does not divide; ``_check_size`` says so later)."""
    if variant not in VARIANTS or "patch_nums" in overrides:
        return None
    try:
        cfg = MSVQConfig(**{**VARIANTS[variant], **overrides})
    except TypeError:  # an unknown model field: build_model reports it
        return None
    if image_size < cfg.factor or image_size % cfg.factor:
        return None
    side = image_size // cfg.factor
    return None if side == cfg.patch_nums[-1] else scales_for_grid(side)


_VAR = dict(
    codebook_size=4096,
    code_dim=32,
    z_channels=32,
    ch=160,
    ch_mult=(1, 1, 2, 2, 4),
    num_res_blocks=2,
    attn_levels=(4,),
    mid_attn=True,
    patch_nums=VAR_PATCH_NUMS,
    num_phi=4,
    phi_ratio=0.5,
    beta=0.25,
)
VARIANTS: dict[str, dict[str, Any]] = {
    "msvq": dict(_VAR),
    "msvq-var": dict(_VAR),
    "msvq-tiny": dict(
        codebook_size=512,
        code_dim=16,
        z_channels=16,
        ch=16,
        ch_mult=(1, 2, 4, 8),
        num_res_blocks=1,
        attn_levels=(),
        mid_attn=False,
        patch_nums=(1, 2, 3, 4, 6, 8),
        num_phi=4,
        usage_window=8192,
        dead_code_threshold=0.1,  # restart codes used < 0.1 times per step on average: no early collapse
    ),
}


register_variants(MSVQ, MSVQConfig, VARIANTS, __doc__)
