"""DiGIT-exact DINOv2 features: the ``digit`` (ViT-B/14 reg4) and ``digit-l`` (ViT-L/14 reg4) encoders.

Three things make these differ from a stock timm DINOv2 (``dinov2-b-reg``), and each changes tokens:

- Position embedding. Meta's DINOv2 keeps its 37x37 grid (518 px) and resamples it at *every*
  forward with ``F.interpolate(scale_factor=(g + 0.1) / 37, mode="bicubic", antialias=False)``
  (``interpolate_offset=0.1``). timm resamples once, by target size, with its own filter: at
  224 px the two differ by up to 0.36 on block-10 features. Here the timm model is built at
  518 px (the file's grid, loaded as is) and its ``_pos_embed`` is replaced by Meta's rule.
- Input path (DiGIT ``prepare_semantic``): [0, 1] images, ImageNet mean/std, then 256-px inputs
  are resized by ``F.interpolate(scale_factor=224/256, mode="bicubic")`` (no antialias) *after*
  normalising; 224 px goes in as is. So ``--image-size 256`` gives a 16x16 grid, as in DiGIT.
- Layer: DiGIT's ``layer=3`` stops after block ``depth - 3`` (block 10 of 12, 22 of 24) and applies
  the final LayerNorm; CLS and the 4 registers are dropped.

Weights: timm's safetensors (``vit_base_patch14_reg4_dinov2.lvd142m``) or Meta's
``dinov2_vitb14_reg4_pretrain.pth`` (remapped by ``META_TO_TIMM`` below; ``-l``: the vitl14 files).
"""

from __future__ import annotations

import math
import types
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tokkit.encoders.timm_encoder import TimmEncoder
from tokkit.errors import DataError, TokkitError, UsageError

#: preset -> (timm architecture, Meta's torch-hub file)
DIGIT_PRESETS = {
    "b": ("vit_base_patch14_reg4_dinov2.lvd142m", "dinov2_vitb14_reg4_pretrain.pth"),
    "l": ("vit_large_patch14_reg4_dinov2.lvd142m", "dinov2_vitl14_reg4_pretrain.pth"),
}
META_GRID_PX = 518  # Meta's pos-embed grid: 37 x 37 patches of 14 px (+1 class slot)
INTERPOLATE_OFFSET = 0.1  # DINOv2 ``interpolate_offset``
DIGIT_RESIZE_FROM = 256  # DiGIT resizes 256-px crops to 224 (prepare_semantic)
DIGIT_RESIZE_TO = 224

# Meta's DINOv2 state_dict -> timm's VisionTransformer (reg4 variants, ``no_embed_class=True``).
# All other keys (patch_embed.*, blocks.N.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,mlp.fc1,mlp.fc2,
# ls2.gamma}.*, norm.*) have the same names and shapes in both.
#
# | Meta                     | timm                  | how                                               |
# |--------------------------|-----------------------|---------------------------------------------------|
# | register_tokens (1,4,D)  | reg_token (1,4,D)     | renamed                                           |
# | cls_token (1,1,D)        | cls_token (1,1,D)     | + pos_embed[:, 0]: timm adds no position to CLS   |
# | pos_embed (1,1370,D)     | pos_embed (1,1369,D)  | class slot dropped (folded into cls_token)        |
# | mask_token (1,D)         | -                     | dropped: only used for masked pre-training        |
META_ONLY = ("register_tokens", "mask_token")


def is_meta_layout(state: dict[str, torch.Tensor]) -> bool:
    return any(k in state for k in META_ONLY)


def meta_to_timm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remap a Meta DINOv2-reg state_dict onto timm's names (the table above); other keys pass through."""
    out = {k: v for k, v in state.items() if k not in ("register_tokens", "mask_token", "cls_token", "pos_embed")}
    if "register_tokens" in state:
        out["reg_token"] = state["register_tokens"]
    if "pos_embed" in state:
        pos = state["pos_embed"]
        out["pos_embed"] = pos[:, 1:]
        if "cls_token" in state:
            out["cls_token"] = state["cls_token"] + pos[:, :1]
    elif "cls_token" in state:
        out["cls_token"] = state["cls_token"]
    return out


def resample_pos_embed_meta(pos_embed: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Meta's ``interpolate_pos_encoding`` on the patch part: (1, n*n, D) -> (1, h*w, D), in float32.

    ``scale_factor = (g + 0.1) / n`` (not a target size) is what DINOv2 passes; the output size is
    floor(n * scale) = g, and the source coordinates follow the scale, so this is not the same filter
    as resampling "to g x g"."""
    n_tok, dim = pos_embed.shape[1], pos_embed.shape[2]
    sqrt_n = math.sqrt(n_tok)
    n = int(sqrt_n)
    h, w = grid
    if (h, w) == (n, n):
        return pos_embed
    x = pos_embed.float().reshape(1, n, n, dim).permute(0, 3, 1, 2)
    x = F.interpolate(
        x,
        scale_factor=((h + INTERPOLATE_OFFSET) / sqrt_n, (w + INTERPOLATE_OFFSET) / sqrt_n),
        mode="bicubic",
        antialias=False,
    )
    if tuple(x.shape[-2:]) != (h, w):
        raise TokkitError(f"position embedding resampled to {tuple(x.shape[-2:])}, expected {(h, w)}")
    return x.permute(0, 2, 3, 1).reshape(1, h * w, dim).to(pos_embed.dtype)


def _meta_pos_embed(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Replaces timm's ``VisionTransformer._pos_embed`` (no_embed_class, dynamic size): x (B, H, W, C)
    patch tokens -> (B, 1 + R + H*W, C) with Meta's per-forward position resampling."""
    b, h, w, c = x.shape
    x = x.reshape(b, h * w, c) + resample_pos_embed_meta(self.pos_embed, (h, w))
    prefix = [self.cls_token.expand(b, -1, -1)]
    if self.reg_token is not None:
        prefix.append(self.reg_token.expand(b, -1, -1))
    return self.pos_drop(torch.cat([*prefix, x], dim=1))


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors or .pth/.pt file (never pickled code), in timm's names."""
    from tokkit.io.checkpoint import torch_load_weights

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as e:  # safetensors raises several types for a damaged file
            raise DataError(f"cannot read weights '{path}': {e}") from e
    else:
        state = torch_load_weights(path)
    bad = [k for k, v in state.items() if not torch.is_tensor(v)]
    if bad:
        raise DataError(f"'{path}' is not a DINOv2 state_dict: non-tensor entries {bad[:3]}")
    return meta_to_timm(state) if is_meta_layout(state) else state


def load_strict(model: nn.Module, state: dict[str, torch.Tensor], path: Path, spec: str) -> None:
    """Load ``state`` into ``model`` requiring every key and shape; one line naming the first misfits."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
              for k, v in own.items() if k in state and state[k].shape != v.shape]  # fmt: skip
    if missing or unexpected or shapes:
        parts = [f"missing {missing[:3]}" if missing else "", f"unexpected {unexpected[:3]}" if unexpected else "",
                 f"shape {shapes[:2]}" if shapes else ""]  # fmt: skip
        raise TokkitError(f"weights '{path}' do not fit {spec} ({model.pretrained_cfg.get('architecture', '?')}): "
                          + "; ".join(p for p in parts if p))  # fmt: skip
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)


class DigitEncoder(TimmEncoder):
    """DINOv2-reg4 giving DiGIT's own features (module docstring). ``arch`` overrides the architecture
    (embed_dim, depth, num_heads) for small test models; user presets never set it."""

    def __init__(self, size: str = "b", *, spec: str | None = None, arch: dict[str, Any] | None = None, **kw: Any):
        layer = kw.pop("layer", None)
        if layer not in (None, "digit"):
            raise UsageError(
                f"the {spec or 'digit'} encoder fixes --layer digit; use dinov2-{size}-reg for other layers"
            )
        name, meta_file = DIGIT_PRESETS[size]
        super().__init__(
            spec or ("digit" if size == "b" else f"digit-{size}"),
            name,
            layer="digit",
            default_layer="digit",
            input_size=DIGIT_RESIZE_TO,
            model_kwargs={"img_size": META_GRID_PX, "dynamic_img_size": True, **(arch or {})},
            extra_filenames=(meta_file,),
            **kw,
        )

    def _create(self, timm: Any, model_name: str, path: Path | None, kwargs: dict[str, Any]) -> nn.Module:
        model = super()._create(timm, model_name, None, kwargs)  # the architecture, then our own loading
        if path is not None:
            load_strict(model, read_state(path), path, self.spec)
        if model.pos_embed is None or not getattr(model, "no_embed_class", False):
            raise TokkitError(f"{model_name} is not a DINOv2-reg layout (absolute pos-embed, no class slot)")
        model._pos_embed = types.MethodType(_meta_pos_embed, model)  # Meta's resampling, every forward
        return model

    def _check_size(self, h: int, w: int) -> None:
        for s in (h, w):
            if s != DIGIT_RESIZE_FROM and s % self.patch:
                raise UsageError(
                    f"image size {s} does not fit {self.spec}: use 224 (or {DIGIT_RESIZE_FROM}, resized to 224 as "
                    f"DiGIT does) or a multiple of {self.patch}"
                )

    def _prep(self, images: torch.Tensor) -> torch.Tensor:
        """[-1, 1] -> ImageNet-normalised, then DiGIT's 256 -> 224 bicubic resize (no antialias)."""
        self._check_size(images.shape[-2], images.shape[-1])
        x = super()._prep(images)
        if x.shape[-1] == DIGIT_RESIZE_FROM:  # prepare_semantic tests the width only
            x = F.interpolate(x, scale_factor=DIGIT_RESIZE_TO / DIGIT_RESIZE_FROM, mode="bicubic")
        return x

    def grid(self, image_size: int) -> tuple[int, int]:
        self._check_size(image_size, image_size)
        side = DIGIT_RESIZE_TO if image_size == DIGIT_RESIZE_FROM else image_size
        return (side // self.patch, side // self.patch)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "pos_embed": "dinov2-meta: 37x37 resampled every forward (bicubic, offset 0.1)",
            "input": "ImageNet mean/std, then 256 px -> 224 bicubic (DiGIT prepare_semantic)",
        }
