"""The Tokenizer interface every family implements.

Images are float tensors (B, 3, H, W) in [-1, 1]. ``encode`` returns a ``TokenBatch``; ``decode``
maps it back to images. Configuration is a dataclass whose fields are exactly the keyword
arguments of the registered factory, so ``config.json``'s ``args`` rebuild the model.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

TokenKind = Literal["discrete", "multiscale", "continuous"]


@dataclass
class TokenBatch:
    """What ``encode`` returns.

    - ``indices``: LongTensor (B, h, w) for ``discrete``; a list of (B, s_k, s_k), coarse to fine,
      for ``multiscale``; None for ``continuous``.
    - ``latents``: (B, C, h, w) for ``continuous``; None otherwise.
    - ``features``: pre-quantization features (B, D, h, w) when the tokenizer exposes them
      (stability analysis compares them clean vs perturbed).
    - ``quantized``: the quantized vectors (B, D, h, w) that the decoder consumes, when defined.
    """

    kind: TokenKind
    indices: torch.Tensor | list[torch.Tensor] | None = None
    latents: torch.Tensor | None = None
    features: torch.Tensor | None = None
    quantized: torch.Tensor | None = None

    def index_maps(self) -> list[torch.Tensor]:
        """The index maps as a list (one entry for single-scale tokenizers)."""
        if self.indices is None:
            return []
        return list(self.indices) if isinstance(self.indices, (list, tuple)) else [self.indices]

    def to(self, device: torch.device | str) -> TokenBatch:
        def move(x: Any) -> Any:
            if isinstance(x, torch.Tensor):
                return x.to(device)
            if isinstance(x, (list, tuple)):
                return [t.to(device) for t in x]
            return x

        return dataclasses.replace(
            self, **{f.name: move(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "kind"}
        )


@dataclass
class QuantizeOutput:
    """``quantized`` (B, D, h, w) with straight-through gradient, ``indices`` (B, h, w) or per scale."""

    quantized: torch.Tensor
    indices: torch.Tensor | list[torch.Tensor] | None
    losses: dict[str, torch.Tensor] = field(default_factory=dict)
    stats: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainOutput:
    """``recon`` (B, 3, H, W); ``losses`` are scalar tensors that the trainer weights and sums."""

    recon: torch.Tensor
    losses: dict[str, torch.Tensor] = field(default_factory=dict)
    stats: dict[str, float] = field(default_factory=dict)
    tokens: TokenBatch | None = None


class Tokenizer(nn.Module, ABC):
    """Base class. Subclasses set ``architecture`` (the registry name) and ``kind``."""

    architecture: str = ""
    kind: TokenKind = "discrete"

    def __init__(self, config: Any):
        super().__init__()
        if not dataclasses.is_dataclass(config):
            raise TypeError("Tokenizer config must be a dataclass")
        self._config = config

    # --- configuration -------------------------------------------------------------------------
    @property
    def config(self) -> Any:
        return self._config

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self._config)

    # --- the interface -------------------------------------------------------------------------
    @abstractmethod
    def encode(self, images: torch.Tensor) -> TokenBatch: ...

    @abstractmethod
    def decode(self, tokens: TokenBatch) -> torch.Tensor: ...

    def quantize(self, features: torch.Tensor) -> QuantizeOutput:
        raise NotImplementedError(f"{type(self).__name__} has no quantizer")

    def requantize(self, vectors: torch.Tensor) -> QuantizeOutput:
        """Tokens of vectors in the space of ``TokenBatch.quantized`` (what latent diagnostics perturb and
        interpolate). The same as ``quantize`` where that space is the quantizer's input space."""
        return self.quantize(vectors)

    def forward(self, images: torch.Tensor) -> TrainOutput:  # training only
        raise NotImplementedError(f"{type(self).__name__} is not trainable")

    @property
    def codebook_size(self) -> int | None:
        return None

    @property
    def codebook(self) -> torch.Tensor | None:
        """(K, D) code vectors, or None for continuous tokenizers."""
        return None

    @property
    @abstractmethod
    def downsample_factor(self) -> int: ...

    def token_shape(self, image_size: int) -> tuple[int, ...] | list[tuple[int, int]]:
        """(h, w) of the token map at a square ``image_size`` (per scale for multi-scale)."""
        if image_size % self.downsample_factor:
            from tokkit.errors import UsageError

            raise UsageError(
                f"image size {image_size} is not divisible by the downsample factor {self.downsample_factor}"
            )
        s = image_size // self.downsample_factor
        return (s, s)

    @property
    def spatial_tokens(self) -> bool:
        """Whether token (i, j) stands for an image region on an h x w grid. False for 1-D learned tokens
        (TiTok): ``token_shape`` is then (1, L) in token order, and measures that move, flip or crop token
        maps do not apply (they report null with the reason)."""
        return True

    @property
    def can_decode(self) -> bool:
        return True

    @property
    def native_image_size(self) -> int | None:
        """The image side it was built or trained for: ``config.image_size``, else the training size
        recorded in its checkpoint's provenance, else None."""
        size = getattr(self.config, "image_size", None)
        if not size:
            size = getattr(self, "provenance", {}).get("image_size")
        return int(size) if size else None

    # --- checkpoint hooks ----------------------------------------------------------------------
    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        """Tensors saved in ``model.safetensors``. Frozen pretrained parts may be left out."""
        return {k: v.detach().contiguous() for k, v in self.state_dict().items()}

    def load_checkpoint_state(self, state: dict[str, torch.Tensor]) -> None:
        self.load_state_dict(state, strict=True)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images))
