"""TiTok: a ViT reads an image into L learned 1-D tokens; a ViT decoder reads them back (Yu et al. 2024).

Registered:
- ``titok``: TiTok-B64 by default (ViT-B/16 in and out, 64 tokens, 4096 x 12 cosine codes, 256 px)

Tokens are a 1 x L grid: ``encode`` returns indices (B, 1, L) and ``token_shape`` is (1, L) at the one
image size the learned positional embeddings fit. The token order is the order of the learned latent
tokens; there is no spatial layout.

Encode (images in [-1, 1], converted to TiTok's [0, 1]): patch embed, [class, patches + pos, latent
tokens + latent pos] through the ViT (sequence-first ``nn.MultiheadAttention``), LayerNorm of the latent
outputs, then a 1x1 conv to ``token_size`` channels. In legacy models the (B, L, width) latents are
*reinterpreted* as (B, width, L, 1) (a reshape, not a permute) before that conv; later models permute.
VQ is nearest-code in float32; with ``l2_norm`` features and codes are unit-normalised (cosine), and the
decoder gets normalised codes. Decode: ``decoder_embed`` of the codes + latent pos, mask tokens for the
patch grid + pos, the ViT, LayerNorm of the grid outputs, then
- legacy: 1x1 conv, tanh, 1x1 conv to logits over the 1024 MaskGIT-VQGAN codes; their softmax weights that
  codebook, and the MaskGIT-VQGAN conv decoder (``tokkit.layers.maskgit_conv``) makes pixels;
- otherwise: a 1x1 conv to patch pixels, unpatchified ((p1 p2 c) channel order), and a 3x3 conv.
Output is clamped to [0, 1] as upstream's evaluation does, then mapped back to [-1, 1].
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, fields

import torch
from torch import nn

from tokkit.errors import UsageError
from tokkit.layers.maskgit_conv import MaskGITDecoder
from tokkit.layers.quantizer import VectorQuantizer
from tokkit.tokenizers._base import QuantizeOutput, TokenBatch, Tokenizer
from tokkit.tokenizers._registry import register_tokenizer


@dataclass
class TiTokConfig:
    image_size: int = 256
    patch_size: int = 16
    num_latent_tokens: int = 64
    enc_width: int = 768
    enc_layers: int = 12
    enc_heads: int = 12
    dec_width: int = 768
    dec_layers: int = 12
    dec_heads: int = 12
    token_size: int = 12
    codebook_size: int = 4096
    l2_norm: bool = True
    # legacy: reshape-not-permute before the encoder's conv_out, and 1024 MaskGIT logits -> pixel decoder
    legacy: bool = True
    pixel_codebook_size: int = 1024
    pixel_z_channels: int = 256
    pixel_ch: int = 128
    pixel_ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    pixel_num_res_blocks: int = 2

    def __post_init__(self) -> None:
        for f in fields(self):
            if isinstance(getattr(self, f.name), list):
                setattr(self, f.name, tuple(getattr(self, f.name)))
        if self.image_size % self.patch_size:
            raise UsageError(f"titok image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size


class _Block(nn.Module):
    """Pre-norm transformer block on sequence-first (L, B, D) input."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict(c_fc=nn.Linear(width, 4 * width), gelu=nn.GELU(), c_proj=nn.Linear(4 * width, width))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class _ViT(nn.Module):
    """What encoder and decoder share: class token, grid and latent positional embeddings, the blocks."""

    def __init__(self, width: int, layers: int, heads: int, grid: int, num_latent: int):
        super().__init__()
        s = width**-0.5
        self.class_embedding = nn.Parameter(s * torch.randn(1, width))
        self.positional_embedding = nn.Parameter(s * torch.randn(grid * grid + 1, width))
        self.latent_token_positional_embedding = nn.Parameter(s * torch.randn(num_latent, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = nn.ModuleList(_Block(width, heads) for _ in range(layers))
        self.ln_post = nn.LayerNorm(width)

    def run(self, grid_tokens: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """[class, grid + pos] then latents (already carrying their pos): (B, 1 + g*g + L, width)."""
        b = grid_tokens.shape[0]
        cls = self.class_embedding.expand(b, -1, -1).to(grid_tokens.dtype)
        grid_tokens = torch.cat([cls, grid_tokens], dim=1) + self.positional_embedding.to(grid_tokens.dtype)
        x = self.ln_pre(torch.cat([grid_tokens, latents], dim=1)).transpose(0, 1)  # (L, B, D)
        for blk in self.transformer:
            x = blk(x)
        return x.transpose(0, 1)


class TiTokEncoder(_ViT):
    def __init__(self, c: TiTokConfig):
        super().__init__(c.enc_width, c.enc_layers, c.enc_heads, c.grid, c.num_latent_tokens)
        self.legacy = c.legacy
        self.patch_embed = nn.Conv2d(3, c.enc_width, c.patch_size, stride=c.patch_size)
        self.conv_out = nn.Conv2d(c.enc_width, c.token_size, 1)

    def forward(self, x01: torch.Tensor, latent_tokens: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, token_size, 1, L)."""
        b = x01.shape[0]
        patches = self.patch_embed(x01).flatten(2).transpose(1, 2)  # (B, g*g, width)
        lat = (latent_tokens + self.latent_token_positional_embedding).expand(b, -1, -1).to(patches.dtype)
        n = lat.shape[1]
        z = self.ln_post(self.run(patches, lat)[:, -n:])  # (B, L, width)
        if self.legacy:
            z = z.reshape(b, z.shape[2], n, 1)  # memory reinterpretation, as the published legacy models
        else:
            z = z.transpose(1, 2).unsqueeze(-1)  # (B, width, L, 1)
        return self.conv_out(z).reshape(b, -1, 1, n)


class _Unpatchify(nn.Module):
    """(B, p*p*3, g, g) with channels ordered (p1, p2, c) -> (B, 3, g*p, g*p)."""

    def __init__(self, p: int):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        p = self.p
        return x.view(b, p, p, 3, h, w).permute(0, 3, 4, 1, 5, 2).reshape(b, 3, h * p, w * p)


class TiTokDecoder(_ViT):
    def __init__(self, c: TiTokConfig):
        super().__init__(c.dec_width, c.dec_layers, c.dec_heads, c.grid, c.num_latent_tokens)
        w, self.grid = c.dec_width, c.grid
        self.decoder_embed = nn.Linear(c.token_size, w)
        self.mask_token = nn.Parameter(w**-0.5 * torch.randn(1, 1, w))
        if c.legacy:  # logits over the pixel decoder's codebook
            self.ffn = nn.Sequential(nn.Conv2d(w, 2 * w, 1), nn.Tanh(), nn.Conv2d(2 * w, c.pixel_codebook_size, 1))
            self.conv_out = nn.Identity()
        else:  # pixels directly
            self.ffn = nn.Sequential(nn.Conv2d(w, c.patch_size**2 * 3, 1), _Unpatchify(c.patch_size))
            self.conv_out = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, token_size, 1, L) -> legacy logits (B, 1024, g, g), else pixels (B, 3, H, W) in [0, 1] units."""
        b, _, _, n = codes.shape
        x = self.decoder_embed(codes.flatten(2).transpose(1, 2)) + self.latent_token_positional_embedding[:n]
        masks = self.mask_token.expand(b, self.grid * self.grid, -1).to(x.dtype)
        g2 = self.grid * self.grid
        y = self.ln_post(self.run(masks, x)[:, 1 : 1 + g2])  # (B, g*g, width)
        y = y.transpose(1, 2).reshape(b, -1, self.grid, self.grid)
        return self.conv_out(self.ffn(y.contiguous()))


class TiTok(Tokenizer):
    architecture = "titok"
    kind = "discrete"

    def __init__(self, config: TiTokConfig):
        super().__init__(config)
        c = config
        self.encoder = TiTokEncoder(c)
        self.latent_tokens = nn.Parameter(c.enc_width**-0.5 * torch.randn(c.num_latent_tokens, c.enc_width))
        self.quantizer = VectorQuantizer(c.codebook_size, c.token_size, l2_norm=c.l2_norm, usage_window=1)
        self.decoder = TiTokDecoder(c)
        if c.legacy:
            self.pixel_codebook = nn.Parameter(torch.zeros(c.pixel_codebook_size, c.pixel_z_channels))
            self.pixel_decoder = MaskGITDecoder(c.pixel_z_channels, c.pixel_ch, c.pixel_ch_mult, c.pixel_num_res_blocks)
            if self.pixel_decoder.factor != c.patch_size:
                raise UsageError(
                    f"titok pixel decoder upsamples x{self.pixel_decoder.factor}, the patches are {c.patch_size} px"
                )

    @property
    def downsample_factor(self) -> int:
        """Pixels per patch side of the ViT (tokens themselves have no spatial grid: see ``token_shape``)."""
        return self.config.patch_size

    def token_shape(self, image_size: int) -> tuple[int, int]:
        """(1, L): one row of L tokens, at the image size the positional embeddings were learned for."""
        if image_size != self.config.image_size:
            raise UsageError(
                f"titok reads {self.config.image_size} px images only (learned positional embeddings), "
                f"not {image_size}",
                hint=f"use --image-size {self.config.image_size}",
            )
        return (1, self.config.num_latent_tokens)

    @property
    def spatial_tokens(self) -> bool:
        return False  # learned 1-D tokens: token j is no image region

    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    @property
    def codebook(self) -> torch.Tensor:
        return self.quantizer.codebook.codes().detach()

    def _check(self, images: torch.Tensor) -> None:
        s = self.config.image_size
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, s, s):
            raise UsageError(f"titok expects images (B, 3, {s}, {s}), got shape {tuple(images.shape)}")

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Encoder output before quantization (B, token_size, 1, L)."""
        self._check(images)
        return self.encoder((images + 1) / 2, self.latent_tokens)

    def quantize(self, features: torch.Tensor) -> QuantizeOutput:
        r = self.quantizer(features)
        return QuantizeOutput(r.out, r.indices, r.losses, r.stats)

    def requantize(self, vectors: torch.Tensor) -> QuantizeOutput:
        idx, z_q = self.quantizer.snap(vectors)
        return QuantizeOutput(z_q, idx)

    def encode(self, images: torch.Tensor) -> TokenBatch:
        r = self.quantizer(self.features(images))
        return TokenBatch("discrete", indices=r.indices, features=r.z, quantized=r.z_q)

    def decode(self, tokens: TokenBatch) -> torch.Tensor:
        if tokens.indices is not None:
            codes = self.quantizer.embed(tokens.indices)  # (B, D, 1, L), unit norm when cosine
        elif tokens.quantized is not None:
            codes = tokens.quantized.float()
        else:
            raise UsageError("titok decode needs indices or quantized vectors in the TokenBatch")
        out = self.decoder(codes)
        if self.config.legacy:
            weights = out.softmax(1)  # (B, 1024, g, g)
            out = self.pixel_decoder(torch.einsum("bkhw,kd->bdhw", weights, self.pixel_codebook))
        return out.clamp(0.0, 1.0) * 2 - 1


_HELP = __doc__.split("``titok``: ")[1].split("\n")[0]
register_tokenizer("titok", lambda **kw: TiTok(TiTokConfig(**kw)), help=_HELP)
