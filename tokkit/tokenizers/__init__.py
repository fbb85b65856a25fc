"""Tokenizer families: the interface (``Tokenizer``, ``TokenBatch``) and the registry.

The families (kmeans, msvq, vae, vqgan) are imported by the registry on the first lookup
(``create_tokenizer``, ``list_tokenizers``, ``TOKENIZERS.names()``...), not by this package: the k-means
family builds an encoder and encoders load checkpoints, so importing it here would close an import circle.
"""

from tokkit.tokenizers._base import QuantizeOutput, TokenBatch, Tokenizer, TrainOutput
from tokkit.tokenizers._registry import TOKENIZERS, create_tokenizer, list_tokenizers, register_tokenizer

__all__ = [
    "QuantizeOutput",
    "TOKENIZERS",
    "TokenBatch",
    "Tokenizer",
    "TrainOutput",
    "create_tokenizer",
    "list_tokenizers",
    "register_tokenizer",
]
