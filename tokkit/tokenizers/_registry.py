"""The tokenizer registry: architecture/variant name -> factory(**config overrides) -> Tokenizer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tokkit.registry import Registry
from tokkit.tokenizers._base import Tokenizer

TOKENIZERS: Registry[Callable[..., Tokenizer]] = Registry("tokenizer")


def register_tokenizer(name: str, factory: Callable[..., Tokenizer] | None = None, *, help: str = ""):
    return TOKENIZERS.register(name, factory, help=help)


def create_tokenizer(name: str, **overrides: Any) -> Tokenizer:
    """Build a registered tokenizer; ``overrides`` replace fields of its config dataclass."""
    return TOKENIZERS.create(name, **overrides)


def list_tokenizers(pattern: str | None = None) -> list[str]:
    return TOKENIZERS.names(pattern)
