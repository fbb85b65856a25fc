"""DC-AE (deep compression autoencoder, MIT Han Lab; SANA's VAE): a deterministic conv + linear-attention autoencoder.

The network of diffusers 0.42.1 ``AutoencoderDC`` (``models/autoencoders/autoencoder_dc.py``), written for tokkit
(blocks in ``tokkit.layers.efficientvit``). No posterior: ``encode`` returns ``encoder(x) * latent_scale``, the
latents a diffusion model is trained on (SANA: ``z * scaling_factor``); ``decode`` divides by it, then runs the
decoder; no clamp. diffusers itself never applies ``scaling_factor`` (its pipelines do): tokkit records it as
``latent_scale`` so tokkit latents are the pipeline's.

Layout (stage i of n, width ``block_out_channels[i]``, ``layers_per_block[i]`` blocks):
- encoder: conv_in (a stride-1 conv; a pixel-unshuffle down block without shortcut when stage 0 is empty),
  per stage its blocks then a down block with shortcut (not after the last stage, nor after an empty one),
  conv_out to latent_channels (+ the mean of consecutive channel groups when ``encoder_out_shortcut``).
- decoder: conv_in (+ channels repeated when ``decoder_in_shortcut``), per stage from the last an up block with
  shortcut then its blocks, RMSNorm (with bias) -> ``decoder_conv_act_fn`` -> conv_out (an up block without
  shortcut when stage 0 is empty). Decoder blocks take per-stage norms (``rms_norm`` or ``batch_norm``: running
  statistics) and activations; encoder blocks use RMSNorm and SiLU.

Registered variants:
- ``dcae``: dc-ae-f32c32-sana-1.0 (SANA 1.0/1.5 VAE): f32, 32 latent channels, 312M parameters, scaling 0.41407.
- ``dcae-f32c32-in``: dc-ae-f32c32-in-1.0 (ImageNet): f32, 32 channels, pixel (un)shuffle, BatchNorm decoder stages.
- ``dcae-tiny``: a narrow f4 model with both attention paths, for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import nn

from tokkit.errors import UsageError
from tokkit.layers.efficientvit import ACTIVATIONS, NORMS, ChannelRMSNorm, DownBlock, UpBlock, activation, block
from tokkit.tokenizers._base import TokenBatch, Tokenizer
from tokkit.tokenizers._registry import register_variants
from tokkit.tokenizers.vqgan import check_images

_VIT = "EfficientViTBlock"


def _canon(v: Any) -> Any:
    """JSON lists -> tuples, nested (the qkv multiscales are a tuple per stage)."""
    return tuple(_canon(x) for x in v) if isinstance(v, (list, tuple)) else v


@dataclass
class DCAEConfig:
    in_channels: int = 3
    latent_channels: int = 32
    attention_head_dim: int = 32
    encoder_block_types: tuple[str, ...] = ("ResBlock",) * 3 + (_VIT,) * 3
    decoder_block_types: tuple[str, ...] = ("ResBlock",) * 3 + (_VIT,) * 3
    encoder_block_out_channels: tuple[int, ...] = (128, 256, 512, 512, 1024, 1024)
    decoder_block_out_channels: tuple[int, ...] = (128, 256, 512, 512, 1024, 1024)
    encoder_layers_per_block: tuple[int, ...] = (2, 2, 2, 3, 3, 3)
    decoder_layers_per_block: tuple[int, ...] = (3, 3, 3, 3, 3, 3)
    encoder_qkv_multiscales: tuple[tuple[int, ...], ...] = ((), (), (), (5,), (5,), (5,))
    decoder_qkv_multiscales: tuple[tuple[int, ...], ...] = ((), (), (), (5,), (5,), (5,))
    downsample_block_type: str = "conv"  # conv (stride 2) | pixel_unshuffle
    upsample_block_type: str = "interpolate"  # interpolate (nearest) | pixel_shuffle
    decoder_norm_types: tuple[str, ...] = ("rms_norm",) * 6
    decoder_act_fns: tuple[str, ...] = ("silu",) * 6
    encoder_out_shortcut: bool = True
    decoder_in_shortcut: bool = True
    decoder_conv_act_fn: str = "relu"
    latent_scale: float = 0.41407  # diffusers' scaling_factor: tokkit latents = encoder(x) * latent_scale

    def __post_init__(self) -> None:
        for f in fields(self):
            setattr(self, f.name, _canon(getattr(self, f.name)))
        self.check()

    def check(self) -> None:
        n = len(self.encoder_block_out_channels)
        per_stage = [f.name for f in fields(self) if f.name.startswith(("encoder_", "decoder_")) and
                     isinstance(getattr(self, f.name), tuple)]  # fmt: skip
        wrong = [k for k in per_stage if len(getattr(self, k)) != n]
        if wrong:
            raise UsageError(f"DC-AE config: {', '.join(wrong)} must have one entry per stage ({n})")
        if self.downsample_block_type not in ("conv", "pixel_unshuffle"):
            raise UsageError(f"downsample_block_type {self.downsample_block_type!r}: use conv or pixel_unshuffle")
        if self.upsample_block_type not in ("interpolate", "pixel_shuffle"):
            raise UsageError(f"upsample_block_type {self.upsample_block_type!r}: use interpolate or pixel_shuffle")
        bad = [v for v in (*self.decoder_norm_types,) if v not in NORMS]
        bad += [v for v in (*self.decoder_act_fns, self.decoder_conv_act_fn) if v.lower() not in ACTIVATIONS]
        if bad:
            raise UsageError(f"DC-AE config: unsupported norm/activation {bad[0]!r}")
        for side in ("encoder", "decoder"):
            if getattr(self, f"{side}_block_out_channels")[-1] % self.latent_channels:
                raise UsageError(f"{side} width must be a multiple of latent_channels {self.latent_channels}")
        if float(self.latent_scale) == 0:
            raise UsageError("latent_scale must not be 0 (decode divides by it)")

    @property
    def factor(self) -> int:
        return 2 ** (len(self.encoder_block_out_channels) - 1)


class Encoder(nn.Module):
    def __init__(self, c: DCAEConfig):
        super().__init__()
        widths, layers = c.encoder_block_out_channels, c.encoder_layers_per_block
        if layers[0] > 0:
            self.conv_in: nn.Module = nn.Conv2d(c.in_channels, widths[0], 3, 1, 1)
        else:  # an empty first stage: the input layer itself halves the resolution (no shortcut)
            self.conv_in = DownBlock(c.in_channels, widths[1], c.downsample_block_type, shortcut=False)
        stages = []
        for i, (width, n) in enumerate(zip(widths, layers, strict=True)):
            mods = [block(c.encoder_block_types[i], width, c.attention_head_dim, c.encoder_qkv_multiscales[i],
                          "rms_norm", "silu") for _ in range(n)]  # fmt: skip
            if i < len(widths) - 1 and n > 0:
                mods.append(DownBlock(width, widths[i + 1], c.downsample_block_type, shortcut=True))
            stages.append(nn.Sequential(*mods))
        self.down_blocks = nn.ModuleList(stages)
        self.conv_out = nn.Conv2d(widths[-1], c.latent_channels, 3, 1, 1)
        self.group = widths[-1] // c.latent_channels if c.encoder_out_shortcut else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for stage in self.down_blocks:
            h = stage(h)
        z = self.conv_out(h)
        return z + h.unflatten(1, (-1, self.group)).mean(dim=2) if self.group else z


class Decoder(nn.Module):
    def __init__(self, c: DCAEConfig):
        super().__init__()
        widths, layers = c.decoder_block_out_channels, c.decoder_layers_per_block
        self.conv_in = nn.Conv2d(c.latent_channels, widths[-1], 3, 1, 1)
        self.repeats = widths[-1] // c.latent_channels if c.decoder_in_shortcut else 0
        stages: list[nn.Module] = []
        for i, (width, n) in enumerate(zip(widths, layers, strict=True)):  # stored by stage, run from the last
            mods = (
                [UpBlock(widths[i + 1], width, c.upsample_block_type, shortcut=True)]
                if i < len(widths) - 1 and n
                else []
            )
            mods += [block(c.decoder_block_types[i], width, c.attention_head_dim, c.decoder_qkv_multiscales[i],
                           c.decoder_norm_types[i], c.decoder_act_fns[i]) for _ in range(n)]  # fmt: skip
            stages.append(nn.Sequential(*mods))
        self.up_blocks = nn.ModuleList(stages)
        out = widths[0] if layers[0] > 0 else widths[1]
        self.norm_out = ChannelRMSNorm(out)
        self.conv_act = activation(c.decoder_conv_act_fn)
        if layers[0] > 0:
            self.conv_out: nn.Module = nn.Conv2d(out, c.in_channels, 3, 1, 1)
        else:
            self.conv_out = UpBlock(out, c.in_channels, c.upsample_block_type, shortcut=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(z)
        if self.repeats:
            h = h + z.repeat_interleave(self.repeats, dim=1)
        for stage in reversed(self.up_blocks):
            h = stage(h)
        return self.conv_out(self.conv_act(self.norm_out(h)))


class DCAE(Tokenizer):
    architecture = "dcae"
    kind = "continuous"

    def __init__(self, config: DCAEConfig):
        super().__init__(config)
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    @property
    def downsample_factor(self) -> int:
        return self.config.factor

    def encode(self, images: torch.Tensor) -> TokenBatch:
        check_images(images, self.downsample_factor)
        z = self.encoder(images) * self.config.latent_scale
        return TokenBatch("continuous", latents=z, features=z)

    def decode(self, tokens: TokenBatch) -> torch.Tensor:
        z = tokens.latents
        if z is None:
            raise UsageError("dcae decode needs latents in the TokenBatch")
        if z.shape[1] != self.config.latent_channels:
            raise UsageError(f"latents have {z.shape[1]} channels, this DC-AE expects {self.config.latent_channels}")
        return self.decoder(z / self.config.latent_scale)


_IN = dict(  # the -in-1.0 / -mix-1.0 family: pixel (un)shuffle, empty first stage, BatchNorm in early decoder stages
    downsample_block_type="pixel_unshuffle",
    upsample_block_type="pixel_shuffle",
    encoder_qkv_multiscales=((),) * 6,
    decoder_qkv_multiscales=((),) * 6,
    encoder_layers_per_block=(0, 4, 8, 2, 2, 2),
    decoder_layers_per_block=(0, 5, 10, 2, 2, 2),
    decoder_norm_types=("batch_norm",) * 3 + ("rms_norm",) * 3,
    decoder_act_fns=("relu",) * 3 + ("silu",) * 3,
    latent_scale=0.3189,
)
VARIANTS: dict[str, dict[str, Any]] = {
    "dcae": {},
    "dcae-f32c32-in": _IN,
    "dcae-tiny": dict(
        latent_channels=8,
        attention_head_dim=8,
        **{f"{s}_block_types": ("ResBlock", "ResBlock", _VIT) for s in ("encoder", "decoder")},
        **{f"{s}_block_out_channels": (8, 16, 32) for s in ("encoder", "decoder")},
        **{f"{s}_qkv_multiscales": ((), (), (5,)) for s in ("encoder", "decoder")},
        encoder_layers_per_block=(1, 1, 2),
        decoder_layers_per_block=(1, 1, 2),
        decoder_norm_types=("batch_norm", "rms_norm", "rms_norm"),
        decoder_act_fns=("relu", "silu", "silu"),
        latent_scale=0.5,
    ),
}


register_variants(DCAE, DCAEConfig, VARIANTS, __doc__)
