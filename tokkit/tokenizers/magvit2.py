"""MAGVIT-2 tokenizer (Open-MAGVIT2): bias-free conv encoder -> LFQ sign bits -> adaptive-norm conv decoder.

The network is ``tokkit.layers.magvit2`` (not taming's); the quantizer is tokkit's ``LFQ`` over the
encoder's ``bits`` channels directly (no quant conv): code_k = sign(z_k) in {-1, +1} (z = 0 -> -1),
index = sum_k 2^k [z_k > 0] (little-endian, channel 0 the least significant bit), 2^bits implicit codes.
Decode feeds the +-1 code map to the decoder, which also conditions its adaptive GroupNorms on it.

Registered variants:
- ``magvit2``: Open-MAGVIT2 L (ImageNet 256 / 128): 18 bits, ch 128, ch_mult (1,1,2,2,4), 4 blocks, f16.
- ``magvit2-tiny``: a small f4 model with 10 bits for CPU tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tokkit.errors import UsageError
from tokkit.layers.magvit2 import Decoder, Encoder
from tokkit.layers.scalar_quant import LFQ
from tokkit.tokenizers._registry import register_variants
from tokkit.tokenizers.vqgan import QuantizedConv, _tuples


@dataclass
class MAGVIT2Config:
    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    num_res_blocks: int = 4
    bits: int = 18  # LFQ bits = the encoder's output channels; 2^bits codes
    lfq_entropy_weight: float = 0.1  # training only
    entropy_temperature: float = 0.01
    beta: float = 0.25
    usage_window: int = 65536

    def __post_init__(self) -> None:
        _tuples(self)

    @property
    def factor(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)

    def conv_kwargs(self) -> dict[str, Any]:
        return dict(ch=self.ch, ch_mult=self.ch_mult, num_res_blocks=self.num_res_blocks, z_channels=self.bits)


class MAGVIT2(QuantizedConv):
    architecture = "magvit2"

    def __init__(self, config: MAGVIT2Config):
        super().__init__(config)
        c = config
        if c.bits < 1:
            raise UsageError(f"magvit2 needs at least 1 LFQ bit, got {c.bits}")
        self.encoder = Encoder(**c.conv_kwargs())
        self.quantizer = LFQ(c.bits, entropy_weight=c.lfq_entropy_weight, entropy_temperature=c.entropy_temperature,
                             beta=c.beta, usage_window=c.usage_window)  # fmt: skip
        self.decoder = Decoder(**c.conv_kwargs())


VARIANTS: dict[str, dict[str, Any]] = {
    "magvit2": dict(ch=128, ch_mult=(1, 1, 2, 2, 4), num_res_blocks=4, bits=18),
    "magvit2-tiny": dict(ch=16, ch_mult=(1, 2, 2), num_res_blocks=1, bits=10, usage_window=8192),
}


register_variants(MAGVIT2, MAGVIT2Config, VARIANTS, __doc__)
