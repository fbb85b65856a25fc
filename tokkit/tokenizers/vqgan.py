"""VQGAN: conv encoder -> vector quantizer -> conv decoder (taming / LlamaGen family).

Registered variants (``create_tokenizer(name, **overrides)``):
- ``vqgan``: taming's ImageNet f16 model, K=1024, 256-d codes.
- ``vqgan-f16``: LlamaGen VQ-16, K=16384, 8-d L2-normalised codes, beta 0.25, no entropy loss.
- ``vqgan-tiny``: a small f8 model that trains on a laptop CPU in minutes (64 px).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch

from tokkit.errors import UsageError
from tokkit.layers.conv import Decoder, Encoder
from tokkit.layers.quantizer import VectorQuantizer
from tokkit.layers.scalar_quant import BSQ, FSQ, LFQ, MAX_ENUMERATED
from tokkit.tokenizers._base import QuantizeOutput, TokenBatch, Tokenizer, TrainOutput
from tokkit.tokenizers._registry import register_variants


def _tuples(cfg: Any) -> None:
    """JSON turns tuples into lists; keep the dataclass canonical so configs compare equal."""
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        if isinstance(v, list):
            setattr(cfg, f.name, tuple(v))


@dataclass
class ConvConfig:
    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    num_res_blocks: int = 2
    z_channels: int = 256
    attn_levels: tuple[int, ...] = (4,)
    mid_attn: bool = True
    dropout: float = 0.0
    # the decoder's attention levels (indices into ch_mult); None = the encoder's ``attn_levels``.
    # MAR's KL-16 has encoder attention at 16x16 and none in its decoder up-blocks.
    dec_attn_levels: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        _tuples(self)

    @property
    def factor(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)

    def conv_kwargs(self, decoder: bool = False) -> dict[str, Any]:
        """Keyword arguments of ``Encoder`` (or ``Decoder`` with ``decoder=True``)."""
        attn = self.dec_attn_levels if decoder and self.dec_attn_levels is not None else self.attn_levels
        return dict(
            ch=self.ch,
            ch_mult=self.ch_mult,
            num_res_blocks=self.num_res_blocks,
            z_channels=self.z_channels,
            attn_levels=attn,
            mid_attn=self.mid_attn,
            dropout=self.dropout,
        )


@dataclass
class VQGANConfig(ConvConfig):
    codebook_size: int = 1024
    code_dim: int = 256
    l2_norm: bool = False
    beta: float = 0.25
    ema_decay: float = 0.0
    kmeans_init: bool = False
    dead_code_threshold: float = 0.0
    entropy_weight: float = 0.0
    entropy_temperature: float = 0.01
    usage_window: int = 65536
    # 1x1 quant/post-quant convs around the quantizer even when z_channels == code_dim (taming)
    quant_proj: bool = False
    # vq code choice: "l2" nearest code, "dot" largest plain dot product z.c (IBQ; no normalisation)
    code_match: str = "l2"
    # vq (learned codebook) | fsq (levels, prod(levels) codes) | lfq / bsq (lfq_bits, 2^bits codes);
    # codebook_size / code_dim / l2_norm / ema / kmeans / dead codes apply to vq only
    quantizer: str = "vq"
    fsq_levels: tuple[int, ...] = (8, 8, 8, 5, 5, 5)  # 64000 codes (the FSQ paper's 2^16 setting)
    lfq_bits: int = 18  # 2^18 = 262144 codes (Open-MAGVIT2)
    lfq_entropy_weight: float = 0.1  # lfq / bsq's entropy loss (0 turns it off); vq uses entropy_weight


QUANTIZERS = ("vq", "fsq", "lfq", "bsq")


def build_quantizer(c: VQGANConfig) -> torch.nn.Module:
    """The config's quantizer over (B, z_channels, h, w) features."""
    if c.quantizer == "fsq":
        return FSQ(c.fsq_levels, in_dim=c.z_channels, usage_window=c.usage_window)
    if c.quantizer in ("lfq", "bsq"):
        cls = LFQ if c.quantizer == "lfq" else BSQ
        return cls(
            c.lfq_bits,
            in_dim=c.z_channels,
            entropy_weight=c.lfq_entropy_weight,
            entropy_temperature=c.entropy_temperature,
            beta=c.beta,
            usage_window=c.usage_window,
        )
    if c.quantizer != "vq":
        raise UsageError(f"unknown quantizer '{c.quantizer}': choose one of {', '.join(QUANTIZERS)}")
    return VectorQuantizer(
        c.codebook_size,
        c.code_dim,
        in_dim=c.z_channels,
        l2_norm=c.l2_norm,
        beta=c.beta,
        ema_decay=c.ema_decay,
        kmeans_init=c.kmeans_init,
        dead_code_threshold=c.dead_code_threshold,
        entropy_weight=c.entropy_weight,
        entropy_temperature=c.entropy_temperature,
        usage_window=c.usage_window,
        project=c.quant_proj,
        code_match=c.code_match,
    )


def check_images(images: torch.Tensor, factor: int) -> None:
    if images.ndim != 4 or images.shape[1] != 3:
        raise UsageError(f"expected images (B, 3, H, W), got shape {tuple(images.shape)}")
    h, w = images.shape[-2:]
    if h % factor or w % factor:
        raise UsageError(f"image size {h}x{w} is not divisible by the downsample factor {factor}")


class ConvTokenizer(Tokenizer):
    """Shared by the conv families (vqgan, vae, msvq): ``config`` is a ConvConfig, ``self.decoder`` a
    conv Decoder, and, for the quantized ones, ``self.quantizer`` holds the codebook."""

    @property
    def downsample_factor(self) -> int:
        return self.config.factor

    @property
    def last_layer(self) -> torch.Tensor:
        """The decoder's output conv weight (adaptive GAN weight)."""
        return self.decoder.last_layer

    @property
    def codebook_size(self) -> int | None:
        q = getattr(self, "quantizer", None)
        if q is not None:  # FSQ/LFQ/BSQ: the implicit codebook, not config.codebook_size
            return int(q.codebook_size)
        return getattr(self.config, "codebook_size", None)

    @property
    def codebook(self) -> torch.Tensor | None:
        q = getattr(self, "quantizer", None)
        if q is None or q.codebook_size > MAX_ENUMERATED:  # 2^18 implicit codes: not enumerated
            return None
        return q.codebook.codes().detach()


class QuantizedConv(ConvTokenizer):
    """A conv encoder -> quantizer -> conv decoder tokenizer: subclasses build ``encoder``, ``quantizer``
    (``VectorQuantizer`` or a scalar one) and ``decoder``; the interface is shared (VQGAN, MAGVIT-2)."""

    kind = "discrete"

    # --- interface -------------------------------------------------------------------------------
    def quantize(self, features: torch.Tensor) -> QuantizeOutput:
        """``features``: encoder output (B, z_channels, h, w) (MAGVIT-2: the bits themselves)."""
        r = self.quantizer(features)
        return QuantizeOutput(r.out, r.indices, r.losses, r.stats)

    def requantize(self, vectors: torch.Tensor) -> QuantizeOutput:
        """``vectors``: code space (B, code_dim, h, w), the space of ``TokenBatch.quantized`` (after the
        input projection, which ``quantize`` applies to encoder outputs)."""
        idx, z_q = self.quantizer.snap(vectors)
        return QuantizeOutput(z_q, idx)

    def encode(self, images: torch.Tensor) -> TokenBatch:
        check_images(images, self.downsample_factor)
        r = self.quantizer(self.encoder(images))
        return TokenBatch("discrete", indices=r.indices, features=r.z, quantized=r.z_q)

    def decode(self, tokens: TokenBatch) -> torch.Tensor:
        if tokens.indices is not None:
            x = self.quantizer.embed(tokens.indices)
        elif tokens.quantized is not None:
            x = self.quantizer.project_out(tokens.quantized.float())
        else:
            raise UsageError(f"{self.architecture} decode needs indices or quantized vectors in the TokenBatch")
        return self.decoder(x)

    def forward(self, images: torch.Tensor) -> TrainOutput:
        check_images(images, self.downsample_factor)
        r = self.quantizer(self.encoder(images))
        recon = self.decoder(r.out)
        return TrainOutput(recon, r.losses, r.stats, TokenBatch("discrete", indices=r.indices))


class VQGAN(QuantizedConv):
    architecture = "vqgan"

    def __init__(self, config: VQGANConfig):
        super().__init__(config)
        c = config
        self.encoder = Encoder(**c.conv_kwargs())
        self.quantizer = build_quantizer(c)
        self.decoder = Decoder(**c.conv_kwargs(decoder=True))


VARIANTS: dict[str, dict[str, Any]] = {
    "vqgan": dict(codebook_size=1024, code_dim=256, z_channels=256, ch=128, ch_mult=(1, 1, 2, 2, 4), attn_levels=(4,)),
    "vqgan-f16": dict(
        codebook_size=16384,
        code_dim=8,
        l2_norm=True,
        beta=0.25,
        entropy_weight=0.0,
        z_channels=256,
        ch=128,
        ch_mult=(1, 1, 2, 2, 4),
        attn_levels=(4,),
    ),
    "vqgan-tiny": dict(
        codebook_size=256,
        code_dim=16,
        l2_norm=True,
        z_channels=64,
        ch=16,
        ch_mult=(1, 2, 4, 8),
        num_res_blocks=1,
        attn_levels=(),
        mid_attn=False,
        usage_window=8192,
        dead_code_threshold=0.1,  # restart codes used < 0.1 times per step on average: no early collapse
        fsq_levels=(8, 5, 5, 5),  # --quantizer fsq: 1000 codes, about the VQ's scale for a laptop run
        lfq_bits=10,  # --quantizer lfq / bsq: 1024 codes
    ),
}


register_variants(VQGAN, VQGANConfig, VARIANTS, __doc__)
