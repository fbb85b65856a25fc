"""Attach a trainable TokenDecoder to a frozen k-means tokenizer (``tokkit train kmeans-decoder``)."""

from __future__ import annotations

from typing import Any

from tokkit.errors import UsageError
from tokkit.train.config import TrainConfig, tokenizer_image_size  # noqa: F401  (re-exported)


def attach_decoder(cfg: TrainConfig) -> Any:
    """A k-means tokenizer (centroids and encoder frozen) with a fresh TokenDecoder for ``cfg.image_size``.
    The embeddings start at the centroids unless ``decoder.embed_dim`` differs from the feature dim."""
    import torch

    from tokkit.io.checkpoint import load_tokenizer, read_checkpoint_config
    from tokkit.tokenizers._registry import create_tokenizer

    if not cfg.tokenizer:
        raise UsageError("kmeans-decoder needs --tokenizer DIR (a k-means tokenizer checkpoint)")
    tokenizer_image_size(cfg.tokenizer)  # checks the architecture
    args = dict(read_checkpoint_config(cfg.tokenizer)["args"])
    base = load_tokenizer(cfg.tokenizer)
    size = int(cfg.image_size)
    if not base.spatial_tokens:  # the TokenDecoder upsamples an h x w map into image regions
        raise UsageError(f"'{cfg.tokenizer}' has 1-D tokens (k-means over a 1-D tokenizer's features): "
                         "a pixel decoder for k-means tokens needs a spatial token grid")  # fmt: skip
    gh, gw = base.token_shape(size)
    if size % gh or size % gw or size // gh != size // gw:
        raise UsageError(f"image size {size} is not a whole multiple of the {gh}x{gw} token grid")
    dec_cfg: dict[str, Any] = {"upsample": size // gh, "image_size": size, **cfg.decoder}
    args["decoder"] = dec_cfg
    try:
        tok = create_tokenizer("kmeans", **args)
    except TypeError as e:
        raise UsageError(f"bad decoder setting: {e}") from e
    with torch.no_grad():
        tok.set_centroids(base.centroids)
    tok._encoder = base.encoder  # reuse the frozen encoder already built (never saved)
    if tok.decoder.embed_dim == base.centroids.shape[1]:
        tok.decoder.init_from_codebook(base.centroids)
    return tok
