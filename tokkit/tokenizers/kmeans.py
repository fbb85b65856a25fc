"""The DiGIT-style discriminative tokenizer: a frozen encoder's features, nearest k-means centroid.

``encode``: images -> encoder features (B, D, h, w) (L2-normalised when configured) -> exact
nearest centroid by squared L2 (ties to the lowest index). The checkpoint holds the centroids
(and an optional pixel decoder trained on the frozen tokens); the encoder is rebuilt from its
weights source (``encoder_weights`` or the usual search) when first needed, never saved.

A codebook fit on features from elsewhere (``tokkit fit-kmeans --features x.npy``) may have no
image encoder (``encoder=None``): it assigns features (``tokenize --features``), and anything that
needs images says in one line why it cannot.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tokkit.clustering.config import KMeansConfig
from tokkit.errors import TokkitError
from tokkit.tokenizers._base import QuantizeOutput, TokenBatch, Tokenizer
from tokkit.tokenizers._registry import register_tokenizer

__all__ = ["KMeansConfig", "KMeansTokenizer"]


class KMeansTokenizer(Tokenizer):
    architecture = "kmeans"
    kind = "discrete"

    def __init__(self, config: KMeansConfig):
        super().__init__(config)
        self.register_buffer("centroids", torch.zeros(config.codebook_size, config.dim))
        self._encoder: nn.Module | None = None
        self.decoder: nn.Module | None = None
        if config.decoder is not None:
            from tokkit.layers.token_decoder import TokenDecoder

            self.decoder = TokenDecoder(codebook_size=config.codebook_size, code_dim=config.dim, **config.decoder)

    # --- the frozen encoder, built on first use ------------------------------------------------
    @property
    def encoder(self) -> nn.Module:
        if self._encoder is None:
            from tokkit.encoders import create_encoder

            cfg = self.config
            if cfg.encoder is None:
                raise TokkitError(
                    "this k-means tokenizer was fit on features from outside tokkit and has no image encoder, "
                    "so it cannot encode images",
                    hint="tokenize features with tokkit tokenize --features F, or refit with --encoder E "
                    "naming the encoder the features came from",
                )
            enc = create_encoder(
                cfg.encoder,
                layer=cfg.layer,
                weights=cfg.encoder_weights,
                random_init=cfg.random_init,
                l2_normalize=cfg.l2_normalize,
            )
            if enc.dim != cfg.dim:
                raise TokkitError(
                    f"encoder {cfg.encoder} (layer {cfg.layer}) gives {enc.dim}-d features, the codebook is {cfg.dim}-d"
                )
            self._encoder = enc.to(self.centroids.device)
        return self._encoder

    def set_centroids(self, centroids: torch.Tensor) -> None:
        c = torch.as_tensor(centroids, dtype=torch.float32)
        if tuple(c.shape) != tuple(self.centroids.shape):
            raise TokkitError(f"centroids of shape {tuple(c.shape)}, expected {tuple(self.centroids.shape)}")
        self.centroids.copy_(c)

    # --- interface -----------------------------------------------------------------------------
    @property
    def codebook_size(self) -> int:
        return int(self.config.codebook_size)

    @property
    def codebook(self) -> torch.Tensor:
        return self.centroids

    @property
    def downsample_factor(self) -> int:
        h, _ = self.token_shape(self.config.image_size)
        return max(1, int(self.config.image_size) // int(h))

    def token_shape(self, image_size: int) -> tuple[int, int]:
        return tuple(self.encoder.grid(int(image_size)))  # type: ignore[return-value]

    @property
    def spatial_tokens(self) -> bool:
        """As its encoder: k-means over a 1-D tokenizer's features (``tokenizer:DIR``) gives 1-D tokens."""
        if not str(self.config.encoder or "").startswith("tokenizer:"):
            return True  # image encoders (DINOv2, effnet, pixels) give patch grids
        return bool(getattr(self.encoder, "spatial_tokens", True))

    @property
    def can_decode(self) -> bool:
        return self.decoder is not None

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> (B, D, h, w), normalised as configured."""
        return self.encoder(images.to(self.centroids.device)).float()

    def assign_features(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, D, h, w) -> indices (B, h, w), exact nearest centroid."""
        from tokkit.clustering.assign import assign

        b, d, h, w = feats.shape
        flat = feats.permute(0, 2, 3, 1).reshape(-1, d)
        # torch engine: 3x faster than faiss's top-2 search at this shape (2048 x 8192 x 768, one thread;
        # benchmarks/import_digit.md), same exact indices (both re-check near ties in float64)
        idx, _ = assign(flat, self.centroids, direct_sqdist=False, engine="torch")
        return idx.view(b, h, w).to(feats.device)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """indices (B, h, w) -> centroid vectors (B, D, h, w)."""
        return self.centroids[indices].permute(0, 3, 1, 2).contiguous()

    def encode(self, images: torch.Tensor) -> TokenBatch:
        feats = self.features(images)
        idx = self.assign_features(feats)
        return TokenBatch("discrete", indices=idx, features=feats, quantized=self.lookup(idx))

    def quantize(self, features: torch.Tensor) -> QuantizeOutput:
        idx = self.assign_features(features.detach())
        q = self.lookup(idx)
        return QuantizeOutput(quantized=features + (q - features).detach(), indices=idx)

    def decode(self, tokens: TokenBatch | torch.Tensor) -> torch.Tensor:
        if self.decoder is None:
            raise TokkitError(
                "this k-means tokenizer has no pixel decoder",
                hint="train one: tokkit train kmeans-decoder --tokenizer DIR",
            )
        idx = tokens.indices if isinstance(tokens, TokenBatch) else tokens
        return self.decoder(idx)

    # --- checkpoint: centroids (+ decoder), never the frozen encoder -----------------------------
    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        state = {"centroids": self.centroids.detach().contiguous()}
        if self.decoder is not None:
            for k, v in self.decoder.state_dict().items():
                state[f"decoder.{k}"] = v.detach().contiguous()
        return state

    def load_checkpoint_state(self, state: dict[str, torch.Tensor]) -> None:
        if "centroids" not in state:
            raise RuntimeError("no 'centroids' tensor")
        c = state["centroids"]
        if tuple(c.shape) != tuple(self.centroids.shape):
            raise RuntimeError(f"centroids are {tuple(c.shape)}, the config says {tuple(self.centroids.shape)}")
        self.centroids.copy_(c)
        dec = {k[len("decoder.") :]: v for k, v in state.items() if k.startswith("decoder.")}
        extra = [k for k in state if k != "centroids" and not k.startswith("decoder.")]
        if extra:
            raise RuntimeError(f"unexpected tensors {extra[:3]}")
        if self.decoder is not None:
            self.decoder.load_state_dict(dec, strict=True)
        elif dec:
            raise RuntimeError("decoder weights present but the config has no decoder")

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:  # the encoder is not ours to save
        enc, self._encoder = self._encoder, None
        try:
            return super().state_dict(*args, **kwargs)
        finally:
            self._encoder = enc


def _factory(**kw: Any) -> KMeansTokenizer:
    return KMeansTokenizer(KMeansConfig(**kw))


register_tokenizer("kmeans", _factory, help="DiGIT-style: k-means centroids over frozen encoder features")
