"""KL autoencoder (LDM / MAR style): continuous latents from a diagonal Gaussian posterior.

``encode`` returns the posterior mean as the latents (deterministic tokens); training samples the
posterior (``sample_posterior``) and adds ``kl_weight * KL / (3*H*W)`` per image, i.e. LDM's KL
weight relative to a reconstruction loss summed over pixels, expressed against tokkit's per-pixel
mean losses.

Imported KL-VAEs (MAR KL-16, diffusers AutoencoderKL; ``tokkit.importers``) also set:
- ``latent_scale`` / ``latent_shift``: tokkit's latents are ``(z - latent_shift) * latent_scale``, what the
  downstream generator is trained on (MAR: ``z * 0.2325``; SD: ``z * scaling_factor``; FLUX/SD3:
  ``(z - shift_factor) * scaling_factor``; per channel when a diffusers config has latents_mean/std);
  ``decode`` inverts it. A float, or one value per latent channel. Defaults 1 and 0: no change.
- ``use_quant_conv`` / ``use_post_quant_conv``: FLUX.1 and SD3 have neither 1x1 conv.
- ``encode_sample``: encode samples the posterior (mean + std * N(0, 1), torch's global RNG) instead of
  returning its mean; ``features`` stay the (scaled) mean.

Registered variants:
- ``vae``: MAR/Fluid KL-16: 16 latent channels, stride 16, ch 128, encoder attention at 16x16, kl_weight 1e-6.
- ``vae-tiny``: a small f8 model with 4 latent channels for CPU training at 64 px.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from tokkit.errors import UsageError
from tokkit.layers.conv import Decoder, Encoder
from tokkit.losses.recon import kl_loss
from tokkit.tokenizers._base import TokenBatch, TrainOutput
from tokkit.tokenizers._registry import register_variants
from tokkit.tokenizers.vqgan import ConvConfig, ConvTokenizer, check_images


@dataclass
class VAEConfig(ConvConfig):
    latent_channels: int = 16
    kl_weight: float = 1e-6
    sample_posterior: bool = True
    logvar_clamp: tuple[float, float] = (-30.0, 20.0)
    use_quant_conv: bool = True
    use_post_quant_conv: bool = True
    latent_scale: float | tuple[float, ...] = 1.0
    latent_shift: float | tuple[float, ...] = 0.0
    encode_sample: bool = False


class VAE(ConvTokenizer):
    architecture = "vae"
    kind = "continuous"

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        c = config
        kw = c.conv_kwargs()
        # the encoder emits mean and log-variance: 2 * latent_channels (LDM's double_z)
        self.encoder = Encoder(**{**kw, "z_channels": 2 * c.z_channels})
        if not (c.use_quant_conv and c.use_post_quant_conv) and c.z_channels != c.latent_channels:
            raise UsageError("a VAE without quant convs needs z_channels == latent_channels")
        # FLUX.1 / SD3 have no 1x1 quant convs: no module, so the state dict matches theirs key for key
        self.quant_conv = nn.Conv2d(2 * c.z_channels, 2 * c.latent_channels, 1) if c.use_quant_conv else nn.Identity()
        self.post_quant_conv = nn.Conv2d(c.latent_channels, c.z_channels, 1) if c.use_post_quant_conv else nn.Identity()
        self.decoder = Decoder(**c.conv_kwargs(decoder=True))
        for name in ("latent_scale", "latent_shift"):
            v = getattr(c, name)
            if isinstance(v, tuple) and len(v) != c.latent_channels:
                raise UsageError(f"{name} has {len(v)} values for {c.latent_channels} latent channels")
        scales = c.latent_scale if isinstance(c.latent_scale, tuple) else (c.latent_scale,)
        if any(float(v) == 0 for v in scales):
            raise UsageError("latent_scale must not be 0 (decode divides by it)")

    def _affine(self, z: torch.Tensor) -> tuple[torch.Tensor | float, torch.Tensor | float]:
        """(shift, scale) broadcastable to latents (B, C, h, w)."""

        def bcast(v: float | tuple[float, ...]) -> torch.Tensor | float:
            if isinstance(v, (tuple, list)):  # one value per channel: (1, C, 1, 1)
                return torch.tensor(v, dtype=z.dtype, device=z.device).view(1, -1, 1, 1)
            return float(v)

        return bcast(self.config.latent_shift), bcast(self.config.latent_scale)

    def to_tokens(self, z: torch.Tensor) -> torch.Tensor:
        """Posterior space -> tokkit's latents: ``(z - shift) * scale``."""
        shift, scale = self._affine(z)
        return (z - shift) * scale

    def from_tokens(self, latents: torch.Tensor) -> torch.Tensor:
        """tokkit's latents -> what the decoder's post_quant_conv takes: ``latents / scale + shift``."""
        shift, scale = self._affine(latents)
        return latents / scale + shift

    def posterior(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, logvar), each (B, latent_channels, h, w)."""
        check_images(images, self.downsample_factor)
        moments = self.quant_conv(self.encoder(images))
        mean, logvar = moments.chunk(2, dim=1)
        return mean, logvar.clamp(*self.config.logvar_clamp)

    def encode(self, images: torch.Tensor) -> TokenBatch:
        mean, logvar = self.posterior(images)
        z = mean + (0.5 * logvar).exp() * torch.randn_like(mean) if self.config.encode_sample else mean
        return TokenBatch("continuous", latents=self.to_tokens(z), features=self.to_tokens(mean))

    def decode(self, tokens: TokenBatch) -> torch.Tensor:
        z = tokens.latents if tokens.latents is not None else tokens.quantized
        if z is None:
            raise UsageError("vae decode needs latents in the TokenBatch")
        if z.shape[1] != self.config.latent_channels:
            raise UsageError(f"latents have {z.shape[1]} channels, this VAE expects {self.config.latent_channels}")
        return self.decoder(self.post_quant_conv(self.from_tokens(z)))

    def forward(self, images: torch.Tensor) -> TrainOutput:
        mean, logvar = self.posterior(images)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp() if self.config.sample_posterior else mean
        recon = self.decoder(self.post_quant_conv(z))
        kl = kl_loss(mean, logvar).mean()
        pixels = images.shape[1] * images.shape[2] * images.shape[3]
        stats = {"kl": float(kl.detach()), "latent_std": float(mean.detach().std())}
        return TrainOutput(
            recon,
            {"kl": self.config.kl_weight * kl / pixels},
            stats,
            TokenBatch("continuous", latents=self.to_tokens(mean)),
        )


VARIANTS: dict[str, dict[str, Any]] = {
    # MAR's layout exactly: encoder attention at the 16x16 level, none in the decoder up-blocks
    "vae": dict(
        latent_channels=16,
        z_channels=16,
        ch=128,
        ch_mult=(1, 1, 2, 2, 4),
        attn_levels=(4,),
        dec_attn_levels=(),
        kl_weight=1e-6,
    ),
    "vae-tiny": dict(
        latent_channels=4,
        z_channels=4,
        ch=16,
        ch_mult=(1, 2, 4, 8),
        num_res_blocks=1,
        attn_levels=(),
        mid_attn=False,
        kl_weight=1e-6,
    ),
}


register_variants(VAE, VAEConfig, VARIANTS, __doc__)
