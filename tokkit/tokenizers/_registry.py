"""The tokenizer registry: architecture/variant name -> factory(**config overrides) -> Tokenizer.

The families register themselves when their module is imported; the registry imports them (by name, on
the first lookup), so checkpoint loading finds every family without importing any of them itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tokkit.registry import Registry
from tokkit.tokenizers._base import Tokenizer

# the modules that register the built-in families (strings: no import edge from the registry up to them)
FAMILY_MODULES = (
    "tokkit.tokenizers.cosmos",
    "tokkit.tokenizers.dcae",
    "tokkit.tokenizers.kmeans",
    "tokkit.tokenizers.magvit2",
    "tokkit.tokenizers.msvq",
    "tokkit.tokenizers.titok",
    "tokkit.tokenizers.vae",
    "tokkit.tokenizers.vqgan",
)

TOKENIZERS: Registry[Callable[..., Tokenizer]] = Registry("tokenizer", modules=FAMILY_MODULES)


def register_tokenizer(name: str, factory: Callable[..., Tokenizer] | None = None, *, help: str = ""):
    return TOKENIZERS.register(name, factory, help=help)


def register_variants(
    tokenizer_cls: type[Tokenizer], config_cls: type, variants: dict[str, dict[str, Any]], doc: str
) -> None:
    """Register each named preset; its factory builds ``tokenizer_cls(config_cls(**{**preset, **overrides}))``.

    The help text of a name is its line ````NAME``: ...`` in ``doc`` (the family module's docstring).
    """

    def factory(preset: dict[str, Any]) -> Callable[..., Tokenizer]:
        return lambda **overrides: tokenizer_cls(config_cls(**{**preset, **overrides}))

    for name, preset in variants.items():
        line = doc.split(f"``{name}``: ", 1)[1].split("\n")[0] if f"``{name}``: " in doc else ""
        register_tokenizer(name, factory(preset), help=line.replace("``", ""))


def create_tokenizer(name: str, **overrides: Any) -> Tokenizer:
    """Build a registered tokenizer; ``overrides`` replace fields of its config dataclass."""
    return TOKENIZERS.create(name, **overrides)


def list_tokenizers(pattern: str | None = None) -> list[str]:
    return TOKENIZERS.names(pattern)
