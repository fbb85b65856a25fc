"""``pixels`` (raw patch vectors: the classic k-means-on-patches baseline) and ``tokenizer:PATH``
(pre-quantization features of a trained tokkit tokenizer)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tokkit.encoders._base import FeatureEncoder
from tokkit.errors import TokkitError, UsageError


class PixelEncoder(FeatureEncoder):
    """Non-overlapping P x P patches as vectors of 3 * P * P values in [-1, 1]; ``--layer`` is P (default 8)."""

    def __init__(self, layer: str | int | None = None, l2_normalize: bool = False, **_: Any):
        super().__init__()
        try:
            p = 8 if layer in (None, "", "last") else int(layer)
        except ValueError as e:
            raise UsageError(f"pixels: --layer is the patch size in pixels, got '{layer}'") from e
        if p < 1:
            raise UsageError(f"pixels: patch size must be >= 1, got {p}")
        self.patch = p
        self.spec = "pixels"
        self.dim = self.pooled_dim = 3 * p * p
        self.input_size = 16 * p
        self.l2_normalize = bool(l2_normalize)

    @property
    def layer(self) -> str:
        return str(self.patch)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        b, _, h, w = images.shape
        p = self.patch
        gh, gw = self.grid_hw(h, w)
        f = nn.functional.unfold(images.float(), p, stride=p).view(b, self.dim, gh, gw)  # (c, ky, kx) order
        return nn.functional.normalize(f, dim=1) if self.l2_normalize else f

    def pooled(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward(images).mean(dim=(2, 3))

    def grid_hw(self, h: int, w: int) -> tuple[int, int]:
        if h % self.patch or w % self.patch:
            raise UsageError(f"image size {h}x{w} is not a multiple of the pixel patch size {self.patch}")
        return h // self.patch, w // self.patch

    def grid(self, image_size: int) -> tuple[int, int]:
        return self.grid_hw(image_size, image_size)

    def describe(self) -> dict[str, Any]:
        return {"encoder": "pixels", "layer": self.layer, "dim": self.dim, "l2_normalize": self.l2_normalize}


class TokenizerEncoder(FeatureEncoder):
    """The pre-quantization features (``encode(x).features``) of a tokkit checkpoint."""

    def __init__(self, path: str, l2_normalize: bool = False, layer: str | int | None = None, **_: Any):
        super().__init__()
        from tokkit.io.checkpoint import load_tokenizer, read_checkpoint_config

        if layer not in (None, "", "last"):
            raise UsageError("tokenizer: encoders have one layer (their pre-quantization features); drop --layer")
        self.path = path
        self.spec = f"tokenizer:{path}"
        self.tokenizer = load_tokenizer(path)
        self.tokenizer.requires_grad_(False)
        args = read_checkpoint_config(path).get("args", {})
        # the tokenizer's own size first: an imported VAR fixes it by its last scale, not by an arg
        native = getattr(self.tokenizer, "native_image_size", None)
        self.input_size = int(native or args.get("image_size") or args.get("resolution") or 256)
        self.l2_normalize = bool(l2_normalize)
        with torch.no_grad():
            f = self._features(torch.zeros(1, 3, self.input_size, self.input_size))
        self.dim = self.pooled_dim = int(f.shape[1])
        self._grid = {self.input_size: (int(f.shape[-2]), int(f.shape[-1]))}

    @property
    def layer(self) -> str:
        return "last"

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        f = self.tokenizer.encode(images).features
        if f is None:
            raise TokkitError(f"tokenizer '{self.path}' exposes no pre-quantization features")
        if f.ndim != 4:
            raise TokkitError(f"tokenizer '{self.path}' gives features of shape {tuple(f.shape)}, not (B, D, h, w)")
        return f

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        f = self._features(images)
        return nn.functional.normalize(f, dim=1) if self.l2_normalize else f

    def pooled(self, images: torch.Tensor) -> torch.Tensor:
        return self._features(images).mean(dim=(2, 3))

    @property
    def spatial_tokens(self) -> bool:
        return self.tokenizer.spatial_tokens  # a 1-D tokenizer's features form a (1, L) row, no image grid

    def grid(self, image_size: int) -> tuple[int, int]:
        if image_size not in self._grid:
            shape = self.tokenizer.token_shape(image_size)
            self._grid[image_size] = (int(shape[0]), int(shape[1]))
        return self._grid[image_size]

    def describe(self) -> dict[str, Any]:
        return {"encoder": self.spec, "layer": "last", "dim": self.dim, "l2_normalize": self.l2_normalize}
