"""Tokenizer families. Importing this package registers all of them."""

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

# families register at import: trainable (msvq, vae, vqgan) and the DiGIT-style k-means tokenizer
from tokkit.tokenizers import kmeans, msvq, vae, vqgan  # noqa: E402,F401
