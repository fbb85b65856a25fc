"""Building blocks shared by the trainable tokenizers: conv encoder/decoder, quantizers, discriminator."""

from tokkit.layers.conv import Decoder, Encoder
from tokkit.layers.quantizer import MultiScaleQuantizer, VectorQuantizer

__all__ = ["Decoder", "Encoder", "MultiScaleQuantizer", "VectorQuantizer"]
